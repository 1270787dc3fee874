"""Users, their API tokens, failed logins and accountant links (deleghe).

A password is kept only as its argon2id hash; an API token only as its SHA-256 (the token itself is shown
once, at login). A link between a customer and an accountant starts as an invitation (the customer asked,
the accountant accepts) or a request (the accountant asked, the customer accepts), is active once accepted,
and ends when either side ends it. Its permissions are the customer's to change, at any time; the next
request of the accountant sees the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Connection, ForeignKey, String, Text, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from domain.errors import Conflict, InvalidInput, NotFound
from domain.identifiers import check_email
from domain.permissions import check_permissions, normalise
from domain.policy import ACCOUNTANT, CUSTOMER, KINDS, Principal
from models.base import Base, Timestamp, as_utc, utcnow
from models.tenant import Tenant


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # the login name, lower case
    display_name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # operator | customer | accountant
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(String(200))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)  # e-mail confirmed (accountants)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp())
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp())


class LoginFailure(Base):
    """One failed login, under two keys ("account:<e-mail>", "address:<ip>"): the throttle counts them."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class Delegation(Base):
    __tablename__ = "delegations"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    accountant_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))  # invited | requested | active | ended
    permissions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))


INVITED, REQUESTED, ACTIVE, ENDED = "invited", "requested", "active", "ended"


# -- users ------------------------------------------------------------------------------------------------

MIN_PASSWORD = 12
MAX_PASSWORD = 256


def check_password_strength(password: str, field: str = "password") -> str:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise InvalidInput.one(field, f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return password


def add_user(session: Session, email: str, display_name: str, kind: str, password_hash: str,
             created_by: str, vat: str | None = None, confirmed: bool = True) -> User:
    """A new user. A customer user names its customer; operators and accountants have none."""
    address = check_email(email, "email").lower()
    if kind not in KINDS:
        raise InvalidInput.one("kind", f"unknown kind of user {kind!r}; known: {', '.join(KINDS)}")
    if not (display_name or "").strip() or len(display_name) > 120:
        raise InvalidInput.one("name", "a name of 1 to 120 characters is required")
    tenant_id = None
    if kind == CUSTOMER:
        if not vat:
            raise InvalidInput.one("vat", "a customer user belongs to one customer: name its VAT number")
        tenant_id = _tenant(session, vat).id
    elif vat:
        raise InvalidInput.one("vat", f"a {kind} belongs to no customer")
    row = User(email=address, display_name=display_name.strip(), kind=kind, tenant_id=tenant_id,
               password_hash=password_hash, confirmed=confirmed, active=True, created_at=utcnow(),
               created_by=created_by)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"a user {address} already exists") from None
    return row


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == (email or "").strip().lower()))


def principal_of(session: Session, user: User) -> Principal:
    """The user as the policy sees it, with an accountant's active links read now (a withdrawn permission
    stops the very next request)."""
    vat = None
    if user.tenant_id is not None:
        tenant = session.get(Tenant, user.tenant_id)
        vat = tenant.vat_number if tenant else None
    grants = _grants(session, user.id) if user.kind == ACCOUNTANT else {}
    return Principal(user.id, user.email, user.kind, vat, grants)


def _grants(db: Session | Connection, accountant_id: int) -> dict[str, frozenset[str]]:
    """An accountant's active links, customer VAT number → permissions, as they are now."""
    rows = db.execute(select(Tenant.vat_number, Delegation.permissions).join(
        Delegation, Delegation.tenant_id == Tenant.id).where(
        Delegation.accountant_id == accountant_id, Delegation.state == ACTIVE))
    return {v: normalise(json.loads(p)) for v, p in rows}


# -- tokens -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenView:
    id: int
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls(row.id, row.label, as_utc(row.created_at), as_utc(row.expires_at),
                   as_utc(row.revoked_at) if row.revoked_at else None,
                   as_utc(row.last_used_at) if row.last_used_at else None)


def add_token(session: Session, user: User, token_sha256: str, label: str, lifetime: timedelta) -> ApiToken:
    now = utcnow()
    row = ApiToken(user_id=user.id, token_sha256=token_sha256, label=label[:120], created_at=now,
                   expires_at=now + lifetime)
    session.add(row)
    session.flush()
    return row


def token_by_hash(session: Session, token_sha256: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_sha256))


@dataclass(frozen=True)
class TokenHolder:
    """A token and its user, read together (the HTTP guard's read on every request)."""

    token_id: int
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    active: bool  # the user's
    principal: Principal


def token_holder(db: Session | Connection, token_sha256: str) -> TokenHolder | None:
    """The token with its user and the user's customer in one statement (one snapshot, one round trip), and
    an accountant's grants in a second; None when no such token (or its user) exists."""
    row = db.execute(select(ApiToken.id, ApiToken.expires_at, ApiToken.revoked_at, ApiToken.last_used_at,
                            User.id, User.email, User.kind, User.active, Tenant.vat_number)
                     .join(User, User.id == ApiToken.user_id).outerjoin(Tenant, Tenant.id == User.tenant_id)
                     .where(ApiToken.token_sha256 == token_sha256)).first()
    if row is None:
        return None
    token_id, expires_at, revoked_at, last_used_at, user_id, email, kind, active, vat = row
    grants = _grants(db, user_id) if kind == ACCOUNTANT and active else {}
    return TokenHolder(token_id, as_utc(expires_at), as_utc(revoked_at) if revoked_at else None,
                       as_utc(last_used_at) if last_used_at else None, bool(active),
                       Principal(user_id, email, kind, vat, grants))


