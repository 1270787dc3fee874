"""What crosses the boundary of the in-stack sync workflow (#15): the target's id in, the round's count out.
Never the database URL (it may hold a password: it stays sealed in `sync_targets`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CustomerSyncInput:
    target_id: int


@dataclass
class CustomerSyncReport:
    applied: int = 0  # feed entries applied to the copy
    pages: int = 0
    files: int = 0  # documents downloaded (checked against their SHA-256)
    resynced: bool = False  # the copy was rebuilt from a snapshot (first run, or its cursor expired)
    behind: int = 0  # entries the feed still had after the last page (0: caught up)
