"""The intermediation contract (contratto di intermediazione): its document, its schedule, its e-mails.

Pure code. The contract is rendered from a Jinja2 template with the customer's data and sent as an HTML
attachment (a browser prints it to PDF; no PDF library here does HTML well enough to be worth a
dependency). The e-mails are composed here, sent by `activities.contracts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.errors import InvalidInput

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_AMOUNT_CENTS = 100_000_000  # one million euro: anything above is a typo
MAX_DAYS = 3650

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "html.j2"], default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class ContractDocument:
    """Everything the contract shows."""

    order_id: str
    customer_name: str
    vat_number: str
    pec: str
    sdi_code: str | None
    amount_cents: int
    issued_at: datetime
    deadline: datetime
    provider: str = "einvoice-hub"


def format_eur(cents: int) -> str:
    """12345 -> "123,45 EUR" (Italian decimal comma)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{part:02d} EUR"


def it_date(value: datetime) -> str:
    return value.strftime("%d/%m/%Y")


def parse_amount(text: str | int | Decimal, field: str = "amount") -> int:
    """An amount in euro ("49", "49.00", "49,90") as cents; refused when negative, too large or finer
    than a cent."""
    raw = str(text).strip().replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise InvalidInput.one(field, f"{text!r} is not an amount in euro (e.g. 49.00)") from None
    if not value.is_finite() or value < 0:
        raise InvalidInput.one(field, "the amount must be zero or more euro")
    if value.adjusted() > 12:  # "1e999999" is finite, but no quantize or int() of it is sensible
        raise InvalidInput.one(field, f"the amount is larger than {format_eur(MAX_AMOUNT_CENTS)}")
    if value != value.quantize(Decimal("0.01")):
        raise InvalidInput.one(field, "the amount has more than two decimals")
    cents = int(value * 100)
    if cents > MAX_AMOUNT_CENTS:
        raise InvalidInput.one(field, f"the amount is larger than {format_eur(MAX_AMOUNT_CENTS)}")
    return cents


def parse_schedule(reminder_days: str, expiry_days: int) -> tuple[list[int], int]:
    """CONTRACT_REMINDER_DAYS ("3,7,14") and CONTRACT_EXPIRY_DAYS (30), checked together: reminders are
    whole days after the invitation, strictly increasing, each before the expiry."""
    problems = []
    days: list[int] = []
    for part in (p.strip() for p in reminder_days.split(",")):
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or int(part) < 1:  # "²".isdigit(), "٣".isdigit() are true
            problems.append(f"{part!r} is not a whole number of days of at least 1")
            continue
        days.append(int(part))
    if days != sorted(set(days)):
        problems.append("reminder days must be strictly increasing")
    if not 1 <= expiry_days <= MAX_DAYS:
        raise InvalidInput.one("CONTRACT_EXPIRY_DAYS", f"must be between 1 and {MAX_DAYS} days")
    if days and days[-1] >= expiry_days:
        problems.append(f"every reminder must come before the expiry ({expiry_days} days)")
    if problems:
        raise InvalidInput.one("CONTRACT_REMINDER_DAYS", "; ".join(problems))
    return days, expiry_days


def render_contract(doc: ContractDocument) -> str:
    """The contract as a standalone HTML document."""
    return _env.get_template("contracts/contract.html.j2").render(
        doc=doc, amount=format_eur(doc.amount_cents), issued=it_date(doc.issued_at), deadline=it_date(doc.deadline)
    )


def contract_filename(order_id: str) -> str:
    return f"contratto-intermediazione-{order_id}.html"


@dataclass(frozen=True)
class Mail:
    subject: str
    text: str


def invitation_mail(doc: ContractDocument, link: str, resent: bool) -> Mail:
    again = " (nuovo invio / sent again)" if resent else ""
    return Mail(
        subject=f"Contratto di intermediazione da accettare / Contract to accept - {doc.customer_name}{again}",
        text=_env.get_template("contracts/mail_invitation.txt.j2").render(
            doc=doc, link=link, amount=format_eur(doc.amount_cents), deadline=it_date(doc.deadline)),
    )


def reminder_mail(doc: ContractDocument, link: str, number: int) -> Mail:
    return Mail(
        subject=f"Promemoria {number}: contratto in attesa di accettazione / Reminder: contract awaiting "
                f"acceptance - {doc.customer_name}",
        text=_env.get_template("contracts/mail_reminder.txt.j2").render(
            doc=doc, link=link, number=number, deadline=it_date(doc.deadline)),
    )


def activation_mail(doc: ContractDocument, accepted_at: datetime) -> Mail:
    return Mail(
        subject=f"Servizio attivato / Service activated - {doc.customer_name} ({doc.vat_number})",
        text=_env.get_template("contracts/mail_activation.txt.j2").render(
            doc=doc, accepted=accepted_at.strftime("%d/%m/%Y %H:%M UTC"), amount=format_eur(doc.amount_cents)),
    )


def conservation_access_mail(doc: ContractDocument, archive: str, api_url: str) -> Mail:
    return Mail(
        subject=f"Accesso conservazione / Conservation access - {doc.customer_name} ({doc.vat_number})",
        text=_env.get_template("contracts/mail_conservation_access.txt.j2").render(doc=doc, archive=archive,
                                                                         api_url=api_url),
    )


def expired_mail(doc: ContractDocument) -> Mail:
    return Mail(
        subject=f"Ordine scaduto / Order expired - {doc.customer_name} ({doc.vat_number})",
        text=_env.get_template("contracts/mail_expired.txt.j2").render(doc=doc, deadline=it_date(doc.deadline),
                                                             amount=format_eur(doc.amount_cents)),
    )
