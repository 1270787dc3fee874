"""Customers (titolari): add and list; the profile the customer confirms, with the conditions (seed 001)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SessionDep, SettingsDep
from domain.profile import CONDITIONS_VERSION, ProfileForm
from models.tenant import (
    TenantView,
    add_tenant,
    get_tenant,
    list_tenants,
    set_delegated_signing,
    set_strict_warnings,
)
from starters.acting import HTTP
from starters.tenants import confirm_profile, customer_profile

router = APIRouter(prefix="/tenants", tags=["tenants"])


class TenantCreate(BaseModel):
    vat: str = Field(description="VAT number with country prefix: IT + partita IVA, or PL + NIP")
    name: str = Field(description="Company name (denominazione)")
    pec: str = Field(description="PEC address (Italy) or ordinary e-mail (Poland)")
    sdi_code: str | None = Field(default=None, description="codice destinatario; default 0000000 (by PEC)")


class TenantPublic(BaseModel):
    vat_number: str
    country: str
    name: str
    pec: str
    sdi_code: str | None
    enabled: bool
    created_at: datetime
    created_by: str
    delegated_signing: bool = Field(description="the intermediary's key may sign this customer's invoices")
    strict_warnings: list[str] = Field(default_factory=list,
                                       description="the hub's warnings this customer's invoices are refused for")

    @classmethod
    def of(cls, view: TenantView) -> TenantPublic:
        return cls(**view.to_json())  # type: ignore[arg-type]


@router.post("", status_code=201, response_model=TenantPublic)
def create_tenant(body: TenantCreate, session: SessionDep, access: AccessDep) -> TenantPublic:
    access.target = f"customer {body.vat}"
    return TenantPublic.of(add_tenant(session, body.vat, body.name, body.pec, body.sdi_code, access.actor))


@router.get("", response_model=list[TenantPublic])
def read_tenants(session: SessionDep, access: AccessDep) -> list[TenantPublic]:
    """The customers the caller may see: all for an operator, its own for a customer user, the linked ones
    for an accountant."""
    return [TenantPublic.of(t) for t in list_tenants(session) if access.user.visible(t.vat_number)]


@router.get("/{vat}", response_model=TenantPublic)
def read_tenant(vat: str, session: SessionDep) -> TenantPublic:
    return TenantPublic.of(get_tenant(session, vat))


class DelegatedSigning(BaseModel):
    granted: bool = Field(description="true: the intermediary's key signs this customer's invoices (firma "
                                      "delegata); false: only the customer's own keys")


@router.put("/{vat}/delegated-signing", response_model=TenantPublic)
def put_delegated_signing(vat: str, body: DelegatedSigning, session: SessionDep, access: AccessDep) -> TenantPublic:
    access.target = f"delegated signing {'granted' if body.granted else 'withdrawn'}"
    return TenantPublic.of(set_delegated_signing(session, vat, body.granted))


class StrictWarnings(BaseModel):
    codes: list[str] = Field(description="the hub's warnings to refuse invoices for (hub:total, hub:due-date, "
                                         "hub:rounding, hub:namespace); [] = none, the default: they stay warnings")


@router.put("/{vat}/strict-warnings", response_model=TenantPublic)
def put_strict_warnings(vat: str, body: StrictWarnings, session: SessionDep, access: AccessDep) -> TenantPublic:
    """Which of the hub's own warnings (never the SDI's errors) refuse this customer's invoices (#17.1)."""
    access.target = f"strict warnings {','.join(body.codes)[:100] or 'none'}"
    set_strict_warnings(session, vat, ",".join(body.codes))
    return TenantPublic.of(get_tenant(session, vat))


class ProfileConfirmation(BaseModel):
    """The customer confirms its data and accepts the conditions (seed 001). Every field is checked by
    `domain.profile.check_profile`: a wrong one is a 422 naming it, and nothing is written."""

    name: str = Field(default="", description="Company name (denominazione)")
    pec: str = Field(default="", description="PEC address (Italy) or ordinary e-mail (Poland)")
    sdi_code: str = Field(default="", description="codice destinatario (Italy; empty: 0000000, by PEC)")
    street: str = Field(default="", description="address: street and number (indirizzo), at most 60")
    postcode: str = Field(default="", description="CAP (5 digits) or Polish postcode NN-NNN")
    city: str = Field(default="", description="town (comune), at most 60")
    province: str = Field(default="", description="provincia, two letters (Italy only)")
    accept: bool = Field(default=False, description="true: the conditions are accepted (Accetto le condizioni)")
    conditions_version: str = Field(default="", description="the version of the conditions accepted: "
                                                            "GET .../profile names the current one")


@router.get("/{vat}/profile")
def read_profile(vat: str, settings: SettingsDep, access: AccessDep) -> dict[str, object]:
    """The customer, its latest confirmation (who, when, which conditions version, the data) or null, and the
    version of the conditions a confirmation must accept now."""
    found = customer_profile(settings, vat, as_user=access.user, surface=HTTP)
    return {**found.to_json(), "conditions_version": CONDITIONS_VERSION}


@router.post("/{vat}/profile/confirmations", status_code=201)
def post_confirmation(vat: str, body: ProfileConfirmation, settings: SettingsDep,
                      access: AccessDep) -> dict[str, object]:
    access.target = f"profile {vat[:20]}, conditions {body.conditions_version[:20]}"
    done = confirm_profile(settings, vat, ProfileForm(**body.model_dump()), as_user=access.user, surface=HTTP)
    return done.to_json()
