"""Admin actions on identity that reach the database directly (they name which one): the first operator,
and the audit trail's verification; and the principal a backend system acts as. Everything else about users
goes through the API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.db import migrate, session_scope
from core.settings import Settings
from domain.credentials import hash_password, token_digest, token_is_ours
from domain.errors import Forbidden
from domain.policy import OPERATOR, Principal
from models import audit
from models import identity as ident


@dataclass(frozen=True)
class CreatedOperator:
    email: str
    password: str | None  # set when we generated it: shown once, never stored
    database: str


def create_operator(settings: Settings, email: str, name: str, password: str | None = None,
                    actor: str = "admin") -> CreatedOperator:
    """An operator with the given password, or a generated one returned once. Never a default password."""
    generated = password is None
    secret = secrets.token_urlsafe(18) if password is None else ident.check_password_strength(password)
    migrate(settings.database_url)
    with session_scope(settings.database_url) as session:
        user = ident.add_user(session, email, name, OPERATOR, hash_password(secret), actor)
        audit.append(session, actor, "admin", "operator.create", user.email, "ok")
    return CreatedOperator(user.email, secret if generated else None, _where(settings))


def principal_from_token(settings: Settings, token: str) -> Principal:
    """The user an API token (from `POST /auth/login`) belongs to, for the starters' `as_user`: a backend
    system acts as a user too, with that user's permissions. The token is checked again on every starter
    call, so revoking it (or its user) stops the system's next call. Raises `Forbidden` for a token that is
    forged, unknown, revoked or expired, or whose user is disabled."""
    from models.base import as_utc, utcnow

    if not token_is_ours(settings.secret_key.get_secret_value(), token or ""):
        raise Forbidden("this token was not issued here", "user.token")
    with session_scope(settings.database_url) as session:
        row = ident.token_by_hash(session, token_digest(token))
        if row is None or row.revoked_at is not None:
            raise Forbidden("no such token, or it was revoked", "user.token")
        if as_utc(row.expires_at) <= utcnow():
            raise Forbidden(f"token {row.id} has expired; log in again", "user.token")
        user = session.get(ident.User, row.user_id)
        if user is None or not user.active:
            raise Forbidden("the token's user is disabled", "user.token")
        found = ident.principal_of(session, user)
        return Principal(found.user_id, found.name, found.kind, found.customer_vat, found.grants, row.id)


def verify_audit(settings: Settings) -> audit.ChainReport:
    with session_scope(settings.database_url) as session:
        return audit.verify_chain(session)


def _where(settings: Settings) -> str:
    """The database named without its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)
