"""Benchmarks: ratios measured in one run against the floor each stage has (see bench/README.md)."""
