"""FA(3) invoices end to end on the embedded stack through the local KSeF, against the floor `pipeline` uses
(#14.7: "the FA(3) pipeline against the floor as `pipeline` does for FatturaPA", goal ≥ 0.7×).

One invoice: `send_invoice` (FA(3) checked: the schema, KSeF's checks, the seller is the customer; recorded;
started on the KSeF channel) → the invoice workflow (InvoiceSendWorkflow) hands it to its customer's session
workflow (KsefSessionWorkflow, signal-with-start) → the session, opened once per customer (login with the
customer's KSeF token, the AES key wrapped for KSeF), sends it (encrypted, POST) and awaits it (its status,
its UPO) → the outcome signalled back → the outcome recorded and e-mailed, the UPO stored → its conservation
child (the package with the UPO stored on S3, read back, recorded). It counts when conservation has completed,
as in `pipeline`.

Customers: KSeF limits every context (an online session takes 30 invoices a minute and 180 an hour,
limity-api.md) and the worker's rate budget keeps to that, as it must with the real KSeF; one customer could
not go faster than half an invoice a second. So the invoices go round robin to `CUSTOMERS` Polish customers,
as an intermediary's are, each with its own KSeF token at the local KSeF and its own session, well under the
limits at the rates measured here.

Floor: as `pipeline` makes it (bench/pipeline.py `throughput`), the same shape with nothing in it, in the same
run: a parent of as many no-op activities as one FA(3) invoice runs on its way — the invoice workflow's prepare,
enqueue and outcome (local activities) and its share of the session workflow's, send and await
(`INVOICE_ACTIVITIES`: 5; the session's open and close are shared by a customer's invoices) — starting a child
of as many as conservation runs (2), the same worker size, the same number in flight, slices alternating. The
run checks the recorded shape against it (`shape_matches_floor`). Until 2026-12-07 15:23 the floor was
FatturaPA's (3 + 2), not this path's.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from bench.history import cost_of
from bench.stack import Stack, operator
from core.db import session_scope
from core.search_keys import SearchKeys
from domain.identifiers import nip_check_digit

CORPUS_INVOICE = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "fa3" / "valid-vat-two-rates.xml"
CORPUS_SELLER = b"<NIP>5265877635</NIP>"
CUSTOMERS = 20
# What one FA(3) invoice runs on its way: prepare, ksef_enqueue, invoice_apply_outcome (the invoice workflow's,
# local) and ksef_send_invoice, ksef_await_invoice (its customer's session workflow's); then conservation's 2.
INVOICE_ACTIVITIES = 5
CONSERVATION_ACTIVITIES = 2
SESSION_PER_INVOICE = ("ksef_send_invoice", "ksef_await_invoice")
KSEF_LIMIT_PER_MINUTE = 30  # POST /sessions/online/{ref}/invoices, per context (domain/ksef/limits.py)


def customer_nips(count: int) -> list[str]:
    """`count` valid NIPs (check digit), none the corpus buyer's."""
    out: list[str] = []
    n = 0
    while len(out) < count:
        first = f"77{n:07d}"
        n += 1
        check = nip_check_digit(first)
        if check is not None:
            out.append(f"{first}{check}")
    return out


def fa3_invoice(nip: str, number: str) -> bytes:
    data = CORPUS_INVOICE.read_bytes()
    assert data.count(CORPUS_SELLER) == 1
    data = data.replace(CORPUS_SELLER, f"<NIP>{nip}</NIP>".encode())
    start, end = data.index(b"<P_2>") + 5, data.index(b"</P_2>")
    return data[:start] + number.encode() + data[end:]