def touch_token(db: Session | Connection, token_id: int, now: datetime, granularity: timedelta) -> None:
    """Record the token's use, unless it was recorded less than `granularity` ago (not a write per request;
    a conditional UPDATE, so two requests at once write it once)."""
    db.execute(update(ApiToken).where(ApiToken.id == token_id, or_(
        ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - granularity)).values(last_used_at=now))


def list_tokens(session: Session, user_id: int) -> list[TokenView]:
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    return [TokenView.of(r) for r in rows]


def revoke_token(session: Session, user_id: int, token_id: int) -> TokenView:
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return TokenView.of(row)


# -- failed logins ----------------------------------------------------------------------------------------

def record_login_failure(session: Session, keys: list[str]) -> None:
    now = utcnow()
    session.add_all([LoginFailure(key=k[:300], at=now) for k in keys])


def recent_failures(session: Session, key: str, window: timedelta) -> int:
    since = utcnow() - window
    return int(session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.key == key[:300], LoginFailure.at >= since)) or 0)


def forget_failures(session: Session, key: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.key == key[:300]))


# -- delegation -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DelegationView:
    id: int
    vat_number: str
    accountant: str
    state: str
    permissions: list[str]
    updated_at: datetime
    updated_by: str

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "vat_number": self.vat_number, "accountant": self.accountant, "state": self.state,
                "permissions": self.permissions, "updated_at": self.updated_at.isoformat(),
                "updated_by": self.updated_by}


def _view(session: Session, row: Delegation) -> DelegationView:
    tenant = session.get(Tenant, row.tenant_id)
    accountant = session.get(User, row.accountant_id)
    assert tenant is not None and accountant is not None
    return DelegationView(row.id, tenant.vat_number, accountant.email, row.state,
                          sorted(normalise(json.loads(row.permissions))), as_utc(row.updated_at), row.updated_by)


def _tenant(session: Session, vat: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.vat_number == vat))
    if tenant is None:
        raise NotFound(f"no customer {vat}")
    return tenant


def open_link(session: Session, vat: str, accountant_email: str, state: str, actor: str,
              permissions: list[str] | None = None) -> DelegationView:
    """An invitation (by the customer) or a request (by the accountant). One open or active link per pair."""
    tenant = _tenant(session, vat)
    accountant = find_user(session, accountant_email)
    if accountant is None or accountant.kind != ACCOUNTANT:
        raise NotFound(f"no accountant {accountant_email}")
    granted = sorted(check_permissions(permissions or []))
    existing = session.scalar(select(Delegation).where(
        Delegation.tenant_id == tenant.id, Delegation.accountant_id == accountant.id, Delegation.state != ENDED))
    if existing is not None:
        raise Conflict(f"{accountant.email} and {vat} already have a link ({existing.state}, id {existing.id})")
    now = utcnow()
    row = Delegation(tenant_id=tenant.id, accountant_id=accountant.id, state=state,
                     permissions=json.dumps(granted), created_at=now, created_by=actor, updated_at=now,
                     updated_by=actor)
    session.add(row)
    session.flush()
    return _view(session, row)


def get_link(session: Session, link_id: int) -> Delegation:
    row = session.get(Delegation, link_id)
    if row is None:
        raise NotFound(f"no delegation {link_id}")
    return row


def link_view(session: Session, row: Delegation) -> DelegationView:
    return _view(session, row)


def link_vat(session: Session, row: Delegation) -> str:
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    return tenant.vat_number


def accept_link(session: Session, row: Delegation, actor: str) -> DelegationView:
    if row.state not in (INVITED, REQUESTED):
        raise Conflict(f"delegation {row.id} is {row.state}; only an invitation or a request can be accepted")
    row.state, row.updated_at, row.updated_by = ACTIVE, utcnow(), actor
    return _view(session, row)


def set_link_permissions(session: Session, row: Delegation, permissions: list[str], actor: str) -> DelegationView:
    if row.state == ENDED:
        raise Conflict(f"delegation {row.id} has ended")
    row.permissions = json.dumps(sorted(check_permissions(permissions)))
    row.updated_at, row.updated_by = utcnow(), actor
    return _view(session, row)


def end_link(session: Session, row: Delegation, actor: str) -> DelegationView:
    row.state, row.updated_at, row.updated_by = ENDED, utcnow(), actor
    return _view(session, row)


def links_of_tenant(session: Session, vat: str) -> list[DelegationView]:
    tenant = _tenant(session, vat)
    rows = session.scalars(select(Delegation).where(Delegation.tenant_id == tenant.id).order_by(Delegation.id))
    return [_view(session, r) for r in rows]


def links_of_accountant(session: Session, user_id: int) -> list[DelegationView]:
    rows = session.scalars(select(Delegation).where(Delegation.accountant_id == user_id).order_by(Delegation.id))
    return [_view(session, r) for r in rows]


def count_users(session: Session, kind: str | None = None) -> int:
    query = select(func.count()).select_from(User)
    if kind:
        query = query.where(User.kind == kind)
    return int(session.scalar(query) or 0)

