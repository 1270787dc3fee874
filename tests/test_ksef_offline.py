"""KSeF's offline modes, the pure parts (domain/ksef/offline.py, #14.3): the deadlines of tryby-offline.md on
Polish business days, and KOD II signed with an offline certificate's key and verified as KSeF does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from domain.errors import InvalidInput
from domain.ksef import offline
from domain.ksef.numbers import invoice_hash, qr_invoice_link

XML = b"<Faktura>offline</Faktura>"


def test_easter_and_the_polish_holidays() -> None:
    assert [offline.easter(y) for y in (2025, 2026, 2027)] == [date(2025, 4, 20), date(2026, 4, 5),
                                                               date(2027, 3, 28)]
    days = offline.polish_holidays(2026)
    assert {date(2026, 4, 6), date(2026, 5, 24), date(2026, 6, 4), date(2026, 12, 24)} <= days  # Easter Monday,
    assert date(2024, 12, 24) not in offline.polish_holidays(2024)  # Pentecost, Corpus Christi, Wigilia (2025+)
    assert not offline.is_business_day(date(2026, 11, 11)) and offline.is_business_day(date(2026, 11, 12))


def test_the_documentations_example_offline24_then_a_failure() -> None:
    # tryby-offline.md: issued Wednesday 2025-07-08 → due 2025-07-09; a failure ends Saturday 2025-07-12 → 07-22
    assert offline.send_deadline(offline.OFFLINE24, date(2025, 7, 8)) == date(2025, 7, 9)
    assert offline.send_deadline(offline.OFFLINE24, date(2025, 7, 8),
                                 failures_ended=(date(2025, 7, 12),)) == date(2025, 7, 22)


def test_each_mode_its_deadline() -> None:
    friday = date(2026, 12, 18)
    assert offline.send_deadline(offline.OFFLINE24, friday) == date(2026, 12, 21)  # over the weekend
    assert offline.send_deadline(offline.OFFLINE24, date(2026, 12, 23)) == date(2026, 12, 28)  # 24-26 holidays
    assert offline.send_deadline(offline.OFFLINE, friday, unavailable_until=date(2026, 12, 21)) == date(2026, 12, 22)
    assert offline.send_deadline(offline.EMERGENCY, friday, unavailable_until=date(2026, 12, 21)) == date(2027, 1, 4)
    assert offline.send_deadline(offline.TOTAL_FAILURE, friday) is None
    with pytest.raises(InvalidInput, match="unavailable_until"):
        offline.send_deadline(offline.OFFLINE, friday)
    with pytest.raises(InvalidInput, match="offline_mode"):
        offline.send_deadline("later", friday)


def _certificate(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, offline_usage: bool = True,
                 serial: int = 0x01F20A5D352AE590) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Firma Testowa")])
    now = datetime.now(UTC)
    usage = x509.KeyUsage(digital_signature=not offline_usage, content_commitment=offline_usage,
                          key_encipherment=False, data_encipherment=False, key_agreement=False, key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .add_extension(usage, critical=True).sign(key, hashes.SHA256()))


@pytest.mark.parametrize("make_key", [lambda: ec.generate_private_key(ec.SECP256R1()),
                                      lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)],
                         ids=["ecdsa-p256", "rsa-pss"])
def test_kod_ii_is_the_documented_link_signed_and_verifiable(make_key: object) -> None:
    key = make_key()  # type: ignore[operator]
    cert = _certificate(key)
    link = offline.qr_certificate_link("Nip", "5265877635", "5265877635", cert, key, XML, "test")
    # kody-qr.md's shape: host/certificate/<type>/<context>/<seller NIP>/<serial>/<hash>, then the signature
    assert link.signed == f"qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/01F20A5D352AE590/" \
                          f"{invoice_hash(XML)}"
    assert link.url.startswith(f"https://{link.signed}/")
    assert offline.verify_certificate_link(link.url, cert)
    if isinstance(key, ec.EllipticCurvePrivateKey):  # P1363: r || s, 64 bytes, 86 base64url characters
        assert len(link.url.rsplit("/", 1)[1]) == 86
    tampered = link.url.replace("/5265877635/01F2", "/1234563218/01F2")
    assert not offline.verify_certificate_link(tampered, cert)
    assert not offline.verify_certificate_link(link.url, _certificate(make_key()))  # type: ignore[operator]
    # KOD I of the same invoice: the other code an offline invoice carries
    assert qr_invoice_link("5265877635", date(2026, 2, 1), XML, "test").endswith(f"/01-02-2026/{invoice_hash(XML)}")


def test_kod_ii_refuses_an_authentication_certificate_and_weak_keys() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidInput, match="type Offline"):
        offline.qr_certificate_link("Nip", "5265877635", "5265877635", _certificate(key, offline_usage=False), key,
                                    XML)
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(InvalidInput, match="P-256"):
        offline.qr_certificate_link("Nip", "5265877635", "5265877635", _certificate(other), other, XML)
    with pytest.raises(InvalidInput, match="seller_nip"):
        offline.qr_certificate_link("Nip", "5265877635", "5265877636", _certificate(key), key, XML)
    with pytest.raises(InvalidInput, match="context_type"):
        offline.qr_certificate_link("Pesel", "5265877635", "5265877635", _certificate(key), key, XML)


# ------------------------------------------------------------------ deadlines off the recorded announcements

W = offline.WARSAW


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=W)


def _announced(kind: str, start: date, end: date | None) -> offline.Announcement:
    return offline.Announcement(kind, _at(start, 9), _at(end, 15) if end else None)


def test_offline_and_awaryjny_take_their_deadline_from_the_announcement_covering_p1() -> None:
    friday, monday = date(2026, 12, 18), date(2026, 12, 21)
    unavailable = _announced(offline.OFFLINE, friday, monday)
    failure = _announced(offline.EMERGENCY, friday, monday)
    # as send_deadline computes it from the announcement's end
    assert offline.announced_deadline(offline.OFFLINE, friday, [unavailable]).send_by == date(2026, 12, 22)
    assert offline.announced_deadline(offline.EMERGENCY, friday, [failure]).send_by == date(2027, 1, 4)
    assert offline.announced_deadline(offline.OFFLINE24, friday, []).send_by == monday
    # ongoing: not known yet, and said why
    ongoing = offline.announced_deadline(offline.EMERGENCY, friday, [_announced(offline.EMERGENCY, friday, None)])
    assert ongoing.send_by is None and "has not ended" in ongoing.pending
    # the end of the deadline day in Warsaw (winter: UTC+1)
    assert offline.deadline_end(date(2026, 12, 22)) == datetime(2026, 12, 22, 23, 0, tzinfo=UTC)
    assert offline.deadline_end(date(2026, 7, 1)) == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)


def test_no_announcement_of_that_kind_covering_p1_is_refused_naming_p1() -> None:
    friday = date(2026, 12, 18)
    for mode, records in ((offline.OFFLINE, []),
                          (offline.OFFLINE, [_announced(offline.EMERGENCY, friday, friday)]),  # another kind
                          (offline.EMERGENCY, [_announced(offline.EMERGENCY, date(2026, 12, 21), None)])):  # later
        with pytest.raises(InvalidInput) as err:
            offline.announced_deadline(mode, friday, records)
        [problem] = err.value.problems
        assert problem.field == "/Faktura/Fa/P_1" and "P_1 2026-12-18" in problem.message
        assert "no announced KSeF" in problem.message and "offline24 is the customer's own choice" in problem.message
    with pytest.raises(InvalidInput, match="no duty to send the invoice to KSeF"):
        offline.announced_deadline(offline.TOTAL_FAILURE, friday, [_announced(offline.TOTAL_FAILURE, friday, None)])


def test_a_failure_announced_meanwhile_moves_the_deadline_and_a_total_failure_lifts_it() -> None:
    # the documentation's example: offline24 on 2025-07-08, a failure announced 07-09, ended Saturday 07-12
    wednesday = date(2025, 7, 8)
    failure = _announced(offline.EMERGENCY, date(2025, 7, 9), date(2025, 7, 12))
    assert offline.announced_deadline(offline.OFFLINE24, wednesday, [failure]).send_by == date(2025, 7, 22)
    # a failure that began after the deadline had passed moves nothing
    late = _announced(offline.EMERGENCY, date(2025, 7, 14), date(2025, 7, 15))
    assert offline.announced_deadline(offline.OFFLINE24, wednesday, [late]).send_by == date(2025, 7, 9)
    # ... unless an earlier failure had moved the deadline past its start: the count restarts from its end
    assert offline.announced_deadline(offline.OFFLINE24, wednesday, [failure, late]).send_by == date(2025, 7, 24)
    # still going on: not known yet
    ongoing = offline.announced_deadline(offline.OFFLINE24, wednesday,
                                         [_announced(offline.EMERGENCY, date(2025, 7, 9), None)])
    assert ongoing.send_by is None and "7 business days after its end" in ongoing.pending
    # a total failure announced meanwhile: no duty any more
    lifted = offline.announced_deadline(offline.OFFLINE24, wednesday,
                                        [_announced(offline.TOTAL_FAILURE, date(2025, 7, 9), None)])
    assert lifted.send_by is None and "no duty" in lifted.lifted
