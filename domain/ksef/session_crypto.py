"""The interactive session's encryption (sesja interaktywna), as the contract `open-api.json` states it.

A session has one random 256-bit AES key and 16-byte IV. The key is wrapped with RSAES-OAEP (SHA-256, MGF1
with SHA-256) to the Ministry of Finance's public key for symmetric key encryption (`GET
/security/public-key-certificates`, usage SymmetricKeyEncryption) and sent, with the IV, when the session is
opened (`EncryptionInfo`: encryptedSymmetricKey, initializationVector, both base64). Each invoice is
encrypted with AES-256-CBC and PKCS#7 padding under that key and IV and sent with the SHA-256 (base64) and
size of both the plain and the encrypted file (`SendInvoiceRequest`).

The narrative page (`sesja-interaktywna.md`) also says the IV is "attached as a prefix to the ciphertext";
the contract sends it apart in EncryptionInfo and describes the content as the AES output only: we follow the
contract, and the local KSeF that tests the channel decrypts the same way.

The key lives only in the worker's memory for the session (never in a workflow history or a log: the
workflow carries the session's reference, not its key).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from domain.errors import InvalidInput

KEY_BYTES, IV_BYTES = 32, 16
# The largest invoice an interactive session takes (limity/limity.md): 1 MB, 3 MB with attachments.
MAX_INVOICE_BYTES = 3 * 1024 * 1024
_OAEP = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class SessionKey:
    """One session's AES key and IV. `repr` never shows the key."""

    key: bytes = field(repr=False)
    iv: bytes

    @classmethod
    def new(cls) -> SessionKey:
        return cls(os.urandom(KEY_BYTES), os.urandom(IV_BYTES))

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES or len(self.iv) != IV_BYTES:
            raise ValueError(f"an AES-256 session key is {KEY_BYTES} bytes and its IV {IV_BYTES}")

    def encryption_info(self, ministry_key: rsa.RSAPublicKey) -> dict[str, str]:
        """The `EncryptionInfo` of `POST /sessions/online`: the key wrapped to the ministry's key, the IV."""
        if ministry_key.key_size < 2048:
            raise InvalidInput.one("public_key", f"the ministry's key has {ministry_key.key_size} bits, "
                                                 "fewer than 2048")
        return {"encryptedSymmetricKey": _b64(ministry_key.encrypt(self.key, _OAEP)),
                "initializationVector": _b64(self.iv)}

    def encrypt(self, plain: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        data = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        return encryptor.update(data) + encryptor.finalize()

    def decrypt(self, encrypted: bytes) -> bytes:
        """What the local KSeF does with what we send (and how the channel's tests read it back)."""
        if not encrypted or len(encrypted) % 16:
            raise InvalidInput.one("encryptedInvoiceContent", "not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
        data = decryptor.update(encrypted) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(data) + unpadder.finalize()
        except ValueError:
            raise InvalidInput.one("encryptedInvoiceContent", "bad PKCS#7 padding: another key or IV") from None


def unwrap_key(ministry_private_key: rsa.RSAPrivateKey, info: dict[str, str]) -> SessionKey:
    """The local KSeF's side of `encryption_info`."""
    try:
        key = ministry_private_key.decrypt(base64.b64decode(info["encryptedSymmetricKey"], validate=True), _OAEP)
        iv = base64.b64decode(info["initializationVector"], validate=True)
    except (KeyError, ValueError) as err:
        raise InvalidInput.one("encryption", f"not a key wrapped for this KSeF: {err}") from None
    return SessionKey(key, iv)


def send_invoice_request(session: SessionKey, xml: bytes, offline_mode: bool = False) -> dict[str, object]:
    """The body of `POST /sessions/online/{ref}/invoices` for one invoice (FA(3) XML, UTF-8, no BOM)."""
    if not xml:
        raise InvalidInput.one("invoice", "the invoice file is empty")
    if len(xml) > MAX_INVOICE_BYTES:
        raise InvalidInput.one("invoice", f"{len(xml)} bytes: KSeF takes at most {MAX_INVOICE_BYTES} in a session")
    if xml.startswith(b"\xef\xbb\xbf"):
        raise InvalidInput.one("invoice", "starts with a UTF-8 byte-order mark, which KSeF refuses")
    encrypted = session.encrypt(xml)
    return {
        "invoiceHash": _b64(hashlib.sha256(xml).digest()), "invoiceSize": len(xml),
        "encryptedInvoiceHash": _b64(hashlib.sha256(encrypted).digest()), "encryptedInvoiceSize": len(encrypted),
        "encryptedInvoiceContent": _b64(encrypted), "offlineMode": offline_mode,
    }
