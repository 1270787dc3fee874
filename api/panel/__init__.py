"""The web panel (issue #16): server-rendered pages for operators, customer users and accountants, over the
same starters and the same policy check as the HTTP routes (surface "panel" in the audit trail)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from api.panel import (
        all_orders,
        archive,
        audit,
        base,
        certificates,
        delegations,
        invoices,
        ksef,
        orders,
        preferences,
        profile,
        sync,
    )

    app.include_router(base.router)
    app.include_router(profile.router)
    app.include_router(certificates.router)
    app.include_router(ksef.router)
    app.include_router(invoices.router)
    app.include_router(delegations.router)
    app.include_router(orders.router)
    app.include_router(all_orders.router)
    app.include_router(preferences.router)
    app.include_router(audit.router)
    app.include_router(sync.router)
    app.include_router(archive.router)
