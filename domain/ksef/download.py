"""How the download from KSeF advances through time (pobieranie-faktur/hwm.md, przyrostowe-pobieranie-faktur.md,
and the `/invoices/query/metadata` contract): pure arithmetic, no I/O.

The cursor of a customer's download is a point in `PermanentStorage` time, `date_from`: every invoice KSeF
stored permanently before it has been taken. A *window* starts there and ends at a high-water mark (HWM) that
KSeF names in its answer (`permanentStorageHwmDate`, the query restricted to it with
`restrictToPermanentStorageHwmDate`): KSeF guarantees that no invoice will ever appear with a PermanentStorage
date at or before its HWM. The first page of a window fixes its end (`window_to`, the HWM that page answered);
the next pages ask for exactly [date_from, window_to], a closed set that paging by `pageOffset` cannot shift.
When the last page is taken the cursor moves to `window_to`, and the next window starts exactly there
(adjacent windows, no gap, no overlap beyond the instant itself: an invoice on the boundary is read twice and
deduplicated by its KSeF number).

Why a late-numbered invoice is not missed: an invoice that KSeF numbers late (taken at 10:00, stored
permanently at 10:00 but visible only at 10:05) has a PermanentStorage date above every HWM KSeF published
before it was visible: that is the HWM's promise. Our cursor only ever moves to an HWM (or, for a truncated
query, to a date KSeF returned), never to "now" or to the newest invoice seen, so the late invoice lies above
the cursor and the next window takes it. A cursor moved to the time of the query ("up to now") would have
passed it.

A query of more than `metadata_limit` records (10,000) answers `isTruncated`: the window goes on from the
PermanentStorage date of the last record returned (inclusive: records sharing that instant are read again and
deduplicated), page offset 0, the window's end kept. Whether KSeF flags only the last page it returns or
every page of such a query, narrowing at the first flagged page loses nothing; a page whose records all sit
at the window's start pages on instead (narrowing there would not move).

KSeF takes ranges of at most three months: a window asks for at most `MAX_SPAN` (90 days) past its start, and
a range or a catch-up longer than that is several windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# KSeF refuses a dateRange longer than three months (InvoiceQueryFilters.dateRange); 90 days is always within.
MAX_SPAN = timedelta(days=90)


def to_ms(when: datetime) -> datetime:
    """KSeF's precision: its dates carry milliseconds. A range's end is taken at it, so that the HWM KSeF
    answers for an older period (the range's own end) is that end exactly."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


class WindowError(ValueError):
    """KSeF answered something the window cannot advance on (no HWM, a truncated page that does not move)."""


@dataclass(frozen=True)
class Cursor:
    """Where a download stands. `date_from`: everything stored permanently before it is taken. `window_to`:
    the end of the window being paged (the HWM its first page answered), None between windows.
    `page_offset`: the next page of that window. `at_hwm`: the window ends at KSeF's HWM, below the end it
    asked for (once it is taken there is nothing more to ask for until KSeF stores more)."""

    date_from: datetime
    window_to: datetime | None = None
    page_offset: int = 0
    at_hwm: bool = False

    def __post_init__(self) -> None:
        if self.date_from.tzinfo is None or (self.window_to is not None and self.window_to.tzinfo is None):
            raise ValueError("the cursor's dates need a time zone")


@dataclass(frozen=True)
class Query:
    """The next metadata query: PermanentStorage dates, restricted to the HWM, ascending."""

    date_from: datetime
    date_to: datetime
    page_offset: int


@dataclass(frozen=True)
class PageSeen:
    """What a page said about the window (the invoices themselves are the caller's)."""

    count: int
    last_date: datetime | None  # the PermanentStorage date of the page's last record
    has_more: bool
    is_truncated: bool
    hwm: datetime | None  # permanentStorageHwmDate


@dataclass(frozen=True)
class Step:
    cursor: Cursor
    window_done: bool  # the window's last page was taken: the cursor is at its end
    caught_up: bool  # nothing more to ask now: the HWM (or the range's end) is reached


def next_query(cursor: Cursor, range_to: datetime | None) -> Query:
    """The query for the cursor's next page. `range_to`: the end of a range download, None for the incremental
    one (as far as KSeF's HWM)."""
    if cursor.window_to is not None:
        return Query(cursor.date_from, cursor.window_to, cursor.page_offset)
    range_to = to_ms(range_to) if range_to is not None else None
    cap = cursor.date_from + MAX_SPAN
    return Query(cursor.date_from, cap if range_to is None else min(range_to, cap), 0)


def advance(cursor: Cursor, query: Query, page: PageSeen, range_to: datetime | None) -> Step:
    """The cursor after `page`, the answer to `query` (made with `next_query(cursor, range_to)`)."""
    range_to = to_ms(range_to) if range_to is not None else None
    if page.hwm is None:
        raise WindowError("KSeF answered no permanentStorageHwmDate to a PermanentStorage query: the window "
                          "cannot be closed on it")
    if cursor.window_to is not None:
        window_to, at_hwm = cursor.window_to, cursor.at_hwm
    else:
        window_to, at_hwm = min(page.hwm, query.date_to), page.hwm < query.date_to
    if window_to <= cursor.date_from:
        # KSeF's HWM has not passed the cursor yet (a range reaching into the last minutes): nothing is closed
        return Step(Cursor(cursor.date_from), window_done=True, caught_up=True)
    if page.is_truncated and page.count:
        assert page.last_date is not None
        if page.last_date > cursor.date_from:
            return Step(Cursor(page.last_date, window_to, 0, at_hwm), window_done=False, caught_up=False)
        if not page.has_more:
            raise WindowError(f"KSeF truncated the query at {page.last_date.isoformat()}, the window's start: "
                              "more records share that instant than one query returns")
        # a page of records all at the window's start: page on (the narrowing waits for a later date)
    if page.is_truncated and not page.count:
        raise WindowError("KSeF truncated a query and returned no record to continue from")
    if page.has_more:
        return Step(Cursor(cursor.date_from, window_to, query.page_offset + 1, at_hwm), window_done=False,
                    caught_up=False)
    done = Cursor(window_to)
    reached_end = range_to is not None and window_to >= range_to
    # a window that ended below what it asked for ended at KSeF's HWM: caught up until KSeF stores more
    return Step(done, window_done=True, caught_up=reached_end or at_hwm)


def finished(cursor: Cursor, range_to: datetime | None) -> bool:
    """A range download is finished once its cursor reaches the range's end (the incremental one never is)."""
    return range_to is not None and cursor.window_to is None and cursor.date_from >= to_ms(range_to)

