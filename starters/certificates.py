"""Certificates from Python: request, upload, list, revoke, delete, download; notification preferences.

Each function a customer's side calls takes the acting user (`as_user`) and asks the policy first
(`starters.acting`); the user is recorded as who requested, added, revoked or deleted (`added_by`, the
workflow input's `actor`). Each takes an optional Temporal `Client` (tests hand in their environment's) and
an optional task queue. Input is checked before anything is written or started: a refused CSR leaves no row and no
workflow; a Polish customer's CSR is also checked against what KSeF dictates for its subject. Workflow ids
are `cert-<operation id>` and never reused, so the same request twice starts one
workflow.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography import x509
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from core.ca import authority_from_settings, reminder_days
from core.db import session_scope
from core.search_keys import SearchKeys
from core.settings import Settings
from core.temporal import RPC_TIMEOUT, connect
from domain.certificates import (
    ACTIVE,
    ADDED,
    AUTHENTICATION,
    ORDERED,
    check_kind,
    check_operation_id,
    check_reason,
    check_uploaded_certificate,
    workflow_id,
)
from domain.csr import check_csr
from domain.errors import Conflict, InvalidInput
from domain.identifiers import parse_vat_number
from domain.ksef.certificates import key_usage_problem
from domain.ksef.credentials import enrollment_data_of
from domain.ksef.enrollment import check_enrollment_csr
from domain.policy import Principal
from models.certificates import (
    CertificateView,
    active_operation_ids,
    certificate_file,
    delete_certificate,
    get_certificate,
    has_revocation_requests,
    insert_request,
    insert_upload,
    list_certificates,
    log_revocation_request,
    offline_status,
)
from models.certificates_io import (
    AwaitDecision,
    CertificateStatus,
    CertificateWorkflowInput,
    DeleteRequest,
    RevokeRequest,
)
from models.ksef_credentials import signed_request_of
from models.preferences import get_preferences, set_preference
from models.tenant import get_tenant_row
from starters.acting import STARTER, acting
from starters.ksef_credentials import attach_signed_request
from starters.updates import update_wait
from workflows.certificate_authorization import CertificateAuthorizationWorkflow
from workflows.common import initial_search_attributes


@dataclass
class RequestResult:
    certificate: CertificateView
    duplicate: bool  # the same operation id was requested before: no second workflow


@dataclass
class RevocationResult:
    cumulative: bool
    revoked: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # operation id -> why (e.g. expired meanwhile)
    # accepted by their workflows, not yet confirmed by the CA within the wait: they go on (#18.5)
    pending: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"cumulative": self.cumulative, "revoked_count": len(self.revoked), "revoked": self.revoked,
                "refused": self.refused, "pending": self.pending}


def new_operation_id() -> str:
    """A 12-digit operation id (IdOperazione), like the portal's."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


async def _client(settings: Settings, client: Client | None) -> Client:
    return client if client is not None else await connect(settings)


def _handle(client: Client, operation_id: str) -> WorkflowHandle[CertificateAuthorizationWorkflow, CertificateStatus]:
    return client.get_workflow_handle_for(CertificateAuthorizationWorkflow.run, workflow_id(operation_id))


