"""The FastAPI application: `uvicorn api.main:app`, or `einvoice api`."""

from __future__ import annotations

from fastapi import FastAPI

from api import errors
from api.routes import tenants
from core.db import migrate
from core.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or get_settings()
    if run_migrations:
        migrate(settings.database_url)
    app = FastAPI(
        title="einvoice-hub",
        version="0.1.0",
        description="E-invoicing intermediary for SDI (FatturaPA) and KSeF, on Temporal workflows.",
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(tenants.router)
    # area: certificates
    # area: contracts
    # area: invoices
    # area: conservation

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app() -> FastAPI:
    """Factory for `uvicorn --factory api.main:app`."""
    return create_app()
