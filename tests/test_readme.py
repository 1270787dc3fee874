"""The README documents every setting and starts with the two commands."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in README, f"{field.alias} is missing from the README table"


def test_the_two_commands_come_first() -> None:
    head = README.split("## ", 1)[0]
    assert "make demo" in head and "make test" in head
