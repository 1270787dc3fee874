"""The download window's arithmetic (domain/ksef/download.py), without KSeF: the HWM closes a window, paging
inside it, a truncated query going on from its last record, ranges longer than KSeF's three months, and the
promise the README makes: an invoice numbered late is taken, and a cursor moved to "now" would have lost it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from domain.ksef.download import MAX_SPAN, Cursor, PageSeen, Query, WindowError, advance, finished, next_query

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class ModelKsef:
    """KSeF as hwm.md describes it: invoices become visible at `shown`, stored permanently at `stored` (at most
    `lag` earlier), the HWM `lag` behind now; at most `limit` records per query, then isTruncated."""

    lag: float
    limit: int = 10_000
    page_size: int = 3
    invoices: list[tuple[float, float, str]] = field(default_factory=list)  # (stored, shown, number)
    now: float = 0.0

    def page(self, q: Query) -> tuple[list[str], PageSeen]:
        hwm = min(s(self.now - self.lag), q.date_to)
        seen = sorted((stored, n) for stored, shown, n in self.invoices
                      if shown <= self.now and q.date_from <= s(stored) < hwm)
        truncated = len(seen) > self.limit
        seen = seen[:self.limit]
        part = seen[q.page_offset * self.page_size:(q.page_offset + 1) * self.page_size]
        more = len(seen) > (q.page_offset + 1) * self.page_size or truncated
        return [n for _, n in part], PageSeen(len(part), s(part[-1][0]) if part else None, more, truncated, hwm)


def round_of(ksef: ModelKsef, cursor: Cursor, range_to: datetime | None, taken: list[str]) -> Cursor:
    """One round: pages until caught up (at most 1000 queries)."""
    for _ in range(1000):
        if finished(cursor, range_to):
            return cursor
        q = next_query(cursor, range_to)
        numbers, page = ksef.page(q)
        taken.extend(numbers)
        step = advance(cursor, q, page, range_to)
        cursor = step.cursor
        if step.caught_up:
            return cursor
    raise AssertionError("the round did not end")


def test_a_window_ends_at_the_hwm_and_pages_inside_it() -> None:
    ksef = ModelKsef(lag=60, invoices=[(float(i), float(i), f"n{i}") for i in range(1, 8)], now=100)
    taken: list[str] = []
    cursor = round_of(ksef, Cursor(T0), None, taken)
    assert taken == [f"n{i}" for i in range(1, 8)]
    assert cursor == Cursor(s(40))  # the HWM, not now, not the last invoice
    # nothing new: the next round takes nothing and the cursor follows the HWM
    ksef.now = 200
    again: list[str] = []
    assert round_of(ksef, cursor, None, again) == Cursor(s(140)) and again == []


def test_pages_of_a_window_are_asked_for_with_its_fixed_end() -> None:
    cursor = Cursor(T0)
    q = next_query(cursor, None)
    assert (q.date_from, q.date_to, q.page_offset) == (T0, T0 + MAX_SPAN, 0)
    step = advance(cursor, q, PageSeen(3, s(3), True, False, s(50)), None)
    assert step.cursor == Cursor(T0, s(50), 1, at_hwm=True) and not step.window_done
    q2 = next_query(step.cursor, None)
    assert (q2.date_from, q2.date_to, q2.page_offset) == (T0, s(50), 1)
    # a later page answering a later HWM does not move the window's end
    last = advance(step.cursor, q2, PageSeen(1, s(9), False, False, s(50)), None)
    assert last.cursor == Cursor(s(50)) and last.window_done and last.caught_up


def test_a_truncated_query_goes_on_from_its_last_record_and_loses_none() -> None:
    # 20 invoices, 5 sharing one instant across the truncation point; KSeF returns 7 per query
    invoices = [(float(i), float(i), f"n{i:02}") for i in range(10)] + [
        (10.0, 10.0, f"same{i}") for i in range(5)] + [(float(i), float(i), f"n{i:02}") for i in range(11, 16)]
    ksef = ModelKsef(lag=5, limit=7, page_size=3, invoices=invoices, now=100)
    taken: list[str] = []
    cursor = round_of(ksef, Cursor(T0), None, taken)
    assert set(taken) == {n for _, _, n in invoices}
    assert len(taken) > len(invoices)  # the records at each truncation instant were read again (deduplicated)
    assert cursor == Cursor(s(95))


def test_a_truncated_query_that_cannot_move_is_an_error_not_a_loop() -> None:
    cursor = Cursor(T0)
    q = next_query(cursor, None)
    # the last page KSeF returns, all of it at the window's start: no later date to narrow to
    with pytest.raises(WindowError, match="share that instant"):
        advance(cursor, q, PageSeen(10, T0, False, True, s(50)), None)
    # an earlier such page: page on
    assert advance(cursor, q, PageSeen(10, T0, True, True, s(50)), None).cursor == Cursor(T0, s(50), 1, True)
    with pytest.raises(WindowError, match="no permanentStorageHwmDate"):
        advance(cursor, q, PageSeen(0, None, False, False, None), None)


def test_a_range_longer_than_three_months_is_several_windows_and_ends_at_its_end() -> None:
    start, end = T0, T0 + timedelta(days=200)
    days = [1, 89, 91, 150, 199]
    ksef = ModelKsef(lag=60, invoices=[(d * 86400.0, d * 86400.0, f"d{d}") for d in days] + [
        (201 * 86400.0, 201 * 86400.0, "after")], now=300 * 86400.0)
    queries: list[Query] = []
    real = ksef.page

    def spy(q: Query) -> tuple[list[str], PageSeen]:
        queries.append(q)
        return real(q)

    ksef.page = spy  # type: ignore[method-assign]
    taken: list[str] = []
    cursor = round_of(ksef, Cursor(start), end, taken)
    assert taken == [f"d{d}" for d in days] and finished(cursor, end)
    assert all(q.date_to - q.date_from <= MAX_SPAN for q in queries)
    assert cursor == Cursor(end)


def test_a_range_reaching_past_the_hwm_waits_for_it() -> None:
    ksef = ModelKsef(lag=60, invoices=[(10.0, 10.0, "a"), (50.0, 50.0, "b")], now=80)
    taken: list[str] = []
    cursor = round_of(ksef, Cursor(T0), s(70), taken)
    assert taken == ["a"] and cursor == Cursor(s(20)) and not finished(cursor, s(70))
    ksef.now = 200
    cursor = round_of(ksef, cursor, s(70), taken)
    assert taken == ["a", "b"] and finished(cursor, s(70))


def test_late_numbered_invoices_are_never_missed_and_a_cursor_at_now_would_miss_them() -> None:
    """Random arrivals, each stored permanently up to `lag` before it is shown; rounds at random times. Every
    invoice stored before the last HWM is taken; the naive cursor (moved to the query's time) loses some."""
    rng = random.Random(14)
    lag = 120.0
    ksef = ModelKsef(lag=lag, page_size=4)
    cursor, naive_from = Cursor(s(-2 * lag)), -2 * lag  # before the first invoice
    taken: list[str] = []
    naive: set[str] = set()
    for i in range(400):
        ksef.now += rng.uniform(0, 30)
        shown = ksef.now
        ksef.invoices.append((shown - rng.uniform(0, lag * 0.99), shown, f"i{i}"))
        if rng.random() < 0.2:
            cursor = round_of(ksef, cursor, None, taken)
            naive |= {n for stored, shw, n in ksef.invoices if shw <= ksef.now and naive_from <= stored < ksef.now}
            naive_from = ksef.now
    ksef.now += 10 * lag
    cursor = round_of(ksef, cursor, None, taken)
    everything = {n for _, _, n in ksef.invoices}
    assert set(taken) == everything and len(taken) == len(set(taken))
    assert len(everything - naive) > 0  # the positive control: "up to now" skips late-numbered ones
