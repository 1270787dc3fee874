"""The download from KSeF's activities (#14.4) through the local KSeF (in this process, its clock moved by the
test): a range of invoices taken once, in pages; a second round takes none twice and fetches none again; an
invoice KSeF numbers late inside a window already covered is taken by a later round; a 429 mid-page waited
out, and one too long ends the attempt with KSeF's delay and loses nothing; a round killed in the middle of a
page resumes with nothing lost or doubled; a truncated query; a corrupt download never stored; a refused
user stops the round."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import ksef_download as acts_module
from activities.ksef_download import KsefDownloadActivities
from core.db import session_scope
from core.settings import Settings
from domain.ksef.download import to_ms
from domain.ksef.received import CorruptDownload, sha256_b64, verify_received
from models import audit
from models import invoices as db_invoices
from models.files import files_of
from models.identity import User
from models.ksef_download import KsefDownload, KsefReceived
from models.ksef_download_io import HandedOver, KsefDownloadInput, KsefRoundReport
from tests.ksef_credentials_support import give_ksef_token
from tests.ksef_download_support import NIP, SUPPLIER, USER, VAT, InProcessKsef, add_customer, add_download, fa3

CORPUS = Path(__file__).parent / "corpus" / "fa3"


class Killed(BaseException):
    """The worker dying at this point: nothing after it runs, no handler sees it."""


@pytest.fixture
def ksef(tmp_path: Path) -> Iterator[InProcessKsef]:
    k = InProcessKsef.start(tmp_path, hwm_lag=60.0, limits_multiplier=0)
    yield k
    k.close()


@pytest.fixture
def acts(settings: Settings, db: str, ksef: InProcessKsef, monkeypatch: pytest.MonkeyPatch) -> KsefDownloadActivities:
    monkeypatch.setattr(acts_module, "PAGE_SIZE", 10)
    add_customer(settings)
    give_ksef_token(settings, ksef.sim, VAT)  # the customer's KSeF token: the login, never a key of its
    return KsefDownloadActivities(settings, client=ksef.client)


def _take(acts: KsefDownloadActivities, download_id: int, range_: bool = False) -> KsefRoundReport:
    return ActivityEnvironment().run(acts.take, KsefDownloadInput(download_id, range_))


def _taken(settings: Settings) -> list[str]:
    with session_scope(settings.database_url) as session:
        return list(session.scalars(select(KsefReceived.ksef_number).order_by(KsefReceived.id)).all())


def _fetches(ksef: InProcessKsef) -> list[str]:
    return [p.rsplit("/", 1)[1] for m, p, status in ksef.requests if "/invoices/ksef/" in p and status == 200]


def _deliver(ksef: InProcessKsef, n: int, tag: str) -> list[str]:
    numbers = []
    for i in range(n):
        numbers.append(ksef.deliver(fa3(f"FV/{tag}/{i}", SUPPLIER, NIP, gross=f"{100 + i}.00")))
        ksef.advance(1)
    return numbers


def test_a_range_is_taken_once_shown_and_handed_over_and_a_second_round_takes_none_twice(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings) -> None:
    start = ksef.now() - timedelta(minutes=1)
    numbers = _deliver(ksef, 25, "R")
    end = ksef.now()
    ksef.advance(120)  # the HWM passes the range's end
    rid = add_download(settings, "range-1", start, end)
    report = _take(acts, rid, True)
    assert (report.taken, report.finished, report.pages) == (25, True, 3)
    assert _taken(settings) == numbers
    with session_scope(settings.database_url) as session:
        shown = db_invoices.list_invoices(session, VAT, "in")
        assert sorted(i.number for i in shown) == sorted(f"FV/R/{i}" for i in range(25))
        one = next(i for i in shown if i.number == "FV/R/3")
        assert (one.format, one.counterparty_vat, one.total, one.state, one.created_by) == (
            "FA(3)", f"PL{SUPPLIER}", "103.00", "received-from-sdi", "ksef")
        assert one.warnings and all(w["code"] == "430" for w in one.warnings)  # kept as KSeF took it, with them
        stored = files_of(session, "invoice", one.id)
        assert [f.role for f in stored] == ["received"]
        assert stored[0].sha256 and stored[0].name == f"{numbers[3]}.xml"
        row = session.get(KsefDownload, rid)
        assert row is not None and row.cursor.date_from == to_ms(end) and row.taken == 25 and row.last_error is None

    # the hand-over: all 25, then none once marked
    batch = ActivityEnvironment().run(acts.pending, KsefDownloadInput(rid))
    assert len(batch.starts) == 25 and not batch.more
    assert all(s.input.channel == "ksef" and s.input.sdi_id is None and VAT not in s.workflow_id
               and NIP not in s.workflow_id for s in batch.starts)
    assert ActivityEnvironment().run(acts.handed_over, HandedOver(rid, [s.invoice_id for s in batch.starts])) == 25
    assert (ActivityEnvironment().run(acts.pending, KsefDownloadInput(rid))).starts == []

    # a second download over the same period (the schedule starting there): lists them, takes none, fetches none
    fetched = len(_fetches(ksef))
    sid = add_download(settings, "schedule", start)
    again = _take(acts, sid)
    assert (again.taken, again.seen, again.caught_up) == (0, 25, True)
    assert len(_fetches(ksef)) == fetched and _taken(settings) == numbers
    with session_scope(settings.database_url) as session:
        entries = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == "ksef.download")
                                  .order_by(audit.AuditEntry.id)).all()
        assert [e.outcome for e in entries] == ["ok", "ok"] and all(e.surface == "schedule" for e in entries)
        assert "25 taken" in entries[0].detail


def test_an_invoice_numbered_late_inside_a_covered_window_is_taken_later(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings) -> None:
    sid = add_download(settings, "schedule", ksef.now() - timedelta(minutes=1))
    first = _deliver(ksef, 1, "A")
    ksef.advance(100)
    assert (_take(acts, sid)).taken == 1
    with session_scope(settings.database_url) as session:
        covered = session.get(KsefDownload, sid).cursor.date_from  # type: ignore[union-attr]
    assert abs((covered - (ksef.now() - timedelta(seconds=60))).total_seconds()) < 0.01  # at the HWM, not now
    # KSeF numbers an invoice late: stored 30 s back, after that HWM but before the round's own time
    late = ksef.deliver(fa3("FV/LATE/1", SUPPLIER, NIP), late=30)
    assert (_take(acts, sid)).taken == 0  # not closed by KSeF yet
    ksef.advance(61)
    assert (_take(acts, sid)).taken == 1
    assert _taken(settings) == first + [late]
    with session_scope(settings.database_url) as session:
        stored_at = session.scalars(select(KsefReceived.permanent_storage_date).where(
            KsefReceived.ksef_number == late)).one()
    # the positive control: it lies inside what a cursor moved to the first round's time would have passed
    assert covered < stored_at.replace(tzinfo=covered.tzinfo) < covered + timedelta(seconds=60)


def test_a_429_mid_page_is_waited_out_and_one_too_long_loses_nothing(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings) -> None:
    rid = add_download(settings, "range-1", ksef.now() - timedelta(minutes=1))
    numbers = _deliver(ksef, 12, "Q")
    with session_scope(settings.database_url) as session:
        session.get(KsefDownload, rid).range_to = ksef.now()  # type: ignore[union-attr]
    ksef.advance(120)
    gets = [0]

    def throttle(request: httpx.Request) -> httpx.Response | None:
        if "/invoices/ksef/" in request.url.path:
            gets[0] += 1
            if gets[0] == 3:  # KSeF's short 429: waited (the simulator's clock moves), then the same request
                return httpx.Response(429, headers={"Retry-After": "5"}, json={"status": {"code": 429}})
            if gets[0] == 7:  # a long one: the attempt ends, asking Temporal to retry after KSeF's delay
                return httpx.Response(429, headers={"Retry-After": "900"}, json={"status": {"code": 429}})
        return None

    ksef.before = throttle
    with pytest.raises(ApplicationError) as err:
        _take(acts, rid, True)
    assert err.value.type == "KsefRateLimited" and err.value.next_retry_delay == timedelta(seconds=900)
    assert _taken(settings) == numbers[:5]  # what was stored stays
    ksef.advance(900)
    report = _take(acts, rid, True)
    assert report.finished and _taken(settings) == numbers
    assert sorted(_fetches(ksef)) == sorted(numbers)  # each fetched once (the 429s were not answers)
    with session_scope(settings.database_url) as session:
        assert session.get(KsefDownload, rid).last_error is None  # type: ignore[union-attr]


@pytest.mark.parametrize("kill_at", ["invoice", "query"])
def test_a_round_killed_mid_page_resumes_with_nothing_lost_or_doubled(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings, kill_at: str) -> None:
    """Killed while fetching the 14th invoice (page 2, 4 of it stored), or at page 3's metadata query (pages 1
    and 2 committed): the next attempt starts from the cursor, skips what is stored, takes the rest."""
    rid = add_download(settings, "range-1", ksef.now() - timedelta(minutes=1))
    numbers = _deliver(ksef, 27, "K")
    with session_scope(settings.database_url) as session:
        session.get(KsefDownload, rid).range_to = ksef.now()  # type: ignore[union-attr]
    ksef.advance(120)
    seen = {"invoice": 0, "query": 0}

    def die(request: httpx.Request) -> httpx.Response | None:
        kind = "invoice" if "/invoices/ksef/" in request.url.path else (
            "query" if request.url.path.endswith("/query/metadata") else None)
        if kind is not None:
            seen[kind] += 1
            if kind == kill_at and seen[kind] == (14 if kind == "invoice" else 3):
                raise Killed()
        return None

    ksef.before = die
    with pytest.raises(Killed):
        _take(acts, rid, True)
    assert _taken(settings) == numbers[:13 if kill_at == "invoice" else 20]
    with session_scope(settings.database_url) as session:
        cursor = session.get(KsefDownload, rid).cursor  # type: ignore[union-attr]
    assert cursor.page_offset == (1 if kill_at == "invoice" else 2)  # page 2 not past: its last invoice is not in
    ksef.before = None
    report = _take(acts, rid, True)
    assert report.finished and _taken(settings) == numbers
    with session_scope(settings.database_url) as session:
        assert session.scalar(select(func.count()).select_from(db_invoices.Invoice)) == 27
    assert len(_fetches(ksef)) == 27  # nothing stored was fetched again


def test_a_truncated_query_takes_every_invoice_once(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings) -> None:
    ksef.sim.config.metadata_limit = 12
    sid = add_download(settings, "schedule", ksef.now() - timedelta(minutes=1))
    numbers = _deliver(ksef, 30, "T")
    ksef.advance(120)
    report = _take(acts, sid)
    assert report.caught_up and report.taken == 30 and _taken(settings) == numbers
    assert report.seen > 30  # the last record of each cut listed again, not taken again


def test_a_corrupt_download_is_fetched_again_never_stored(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings) -> None:
    sid = add_download(settings, "schedule", ksef.now() - timedelta(minutes=1))
    numbers = _deliver(ksef, 2, "C")
    ksef.advance(120)
    once = [True]

    def corrupt(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(numbers[1]) and once[0]:
            once[0] = False
            return httpx.Response(200, content=fa3("FV/C/1", SUPPLIER, NIP, gross="999.00"),
                                  headers={"content-type": "application/xml"})
        return None

    ksef.before = corrupt
    with pytest.raises(RuntimeError, match="SHA-256"):
        _take(acts, sid)
    assert _taken(settings) == numbers[:1]
    assert (_take(acts, sid)).taken == 1 and _taken(settings) == numbers


def test_a_user_no_longer_active_stops_the_round_before_ksef_is_asked(
        acts: KsefDownloadActivities, ksef: InProcessKsef, settings: Settings) -> None:
    sid = add_download(settings, "schedule", ksef.now() - timedelta(minutes=1))
    _deliver(ksef, 1, "U")
    with session_scope(settings.database_url) as session:
        session.scalars(select(User).where(User.email == USER)).one().active = False
    with pytest.raises(ApplicationError) as err:
        _take(acts, sid)
    assert err.value.non_retryable and "no longer active" in str(err.value)
    assert ksef.requests == [] and _taken(settings) == []
    with session_scope(settings.database_url) as session:
        entry = session.scalars(select(audit.AuditEntry).where(audit.AuditEntry.action == "ksef.download")).one()
        assert entry.outcome.startswith("refused")


def test_verification_of_a_downloaded_invoice() -> None:
    valid = (CORPUS / "valid-vat-two-rates.xml").read_bytes()
    assert verify_received(valid, sha256_b64(valid), "n") == ()
    with pytest.raises(CorruptDownload, match="differs"):
        verify_received(valid, sha256_b64(b"other"), "n")
    # KSeF took it, so it is legally received: what the hub finds is kept as warnings, never a refusal
    wrong_total = (CORPUS / "invalid-total-p15.xml").read_bytes()
    assert verify_received(wrong_total, sha256_b64(wrong_total), "n")
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><Faktura>&e;</Faktura>'
    assert [("DOCTYPE" in p.message, p.code) for p in verify_received(hostile, sha256_b64(hostile), "n")] == [
        (True, "430")]
    other = b"<Invoice xmlns='urn:other'/>"
    assert [p.field for p in verify_received(other, sha256_b64(other), "n")] == ["/Invoice"]


def test_a_customer_without_a_ksef_token_or_with_a_refused_one_is_a_final_refusal_naming_it(
        settings: Settings, db: str, ksef: InProcessKsef) -> None:
    add_customer(settings)
    acts = KsefDownloadActivities(settings, client=ksef.client)
    sid = add_download(settings, "schedule", ksef.now())
    with pytest.raises(ApplicationError) as err:
        _take(acts, sid)
    assert err.value.non_retryable and "has given no KSeF token" in str(err.value) and _taken(settings) == []
    token = give_ksef_token(settings, ksef.sim, VAT)
    key = hashlib.sha256(token.encode()).hexdigest()  # the customer revokes it in KSeF
    ksef.sim.state.put("ksef_token", key, {**ksef.sim.state.get("ksef_token", key), "revoked": True})
    with pytest.raises(ApplicationError) as err:
        _take(acts, sid)
    assert err.value.non_retryable and "KSeF refused the KSeF token" in str(err.value)
    assert "einvoice ksef token set" in str(err.value) and token not in str(err.value) and _taken(settings) == []


def test_a_rounds_client_heartbeats_while_it_waits_for_our_rate_budget_and_never_waits_past_its_heartbeat(
        settings: Settings, tmp_path: Path) -> None:
    """The take's heartbeat timeout (20 s) holds only if the round is never silent longer: a wait for a place
    in our shared rate budget heartbeats as a Retry-After does, and one KSeF request times out before it."""
    from workflows.ksef_download import TAKE_HEARTBEAT_TIMEOUT

    acts = KsefDownloadActivities(settings.model_copy(update={"data_dir": tmp_path}))
    client = acts._client()
    assert client.budget is not None
    limits = (1, 1000, 1000)  # one request a second
    client.budget.acquire("Nip:5265877635", "/invoices/ksef/{n}", limits, 5)
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    env.run(client.budget.acquire, "Nip:5265877635", "/invoices/ksef/{n}", limits, 5)  # ~1 s for the next place
    assert beats == [("waiting for KSeF",)]
    timeouts = client._http.timeout
    assert max(t for t in (timeouts.connect, timeouts.read, timeouts.write, timeouts.pool) if t is not None) == (
        acts_module.REQUEST_TIMEOUT) < TAKE_HEARTBEAT_TIMEOUT.total_seconds()
    client.close()
