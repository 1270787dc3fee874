"""Fixtures of the fault suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import Settings
from tests.faults.harness import FaultStack, running_fault_stack


@pytest.fixture(scope="module")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """A dev server of the module's own that can be stopped and restarted, and the outage proxies."""
    with running_fault_stack(settings, tmp_path_factory.mktemp("faults")) as fault_stack:
        yield fault_stack
