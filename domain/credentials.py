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


def keys_of(secret: str) -> list[str]:
    """SECRET_KEY's keys, newest first (comma-separated): the first signs, any one verifies."""
    return [k.strip() for k in (secret or "").split(",") if k.strip()]


def _tag(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), f"api-token:{body}".encode(), hashlib.sha256).hexdigest()[:32]


def new_token(secret: str) -> str:
    body = secrets.token_urlsafe(32)
    return f"{PREFIX}{body}_{_tag(keys_of(secret)[0], body)}"


def token_is_ours(secret: str, token: str) -> bool:
    """Is it shaped like our tokens and tagged with our key? (False: forged, or not a token at all.)"""
    m = _SHAPE.match(token or "")
    if m is None:
        return False
    return any(hmac.compare_digest(m.group(2), _tag(key, m.group(1))) for key in keys_of(secret))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LinkInvalid(ValueError):
    """A signed link that cannot be used; `reason` is "forged" or "expired"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _purpose_serializer(secret: str, purpose: str) -> URLSafeSerializer:
    keys = keys_of(secret)
    if not keys:
        raise ValueError("SECRET_KEY is empty: links cannot be signed")
    # itsdangerous takes the keys oldest first and signs with the last
    return URLSafeSerializer(list(reversed(keys)), salt=f"einvoice-hub/{purpose}/v1")


def make_purpose_token(secret: str, purpose: str, subject: str, lifetime: timedelta) -> str:
    """A signed, expiring link token for one purpose (an accountant's address confirmation)."""
    expires = int((datetime.now(UTC) + lifetime).timestamp())
    return _purpose_serializer(secret, purpose).dumps([subject, expires])


def read_purpose_token(secret: str, purpose: str, token: str) -> str:
    if len(token) > 512:
        raise LinkInvalid("forged", "this link is not one of ours")
    try:
        subject, expires = _purpose_serializer(secret, purpose).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise LinkInvalid("forged", "this link is not one of ours") from None
    if datetime.now(UTC).timestamp() > float(expires):
        raise LinkInvalid("expired", "this link has expired")
    return str(subject)
