"""The local KSeF's side of the download (#14.4): the PermanentStorage high-water mark kept `hwm_lag` behind now
and named in every answer, `restrictToPermanentStorageHwmDate`, an invoice numbered late (stored back in time,
shown only now, always after the HWM already published), and `isTruncated` past `metadata_limit` records.
Through the real client; every answer checked against open-api.json's schema."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain.errors import InvalidInput
from tests import ksef_support as contract
from tests.ksef_download_support import SUPPLIER, InProcessKsef, fa3, seal

BUYER = "5265877635"


@pytest.fixture
def ksef(tmp_path: Path) -> Iterator[InProcessKsef]:
    k = InProcessKsef.start(tmp_path, hwm_lag=60.0, limits_multiplier=0)
    yield k
    k.close()


def test_the_hwm_the_restriction_and_an_invoice_numbered_late(ksef: InProcessKsef) -> None:
    client = ksef.client()
    client.login_xades("Nip", BUYER, seal(BUYER))
    start = (ksef.now() - timedelta(hours=1)).replace(microsecond=0)
    first = ksef.deliver(fa3("FV/1", SUPPLIER, BUYER))
    ksef.advance(120)
    page = client.query_metadata("Subject2", start, None, restrict_to_hwm=True)
    assert [m.ksef_number for m in page.invoices] == [first]
    hwm = page.permanent_storage_hwm_date
    assert hwm is not None and abs((ksef.now() - timedelta(seconds=60) - hwm).total_seconds()) < 0.01
    # an invoice numbered late: stored 30 s back (after the HWM above), shown only now
    late = ksef.deliver(fa3("FV/2", SUPPLIER, BUYER), late=30)
    page = client.query_metadata("Subject2", hwm, None)  # not restricted: up to now
    assert [m.ksef_number for m in page.invoices] == [late]
    stored = page.invoices[0].permanent_storage_date
    assert hwm < stored < ksef.now() - timedelta(seconds=29)
    restricted = client.query_metadata("Subject2", hwm, None, restrict_to_hwm=True)
    assert restricted.invoices == ()  # still above the HWM: not yet closed
    ksef.advance(60)
    assert [m.ksef_number for m in client.query_metadata("Subject2", hwm, None, restrict_to_hwm=True).invoices] == [
        late]
    # an older period: the HWM answered is the range's own end
    old = client.query_metadata("Subject2", start, start + timedelta(minutes=5), restrict_to_hwm=True)
    assert old.permanent_storage_hwm_date == start + timedelta(minutes=5)
    # KSeF could not keep its promise for a lateness of the HWM's lag or more: refused
    with pytest.raises(InvalidInput, match="late"):
        ksef.sim.deliver(fa3("FV/3", SUPPLIER, BUYER), late=60)


def test_truncated_past_the_limit(ksef: InProcessKsef) -> None:
    ksef.sim.config.metadata_limit = 12
    client = ksef.client()
    client.login_xades("Nip", BUYER, seal(BUYER))
    start = ksef.now() - timedelta(seconds=1)
    numbers = []
    for i in range(15):
        numbers.append(ksef.deliver(fa3(f"FV/T/{i}", SUPPLIER, BUYER)))
        ksef.advance(1)
    ksef.advance(100)
    first = client.query_metadata("Subject2", start, None, restrict_to_hwm=True, page_size=10)
    second = client.query_metadata("Subject2", start, None, restrict_to_hwm=True, page_size=10, page_offset=1)
    assert (first.is_truncated, first.has_more, len(first.invoices)) == (True, True, 10)
    assert (second.is_truncated, len(second.invoices)) == (True, 2)
    rest = client.query_metadata("Subject2", second.invoices[-1].permanent_storage_date, None, restrict_to_hwm=True,
                                 page_size=10)
    assert (rest.is_truncated, rest.has_more) == (False, False)
    got = [m.ksef_number for m in first.invoices + second.invoices + rest.invoices]
    assert set(got) == set(numbers) and len(got) == 16  # the last record of the cut read again


def test_its_download_answers_are_the_contracts(ksef: InProcessKsef) -> None:
    client = ksef.client()
    client.login_xades("Nip", BUYER, seal(BUYER))
    number = ksef.deliver(fa3("FV/C", SUPPLIER, BUYER))
    ksef.advance(120)
    body = ksef.sim.dispatch("POST", "/invoices/query/metadata", {"pageSize": "10"},
                             {"authorization": f"Bearer {client._access_token()}"},
                             b'{"subjectType": "Subject2", "dateRange": {"dateType": "PermanentStorage", '
                             b'"from": "2020-01-01T00:00:00Z", "restrictToPermanentStorageHwmDate": true}}',
                             "127.0.0.1", "http://ksef.test/v2")
    assert body.status == 200 and [m["ksefNumber"] for m in body.body["invoices"]] == [number]
    assert contract.response_errors("/invoices/query/metadata", "POST", 200, body.body, "application/json") == []
