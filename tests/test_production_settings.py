"""Safe defaults in production (#18.6): the development secrets are refused outside the embedded stack, and
SECRET_KEY rotates (the first key signs, every listed key verifies)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.secrets import check_production, production_problems
from core.settings import Settings
from domain.credentials import make_purpose_token, new_token, read_purpose_token, token_is_ours
from domain.tokens import TokenInvalid, make_token, read_token

STRONG = "k" * 40
CODEC = "off"


SEARCH = "s" * 40


@pytest.mark.parametrize(("secret", "codec", "search", "embedded", "problems"), [
    (None, None, None, True, []),  # the embedded stack: development defaults allowed
    (None, CODEC, SEARCH, False, ["SECRET_KEY is the built-in"]),
    ("short", CODEC, SEARCH, False, ["at least 32"]),
    (f"{STRONG},short", CODEC, SEARCH, False, ["at least 32"]),
    (STRONG, None, SEARCH, False, ["PAYLOAD_CODEC_KEY is not set"]),
    (STRONG, CODEC, None, False, ["SEARCH_KEY_SECRET is the built-in"]),
    (STRONG, CODEC, "short", False, ["SEARCH_KEY_SECRET must have at least 32"]),
    (None, None, None, False, ["SECRET_KEY is the built-in", "SEARCH_KEY_SECRET is the built-in",
                               "PAYLOAD_CODEC_KEY is not set"]),
    (STRONG, CODEC, SEARCH, False, []),
])
def test_what_production_refuses(secret: str | None, codec: str | None, search: str | None, embedded: bool,
                                 problems: list[str]) -> None:
    kw: dict[str, object] = {"EINVOICE_EMBEDDED": embedded}
    if secret is not None:
        kw["SECRET_KEY"] = secret
    if codec is not None:
        kw["PAYLOAD_CODEC_KEY"] = codec
    if search is not None:
        kw["SEARCH_KEY_SECRET"] = search
    found = production_problems(Settings(**kw))  # type: ignore[arg-type]
    assert len(found) == len(problems) and all(p in f for p, f in zip(problems, found, strict=True)), found
    if problems:
        with pytest.raises(SystemExit, match="refuses to start outside the embedded stack"):
            check_production(Settings(**kw), "the API")  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [["api"], ["worker"]])
def test_the_served_api_and_the_worker_do_not_start_with_development_secrets(command: list[str],
                                                                            tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    code = ("import sys; from typer.testing import CliRunner; from starters.cli import app\n"
            "from api.main import app as factory\n"
            f"cmd = {command!r}\n"
            "if cmd == ['api']:\n"
            "    factory()\n"
            "else:\n"
            "    r = CliRunner().invoke(app, cmd); print(r.output); sys.exit(r.exit_code if r.exception is None "
            "or isinstance(r.exception, SystemExit) else 9)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).resolve().parent.parent))
    assert done.returncode != 0
    assert "refuses to start outside the embedded stack" in done.stdout + done.stderr, done.stdout + done.stderr


def test_secret_key_rotation_keeps_what_the_old_key_signed() -> None:
    old, new = "o" * 40, "n" * 40
    expires = datetime.now(UTC) + timedelta(days=1)
    link, token, confirm = make_token(old, "o1", "n1", expires), new_token(old), make_purpose_token(
        old, "p", "42", timedelta(hours=1))
    rotated = f"{new},{old}"
    assert read_token(rotated, link).order_id == "o1" and token_is_ours(rotated, token)
    assert read_purpose_token(rotated, "p", confirm) == "42"
    # what the rotated key signs is signed with the new key: valid without the old one
    assert read_token(new, make_token(rotated, "o2", "n2", expires)).order_id == "o2"
    assert token_is_ours(new, new_token(rotated))
    # retired: what only the old key signed is refused
    with pytest.raises(TokenInvalid):
        read_token(new, link)
    assert not token_is_ours(new, token)


def test_settings_secret_is_not_shown() -> None:
    assert STRONG not in repr(Settings(SECRET_KEY=SecretStr(STRONG)))  # type: ignore[arg-type]
