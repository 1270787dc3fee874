"""The demo's HTTP calls, made as the user the demo logged in as (an operator, then the accountant)."""

from __future__ import annotations

from typing import Any

import httpx

_auth: dict[str, str] = {}


def act_as(token: str | None) -> None:
    """Every later call carries this bearer token (None: anonymous)."""
    _auth.clear()
    if token:
        _auth["Authorization"] = f"Bearer {token}"


def _headers(kw: dict[str, Any]) -> dict[str, str]:
    return {**_auth, **(kw.pop("headers", None) or {})}


def get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, headers=_headers(kw), **kw)


def post(url: str, **kw: Any) -> httpx.Response:
    return httpx.post(url, headers=_headers(kw), **kw)


def put(url: str, **kw: Any) -> httpx.Response:
    return httpx.put(url, headers=_headers(kw), **kw)
