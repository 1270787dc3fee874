"""Customers (titolari): add and list."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.access import AccessDep
from api.deps import SessionDep
from models.tenant import (
    TenantView,
    add_tenant,
    get_tenant,
    list_tenants,
    set_delegated_signing,
    set_strict_warnings,
)

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
