"""Dependencies shared by the routes, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from temporalio.client import Client

from core.db import session_scope
from core.settings import Settings
from core.temporal import connect


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.settings.database_url) as session:
        yield session


async def get_temporal(request: Request) -> Client:
    """One client per app, connected on first use (the API starts even while Temporal is down)."""
    client: Client | None = getattr(request.app.state, "temporal", None)
    if client is None:
        client = await connect(request.app.state.settings)
        request.app.state.temporal = client
    return client


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# scope="function": the transaction commits (or fails) before the response is sent, not after it; with
# the default scope a 201 could reach the client for a row not yet committed, or never committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TemporalDep = Annotated[Client, Depends(get_temporal)]
