"""Admin actions on identity that reach the database directly (they name which one): the first operator,
and the audit trail's verification. Everything else about users goes through the API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.db import migrate, session_scope
from core.settings import Settings
from domain.credentials import hash_password
from domain.policy import OPERATOR
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


def verify_audit(settings: Settings) -> audit.ChainReport:
    with session_scope(settings.database_url) as session:
        return audit.verify_chain(session)


def _where(settings: Settings) -> str:
    """The database named without its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)