def ensure_polish_customers(stack: Stack, nips: list[str]) -> None:
    """Each customer enabled, its KSeF token made at the local KSeF (as the customer makes it in KSeF) and
    stored sealed, as `einvoice ksef token set` stores it."""
    from core.secrets import seal
    from models import ksef_credentials as creds
    from models.tenant import add_tenant, get_tenant_row, set_enabled

    for nip in nips:
        vat = f"PL{nip}"
        token = httpx.post(f"{stack.ksef_url}/control/ksef-tokens", json={"type": "Nip", "value": nip},
                           timeout=10).raise_for_status().json()["token"]
        with session_scope(stack.settings.database_url) as session:
            add_tenant(session, vat, f"Firma {nip} sp. z o.o.", f"biuro-{nip}@firma.example.pl", None)
            set_enabled(session, vat, True)
            creds.put(session, get_tenant_row(session, vat).id, seal(stack.settings, token), "bench")


class KsefPipelineRunner:
    """FA(3) invoices through the KSeF channel, round robin over the customers."""

    def __init__(self, stack: Stack, customers: int = CUSTOMERS):
        self.stack = stack
        self.nips = customer_nips(customers)
        ensure_polish_customers(stack, self.nips)
        self.serial = 0
        self.stamp = time.time_ns()
        self.states: dict[str, int] = {}
        self.last: tuple[str, str, str] | None = None  # invoice, conservation and session workflow ids

    async def one(self, _: int) -> None:
        from starters.archive import conservation_workflow_id
        from starters.invoices import send_invoice

        self.serial += 1
        s = self.stack
        nip = self.nips[self.serial % len(self.nips)]
        vat = f"PL{nip}"
        data = fa3_invoice(nip, f"FV/B/{self.stamp}/{self.serial}")
        view = await send_invoice(s.settings, vat, data, f"bench-{self.serial}.xml", client=s.client,
                                  task_queue=s.task_queue, as_user=operator(s.settings))
        status = await s.client.get_workflow_handle(view.workflow_id).result()
        state = str(status["state"])
        self.states[state] = self.states.get(state, 0) + 1
        child = conservation_workflow_id(s.settings, "invoice", view.id)
        if state == "accepted":  # only an accepted invoice is conserved
            await s.client.get_workflow_handle(child).result()
        self.last = (view.workflow_id, child, f"ksef-session-{SearchKeys(s.settings).customer(vat)}")

    def describe(self) -> dict[str, Any]:
        return {"sign": "none (KSeF: the session's login)", "customers": len(self.nips),
                "ksef_limit_per_customer_minute": KSEF_LIMIT_PER_MINUTE}

    async def shape(self) -> dict[str, Any]:
        """Activities of one invoice as recorded: its workflow's, its conservation's, and its share of its
        customer's session workflow (every invoice of that customer went through the one session run)."""
        assert self.last is not None
        client = self.stack.client
        invoice_wf, child_wf, session_wf = self.last
        parent = cost_of(await client.get_workflow_handle(invoice_wf).fetch_history())
        child = cost_of(await client.get_workflow_handle(child_wf).fetch_history())
        history = await client.get_workflow_handle(session_wf).fetch_history()
        session = cost_of(history)
        kinds = Counter(e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        return {"invoice_activities": parent.by_type.get("ACTIVITY_TASK_SCHEDULED", 0) + parent.local_activities,
                "invoice_local_activities": parent.local_activities,
                "conservation_activities": child.by_type.get("ACTIVITY_TASK_SCHEDULED", 0) + child.local_activities,
                "invoice_events": parent.events, "invoice_actions": parent.actions,
                "conservation_events": child.events, "conservation_actions": child.actions,
                "session_activities_by_type": dict(sorted(kinds.items())), "session_events": session.events,
                "session_actions": session.actions, "workflows": 3,
                "shape_matches_floor": (parent.by_type.get("ACTIVITY_TASK_SCHEDULED", 0) + parent.local_activities
                                        + len(SESSION_PER_INVOICE) == INVOICE_ACTIVITIES
                                        and kinds[SESSION_PER_INVOICE[0]] == kinds[SESSION_PER_INVOICE[1]])}
