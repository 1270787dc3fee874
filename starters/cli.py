"""The `einvoice` command line: one sub-command group per area, plus the stack's own commands."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from starters import (
    archive_cli,
    certificates_cli,
    contracts_cli,
    delegations_cli,
    identity_cli,
    invoices_cli,
    ksef_cli,
    ksef_credentials_cli,
    ksef_download_cli,
    ksef_outages_cli,
    login_cli,
    ops_cli,
    preferences_cli,
    sync_cli,
    tenants_cli,
    tls_cli,
)

app = typer.Typer(help="einvoice-hub: e-invoicing intermediary for SDI and KSeF on Temporal.",
                  no_args_is_help=True)
app.add_typer(tenants_cli.app, name="tenant")
app.add_typer(contracts_cli.app, name="contract")
app.add_typer(certificates_cli.app, name="cert")
app.add_typer(preferences_cli.app, name="prefs")
app.add_typer(invoices_cli.app, name="invoice")
app.add_typer(archive_cli.app, name="archive")
app.command("sdi-sim")(invoices_cli.sdi_sim)
app.command("ksef-sim")(ksef_cli.ksef_sim)
app.add_typer(identity_cli.operator_app, name="operator")
app.add_typer(identity_cli.audit_app, name="audit")
app.add_typer(delegations_cli.app, name="delegation")
app.add_typer(tls_cli.app, name="tls")
app.add_typer(sync_cli.app, name="sync")
app.add_typer(ksef_download_cli.app, name="ksef")
ksef_download_cli.app.add_typer(ksef_credentials_cli.app, name="token")  # einvoice ksef token ...
ksef_download_cli.app.add_typer(ksef_outages_cli.app, name="outage")  # einvoice ksef outage add|end|list
app.command("login")(login_cli.login)
app.command("logout")(login_cli.logout)
app.command("whoami")(login_cli.whoami)
app.add_typer(ops_cli.app, name="ops")
login_cli.add_tls_options(app)  # every command that calls the API takes --cert, --key and --ca

dev = typer.Typer(help="The embedded development stack.", no_args_is_help=True)
app.add_typer(dev, name="dev")


@dev.command("up")
def dev_up(
    data_dir: Annotated[Path | None, typer.Option(help="Where the stack keeps its state")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Serve the API over mutual TLS (client certificates "
                                                    "from our CA on every authenticated route)")] = False,
) -> None:
    """Start Temporal (+ UI), S3 emulator, SMTP sink, API and worker in the foreground; Ctrl-C stops all."""
    from devstack.stack import run_stack

    raise typer.Exit(run_stack(data_dir=data_dir, tls=tls))


@app.command("demo")
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="Where the stack keeps its state")] = None,
    keep_running: Annotated[bool, typer.Option(help="Leave the stack up after the scenario")] = True,
) -> None:
    """Start the embedded stack and run the product's main scenario end to end."""
    from devstack.stack import run_stack

    raise typer.Exit(run_stack(data_dir=data_dir, demo=True, keep_running=keep_running))


@app.command("worker")
def worker() -> None:
    """Run a worker for every workflow and activity (until Ctrl-C)."""
    from core.secrets import check_production
    from core.settings import get_settings
    from workers.main import main

    check_production(get_settings(), "the worker")
    main()


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option(help="Listen address (default API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default API_PORT)")] = None,
    tls: Annotated[bool | None, typer.Option("--tls/--no-tls", help="Serve over mutual TLS: HTTPS, and a client "
                                             "certificate from our CA on every authenticated route "
                                             "(default API_TLS)")] = None,
) -> None:
    """Serve the HTTP API."""
    import os
    from typing import Any

    import uvicorn

    from core.settings import get_settings

    if tls is not None:  # the app factory reads the same process-wide settings
        os.environ["API_TLS"] = "true" if tls else "false"
        get_settings.cache_clear()
    settings = get_settings()
    options: dict[str, Any] = {}
    if settings.api_tls:
        from api.tls import uvicorn_options

        options = uvicorn_options(settings)
    uvicorn.run("api.main:app", factory=True, host=host or settings.api_host, port=port or settings.api_port,
                log_level="info", **options)


@app.command("health")
def health(
    worker: Annotated[bool, typer.Option("--worker", help="Also require a worker polling the task queue")] = False,
) -> None:
    """Exit 0 when the database and Temporal answer (and, with --worker, a worker polls the task queue)."""
    from sqlalchemy import text

    from core.db import get_engine
    from core.settings import get_settings
    from core.temporal import connect, task_queue_pollers

    settings = get_settings()
    with get_engine(settings.database_url).connect() as conn:
        conn.execute(text("select 1"))

    async def pollers() -> int:
        client = await connect(settings)
        return await task_queue_pollers(client, settings.temporal_namespace, settings.temporal_task_queue)

    count = asyncio.run(pollers())
    if worker and count == 0:
        typer.echo(f"no worker polls task queue {settings.temporal_task_queue}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: database and Temporal answer; {count} pollers on {settings.temporal_task_queue}")


@app.command("smtp-sink")
def smtp_sink(
    port: Annotated[int, typer.Option(help="Listen port")] = 1025,
    out_dir: Annotated[Path, typer.Option(help="Where each message is saved")] = Path(".einvoice/mail"),
) -> None:
    """A local SMTP server that saves every message as a .eml file and logs it."""
    from devstack.smtp_sink import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve_forever("127.0.0.1", port, out_dir))


if __name__ == "__main__":
    app()
