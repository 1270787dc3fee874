"""The application's own secrets: SECRET_KEY as a list of keys (rotation), and what production refuses.

SECRET_KEY may name several keys, comma-separated, newest first: links and API tokens are signed with the
first and accepted under any of them, so a key is rotated by putting the new one in front and retired by
removing it once what it signed has expired (acceptance links: days; API tokens: API_TOKEN_HOURS).

Outside the embedded development stack (`einvoice dev up` sets EINVOICE_EMBEDDED=1), the API and the worker
refuse to start with the built-in or a short SECRET_KEY or SEARCH_KEY_SECRET, or without PAYLOAD_CODEC_KEY
("off" must be said).
"""

from __future__ import annotations

from core.settings import DEV_SEARCH_KEY_SECRET, DEV_SECRET_KEY, Settings
from domain.credentials import keys_of

MIN_SECRET_LENGTH = 32


def secret_keys(settings_or_value: Settings | str) -> list[str]:
    """The keys, newest first (never empty: an empty SECRET_KEY is refused by the callers that sign)."""
    value = (settings_or_value.secret_key.get_secret_value() if isinstance(settings_or_value, Settings)
             else settings_or_value)
    return keys_of(value)


def production_problems(settings: Settings) -> list[str]:
    if settings.embedded:
        return []
    problems = []
    keys = secret_keys(settings)
    if not keys or DEV_SECRET_KEY in keys:
        problems.append("SECRET_KEY is the built-in development key (or empty): set one of 32+ random characters")
    elif any(len(k) < MIN_SECRET_LENGTH for k in keys):
        problems.append(f"SECRET_KEY: every key must have at least {MIN_SECRET_LENGTH} characters")
    search_secret = settings.search_key_secret.get_secret_value()
    if search_secret in ("", DEV_SEARCH_KEY_SECRET):
        problems.append("SEARCH_KEY_SECRET is the built-in development key (or empty): set one of 32+ random "
                        "characters, and never change it (it is part of workflow ids)")
    elif len(search_secret) < MIN_SECRET_LENGTH:
        problems.append(f"SEARCH_KEY_SECRET must have at least {MIN_SECRET_LENGTH} characters")
    if not settings.payload_codec_key.get_secret_value().strip():
        problems.append("PAYLOAD_CODEC_KEY is not set: give base64 32-byte keys (or 'off' to store payloads in "
                        "clear, on purpose)")
    return problems


def check_production(settings: Settings, what: str) -> None:
    """Raise SystemExit naming every unsafe setting (the process must not start)."""
    problems = production_problems(settings)
    if problems:
        raise SystemExit(f"{what} refuses to start outside the embedded stack: " + "; ".join(problems))


def _fernet_keys(settings: Settings) -> list[bytes]:
    """One Fernet key per SECRET_KEY, derived with HKDF under a label of its own (a sealed value and a signed
    token never share a key)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return [base64.urlsafe_b64encode(HKDF(hashes.SHA256(), 32, salt=None, info=b"einvoice-hub sealed value")
                                     .derive(key.encode())) for key in secret_keys(settings)]


def seal(settings: Settings, value: str) -> str:
    """Encrypt a stored secret (a sync target's database URL) under the newest SECRET_KEY."""
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(k) for k in _fernet_keys(settings)]).encrypt(value.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    """The value back, under any SECRET_KEY still listed (so a rotation keeps old rows readable)."""
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(k) for k in _fernet_keys(settings)]).decrypt(sealed.encode()).decode()
