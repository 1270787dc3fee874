"""How the CLI prints: JSON for machines (`--json`), rich tables for people, errors in red to stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable

console = Console()
err_console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=_default, ensure_ascii=False))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console().print(table)  # a new console reads the terminal width (COLUMNS) now


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Map domain errors (and the API's answers, which `starters.http_client` turns into them) to a clear
    message and exit code: 2 bad input, 3 conflict, 4 not found, 5 unavailable here, 6 forbidden or not
    logged in (no token, or one the API refused; a client certificate refused), 1 anything else the API
    answered."""
    from starters.http_client import ApiError, CertificateRefused, NotLoggedIn, Unauthenticated

    try:
        yield
    except InvalidInput as err:
        lines = "\n".join(f"  - {p}" for p in err.problems)
        fail(f"invalid input:\n{lines}", 2)
    except Conflict as err:
        fail(str(err), 3)
    except NotFound as err:
        fail(str(err), 4)
    except Unavailable as err:
        fail(str(err), 5)
    except Forbidden as err:
        fail(f"forbidden: {err} (needs {err.permission})", 6)
    except (NotLoggedIn, Unauthenticated, CertificateRefused) as err:
        fail(str(err), 6)
    except ApiError as err:
        fail(str(err), 1)


def it_date(value: datetime | date | None) -> str:
    """dd/mm/yyyy, as the Italian portals show dates."""
    return value.strftime("%d/%m/%Y") if value else ""


Printer = Callable[[Any], None]
