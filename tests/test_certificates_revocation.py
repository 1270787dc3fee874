"""Revocation (annullamento) on the time-skipping server: the first request is cumulative, only active
certificates, a reason is mandatory, the CRL lists revoked serials, and a revocation racing the expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.db import session_scope
from core.settings import Settings
from devstack.smtp_sink import Mailbox
from domain.certificates import workflow_id
from domain.errors import Conflict, InvalidInput
from models.certificates import get_certificate
from models.certificates_io import RevokeRequest
from starters.certificates import certificate_revocation_list, request_certificate, revoke_certificates
from tests.certificates_support import PEC, VAT, Rig, alice, make_csr, make_rig
from tests.helpers import assert_eventually
from tests.identity_support import operator
from workflows.certificate_authorization import CertificateAuthorizationWorkflow


@pytest.fixture
async def rig(time_env: WorkflowEnvironment, settings: Settings, db: str, mailbox: Mailbox,
              tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(time_env, settings, db, mailbox, tmp_path) as made:
        yield made


async def active_certificate(rig: Rig) -> str:
    result = await request_certificate(rig.settings, VAT, make_csr(), client=rig.client,
                                       task_queue=rig.worker.task_queue, as_user=alice(rig.settings))
    await rig.active(result.certificate.operation_id)
    return result.certificate.operation_id


def crl_serials(rig: Rig) -> dict[int, x509.ReasonFlags | None]:
    crl = x509.load_der_x509_crl(rig.authority.crl())
    out: dict[int, x509.ReasonFlags | None] = {}
    for entry in crl:
        try:
            out[entry.serial_number] = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            out[entry.serial_number] = None
    return out


def serial_of(rig: Rig, op: str) -> int:
    with session_scope(rig.settings.database_url) as session:
        return int(get_certificate(session, op).serial or "0", 16)


async def test_the_first_revocation_is_cumulative_later_ones_revoke_one(rig: Rig) -> None:
    ops = [await active_certificate(rig) for _ in range(3)]
    # the first request names one certificate, yet revokes every active one of the customer
    first = await revoke_certificates(rig.settings, VAT, "stolen", operation_id=ops[0], as_user=alice(rig.settings),
                                      client=rig.client)
    assert first.cumulative and sorted(first.revoked) == sorted(ops) and first.to_json()["revoked_count"] == 3
    for op in ops:
        assert (await rig.result(op)).state == "revoked"
        with session_scope(rig.settings.database_url) as session:
            view = get_certificate(session, op)
        assert (view.state, view.revocation_reason, view.revoked_by) == (
            "revoked", "stolen", "customer:alice@acme.test")
        assert view.revoked_at is not None
    assert {serial_of(rig, op): x509.ReasonFlags.key_compromise for op in ops}.items() <= crl_serials(rig).items()
    assert len(rig.mailbox.find(to=PEC, kind="cert-revoked")) == 3

    # afterwards new certificates can be requested; a request naming one revokes only that one
    a, b = await active_certificate(rig), await active_certificate(rig)
    second = await revoke_certificates(rig.settings, VAT, "renewal", operation_id=a, client=rig.client,
                                       as_user=operator(rig.settings))
    assert not second.cumulative and second.revoked == [a]
    assert rig.row_state(a) == "revoked" and rig.row_state(b) == "active"
    assert crl_serials(rig)[serial_of(rig, a)] == x509.ReasonFlags.superseded
    # and a request naming none is cumulative again
    third = await revoke_certificates(rig.settings, VAT, "other", client=rig.client, as_user=operator(rig.settings))
    assert third.cumulative and third.revoked == [b]
    assert crl_serials(rig)[serial_of(rig, b)] is None  # unspecified (0) is not written (RFC 5280 5.3.1)


async def test_only_active_certificates_and_a_reason_is_mandatory(rig: Rig) -> None:
    with pytest.raises(Conflict, match="no active certificate"):
        await revoke_certificates(rig.settings, VAT, "other", client=rig.client, as_user=operator(rig.settings))
    op = await active_certificate(rig)
    for reason in ["", "bored"]:
        with pytest.raises(InvalidInput) as err:
            await revoke_certificates(rig.settings, VAT, reason, client=rig.client, as_user=operator(rig.settings))
        assert err.value.problems[0].field == "reason"
    # the workflow's validator refuses too, before anything enters its history
    handle = rig.client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(op))
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(CertificateAuthorizationWorkflow.revoke, RevokeRequest("", "test"))
    assert rig.row_state(op) == "active"
    await revoke_certificates(rig.settings, VAT, "malfunction", client=rig.client, as_user=operator(rig.settings))
    with pytest.raises(Conflict, match="only an active certificate"):
        await revoke_certificates(rig.settings, VAT, "other", operation_id=op, client=rig.client,
                                  as_user=operator(rig.settings))
    with pytest.raises(RPCError):  # the workflow has ended: nothing to revoke again
        await handle.execute_update(CertificateAuthorizationWorkflow.revoke, RevokeRequest("other", "test"))


async def test_a_revocation_racing_the_expiry(rig: Rig) -> None:
    rig.authority.inner.validity = timedelta(days=2)  # type: ignore[attr-defined]
    # just before the expiry: revoked, never expired
    before = await active_certificate(rig)
    await rig.env.sleep(timedelta(days=2) - timedelta(hours=1))
    await revoke_certificates(rig.settings, VAT, "activity-ceased", client=rig.client, as_user=operator(rig.settings))
    assert (await rig.result(before)).state == "revoked"
    assert rig.row_state(before) == "revoked"
    assert rig.mailbox.find(to=PEC, kind="cert-expired") == []

    # just after: expired, and the revocation is refused
    after = await active_certificate(rig)
    await rig.env.sleep(timedelta(days=2, hours=1))
    assert (await rig.result(after)).state == "expired"
    with pytest.raises(Conflict):
        await revoke_certificates(rig.settings, VAT, "other", operation_id=after, client=rig.client,
                                  as_user=operator(rig.settings))
    assert rig.row_state(after) == "expired" and serial_of(rig, after) not in crl_serials(rig)

    # at the same moment: exactly one of the two wins, and every record agrees on which
    racing = await active_certificate(rig)
    # past its one-day reminder first: the race is with the expiry, not with that reminder's continue-as-new
    await rig.env.sleep(timedelta(days=1, hours=1))
    revoke = asyncio.create_task(revoke_certificates(rig.settings, VAT, "other", client=rig.client,
                                                     as_user=operator(rig.settings)))
    await rig.env.sleep(timedelta(hours=23))
    try:
        await revoke
        won = "revoked"
    except Conflict:
        won = "expired"
    assert (await rig.result(racing)).state == won
    assert rig.row_state(racing) == won
    assert (serial_of(rig, racing) in crl_serials(rig)) == (won == "revoked")
    kinds = [m["X-Einvoice-Kind"] for m in rig.mailbox.to(PEC) if f"certificato{racing}" in str(m["Subject"])]
    assert kinds.count("cert-revoked") + kinds.count("cert-expired") == 1
    assert certificate_revocation_list(rig.settings)  # the worker's CA publishes a CRL too


async def test_a_revocation_the_ca_does_not_confirm_yet_is_pending_and_goes_on(rig: Rig) -> None:
    """#18.5: with the CA's revocation down, the request answers within its wait with the certificate
    `pending` (HTTP: 202 and the list's Location), not after three days of retries; the workflow keeps it
    and the certificate is revoked once the CA is back."""
    op = await active_certificate(rig)
    rig.authority.revoke_down = True
    result = await asyncio.wait_for(revoke_certificates(rig.settings, VAT, "stolen", client=rig.client,
                                                        as_user=operator(rig.settings), wait_seconds=1.0), 30)
    assert result.pending == [op] and result.revoked == [] and result.refused == {}
    assert result.to_json()["pending"] == [op]
    with session_scope(rig.settings.database_url) as session:
        assert get_certificate(session, op).state == "active"  # nothing claimed before the CA confirms
    rig.authority.revoke_down = False

    async def revoked() -> None:
        with session_scope(rig.settings.database_url) as session:
            assert get_certificate(session, op).state == "revoked"

    # the next attempt waits out the retry policy's backoff: let the test server skip that time
    async with rig.env.time_skipping_unlocked():  # type: ignore[attr-defined]
        await assert_eventually(revoked, timeout=60)
    assert rig.authority.revoke_calls >= 2 and serial_of(rig, op) in crl_serials(rig)
