"""KSeF's offline modes, the pure parts (#14.3): when an offline invoice must reach KSeF, and its KOD II.

**Deadlines** (`tryby-offline.md`, "Zestawienie trybów"): an invoice issued offline is sent later with
`offlineMode: true`, by a date the mode sets:
- `offline24` (the taxpayer's choice, art. 106nda): by the next business day after its issue date (P_1);
- `offline` (KSeF unavailable, announced; art. 106nh): by the next business day after the unavailability ended;
- `awaryjny` (a KSeF failure, announced; art. 106nf): within 7 business days after the failure ended.
A failure announced while an offline24 or offline invoice waits moves its deadline to 7 business days after the
end of the last failure ("Termin przesłania faktury do KSeF przy kolejnych zdarzeniach"); a new failure during
an emergency's 7 days restarts the count from its end. `send_deadline` takes the failures' end dates for that.
A total failure (awaria całkowita) lifts the duty to send: no deadline (None).

**Announcements** (`Announcement`): KSeF 2.0's API publishes none; the ministry announces an unavailability
(`offline`), a failure (`awaryjny`) or a total failure (`awaria-calkowita`) in BIP and the interface software,
and the intermediary's operator records them (models/ksef_outages.py). `announced_deadline` reads an invoice's
deadline off them: an `offline`/`awaryjny` invoice's P_1 must fall within an announcement of its kind (its end
gives the deadline; not ended yet: the deadline is not known yet), failures announced while it waits move it,
and a total failure announced meanwhile lifts the duty. Days are Europe/Warsaw's.

Business days (dni robocze): Monday to Friday except Poland's public holidays (ustawa z 18 stycznia 1951 r. o
dniach wolnych od pracy, with 24 December since 2025): 1 and 6 January, Easter Sunday and Monday, 1 and 3 May,
Pentecost Sunday, Corpus Christi, 15 August, 1 and 11 November, 24 (from 2025), 25 and 26 December. The
deadline is the end of that day (Europe/Warsaw): the caller sends before it.

**KOD II** (`kody-qr.md`, "KOD II - Weryfikacja certyfikatu"): the link that proves who issued an offline
invoice: `https://<qr host>/certificate/<context type>/<context value>/<seller NIP>/<offline certificate
serial>/<invoice SHA-256, base64url>/<signature, base64url>`, where the signature is over the link without
`https://` and without the trailing slash, made with the private key of the issuer's KSeF certificate of type
Offline: RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt, key ≥ 2048 bits) or ECDSA P-256/SHA-256 in IEEE P1363
form (r || s, 32 bytes each; the recommended one). An Authentication certificate may not sign it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from domain.errors import InvalidInput
from domain.identifiers import parse_vat_number
from domain.ksef.numbers import QR_HOSTS, invoice_hash

OFFLINE24, OFFLINE, EMERGENCY, TOTAL_FAILURE = "offline24", "offline", "awaryjny", "awaria-calkowita"
MODES = (OFFLINE24, OFFLINE, EMERGENCY, TOTAL_FAILURE)
EMERGENCY_BUSINESS_DAYS = 7
CONTEXT_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
PSS_SALT = 32
P256_FIELD = 32
WARSAW = ZoneInfo("Europe/Warsaw")
ANNOUNCED = {OFFLINE: "unavailability (niedostępność, art. 106nh)", EMERGENCY: "failure (awaria, art. 106nf)",
             TOTAL_FAILURE: "total failure (awaria całkowita)"}


# ------------------------------------------------------------------ business days


def warsaw_today(now: datetime | None = None) -> date:
    """Today in Poland. KSeF's days (P_1, every deadline) are Warsaw's, not the machine's: from 23:00 UTC (22:00
    in summer) the machine's date is still yesterday's there."""
    return (now or datetime.now(UTC)).astimezone(WARSAW).date()


def easter(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741  (the algorithm's own name)
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return date(year, month, day)


@cache
def polish_holidays(year: int) -> frozenset[date]:
    sunday = easter(year)
    days = {date(year, 1, 1), date(year, 1, 6), sunday, sunday + timedelta(days=1), date(year, 5, 1),
            date(year, 5, 3), sunday + timedelta(days=49), sunday + timedelta(days=60), date(year, 8, 15),
            date(year, 11, 1), date(year, 11, 11), date(year, 12, 25), date(year, 12, 26)}
    if year >= 2025:
        days.add(date(year, 12, 24))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in polish_holidays(day.year)


def add_business_days(day: date, count: int) -> date:
    """The `count`-th business day after `day` (`day` itself not counted)."""
    if count < 1:
        raise ValueError("count business days from 1")
    found = 0
    while found < count:
        day += timedelta(days=1)
        if is_business_day(day):
            found += 1
    return day


def send_deadline(mode: str, issue_date: date, unavailable_until: date | None = None,
                  failures_ended: tuple[date, ...] = ()) -> date | None:
    """The last day an offline invoice may reach KSeF (its end, Europe/Warsaw); None for a total failure.

    `issue_date`: P_1. `unavailable_until`: the day an announced unavailability (mode `offline`) or failure
    (mode `awaryjny`) ended. `failures_ended`: the end days of failures announced while the invoice waited."""
    if mode not in MODES:
        raise InvalidInput.one("offline_mode", f"one of {', '.join(MODES)}, got {mode!r}")
    if mode == TOTAL_FAILURE:
        return None
    if mode == OFFLINE24:
        deadline = add_business_days(issue_date, 1)
    else:
        if unavailable_until is None:
            raise InvalidInput.one("unavailable_until", f"mode {mode} needs the day KSeF's unavailability ended")
        if unavailable_until < issue_date:
            raise InvalidInput.one("unavailable_until", "the unavailability ended before the invoice was issued")
        count = 1 if mode == OFFLINE else EMERGENCY_BUSINESS_DAYS
        deadline = add_business_days(unavailable_until, count)
    later = [d for d in failures_ended if d >= issue_date]
    if later:  # a failure announced meanwhile: 7 business days from the end of the last one
        deadline = add_business_days(max(later), EMERGENCY_BUSINESS_DAYS)
    return deadline


def deadline_end(day: date) -> datetime:
    """The instant a deadline day ends (the next day's midnight in Europe/Warsaw), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), WARSAW).astimezone(UTC)


# ------------------------------------------------------------------ announcements


@dataclass(frozen=True)
class Announcement:
    """One announcement of KSeF's (kind `offline`, `awaryjny` or `awaria-calkowita`): from `started` to
    `ended` (None while it goes on)."""

    kind: str
    started: datetime
    ended: datetime | None = None
    ref: str = ""  # how the operator names it (its id and BIP note), for messages

    @property
    def started_day(self) -> date:
        return self.started.astimezone(WARSAW).date()

    @property
    def ended_day(self) -> date | None:
        return None if self.ended is None else self.ended.astimezone(WARSAW).date()

    def covers(self, day: date) -> bool:
        end = self.ended_day
        return self.started_day <= day and (end is None or day <= end)

    def __str__(self) -> str:
        until = self.ended.isoformat(timespec="minutes") if self.ended else "ongoing"
        return f"{self.kind} {self.started.isoformat(timespec='minutes')} → {until}" + \
            (f" ({self.ref})" if self.ref else "")


@dataclass(frozen=True)
class OfflineDeadline:
    """An offline invoice's deadline as the announcements on record give it: `send_by`, or None with `pending`
    (an announcement it hangs on has not ended: not known yet) or `lifted` (a total failure: no duty)."""

    send_by: date | None
    pending: str = ""
    lifted: str = ""


def announced_deadline(mode: str, issue_date: date, announcements: Sequence[Announcement]) -> OfflineDeadline:
    """The deadline of an invoice issued (P_1 `issue_date`) in `mode`, read off the announcements on record.
    `offline`/`awaryjny` with no announcement of that kind covering P_1, or `awaria-calkowita`: InvalidInput."""
    if mode not in MODES:
        raise InvalidInput.one("ksef_offline", f"one of {', '.join(MODES)}, got {mode!r}")
    if mode == TOTAL_FAILURE:
        raise InvalidInput.one("ksef_offline", "during a total failure (awaria całkowita) there is no duty to send "
                                               "the invoice to KSeF: it is issued and kept outside KSeF, without "
                                               "FA(3) or QR codes (tryby-offline.md, 'Tryb awarii całkowitej')")
    basis: Announcement | None = None
    until: date | None = None
    if mode in (OFFLINE, EMERGENCY):
        covering = [a for a in announcements if a.kind == mode and a.covers(issue_date)]
        if not covering:
            raise InvalidInput.one("/Faktura/Fa/P_1", f"P_1 {issue_date.isoformat()}: no announced KSeF "
                                                      f"{ANNOUNCED[mode]} covering that day is on record, so mode "
                                                      f"{mode} cannot be used (offline24 is the customer's own "
                                                      "choice; the operator records KSeF's announcements: einvoice "
                                                      "ksef outage add)")
        basis = max(covering, key=lambda a: a.started)
        if basis.ended is None:
            return OfflineDeadline(None, pending=f"the {ANNOUNCED[mode]} announced {basis} has not ended: the "
                                                 "deadline is known once it ends")
        until = basis.ended_day
    deadline = send_deadline(mode, issue_date, until)
    assert deadline is not None
    while True:  # what was announced while the invoice waits: each failure may move the deadline further
        window = [a for a in announcements if a is not basis and a.started_day <= deadline
                  and (a.ended_day is None or a.ended_day >= issue_date)]
        total = [a for a in window if a.kind == TOTAL_FAILURE]
        if total:
            return OfflineDeadline(None, lifted=f"a total failure was announced ({total[0]}): no duty to send it "
                                                "to KSeF any more")
        failures = [a for a in window if a.kind == EMERGENCY]
        ongoing = [a for a in failures if a.ended is None]
        if ongoing:
            return OfflineDeadline(None, pending=f"a KSeF failure announced meanwhile ({ongoing[0]}) has not ended: "
                                                 "the deadline is 7 business days after its end")
        ends = tuple(a.ended_day for a in failures if a.ended_day is not None)
        moved = send_deadline(mode, issue_date, until, ends)
        assert moved is not None
        if moved <= deadline:
            return OfflineDeadline(deadline)
        deadline = moved


# ------------------------------------------------------------------ KOD II


@dataclass(frozen=True)
class CertificateLink:
    url: str  # the whole KOD II link
    signed: str  # what the signature is over: the link without https:// and the signature


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed_part(context_type: str, context_value: str, seller_nip: str, serial: str, xml_hash: str,
                 environment: str) -> str:
    if environment not in QR_HOSTS:
        raise InvalidInput.one("environment", f"one of {', '.join(QR_HOSTS)}, got {environment!r}")
    if context_type not in CONTEXT_TYPES:
        raise InvalidInput.one("context_type", f"one of {', '.join(CONTEXT_TYPES)}, got {context_type!r}")
    nip = str(parse_vat_number("PL" + seller_nip.removeprefix("PL"), "seller_nip"))[2:]
    if not serial or not all(c in "0123456789ABCDEF" for c in serial.upper()):
        raise InvalidInput.one("certificate_serial", f"a hexadecimal serial number, got {serial!r}")
    host = QR_HOSTS[environment].removeprefix("https://")
    return f"{host}/certificate/{context_type}/{context_value}/{nip}/{serial.upper()}/{xml_hash}"


def offline_certificate_serial(certificate: x509.Certificate) -> str:
    """The serial KSeF lists an offline certificate under: uppercase hex (e.g. 01F20A5D352AE590)."""
    text = f"{certificate.serial_number:X}"
    return text if len(text) % 2 == 0 else "0" + text


def qr_certificate_link(context_type: str, context_value: str, seller_nip: str, certificate: x509.Certificate,
                        private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, xml: bytes,
                        environment: str = "production") -> CertificateLink:
    """KOD II of an offline invoice, signed with the issuer's offline certificate's key (RSA-PSS or ECDSA P-256
    in P1363 form). The certificate must be an Offline one: Non-Repudiation, not Digital Signature alone."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or not usage.content_commitment:
        raise InvalidInput.one("certificate", "KOD II is signed with a KSeF certificate of type Offline "
                                              "(Non-Repudiation): this one is not")
    signed = _signed_part(context_type, context_value, seller_nip, offline_certificate_serial(certificate),
                          invoice_hash(xml), environment)
    data = signed.encode("utf-8")
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise InvalidInput.one("private_key", f"an RSA key of at least 2048 bits, this has {private_key.key_size}")
        signature = private_key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT),
                                     hashes.SHA256())
    elif isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1):
        r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(P256_FIELD, "big") + s.to_bytes(P256_FIELD, "big")
    else:
        raise InvalidInput.one("private_key", "KSeF takes RSA (PSS) or ECDSA on P-256 for KOD II")
    return CertificateLink(f"https://{signed}/{_b64url(signature)}", signed)


def verify_certificate_link(url: str, certificate: x509.Certificate) -> bool:
    """Whether a KOD II link's signature is the certificate's (as KSeF checks it after the scan)."""
    if not url.startswith("https://") or url.count("/") < 9:
        return False
    signed, _, signature_text = url.removeprefix("https://").rpartition("/")
    try:
        signature = _unb64url(signature_text)
    except ValueError:
        return False
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                                salt_length=PSS_SALT), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) == 2 * P256_FIELD:  # IEEE P1363
                der = encode_dss_signature(int.from_bytes(signature[:P256_FIELD], "big"),
                                           int.from_bytes(signature[P256_FIELD:], "big"))
            else:  # ASN.1 DER, which KSeF takes too
                der = signature
            key.verify(der, signed.encode(), ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True
