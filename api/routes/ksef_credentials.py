"""A Polish customer's KSeF token (#14): `PUT /customers/{vat}/ksef-token {"token"}` sets (or replaces) it,
`GET` says whether one is set, when and by whom (never the token), `DELETE` removes it.
`POST /customers/{vat}/ksef/auth-requests` hands out a challenge and the AuthTokenRequest the customer signs
itself for a certificate request. The routes only decode
and render: the starters (starters/ksef_credentials.py) ask the policy and do the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, SecretStr

from api.access import AccessDep
from api.deps import SettingsDep
from starters.acting import HTTP
from starters.ksef_credentials import ksef_token_status, new_auth_request, remove_ksef_token, set_ksef_token

router = APIRouter(prefix="/customers", tags=["ksef"])


class TokenRequest(BaseModel):
    token: SecretStr = Field(description="the KSeF token the customer generated in KSeF (InvoiceWrite, "
                                         "InvoiceRead); kept sealed, never shown again")


@router.put("/{vat}/ksef-token")
def put_token(vat: str, body: TokenRequest, settings: SettingsDep, access: AccessDep) -> dict[str, Any]:
    access.target = f"KSeF token of {vat}"
    return set_ksef_token(settings, vat, body.token.get_secret_value(), as_user=access.user,
                          surface=HTTP).to_json()


@router.get("/{vat}/ksef-token")
def get_token(vat: str, settings: SettingsDep, access: AccessDep) -> dict[str, Any]:
    access.target = f"KSeF token of {vat}"
    return ksef_token_status(settings, vat, as_user=access.user, surface=HTTP).to_json()


@router.delete("/{vat}/ksef-token", status_code=204)
def delete_token(vat: str, settings: SettingsDep, access: AccessDep) -> Response:
    access.target = f"remove KSeF token of {vat}"
    remove_ksef_token(settings, vat, as_user=access.user, surface=HTTP)
    return Response(status_code=204)


@router.post("/{vat}/ksef/auth-requests", status_code=201)
def post_auth_request(vat: str, settings: SettingsDep, access: AccessDep) -> dict[str, Any]:
    """KSeF's challenge and the AuthTokenRequest for the customer's NIP, to sign on the customer's machine
    (XAdES) and send with a certificate request (`ksef_auth_request`) within 10 minutes."""
    access.target = f"KSeF auth request of {vat}"
    return new_auth_request(settings, vat, as_user=access.user, surface=HTTP).to_json()
