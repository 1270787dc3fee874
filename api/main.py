"""The FastAPI application: `uvicorn api.main:app`, or `einvoice api`."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors
from api.access import guard
from api.body_limit import BodyLimit
from api.panel import install as install_panel
from api.routes import (
    archive,
    certificates,
    codec,
    contracts,
    feed,
    identity,
    invoices,
    ksef,
    ksef_credentials,
    ksef_outages,
    tenants,
)
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
        # every route: who asks, may they, and the audit trail (api/access.py; its RULES name every route)
        dependencies=[Depends(guard, scope="function")],
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(identity.router)
    app.include_router(tenants.router)
    app.include_router(codec.router)
    # Every body bounded before a route reads it, per route (api/body_limit.py); inside CORS, so a refusal
    # to the Temporal UI still carries its headers.
    app.add_middleware(BodyLimit)
    # The Temporal UI calls the codec endpoint from the operator's browser.
    app.add_middleware(
        CORSMiddleware, allow_origins=[settings.temporal_ui_url], allow_credentials=True,
        allow_methods=["POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )
    app.include_router(contracts.router)
    app.include_router(certificates.router)
    invoices.install(app)
    app.include_router(archive.router)
    app.include_router(feed.router)
    app.include_router(ksef.router)
    app.include_router(ksef_credentials.router)
    app.include_router(ksef_outages.router)
    install_panel(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app() -> FastAPI:
    """Factory for `uvicorn --factory api.main:app` (the served API: unsafe production settings refused)."""
    from core.secrets import check_production

    settings = get_settings()
    check_production(settings, "the API")
    return create_app(settings)
