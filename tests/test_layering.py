"""The layering the README's architecture draws, checked from the imports themselves.

A package may import only the packages below it: infrastructure (`core/`) never imports orchestration
(`workflows/`), the adapters of outside systems (`adapters/`) or the activities over them, domain code imports
none of ours, workflows reach activities only to name them, the starters reach an outside system through its
adapter and never run activity code, and the worker does not call client code (`starters/`). The import graph
is read with `ast`, so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"core", "domain", "models", "workflows", "activities", "adapters", "api", "starters", "workers", "sdisim",
        "ksefsim", "devstack", "sync"}

# What each package may import of ours (itself always).
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "sync": set(),  # the sync client runs on a customer's server: HTTP and its own schema only
    "models": {"domain"},
    "core": {"domain", "models"},
    "sdisim": {"domain"},
    "ksefsim": {"domain"},  # like the local SDI: it shares only the pure KSeF code with us
    "adapters": {"core", "domain", "models"},
    # the in-stack sync drives the same client a customer's server runs (sync/ imports nothing of ours)
    "activities": {"adapters", "core", "domain", "models", "sync"},
    "workflows": {"activities", "core", "domain", "models"},
    "workers": {"activities", "core", "domain", "models", "workflows"},
    "api": {"adapters", "core", "domain", "models", "starters"},
    # the CLI serves the API and starts the embedded stack, the worker and the local SDI; a local archive
    # verification and an export read S3 through its adapter, never through activity code
    "starters": {"adapters", "api", "core", "devstack", "domain", "ksefsim", "models", "sdisim", "sync", "workers",
                 "workflows"},
    # the demo runs the sync client as a customer's server would
    "devstack": {"core", "domain", "models", "starters", "sync", "workflows"},
}


def imports_of(package: str) -> dict[str, set[str]]:
    """Each of our packages `package` imports, with the modules that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in OURS and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_is_below_it(package: str) -> None:
    wrong = {top: sorted(where) for top, where in imports_of(package).items() if top not in ALLOWED[package]}
    assert not wrong, f"{package}/ imports {wrong}"


def test_every_package_of_ours_has_its_rule() -> None:
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} & (OURS | {"bench", "tests"})
    assert on_disk - {"bench", "tests"} == set(ALLOWED)


def test_the_rule_catches_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check reads lazy imports too: core importing a workflow inside a function is found."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "x.py").write_text("def f():\n    from workflows.common import RETRY_FAST\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert imports_of("core") == {"workflows": {"core/x.py"}}
