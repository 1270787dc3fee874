"""Conserving a document in-process, as the conservation workflow's two activities do, for tests that need
archival packages without a workflow."""

from __future__ import annotations

from temporalio.testing import ActivityEnvironment

from activities.archive import ArchiveActivities
from core.settings import Settings
from models.conservation_io import ConservationInput, ConservationResult, StorePackageInput


def conserve(settings: Settings, inp: ConservationInput) -> ConservationResult:
    acts = ArchiveActivities(settings)
    env = ActivityEnvironment()
    stored = env.run(acts.store_package, StorePackageInput(inp, "2026-04-30T08:00:00+00:00"))
    return env.run(acts.record_package, stored)
