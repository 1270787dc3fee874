"""Deterministic orchestration only: no I/O, no clock, no randomness. One workflow per module."""