async def _start(client: Client, settings: Settings, inp: CertificateWorkflowInput, task_queue: str | None) -> bool:
    """Start the certificate's workflow; False when it was started before (same operation id)."""
    keys = SearchKeys(settings)
    try:
        await client.start_workflow(
            CertificateAuthorizationWorkflow.run, inp, id=workflow_id(inp.operation_id),
            task_queue=task_queue or settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=initial_search_attributes(keys.customer(inp.vat), keys.document(inp.operation_id),
                                                        inp.state),
                                                        rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def request_certificate(settings: Settings, vat: str, csr: bytes, kind: str = AUTHENTICATION,
                              operation_id: str | None = None, *, as_user: Principal, surface: str = STARTER,
                              client: Client | None = None, task_queue: str | None = None, wait: bool = False,
                              wait_seconds: float | None = None,
                              ksef_auth_request: bytes | None = None) -> RequestResult:
    """Check the CSR, record the request (state ordered) and start its authorization workflow. With `wait`,
    return once the authority decided (active or error), or after `wait_seconds` with the state so far (an
    HTTP request must not wait days for a slow authority; the caller follows the certificate's status).
    `ksef_auth_request`: for a Polish customer, the AuthTokenRequest the customer signed itself for a
    challenge we handed out (`starters.ksef_credentials.new_auth_request`): KSeF enrolls in its signer's name,
    so the submission logs in with it (once); kept sealed by the operation id until then."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "certificate.request", f"certificate request {operation_id or ''}",
                surface) as act:
        act.check(vat_number)
        return await _request(settings, vat_number, csr, kind, operation_id, act.user.label, client, task_queue,
                              wait, wait_seconds, ksef_auth_request)


async def _request(settings: Settings, vat_number: str, csr: bytes, kind: str, operation_id: str | None,
                   actor: str, client: Client | None, task_queue: str | None, wait: bool,
                   wait_seconds: float | None, ksef_auth_request: bytes | None = None) -> RequestResult:
    kind = check_kind(kind)
    op = check_operation_id(operation_id) if operation_id else new_operation_id()
    with session_scope(settings.database_url) as session:
        get_tenant_row(session, vat_number)  # NotFound before the CSR is even read
    checked = check_csr(csr, vat_number)
    polish = parse_vat_number(vat_number).country == "PL"
    if ksef_auth_request is not None and not polish:
        raise InvalidInput.one("ksef_auth_request", f"{vat_number} is not a Polish customer: only KSeF takes one")
    if polish and ksef_auth_request is None:
        raise InvalidInput.one("ksef_auth_request", f"KSeF issues {vat_number}'s certificate in the name of whoever "
                               "signs the login, and we hold no key of the customer's: the customer signs it itself "
                               f"(`einvoice cert request --vat {vat_number} --ksef-seal SEAL.p12 ...`, or POST "
                               f"/customers/{vat_number}/ksef/auth-requests, sign, send as ksef_auth_request)")
    with session_scope(settings.database_url) as session:
        view, inserted = insert_request(session, vat_number, op, kind, checked.subject, checked.pem, checked.sha256,
                                        actor)
        if ksef_auth_request is not None and inserted:
            signed = attach_signed_request(session, settings, get_tenant_row(session, vat_number).id, vat_number,
                                           op, ksef_auth_request)
            # KSeF dictates the CSR's subject from the certificate that signed the login: checked now, before
            # the one-time login is spent (the submission checks again against /enrollments/data)
            check_enrollment_csr(checked.pem.encode(), enrollment_data_of(signed.certificate))
    client = await _client(settings, client)
    inp = CertificateWorkflowInput(operation_id=op, vat=vat_number, kind=kind, actor=actor, csr_pem=checked.pem,
                                   phase="authorize", state=ORDERED, reminder_days=reminder_days(settings))
    try:
        started = await _start(client, settings, inp, task_queue)
    except BaseException:
        if inserted:  # no workflow: leave no row either (nor the customer's signed login for it)
            with session_scope(settings.database_url) as session:
                delete_certificate(session, op)
                unused = signed_request_of(session, op)
                if unused is not None:
                    session.delete(unused)
        raise
    if wait:
        bound = timedelta(seconds=wait_seconds) if wait_seconds else None
        try:
            await asyncio.wait_for(_wait_for_decision(settings, op, client, bound), wait_seconds)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            pass  # still deciding: the state so far is the answer
    with session_scope(settings.database_url) as session:
        view = get_certificate(session, op)
    # Of identical requests at once exactly one starts the workflow, whichever wrote the row: that one is new.
    return RequestResult(view, duplicate=not started)


def _vat_of(settings: Settings, operation_id: str) -> str:
    with session_scope(settings.database_url) as session:
        return get_certificate(session, check_operation_id(operation_id)).vat_number


def _missing(operation_id: str) -> str:
    return f"no certificate with operation id {operation_id}"  # as models.certificates says it


async def wait_for_decision(settings: Settings, operation_id: str, client: Client | None = None,
                            rpc_timeout: timedelta | None = None, *, as_user: Principal,
                            surface: str = STARTER) -> CertificateStatus:
    """Block until the request is active or in error (an update that answers once decided); `rpc_timeout`
    bounds the call (None: as long as it takes, for the CLI's --wait)."""
    with acting(settings, as_user, "certificate.read", f"certificate {operation_id} decision", surface) as act:
        act.check(_vat_of(settings, operation_id), missing=_missing(operation_id))
        return await _wait_for_decision(settings, operation_id, client, rpc_timeout)


async def _wait_for_decision(settings: Settings, operation_id: str, client: Client | None,
                             rpc_timeout: timedelta | None) -> CertificateStatus:
    client = await _client(settings, client)
    return await _handle(client, operation_id).execute_update(
        CertificateAuthorizationWorkflow.await_decision, AwaitDecision(), rpc_timeout=rpc_timeout)


async def certificate_status(settings: Settings, operation_id: str, client: Client | None = None, *,
                             as_user: Principal, surface: str = STARTER) -> CertificateStatus:
    """The workflow's own view (query)."""
    with acting(settings, as_user, "certificate.read", f"certificate {operation_id} status", surface) as act:
        act.check(_vat_of(settings, operation_id), missing=_missing(operation_id))
        client = await _client(settings, client)
        return await _handle(client, operation_id).query(CertificateAuthorizationWorkflow.status,
                                                         rpc_timeout=RPC_TIMEOUT)


async def upload_certificate(settings: Settings, vat: str, data: bytes, kind: str, *, as_user: Principal,
                             surface: str = STARTER, operation_id: str | None = None, client: Client | None = None,
                             task_queue: str | None = None) -> CertificateView:
    """Record a certificate made elsewhere (e.g. a KSeF offline certificate) and watch its expiry."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "certificate.upload", f"certificate upload {operation_id or ''}",
                surface) as act:
        act.check(vat_number)
        return await _upload(settings, vat_number, data, kind, act.user.label, operation_id, client, task_queue)


async def _upload(settings: Settings, vat_number: str, data: bytes, kind: str, actor: str,
                  operation_id: str | None, client: Client | None, task_queue: str | None) -> CertificateView:
    kind = check_kind(kind)
    op = check_operation_id(operation_id) if operation_id else new_operation_id()
    with session_scope(settings.database_url) as session:
        get_tenant_row(session, vat_number)
    checked = check_uploaded_certificate(data, vat_number)
    if parse_vat_number(vat_number).country == "PL":  # a KSeF certificate: its key usage says which kind it is
        problem = key_usage_problem(x509.load_der_x509_certificate(checked.der), kind)
        if problem is not None:
            raise InvalidInput.one("certificate.key_usage", f"not a KSeF {kind} certificate: {problem}")
    with session_scope(settings.database_url) as session:
        view = insert_upload(session, vat_number, op, kind, checked.subject, checked.issuer, checked.serial,
                             checked.not_before, checked.not_after, checked.der, actor)
    client = await _client(settings, client)
    inp = CertificateWorkflowInput(operation_id=op, vat=vat_number, kind=kind, actor=actor, phase="watch",
                                   state=ADDED, serial=checked.serial, expires_at=checked.not_after.isoformat(),
                                   reminder_days=reminder_days(settings))
    try:
        await _start(client, settings, inp, task_queue)
    except BaseException:
        with session_scope(settings.database_url) as session:
            delete_certificate(session, op)
        raise
    return view


def list_customer_certificates(settings: Settings, vat: str, *, as_user: Principal,
                               surface: str = STARTER) -> tuple[list[CertificateView], str]:
    """The customer's certificates, oldest first, and the KSeF offline certificate's status."""
    with acting(settings, as_user, "certificate.read", f"certificates of {vat[:20]}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            certs = list_certificates(session, vat_number)
        return certs, offline_status(certs)


def revocation_preview(settings: Settings, vat: str, *, as_user: Principal,
                       surface: str = STARTER) -> tuple[bool, list[CertificateView]]:
    """What a revocation request would take now, for the form that asks it (the panel's cumulative warning):
    whether it is cumulative (the customer's first request), and the active certificates."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "certificate.read", f"revocation preview of {vat[:20]}", surface) as act:
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            first = not has_revocation_requests(session, vat_number)
            active = [c for c in list_certificates(session, vat_number) if c.state == ACTIVE]
        return first, active


async def revoke_certificates(settings: Settings, vat: str, reason: str, operation_id: str | None = None, *,
                              as_user: Principal, surface: str = STARTER, client: Client | None = None,
                              wait_seconds: float | None = None) -> RevocationResult:
    """Revoke (annullamento). A request without an operation id, and a customer's first request whatever it
    names, is cumulative: it revokes every active certificate of the customer. Later requests revoke the
    one named. Only active certificates can be revoked; a reason is mandatory. Each revocation the CA has
    not confirmed within `wait_seconds` (default HTTP_WAIT_SECONDS) is `pending`: its workflow goes on."""
    vat_number = str(parse_vat_number(vat))
    with acting(settings, as_user, "certificate.revoke", f"certificates revoked {operation_id or 'all'}",
                surface) as act:
        act.check(vat_number)
        wait = settings.http_wait_seconds if wait_seconds is None else wait_seconds
        return await _revoke(settings, vat_number, reason, operation_id, act.user.label, client, wait)


async def _revoke(settings: Settings, vat_number: str, reason: str, operation_id: str | None, actor: str,
                  client: Client | None, wait_seconds: float) -> RevocationResult:
    reason = check_reason(reason)
    with session_scope(settings.database_url) as session:
        first = not has_revocation_requests(session, vat_number)
        active = active_operation_ids(session, vat_number)
        if operation_id is not None:
            named = get_certificate(session, check_operation_id(operation_id), vat_number)
    cumulative = operation_id is None or first
    if cumulative:
        targets = active
        if not targets:
            raise Conflict(f"{vat_number} has no active certificate to revoke")
    else:
        if named.state != ACTIVE:
            raise Conflict(f"only an active certificate can be revoked; {named.operation_id} is {named.state}")
        targets = [named.operation_id]
    client = await _client(settings, client)
    result = RevocationResult(cumulative=cumulative)
    from starters.updates import Pending, bounded_update

    async def one(op: str) -> None:
        try:
            answer = await bounded_update(_handle(client, op), CertificateAuthorizationWorkflow.revoke,
                                          RevokeRequest(reason=reason, actor=actor), wait_seconds)
            (result.pending if isinstance(answer, Pending) else result.revoked).append(op)
        except WorkflowUpdateFailedError as err:
            result.refused[op] = str(err.cause or err)
        except RPCError as err:  # the workflow ended meanwhile (expired)
            result.refused[op] = err.message

    await asyncio.gather(*(one(op) for op in targets))  # one wait for all: a cumulative request waits once
    result.revoked.sort(key=targets.index)
    result.pending.sort(key=targets.index)
    if not result.revoked and not result.pending:
        raise Conflict("nothing revoked: " + "; ".join(f"{k}: {v}" for k, v in result.refused.items()))
    with session_scope(settings.database_url) as session:
        log_revocation_request(session, vat_number, None if cumulative else targets[0], reason, cumulative,
                               len(result.revoked) + len(result.pending), actor)
    return result


async def delete_customer_certificate(settings: Settings, vat: str, operation_id: str, *, as_user: Principal,
                                      surface: str = STARTER, client: Client | None = None) -> None:
    """Delete any certificate: its workflow removes the row and ends; with no workflow running, the row is
    removed here."""
    with acting(settings, as_user, "certificate.delete", f"certificate {operation_id} deleted", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        await _delete(settings, vat_number, operation_id, act.user.label, client)


async def _delete(settings: Settings, vat: str, operation_id: str, actor: str, client: Client | None) -> None:
    with session_scope(settings.database_url) as session:
        get_certificate(session, operation_id, vat)
    client = await _client(settings, client)
    try:
        await _handle(client, operation_id).execute_update(CertificateAuthorizationWorkflow.delete,
                                                           DeleteRequest(actor=actor),
                                                           rpc_timeout=update_wait(settings))
        return
    except (WorkflowUpdateFailedError, RPCError):
        pass  # its workflow has ended (error, expired, revoked) or never ran
    with session_scope(settings.database_url) as session:
        delete_certificate(session, operation_id)


def get_customer_certificate(settings: Settings, vat: str, operation_id: str, *, as_user: Principal,
                             surface: str = STARTER) -> CertificateView:
    with acting(settings, as_user, "certificate.read", f"certificate {operation_id}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            return get_certificate(session, operation_id, vat_number)


def download_certificate(settings: Settings, vat: str, operation_id: str, *, as_user: Principal,
                         surface: str = STARTER) -> tuple[str, bytes]:
    """The issued (or uploaded) certificate, DER, with its file name certificato<ID>.cer."""
    with acting(settings, as_user, "certificate.read", f"certificate {operation_id} download", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            view = get_certificate(session, operation_id, vat_number)
            return view.file_name, certificate_file(session, operation_id)


def ca_certificate(settings: Settings) -> bytes:
    """The CA certificate (PEM), to verify the server over TLS and the certificates it issued."""
    return authority_from_settings(settings).ca_certificate()


def certificate_revocation_list(settings: Settings) -> bytes:
    """The CA's CRL (DER) with every revoked serial."""
    return authority_from_settings(settings).crl()


def notification_preferences(settings: Settings, vat: str, *, as_user: Principal,
                             surface: str = STARTER) -> dict[str, bool]:
    with acting(settings, as_user, "preferences.read", f"preferences of {vat[:20]}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        with session_scope(settings.database_url) as session:
            return get_preferences(session, vat_number)


def set_notification_preferences(settings: Settings, vat: str, changes: dict[str, bool], *,
                                 as_user: Principal, surface: str = STARTER) -> dict[str, bool]:
    """Turn notification kinds on or off; all-or-nothing (an unknown kind changes nothing)."""
    with acting(settings, as_user, "preferences.update", f"preferences of {vat[:20]}", surface) as act:
        vat_number = str(parse_vat_number(vat))
        act.check(vat_number)
        return _set_preferences(settings, vat_number, changes)


def _set_preferences(settings: Settings, vat: str, changes: dict[str, bool]) -> dict[str, bool]:
    with session_scope(settings.database_url) as session:
        prefs = get_preferences(session, vat)
        for kind, enabled in changes.items():
            prefs = set_preference(session, vat, kind, enabled)
        return prefs
