"""Electronic signatures of FatturaPA files: CAdES-BES (.p7m) and XAdES-BES (enveloped), and the key store.

Plain Python (asn1crypto + cryptography for CMS, signxml for XML-DSig); no Temporal, no database.
"""

from domain.signatures.cades import VerifiedSignature, extract_cades_content, sign_cades, unwrap_der, verify_cades
from domain.signatures.errors import CertificateExpired, InvalidSignature, MalformedSignedFile, SignatureError
from domain.signatures.keystore import PASSWORD_ENV, FileKeyStore, KeyStore, Signer
from domain.signatures.xades import sign_xades, verify_xades


def verify_signature(signed: bytes, kind: str) -> VerifiedSignature:
    """Verify a signed file by its kind ("cades" or "xades")."""
    if kind == "cades":
        return verify_cades(signed)
    if kind == "xades":
        return verify_xades(signed)
    raise ValueError(f"unknown signature kind {kind!r}")


def sign(content: bytes, signer: Signer, kind: str) -> bytes:
    """Sign a document as a CAdES .p7m ("cades") or with an enveloped XAdES signature ("xades")."""
    if kind == "cades":
        return sign_cades(content, signer)
    if kind == "xades":
        return sign_xades(content, signer)
    raise ValueError(f"unknown signature kind {kind!r}")


__all__ = [
    "PASSWORD_ENV",
    "CertificateExpired",
    "FileKeyStore",
    "InvalidSignature",
    "KeyStore",
    "MalformedSignedFile",
    "SignatureError",
    "Signer",
    "VerifiedSignature",
    "extract_cades_content",
    "sign",
    "sign_cades",
    "sign_xades",
    "unwrap_der",
    "verify_cades",
    "verify_signature",
    "verify_xades",
]
