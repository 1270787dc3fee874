"""What crosses the boundary of the KSeF download workflow (#14.4): the download's id in, counts out, and the
passive-cycle workflows to start. Never a key, a token or a certificate: the rounds authenticate in the
activity, with the key alias their row names."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.invoices_io import InvoiceReceiveInput


@dataclass
class KsefDownloadInput:
    download_id: int  # a ksef_downloads row: the customer's schedule, or one range
    range: bool = False  # a range: goes on until its end (a scheduled round: until caught up)
    rounds_done: int = 0  # across continue-as-new


@dataclass
class KsefRoundReport:
    taken: int = 0  # invoices stored by this call
    pages: int = 0  # metadata pages read
    seen: int = 0  # invoices listed (taken, or already ours)
    caught_up: bool = False  # KSeF's HWM (or the range's end) reached: nothing more to ask now
    finished: bool = False  # a range download: its end reached


@dataclass
class ReceiveStart:
    """A passive-cycle workflow to start for an invoice taken, with the opaque keys the activity computed."""

    invoice_id: str
    workflow_id: str
    customer_key: str
    document_key: str
    input: InvoiceReceiveInput


@dataclass
class HandoverBatch:
    starts: list[ReceiveStart] = field(default_factory=list)
    more: bool = False  # more are waiting than this batch holds


@dataclass
class HandedOver:
    download_id: int
    invoice_ids: list[str] = field(default_factory=list)


@dataclass
class KsefDownloadResult:
    taken: int = 0
    handed_over: int = 0
    rounds: int = 0
    finished: bool = False


def ksef_workflow_id_for(customer_key: str, document_key: str) -> str:
    """The passive cycle of an invoice downloaded from KSeF: `invoice-in-<customer key>-ksef-<document key>`
    (its KSeF number names the seller's NIP: only the opaque key of the invoice goes in the id)."""
    return f"invoice-in-{customer_key}-ksef-{document_key}"
