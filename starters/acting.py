"""The one check, for Python callers: every customer-facing starter takes the acting user (`as_user`, a
`domain.policy.Principal`; a backend system gets one from its API token, `starters.identity.principal_from_token`)
and asks `domain.policy.require` before it reads, starts, signals, updates or queries anything.

Who writes the audit entry (one per call, never two): the surface the call came from.
- surface "starter" (the default: a direct Python caller): this module writes it — refused, failed or ok —
  and reads the user again from the database first, so a withdrawn permission, a deactivated user or a
  revoked token stops the very next call, as it stops the next HTTP request.
- surface "http" (the routes pass it): the HTTP guard (api/access.py) has just authenticated the user and
  writes the request's entry itself, refusals raised here included; this module checks and writes nothing.
- surface "panel" (the web panel, api/panel/): like "starter" — the user read again, its session's token
  checked, the entry written here — under its own name in the trail.
- surface "cli": the admin paths of the command line that still run in-process (`archive verify --local`,
  `archive schedule`), acting as `LOCAL_ADMIN` (an operator: whoever runs them holds the DATABASE_URL, which
  is more than any user); audited like "starter" under surface "cli". The customer-facing commands are HTTP
  clients with the user's token (`starters/http_client.py`): they act as that user, through the routes, and
  the guard records them under surface "cli" as the client's declaration (`domain.policy.CLIENT_HEADER`).

This is the check for honest callers acting for a user, not a sandbox: code in this process can reach the
database anyway. What it guarantees is that a backend system holding a user's token does what that user
may, and the audit trail says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.db import session_scope
from core.settings import Settings
from domain.errors import Forbidden, Hidden
from domain.policy import OPERATOR, Principal, require
from models import audit

STARTER, HTTP, CLI, PANEL = "starter", "http", "cli", "panel"
SURFACES = (STARTER, HTTP, CLI, PANEL)
LOCAL_ADMIN = Principal(0, "local-cli", OPERATOR)  # no user row: the machine's administrator (surface "cli")


@dataclass
class Acting:
    """One call of a starter: who, what, and whether the policy was asked."""

    settings: Settings
    user: Principal
    action: str
    surface: str
    target: str = ""
    vat: str | None = None
    checked: bool = False
    refused: bool = False

    def check(self, vat: str | None, action: str | None = None, missing: str | None = None) -> None:
        """Refuse (`Hidden` 404 / `Forbidden` 403) unless the user may do the action for customer `vat`.
        `missing`: the words a resource that is not there gets (so another customer's reads the same)."""
        act = action or self.action
        self.checked = True
        try:
            require(self.user, act, vat, missing)
        except (Forbidden, Hidden) as err:
            self.refused = True
            self._record(f"refused: {err.reason}", act, vat)
            raise
        self.vat = vat

    def _record(self, outcome: str, action: str | None = None, vat: str | None = None) -> None:
        if self.surface == HTTP:
            return  # the HTTP guard writes the request's entry
        with session_scope(self.settings.database_url) as session:
            audit.append(session, self.user.label, self.surface, action or self.action, self.target, outcome, vat)


def current(settings: Settings, user: Principal) -> Principal:
    """The user as the database says now: active, its token (if it came from one) still valid, an
    accountant's grants as they are now."""
    from models.base import as_utc, utcnow
    from models.identity import ApiToken, User, principal_of

    with session_scope(settings.database_url) as session:
        row = session.get(User, user.user_id)
        if row is None or not row.active:
            raise Forbidden(f"{user.name} is not an active user", "user.active")
        if user.token_id is not None:
            token = session.get(ApiToken, user.token_id)
            if token is None or token.user_id != row.id or token.revoked_at is not None:
                raise Forbidden("the API token was revoked", "user.token")
            if as_utc(token.expires_at) <= utcnow():
                raise Forbidden("the API token has expired", "user.token")
        fresh = principal_of(session, row)
    return Principal(fresh.user_id, fresh.name, fresh.kind, fresh.customer_vat, fresh.grants, user.token_id)


@contextmanager
def acting(settings: Settings, as_user: Principal, action: str, target: str = "",
           surface: str = STARTER) -> Iterator[Acting]:
    """The frame of one starter call: the body calls `act.check(vat)` before it touches anything; the
    outcome is audited on the way out (surface "starter"). A body that never checked is a bug: refused."""
    if not isinstance(as_user, Principal):
        raise TypeError(f"as_user must be a domain.policy.Principal, not {type(as_user).__name__}")
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; known: {', '.join(SURFACES)}")
    if (as_user is LOCAL_ADMIN) != (surface == CLI):
        raise ValueError("LOCAL_ADMIN acts through surface 'cli' only, and only it does")
    try:
        user = current(settings, as_user) if surface in (STARTER, PANEL) else as_user
    except Forbidden as err:
        with session_scope(settings.database_url) as session:
            audit.append(session, as_user.label, surface, action, target, f"refused: {err.reason}")
        raise
    act = Acting(settings, user, action, surface, target)
    try:
        yield act
    except BaseException as err:
        if not act.refused:
            act._record(f"failed: {type(err).__name__}: {str(err)[:200]}", None, act.vat)
        raise
    if not act.checked:
        raise RuntimeError(f"{action} answered without asking the policy")
    act._record("ok", None, act.vat)
