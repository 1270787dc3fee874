"""Where signing keys live: a `KeyStore` hands out a `Signer` (private key + certificate + chain) by alias.

The signer exists only in the process that signs (an activity); it refuses to be pickled, copied into a
workflow payload or printed, so a private key never reaches a workflow history or a log. The file store
reads PKCS#12 bundles (`<alias>.p12`) from one directory; their password comes from the constructor or an
environment variable and is never logged.

Opening a bundle costs its key derivation (tens of milliseconds): a store keeps an opened signer for
`keep_seconds` after it was opened (0: never kept), in this process only — the process holds the store's
password anyway, so it can open the bundle at will. A bundle replaced on disk (another file, other bytes) or
a changed password is opened afresh at once.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs12

from domain.errors import InvalidInput, NotFound

PASSWORD_ENV = "EINVOICE_KEYSTORE_PASSWORD"
_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _spki(public_key: Any) -> bytes:
    return bytes(public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


@dataclass(frozen=True, repr=False, eq=False)
class Signer:
    """A private key with its certificate and the chain up to (not necessarily including) the root."""

    private_key: SigningKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise InvalidInput.one("key", "only RSA and EC keys can sign FatturaPA files")
        if _spki(self.private_key.public_key()) != _spki(self.certificate.public_key()):
            raise InvalidInput.one("certificate", "the certificate does not belong to the private key")

    @classmethod
    def from_pkcs12(cls, data: bytes, password: bytes | None) -> Signer:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            raise InvalidInput.one("keystore", "cannot open the PKCS#12 bundle (wrong password or file)") from None
        if key is None or cert is None:
            raise InvalidInput.one("keystore", "the PKCS#12 bundle holds no private key with its certificate")
        return cls(key, cert, tuple(extra or ()))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Signer(subject={self.certificate.subject.rfc4514_string()!r}, key=<hidden>)"

    def __reduce__(self) -> Any:
        raise TypeError("a Signer holds a private key and is never serialised")

    def __deepcopy__(self, memo: dict[int, Any]) -> Signer:
        return self


class KeyStore(Protocol):
    def signer(self, alias: str) -> Signer: ...


class FileKeyStore:
    """PKCS#12 files `<alias>.p12` in `directory`; one password for the store."""

    def __init__(self, directory: str | os.PathLike[str], password: str | bytes | None = None,
                 password_env: str = PASSWORD_ENV, keep_seconds: float = 0.0):
        self.directory = Path(directory)
        self._password_env = password_env
        self._password = password.encode() if isinstance(password, str) else password
        self.keep_seconds = keep_seconds
        self._opened: dict[str, tuple[tuple[object, ...], float, Signer]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.directory)!r})"

    def _secret(self) -> bytes | None:
        if self._password is not None:
            return self._password
        value = os.environ.get(self._password_env)
        return value.encode() if value else None

    def path(self, alias: str) -> Path:
        if not _ALIAS.match(alias or ""):
            raise InvalidInput.one("alias", f"not a valid key alias: {alias!r}")
        return self.directory / f"{alias}.p12"

    def signer(self, alias: str) -> Signer:
        path = self.path(alias)
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise NotFound(f"no key {alias!r} in the key store")
        secret = self._secret()
        if self.keep_seconds <= 0:
            return Signer.from_pkcs12(path.read_bytes(), secret)
        # The bundle as it is on disk now, and the password it is opened with (by digest, never kept as is).
        identity = (st.st_ino, st.st_size, st.st_mtime_ns, hashlib.sha256(secret or b"").digest())
        now = time.monotonic()
        with self._lock:
            kept = self._opened.get(alias)
            if kept is not None and kept[0] == identity and now - kept[1] < self.keep_seconds:
                return kept[2]
            self._opened.pop(alias, None)
        signer = Signer.from_pkcs12(path.read_bytes(), secret)
        with self._lock:
            self._opened[alias] = (identity, now, signer)
        return signer

    def aliases(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.p12") if _ALIAS.match(p.stem))
