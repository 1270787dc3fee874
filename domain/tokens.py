"""Acceptance tokens: the personal link a customer gets to accept their contract.

A token carries the order id, a nonce and its expiry, signed with HMAC-SHA256 keyed by `SECRET_KEY`
(itsdangerous). The signature makes it unforgeable and binds it to the order; the expiry is checked here;
single use is the database's job (the nonce is marked used in the transaction that accepts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "einvoice-hub/contract-acceptance/v1"
MAX_TOKEN_LENGTH = 512  # a real token is about 120 characters; anything longer is refused unread


class TokenInvalid(Exception):
    """The link cannot be used. `reason` is "forged" or "expired"."""

    def __init__(self, reason: str, message: str, claims: TokenClaims | None = None):
        super().__init__(message)
        self.reason = reason
        self.claims = claims


@dataclass(frozen=True)
class TokenClaims:
    order_id: str
    nonce: str
    expires_at: datetime


def _serializer(secret: str) -> URLSafeSerializer:
    """SECRET_KEY's keys, newest first: the first signs, any one verifies (itsdangerous wants them oldest
    first and signs with the last)."""
    from domain.credentials import keys_of

    keys = keys_of(secret)
    if not keys:
        raise ValueError("SECRET_KEY is empty: acceptance links cannot be signed")
    return URLSafeSerializer(list(reversed(keys)), salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def make_token(secret: str, order_id: str, nonce: str, expires_at: datetime) -> str:
    payload = {"o": order_id, "n": nonce, "e": int(expires_at.timestamp())}
    token = _serializer(secret).dumps(payload)
    assert isinstance(token, str)
    return token


def read_token(secret: str, token: str, now: datetime | None = None) -> TokenClaims:
    """The claims of a genuine, unexpired token; `TokenInvalid` otherwise (nothing else is revealed)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("forged", "this link is not a valid acceptance link")
    try:
        payload = _serializer(secret).loads(token)
    except BadSignature as err:
        raise TokenInvalid("forged", "this link is not a valid acceptance link") from err
    if not (isinstance(payload, dict) and isinstance(payload.get("o"), str) and isinstance(payload.get("n"), str)
            and isinstance(payload.get("e"), int)):
        raise TokenInvalid("forged", "this link is not a valid acceptance link")
    claims = TokenClaims(payload["o"], payload["n"], datetime.fromtimestamp(payload["e"], UTC))
    if claims.expires_at <= (now or datetime.now(UTC)):
        raise TokenInvalid("expired", "this acceptance link has expired", claims)
    return claims
