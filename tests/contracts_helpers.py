"""Shared by the contract tests: customers, a worker for the contract workflow, links from e-mails."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

from temporalio.client import Client

from activities.contracts import ContractActivities
from activities.mail import MailActivities
from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.identifiers import partita_iva_check_digit
from models.tenant import add_tenant, get_tenant
from tests.helpers import new_worker
from workflows.contract_acceptance import ContractAcceptanceWorkflow

_serial = itertools.count(1)


def new_vat() -> str:
    """A valid partita IVA not used before in this test session (the workflow id derives from it)."""
    first_ten = f"{7_000_000 + next(_serial) * 13 % 3_000_000:07d}001"
    return f"IT{first_ten}{partita_iva_check_digit(first_ten)}"


def add_customer(settings: Settings, vat: str, name: str = "ACME S.p.A.") -> str:
    pec = f"{vat.lower()}@pec.example.it"
    with session_scope(settings.database_url) as session:
        add_tenant(session, vat, name, pec, "QPQRMS")
    return pec


def is_enabled(settings: Settings, vat: str) -> bool:
    with session_scope(settings.database_url) as session:
        return get_tenant(session, vat).enabled


def contract_activities(settings: Settings) -> list[Callable[..., Any]]:
    acts = ContractActivities(settings)
    return [MailActivities(settings).send_email, acts.open_order, acts.send_invitation, acts.accept_order,
            acts.notify_activation, acts.cancel_order, acts.expire_order]


@asynccontextmanager
async def contract_worker(client: Client, settings: Settings,
                          activities: list[Callable[..., Any]] | None = None,
                          task_queue: str | None = None) -> AsyncIterator[Settings]:
    """A worker for the contract workflow (on a fresh task queue unless given); yields settings pointing at it."""
    async with new_worker(client, settings, workflows=[ContractAcceptanceWorkflow],
                          activities=activities or contract_activities(settings), task_queue=task_queue) as worker:
        yield settings.model_copy(update={"temporal_task_queue": worker.task_queue})


def link_path(msg: EmailMessage) -> str:
    """The acceptance link of an e-mail, as a path on the API."""
    links = [u for u in Mailbox.links_in(msg) if "/accept/" in u]
    assert len(links) == 1, f"expected one acceptance link in {msg['Subject']!r}, found {links}"
    return urlparse(links[0]).path
