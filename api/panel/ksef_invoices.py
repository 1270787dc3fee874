"""The KSeF side of a Polish customer's invoices screen (#16, seed 004): "Wyślij do KSeF" (an FA(3) invoice, sent
unsigned: the session's authentication signs it) and "Pobierz z KSeF" (a range of received invoices, by default
the last 7 days), each invoice's numer KSeF and its UPO.

Both actions log in to KSeF with the KSeF token the customer gave us. Seed 004: trying an action before the
credential is there shows a window that asks for it, and once it is added the action goes on — here the window
"add your KSeF token" (a password field, never shown back, set through `starters.ksef_credentials` as
`PUT /customers/{vat}/ksef-token` does); after saving it a download goes on with the range that was asked, a
send shows its form again (a browser does not re-send a chosen file).

Everything shown is read through the starters (`ksef.read`, `invoice.list`); what a user may not do is not
shown, and forced anyway is refused by the starter (audited, nothing written)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool

from api.panel.common import PANEL
from api.panel.pages import allowed, is_polish
from api.panel.session import PanelUser
from core.settings import Settings
from domain.errors import InvalidInput
from models.ksef_download import SCHEDULE
from starters.invoices import ksef_numbers
from starters.ksef_credentials import ksef_token_status
from starters.ksef_download import DownloadView, list_downloads

WARSAW = ZoneInfo("Europe/Warsaw")  # KSeF's days, as `einvoice ksef download` reads a date
DEFAULT_DAYS = 7  # "Pobierz z KSeF" asks for the last 7 days unless told otherwise
SHOWN_DOWNLOADS = 5  # the newest range downloads shown under the form
ACTIONS = ("send", "download")  # what the token window goes on with once the token is saved


@dataclass(frozen=True)
class RangeDownload:
    """A range download as the screen shows it: its days, how far it got, what it took."""

    id: int
    range_from: str
    range_to: str
    covered_until: str
    done: bool
    taken: int
    error: str | None


def _shown(view: DownloadView) -> RangeDownload:
    end = datetime.fromisoformat(view.range_to) if view.range_to else None
    covered = datetime.fromisoformat(view.covered_until)
    last_day = (end - timedelta(microseconds=1)) if end else covered  # an end at midnight: the day before's
    return RangeDownload(
        id=view.id, range_from=_day(view.range_from), range_to=last_day.astimezone(WARSAW).strftime("%d/%m/%Y"),
        covered_until=covered.astimezone(WARSAW).strftime("%d/%m/%Y %H:%M"), done=end is not None and covered >= end,
        taken=view.taken, error=view.last_error)


def _day(value: str | None) -> str:
    return datetime.fromisoformat(value).astimezone(WARSAW).strftime("%d/%m/%Y") if value else ""


def default_range(today: date | None = None) -> tuple[str, str]:
    """The form's range: the last 7 days up to today, in Warsaw (as <input type=date> values)."""
    today = today or datetime.now(WARSAW).date()
    return (today - timedelta(days=DEFAULT_DAYS)).isoformat(), today.isoformat()


def parse_range(date_from: str, date_to: str) -> tuple[datetime, datetime]:
    """The form's two days (YYYY-MM-DD, Warsaw): `from` its start, `to` its end (the whole day is taken)."""
    days: list[date] = []
    for name, value in (("from", date_from), ("to", date_to)):
        try:
            days.append(date.fromisoformat(value.strip()))
        except ValueError:
            raise InvalidInput.one(name, f"a day as YYYY-MM-DD; got {value[:20]!r}") from None
    start = datetime.combine(days[0], datetime.min.time(), WARSAW).astimezone(UTC)
    end = datetime.combine(days[1] + timedelta(days=1), datetime.min.time(), WARSAW).astimezone(UTC)
    return start, end


def token_set(settings: Settings, user: PanelUser, vat: str) -> bool:
    """Whether the customer's KSeF token is set (`ksef.read`; a refusal raises, audited)."""
    return ksef_token_status(settings, vat, as_user=user.principal, surface=PANEL).set


async def context(settings: Settings, user: PanelUser, vat: str) -> dict[str, Any]:
    """What the invoices screen shows of KSeF: nothing for a customer that is not Polish."""
    if not is_polish(vat):
        return {"polish": False}
    principal = user.principal
    readable = allowed(principal, "ksef.read", vat)
    downloads: list[RangeDownload] = []
    if readable:
        views = await list_downloads(settings, vat, as_user=principal, surface=PANEL)
        downloads = [_shown(v) for v in views if v.name != SCHEDULE]
    date_from, date_to = default_range()
    return {
        "polish": True,
        "token_set": await run_in_threadpool(token_set, settings, user, vat) if readable else False,
        "can_download": allowed(principal, "ksef.download", vat),
        "can_set_token": allowed(principal, "ksef.token", vat),
        "ksef_numbers": await run_in_threadpool(ksef_numbers, settings, vat, as_user=principal, surface=PANEL),
        "ksef_downloads": list(reversed(downloads))[:SHOWN_DOWNLOADS],
        "range_from": date_from, "range_to": date_to,
    }
