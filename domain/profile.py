"""The customer's profile confirmation (seed 001, "Profilazione Utente"): the customer checks its data (the
company name, its PEC, its P.IVA / NIP, its codice destinatario, its address) and accepts the conditions of
the service ("Accetto le condizioni", "CONFERMO I MIEI DATI"). Pure code: what a confirmation must hold, every
wrong field reported at once, each by its name.

The conditions are versioned: a confirmation records the version the customer saw, and a form sent for an
older version is refused (the conditions changed while the page was open), so nobody accepts what they did
not read. Change `CONDITIONS_VERSION` whenever their text (api/panel/i18n.py `conditions_*`) changes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from domain.errors import InvalidInput, ProblemCollector
from domain.identifiers import VatNumber, check_customer

CONDITIONS_VERSION = "2026-12-07"

# FatturaPA Sede: Indirizzo and Comune at most 60 characters, CAP five digits, Provincia two letters (IT);
# a Polish postcode is NN-NNN.
_CAP = re.compile(r"[0-9]{5}")
_PL_POSTCODE = re.compile(r"[0-9]{2}-[0-9]{3}")
_PROVINCE = re.compile(r"[A-Z]{2}")
FIELDS = ("name", "pec", "sdi_code", "street", "postcode", "city", "province", "accept", "conditions_version")


@dataclass(frozen=True)
class ProfileForm:
    """What the customer sends: its data as it wants them recorded, and whether it accepts the conditions."""

    name: str = ""
    pec: str = ""
    sdi_code: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    province: str = ""
    accept: bool = False
    conditions_version: str = ""


@dataclass(frozen=True)
class Profile:
    """A checked confirmation, normalised as it is stored."""

    name: str
    pec: str
    sdi_code: str | None
    street: str
    postcode: str
    city: str
    province: str | None
    country: str
    conditions_version: str


def _text(problems: ProblemCollector, field: str, raw: str, what: str, longest: int) -> str:
    value = " ".join((raw or "").split())
    if not value:
        problems.add(field, f"{what} is required")
    elif len(value) > longest:
        problems.add(field, f"{what} may be at most {longest} characters (FatturaPA)")
    elif any(unicodedata.category(c).startswith("C") for c in value):
        problems.add(field, f"{what} has a control character")
    return value


def check_profile(vat: VatNumber, form: ProfileForm) -> Profile:
    """Validate a confirmation of customer `vat` (its VAT number is its identity: not part of the form);
    raises InvalidInput naming every wrong field."""
    problems = ProblemCollector()
    identity = None
    try:
        identity = check_customer(str(vat), form.name, form.pec, form.sdi_code.strip() or None)
    except InvalidInput as err:
        problems.problems.extend(err.problems)
    street = _text(problems, "street", form.street, "the address (indirizzo)", 60)
    city = _text(problems, "city", form.city, "the town (comune)", 60)
    postcode = (form.postcode or "").strip()
    province_raw = (form.province or "").strip()
    province: str | None = None
    if vat.country == "IT":
        if not _CAP.fullmatch(postcode):
            problems.add("postcode", f"the CAP must be 5 digits 0-9, got {form.postcode!r}")
        province = province_raw.upper() if province_raw.isascii() else province_raw
        if not _PROVINCE.fullmatch(province):
            problems.add("province", f"the provincia must be its two-letter code (e.g. VR), got {form.province!r}")
    else:
        if not _PL_POSTCODE.fullmatch(postcode):
            problems.add("postcode", f"the Polish postcode must be NN-NNN, got {form.postcode!r}")
        if province_raw:
            problems.add("province", "a Polish address has no provincia code")
    if not form.accept:
        problems.add("accept", "the conditions must be accepted to confirm the data (Accetto le condizioni)")
    if form.conditions_version != CONDITIONS_VERSION:
        problems.add("conditions_version", f"the conditions shown ({form.conditions_version or 'none'}) are not "
                                           f"the current ones ({CONDITIONS_VERSION}): read them again")
    problems.raise_if_any()
    assert identity is not None
    return Profile(identity.name, identity.pec, identity.sdi_code, street, postcode, city, province, vat.country,
                   CONDITIONS_VERSION)
