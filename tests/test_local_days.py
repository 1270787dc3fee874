"""The day an authority counts in, at the hour it is not the machine's (issue #13: a flake by the clock).

From 23:00 UTC (22:00 in summer) it is already tomorrow in Rome and Warsaw. The SDI refuses an invoice dated
later than its day of reception (00403), KSeF one issued later than its day (P_1), and an offline invoice's
deadline ends at Warsaw's midnight: each check must read the authority's day, not `date.today()` (UTC here).
Before this, the checks read the machine's date: an invoice dated today in Italy or Poland was refused from
23:00 UTC to midnight, and an offline24 invoice past its deadline was still taken in that hour. The clock is
moved in-process with time-machine (the servers are not involved: these checks run before anything is sent).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import func, select

from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.fatturapa.validation import italian_today, validate_invoice
from domain.ksef.offline import warsaw_today
from models.invoices import Invoice
from starters.invoices import send_invoice
from tests.identity_support import operator
from tests.invoices_support import VAT, invoice
from tests.ksef_authority_support import PL_VAT
from tests.test_ksef_channel import fa3, pl, sim  # noqa: F401  (fixtures)

LATE_EVENING_UTC = datetime(2026, 12, 7, 23, 40, tzinfo=UTC)  # 00:40 on 8 December in Rome and Warsaw


def dated(day: date) -> bytes:
    return invoice("LD-1").replace(b"<Data>2014-12-18</Data>", f"<Data>{day.isoformat()}</Data>".encode(), 1)


def issued(number: str, day: date) -> bytes:
    return fa3(number).replace(b"<P_1>2026-12-07</P_1>", f"<P_1>{day.isoformat()}</P_1>".encode())


def _count(settings: Settings) -> int:
    with session_scope(settings.database_url) as s:
        return s.scalar(select(func.count()).select_from(Invoice)) or 0


def test_the_days_of_rome_and_warsaw_at_the_hour_utc_is_a_day_behind() -> None:
    assert italian_today(LATE_EVENING_UTC) == warsaw_today(LATE_EVENING_UTC) == date(2026, 12, 8)
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # CEST: the day turns at 22:00 UTC
    assert italian_today(summer) == warsaw_today(summer) == date(2026, 7, 2)
    assert italian_today(datetime(2026, 12, 7, 22, 59, tzinfo=UTC)) == date(2026, 12, 7)


def test_an_italian_invoice_dated_today_in_rome_is_taken_at_2340_utc_and_tomorrow_refused() -> None:
    with time_machine.travel(LATE_EVENING_UTC, tick=False):
        assert date.today() == date(2026, 12, 7)  # the machine's day (UTC): what the check read before
        summary = validate_invoice(dated(date(2026, 12, 8)), VAT)
        assert summary.documents[0].numero == "LD-1"
        with pytest.raises(InvalidInput) as err:
            validate_invoice(dated(date(2026, 12, 9)), VAT)
    [problem] = err.value.problems
    assert problem.code == "00403" and "the invoice date 2026-12-09 is after today (2026-12-08)" in problem.message


async def test_a_polish_invoice_issued_today_in_warsaw_is_taken_at_2340_utc(pl: Settings) -> None:  # noqa: F811
    with time_machine.travel(LATE_EVENING_UTC, tick=False):
        with pytest.raises(InvalidInput) as err:  # past the P_1 check: refused further on, for a KOD II alone
            await send_invoice(pl, PL_VAT, issued("FV/DAY/1/2026", date(2026, 12, 8)), "day.xml",
                               ksef_kod_ii="https://qr-test.ksef.mf.gov.pl/certificate/x", as_user=operator(pl))
        assert [p.field for p in err.value.problems] == ["ksef_kod_ii"], err.value.problems
        with pytest.raises(InvalidInput) as later:
            await send_invoice(pl, PL_VAT, issued("FV/DAY/2/2026", date(2026, 12, 9)), "day.xml",
                               as_user=operator(pl))
    [problem] = later.value.problems
    assert problem.field == "/Faktura/Fa/P_1" and "2026-12-09 is later than today (2026-12-08)" in problem.message
    assert _count(pl) == 0


@pytest.mark.parametrize(("at", "refused"), [
    (datetime(2026, 12, 8, 22, 30, tzinfo=UTC), False),  # 23:30 on its deadline day in Warsaw: still in time
    (datetime(2026, 12, 8, 23, 30, tzinfo=UTC), True),  # 00:30 the day after in Warsaw, still 8 December in UTC
], ids=["deadline-day-in-warsaw", "after-warsaw-midnight"])
async def test_an_offline24_invoice_past_its_deadline_in_warsaw_is_refused(
        pl: Settings, at: datetime, refused: bool) -> None:  # noqa: F811
    # P_1 Monday 7 December 2026: offline24's deadline is the next business day, Tuesday 8 December (Warsaw)
    with time_machine.travel(at, tick=False), pytest.raises(InvalidInput) as err:
        await send_invoice(pl, PL_VAT, issued("FV/LATE/9/2026", date(2026, 12, 7)), "late.xml",
                           ksef_offline="offline24", as_user=operator(pl))
    [problem] = err.value.problems
    if refused:
        assert problem.field == "/Faktura/Fa/P_1", problem
        assert "an offline24 invoice issued 2026-12-07 had to reach KSeF by 2026-12-08" in problem.message
    else:  # in time: the next check speaks (the KOD II the customer signs)
        assert problem.field == "ksef_kod_ii" and "needs its KOD II" in problem.message, problem
    assert _count(pl) == 0
