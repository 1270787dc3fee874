"""Certificates of a customer over HTTP: request (multipart CSR), list, revoke, upload, delete, download;
the CA certificate and CRL; the customer's notification preferences.

Decodes, validates sizes and renders only; the work is in `starters.certificates`.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SettingsDep, TemporalDep
from domain.certificates import MAX_CERTIFICATE_BYTES
from domain.csr import MAX_CSR_BYTES
from domain.errors import InvalidInput
from domain.ksef.credentials import MAX_SIGNED_REQUEST
from models.certificates import CertificateView
from starters.acting import HTTP
from starters.certificates import (
    ca_certificate,
    certificate_revocation_list,
    delete_customer_certificate,
    download_certificate,
    get_customer_certificate,
    list_customer_certificates,
    notification_preferences,
    request_certificate,
    revoke_certificates,
    set_notification_preferences,
    upload_certificate,
)

router = APIRouter(tags=["certificates"])



class CertificatePublic(BaseModel):
    operation_id: str
    file_name: str = Field(description="certificato<ID>.cer")
    vat_number: str
    kind: str = Field(description="authentication | offline")
    origin: str = Field(description="requested | uploaded")
    state: str = Field(description="ordered | accepted | active | error | expired | revoked | added")
    state_label: str
    subject: str
    serial: str | None
    issuer: str | None
    requested_at: datetime
    not_before: datetime | None
    expires_at: datetime | None
    added_by: str
    added_at: datetime
    error: str | None
    revoked_at: datetime | None
    revocation_reason: str | None
    revoked_by: str | None
    duplicate: bool | None = Field(default=None, description="on a request: the operation id was used before")

    @classmethod
    def of(cls, view: CertificateView, duplicate: bool | None = None) -> CertificatePublic:
        return cls(**view.to_json(), duplicate=duplicate)  # type: ignore[arg-type]


class CertificateListPublic(BaseModel):
    vat_number: str
    offline_certificate: str = Field(description="the KSeF offline certificate: correctly added | no certificate")
    certificates: list[CertificatePublic]


class RevocationCreate(BaseModel):
    reason: str = Field(description="key-lost | activity-ceased | stolen | renewal | malfunction | other")
    operation_id: str | None = Field(default=None, description="the certificate; none (or the customer's first "
                                     "revocation): every active certificate")


class RevocationPublic(BaseModel):
    cumulative: bool
    revoked_count: int
    revoked: list[str]
    refused: dict[str, str]
    pending: list[str] = []  # accepted, not yet confirmed by the CA: 202, follow the Location


async def _read_bounded(upload: UploadFile, field: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput.one(field, f"the file is larger than {limit // 1024} KiB")
    return data


@router.post("/tenants/{vat}/certificates", status_code=202, response_model=CertificatePublic)
async def create_certificate_request(
    vat: str, request: Request, response: Response, settings: SettingsDep, client: TemporalDep, access: AccessDep,
    csr: UploadFile = File(description="PKCS#10 certificate signing request, PEM or DER"),
    kind: str = Form("authentication"),
    operation_id: str | None = Form(None, description="your id for the request; the same id twice starts one "
                                    "workflow"),
    wait: bool = Form(False, description="answer once the certificate is active or failed, or after "
                      "HTTP_WAIT_SECONDS with the state so far (then follow the Location)"),
    ksef_auth_request: UploadFile | None = File(None, description="a Polish customer's: the AuthTokenRequest of "
                                                "POST /customers/{vat}/ksef/auth-requests, XAdES-signed by the "
                                                "customer (KSeF enrolls in the signer's name)"),
) -> CertificatePublic:
    data = await _read_bounded(csr, "csr.format", MAX_CSR_BYTES)
    signed = (await _read_bounded(ksef_auth_request, "ksef_auth_request", MAX_SIGNED_REQUEST)
              if ksef_auth_request is not None else None)
    result = await request_certificate(settings, vat, data, kind, operation_id, as_user=access.user, surface=HTTP,
                                       client=client, wait=wait, wait_seconds=settings.http_wait_seconds,
                                       ksef_auth_request=signed)
    response.headers["Location"] = f"/tenants/{result.certificate.vat_number}/certificates/" \
                                   f"{result.certificate.operation_id}"
    return CertificatePublic.of(result.certificate, result.duplicate)


@router.get("/tenants/{vat}/certificates", response_model=CertificateListPublic)
def read_certificates(vat: str, settings: SettingsDep, access: AccessDep) -> CertificateListPublic:
    certs, offline = list_customer_certificates(settings, vat, as_user=access.user, surface=HTTP)
    return CertificateListPublic(vat_number=vat, offline_certificate=offline,
                                 certificates=[CertificatePublic.of(c) for c in certs])


@router.post("/tenants/{vat}/certificates/uploads", status_code=201, response_model=CertificatePublic)
async def upload_customer_certificate(
    vat: str, request: Request, settings: SettingsDep, client: TemporalDep, access: AccessDep,
    certificate: UploadFile = File(description="a certificate made elsewhere (PEM or DER)"),
    kind: str = Form("offline"),
) -> CertificatePublic:
    data = await _read_bounded(certificate, "certificate.format", MAX_CERTIFICATE_BYTES)
    return CertificatePublic.of(await upload_certificate(settings, vat, data, kind, as_user=access.user,
                                                         surface=HTTP, client=client))


@router.post("/tenants/{vat}/certificates/revocations", response_model=RevocationPublic,
             responses={202: {"description": "some revocations accepted, not yet confirmed by the CA"}})
async def revoke(vat: str, body: RevocationCreate, response: Response, settings: SettingsDep,
                 client: TemporalDep, access: AccessDep) -> RevocationPublic:
    """200 once the CA confirmed every revocation; 202 when some are still `pending` after HTTP_WAIT_SECONDS
    (their workflows go on; the certificate list, the Location, shows them revoked once done)."""
    result = await revoke_certificates(settings, vat, body.reason, body.operation_id, as_user=access.user,
                                       surface=HTTP, client=client, wait_seconds=settings.http_wait_seconds)
    if result.pending:
        response.status_code = 202
        response.headers["Location"] = f"/tenants/{vat}/certificates"
    return RevocationPublic(**result.to_json())  # type: ignore[arg-type]


@router.get("/tenants/{vat}/certificates/{operation_id}", response_model=CertificatePublic)
def read_certificate(vat: str, operation_id: str, settings: SettingsDep, access: AccessDep) -> CertificatePublic:
    return CertificatePublic.of(get_customer_certificate(settings, vat, operation_id, as_user=access.user,
                                                         surface=HTTP))


@router.get("/tenants/{vat}/certificates/{operation_id}/download", response_class=Response,
            responses={200: {"content": {"application/pkix-cert": {}}}})
def download(vat: str, operation_id: str, settings: SettingsDep, access: AccessDep) -> Response:
    name, der = download_certificate(settings, vat, operation_id, as_user=access.user, surface=HTTP)
    return Response(der, media_type="application/pkix-cert",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.delete("/tenants/{vat}/certificates/{operation_id}", status_code=204)
async def delete(vat: str, operation_id: str, settings: SettingsDep, client: TemporalDep,
                 access: AccessDep) -> Response:
    await delete_customer_certificate(settings, vat, operation_id, as_user=access.user, surface=HTTP, client=client)
    return Response(status_code=204)


@router.get("/certificates/ca.pem", response_class=Response,
            responses={200: {"content": {"application/x-pem-file": {}}}})
def read_ca_certificate(settings: SettingsDep) -> Response:
    return Response(ca_certificate(settings), media_type="application/x-pem-file",
                    headers={"Content-Disposition": 'attachment; filename="einvoice-ca.pem"'})


@router.get("/certificates/crl", response_class=Response, responses={200: {"content": {"application/pkix-crl": {}}}})
def read_crl(settings: SettingsDep) -> Response:
    return Response(certificate_revocation_list(settings), media_type="application/pkix-crl",
                    headers={"Content-Disposition": 'attachment; filename="einvoice-ca.crl"'})


@router.get("/tenants/{vat}/preferences", response_model=dict[str, bool], tags=["preferences"])
def read_preferences(vat: str, settings: SettingsDep, access: AccessDep) -> dict[str, bool]:
    return notification_preferences(settings, vat, as_user=access.user, surface=HTTP)


@router.put("/tenants/{vat}/preferences", response_model=dict[str, bool], tags=["preferences"])
def update_preferences(vat: str, body: dict[str, bool], settings: SettingsDep, access: AccessDep) -> dict[str, bool]:
    """Turn notification kinds on (true) or off (false); kinds not named keep their setting."""
    return set_notification_preferences(settings, vat, body, as_user=access.user, surface=HTTP)
