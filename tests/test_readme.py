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


def test_reliability_table_names_tests_that_exist() -> None:
    """Every `tests/x.py::name` RELIABILITY.md cites is a test function of that module (or a parametrised one)."""
    import re

    root = Path(__file__).resolve().parent.parent
    text = (root / "RELIABILITY.md").read_text()
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)", text)
    assert len(cited) >= 20
    for module, name in cited:
        source = (root / module).read_text()
        assert re.search(rf"^(async )?def {name}\(", source, re.M), f"{module}::{name} is not a test"
    for bare in re.findall(r"`(test_\w+)`", text):  # names given without their module
        assert any(re.search(rf"^(async )?def {bare}\(", p.read_text(), re.M)
                   for p in (root / "tests").glob("test_*.py")), f"{bare} is not a test"
