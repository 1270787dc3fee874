"""Passwords and API tokens.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommendation). An API token
is `eih_<random>_<tag>`: 32 random bytes, and an HMAC of them keyed by SECRET_KEY. The database keeps only
the token's SHA-256; the tag lets a token we never issued be told apart ("forged") from one we issued and
no longer know, without a database lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer

PREFIX = "eih_"
_SHAPE = re.compile(r"^eih_([A-Za-z0-9_-]{43})_([0-9a-f]{32})$")
_hasher = PasswordHasher()
# verified against when the account does not exist, so a wrong e-mail costs what a wrong password does
_DUMMY_HASH = _hasher.hash("not a password anyone has")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _tag(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), f"api-token:{body}".encode(), hashlib.sha256).hexdigest()[:32]


def new_token(secret: str) -> str:
    body = secrets.token_urlsafe(32)
    return f"{PREFIX}{body}_{_tag(secret, body)}"


def token_is_ours(secret: str, token: str) -> bool:
    """Is it shaped like our tokens and tagged with our key? (False: forged, or not a token at all.)"""
    m = _SHAPE.match(token or "")
    return bool(m) and hmac.compare_digest(m.group(2), _tag(secret, m.group(1)))  # type: ignore[union-attr]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkInvalid(ValueError):
    """A signed link that cannot be used; `reason` is "forged" or "expired"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def make_purpose_token(secret: str, purpose: str, subject: str, lifetime: timedelta) -> str:
    """A signed, expiring link token for one purpose (an accountant's address confirmation)."""
    expires = int((datetime.now(UTC) + lifetime).timestamp())
    return URLSafeSerializer(secret, salt=f"einvoice-hub/{purpose}/v1").dumps([subject, expires])


def read_purpose_token(secret: str, purpose: str, token: str) -> str:
    if len(token) > 512:
        raise LinkInvalid("forged", "this link is not one of ours")
    try:
        subject, expires = URLSafeSerializer(secret, salt=f"einvoice-hub/{purpose}/v1").loads(token)
    except (BadSignature, ValueError, TypeError):
        raise LinkInvalid("forged", "this link is not one of ours") from None
    if datetime.now(UTC).timestamp() > float(expires):
        raise LinkInvalid("expired", "this link has expired")
    return str(subject)
