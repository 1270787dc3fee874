"""Payload encryption: workflow inputs, results, signals and queries are stored in Temporal encrypted.

Invoices carry personal data (names, addresses, amounts); Temporal keeps every payload in its history.
AES-256-GCM with a key only the workers, starters and the codec endpoint hold. Each payload records the id
of the key that sealed it, so keys can be rotated: the first key encrypts, every listed key decrypts.
Payloads not sealed by us (e.g. written before the codec was enabled) pass through unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
_NONCE = 12


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: Sequence[bytes]):
        if not keys:
            raise ValueError("the payload codec needs at least one key")
        for key in keys:
            if len(key) != 32:
                raise ValueError("payload codec keys must be 32 bytes (AES-256)")
        self._encrypt_id = key_id(keys[0])
        self._ciphers = {key_id(k): AESGCM(k) for k in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._encrypt_id]
        out = []
        for p in payloads:
            nonce = os.urandom(_NONCE)
            sealed = cipher.encrypt(nonce, p.SerializeToString(), self._encrypt_id.encode())
            out.append(Payload(metadata={"encoding": ENCODING, "encryption-key-id": self._encrypt_id.encode()},
                               data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)
                continue
            kid = p.metadata.get("encryption-key-id", b"").decode()
            cipher = self._ciphers.get(kid)
            if cipher is None:
                raise ValueError(f"payload sealed with unknown key id {kid!r}")
            plain = cipher.decrypt(p.data[:_NONCE], p.data[_NONCE:], kid.encode())
            out.append(Payload.FromString(plain))
        return out


def parse_keys(value: str) -> list[bytes]:
    """PAYLOAD_CODEC_KEY: comma-separated base64 keys, the first one encrypts."""
    keys = []
    for part in value.split(","):
        part = part.strip()
        if part:
            keys.append(base64.b64decode(part, validate=True))
    return keys


def local_key(data_dir: Path) -> bytes:
    """For the embedded stack only: a key kept in DATA_DIR/codec.key (mode 0600), made on first use."""
    path = data_dir / "codec.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary file, then linked into place: concurrent first starts
        # (API, worker, CLI) all end up with the one key that won.
        tmp = data_dir / f".codec.key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return base64.b64decode(path.read_text().strip())
