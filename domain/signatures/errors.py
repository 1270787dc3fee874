"""Signature refusals, each an `InvalidInput` carrying the SDI code the exchange system would answer with."""

from __future__ import annotations

from domain.errors import InvalidInput, Problem


class SignatureError(InvalidInput):
    """A signed file that cannot be accepted. `code` is the SDI error code."""

    code = "00102"  # firma non valida (invalid signature)

    def __init__(self, message: str, field: str = "signature", code: str | None = None):
        super().__init__([Problem(field, message, code or self.code)])


class InvalidSignature(SignatureError):
    """The signature does not verify, or does not bind what it must (content, signer certificate)."""

    code = "00102"


class CertificateExpired(SignatureError):
    """The signer's certificate was not in its validity period at signing time (SDI 00100)."""

    code = "00100"


class MalformedSignedFile(SignatureError):
    """The file is not a readable signed envelope (SDI 00106: corrupt or empty envelope)."""

    code = "00106"
