"""The panel's browser tests' shared pieces (#16): Debian's chromium driven by Playwright, one browser per
module; the API (and so the panel) served by uvicorn on a free port on the dev server; and the README's
screenshots, taken when a developer asks."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core.settings import Settings
from tests.helpers import free_port, wait_until

__all__ = ["CHROMIUM", "browser", "needs_chromium", "served", "served_overrides", "shoot"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "panel"


async def shoot(page: Page, name: str) -> None:
    """The README's screenshots, docs/panel/<name>.png, taken by this test when a developer asks
    (EINVOICE_RECORD_SCREENSHOTS=1, never under CI), so they show what the panel really renders."""
    if not os.environ.get("EINVOICE_RECORD_SCREENSHOTS"):
        return
    if os.environ.get("CI"):
        raise RuntimeError("EINVOICE_RECORD_SCREENSHOTS is refused under CI: screenshots are a developer's")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="run scripts/ensure-chromium.sh (make test does)")


@pytest.fixture(scope="module")
def served_overrides() -> dict[str, Any]:
    """Settings a module's served API needs beyond the session's (a module overrides this fixture, e.g. the
    KSeF screen's with KSEF_URL at its local KSeF)."""
    return {}


@pytest.fixture(scope="module")
def served(settings: Settings, dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory,
           served_overrides: dict[str, Any]) -> Iterator[Settings]:
    """The API (and so the panel) on a free port, on the dev server, with its own CA and task queue."""
    port = free_port()
    local = settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("panel") / "data",
        "temporal_address": dev_env.client.service_client.config.target_host,
        "temporal_task_queue": f"panel-browser-{os.urandom(4).hex()}",
        "public_base_url": f"http://127.0.0.1:{port}",
        "http_wait_seconds": 20.0,
    } | served_overrides)
    app = create_app(local, run_migrations=False)
    app.state.temporal = dev_env.client
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=20, message="uvicorn to start")
    yield local
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("run scripts/ensure-chromium.sh (make test does)")
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()
