"""FA(3), the Polish structured invoice KSeF takes: its schema and the rules the schema cannot say.

`validate_fa3(xml, ...)` checks an invoice before it is sent, collecting every problem (each names the element's
path, e.g. `/Faktura/Fa/FaWiersz[2]/P_11`, and what is wrong), and returns its `Fa3Summary`;
`check_received_fa3(xml)` reads an invoice KSeF has already accepted (the download, #14.4): never refused for its
content, every problem a warning. The shape follows `domain/fatturapa/` (schema, then content rules that cite
their source), not its code.

1. **The document** as KSeF checks it (`faktury/weryfikacja-faktury.md`, "Weryfikacja XML"): parsed by
   `domain.xmlsafe.parse_untrusted` (no DOCTYPE, no entities, no network), UTF-8 only and without a byte-order
   mark, no processing instruction, none of the discouraged Unicode characters; at most 1 MB (3 MB with
   attachments, `Zalacznik`), and no attachment in an interactive session (KSeF's 415). KSeF's code: 430.
2. **The schema**: the vendored FA(3) XSD (`spec/FA/`, `spec/PROVENANCE.md`). It imports its base types
   (`StrukturyDanych`, which includes `ElementarneTypyDanych` and `KodyKrajow`) by an absolute http URL on
   crd.gov.pl; `_VendoredBases`, an lxml resolver, maps those URLs to the files in `spec/FA/bazowe/` and refuses
   every other URL or file, so compiling never touches the network. KSeF's code: 430.
3. **What KSeF checks beyond the schema** ("Walidacja dat", "Walidacja numeru NIP"): the issue date P_1 not
   later than the day KSeF takes the invoice, and the NIP check digit of Podmiot1, Podmiot2, Podmiot3 and
   PodmiotUpowazniony (KSeF checks it on production only; we check it everywhere: the test environment's
   leniency must not let a typo through). KSeF's code: 450.
4. **The hub's rules** (KSeF does no arithmetic; code None, like the seller rule of FatturaPA): the seller
   (Podmiot1) is the customer sending; a line's net value P_11 is its quantity P_8B times its net unit price P_9A
   less its discount P_10 (and P_11A likewise from the gross price P_9B), to the cent; on a VAT invoice
   (RodzajFaktury VAT) whose lines all give P_11, the lines' net values per rate (P_12) add up to the matching
   P_13_x (23/22 → P_13_1, 8/7 → P_13_2, 5 → P_13_3, 4/3 → P_13_4, OSS P_12_XII → P_13_5, 0 KR/0 WDT/0 EX →
   P_13_6_1/2/3, zw → P_13_7, np I → P_13_8, np II → P_13_9, oo → P_13_10), to the cent; P_14_1/2/3 are their
   P_13's rate (the lines' rate; 23 or 22 etc. without lines) within half a cent per line (VAT may be rounded
   per line, art. 106e ust. 10), at least a cent; and P_15 is the sum of every P_13_x and P_14_1..5 (P_14_xW
   are the PLN conversions of a foreign-currency invoice, not added) to the cent — except on a settlement
   invoice (ROZ, KOR_ROZ), whose P_15 is what is left to pay, and when no P_13_x is given (a simplified UPR
   invoice may give P_15 alone). Corrections (KOR) are checked for P_14 and P_15 only: their lines may show the
   state before (StanPrzed) beside the state after.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from pathlib import Path

from lxml import etree

from domain.errors import InvalidInput, Problem, ProblemCollector
from domain.identifiers import nip_check_digit
from domain.xmlsafe import load_vendored, parse_untrusted

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
FA3_ROOT = f"{{{FA3_NS}}}Faktura"
# The form code sent when a session is opened (open-api.json FormCode): FA(3), schema 1-0E.
FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
SCHEMA_FILE = "schemat_FA(3)_v1-0E.xsd"
_BASES_URL = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
# Every URL the FA(3) schema and its bases name, mapped to the vendored copy (the bases include each other by
# relative names, which resolve beside the vendored file; the absolute forms are here in case a copy names them).
VENDORED_IMPORTS = {
    _BASES_URL + "StrukturyDanych_v10-0E.xsd": "bazowe/StrukturyDanych_v10-0E.xsd",
    _BASES_URL + "ElementarneTypyDanych_v10-0E.xsd": "bazowe/ElementarneTypyDanych_v10-0E.xsd",
    _BASES_URL + "KodyKrajow_v10-0E.xsd": "bazowe/KodyKrajow_v10-0E.xsd",
}

# weryfikacja-faktury.md, "Rozmiar pliku" and "Ograniczenia dotyczące załączników".
MAX_BYTES = 1_000_000
MAX_BYTES_WITH_ATTACHMENTS = 3_000_000
# KSeF's own invoice status codes (open-api.json, SessionInvoiceStatusResponse): what KSeF would answer.
CODE_FILE = "430"  # Błąd weryfikacji pliku faktury (XML, encoding, schema, size)
CODE_ATTACHMENT = "415"  # Brak możliwości wysyłania faktury z załącznikiem (interactive session)
CODE_SEMANTICS = "450"  # Błąd weryfikacji semantyki dokumentu faktury (NIP check digit, a future P_1)
MAX_SCHEMA_PROBLEMS = 50
CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")

# The discouraged characters of the XML recommendation KSeF refuses (weryfikacja-faktury.md).
_DISCOURAGED = re.compile(
    "[\x7f-\x84\x86-\x9f\ufdd0-\ufdef"
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}-{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17))
    + "]"
)
# The same set as UTF-8 byte sequences, searched in the file's bytes (already known to be valid UTF-8): a
# character class spanning the astral planes makes `re` test every character against each range (half a
# millisecond on a 2 KB invoice), while these alternatives start with a literal byte. U+007F; U+0080-U+0084
# and U+0086-U+009F (C2 80-84, C2 86-9F); U+FDD0-U+FDEF (EF B7 90-AF); U+nFFFE and U+nFFFF of planes 1-16
# (F0-F4, then 8F/9F/AF/BF: the plane's low bits and 1111, then BF, then BE or BF).
_DISCOURAGED_UTF8 = re.compile(
    rb"\x7f|\xc2[\x80-\x84\x86-\x9f]|\xef\xb7[\x90-\xaf]|[\xf0-\xf4][\x8f\x9f\xaf\xbf]\xbf[\xbe\xbf]"
)
_DISCOURAGED_MARKERS = (b"\x7f", b"\xc2", b"\xef\xb7", b"\xbf\xbe", b"\xbf\xbf")
_BOM = b"\xef\xbb\xbf"

# P_12 (TStawkaPodatku) → the P_13 field that sums its lines, and the rate of its P_14 where it has one.
RATE_GROUP = {
    "23": "P_13_1", "22": "P_13_1", "8": "P_13_2", "7": "P_13_2", "5": "P_13_3", "4": "P_13_4", "3": "P_13_4",
    "0 KR": "P_13_6_1", "0 WDT": "P_13_6_2", "0 EX": "P_13_6_3", "zw": "P_13_7", "np I": "P_13_8",
    "np II": "P_13_9", "oo": "P_13_10",
}
OSS_GROUP = "P_13_5"  # lines with P_12_XII (the OSS procedure, dział XII rozdział 6a)
VAT_OF = {"P_13_1": "P_14_1", "P_13_2": "P_14_2", "P_13_3": "P_14_3"}
_GROUP_RATES = {"P_13_1": ("23", "22"), "P_13_2": ("8", "7"), "P_13_3": ("5",)}
NET_FIELDS = ("P_13_1", "P_13_2", "P_13_3", "P_13_4", "P_13_5", "P_13_6_1", "P_13_6_2", "P_13_6_3", "P_13_7",
              "P_13_8", "P_13_9", "P_13_10", "P_13_11")
VAT_FIELDS = ("P_14_1", "P_14_2", "P_14_3", "P_14_4", "P_14_5")
_SETTLEMENT = ("ROZ", "KOR_ROZ")
_CORRECTION = ("KOR", "KOR_ZAL", "KOR_ROZ")


def spec_dir() -> Path:
    return Path(str(resources.files("domain.ksef") / "spec" / "FA"))


class _VendoredBases(etree.Resolver):  # type: ignore[misc]  # lxml ships no type information
    """Serves the FA(3) bases from `spec/FA/bazowe/` for their crd.gov.pl URLs; refuses any other URL and any
    file outside `spec/FA/` but the schema being compiled (an import we do not know is an error, never a fetch)."""

    def __init__(self, main: Path):
        super().__init__()
        self.main = main.resolve()

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        url = system_url or ""
        if url in VENDORED_IMPORTS:
            return self.resolve_filename(str(spec_dir() / VENDORED_IMPORTS[url]), context)
        local = url[len("file://"):] if url.startswith("file://") else url
        if "://" not in local:
            where = Path(local).resolve()
            if where == self.main or where.is_relative_to(spec_dir().resolve()):
                return None  # the schema itself, or a vendored base's relative include: loaded as it is
        raise OSError(f"refusing to load {url!r} while compiling the FA(3) schema: not one of its vendored bases")


_COMPILING = threading.Lock()  # as for FatturaPA: libxml2 compiling schemas in two threads at once misresolves


def schema() -> etree.XMLSchema:
    """The compiled FA(3) schema (once per process, one compilation at a time)."""
    with _COMPILING:
        return _compiled()


@cache
def _compiled() -> etree.XMLSchema:
    return compile_schema(spec_dir() / SCHEMA_FILE)


def compile_schema(path: Path) -> etree.XMLSchema:
    """Compile a schema with the FA(3) resolver (for `schema()`; the tests hand it one with an unknown import)."""
    return etree.XMLSchema(load_vendored(path, _VendoredBases(path)))


@dataclass(frozen=True)
class Fa3Summary:
    """What the workflow, the database and the e-mail need of an FA(3) invoice."""

    seller_nip: str  # Podmiot1 NIP, 10 digits
    seller_name: str
    buyer_nip: str | None  # Podmiot2 NIP when the buyer has one
    buyer_name: str | None
    number: str  # P_2
    issue_date: date  # P_1
    invoice_type: str  # RodzajFaktury: VAT, KOR, ZAL, ROZ, UPR, KOR_ZAL, KOR_ROZ
    currency: str  # KodWaluty
    net: Decimal  # the sum of P_13_x
    vat: Decimal  # the sum of P_14_1..5
    gross: Decimal  # P_15
    lines: int
    has_attachment: bool
    warnings: tuple[Problem, ...] = field(default=())


def _local(el: etree._Element) -> str:
    return str(etree.QName(el).localname)


def path_of(el: etree._Element) -> str:
    """`/Faktura/Fa/FaWiersz[2]/P_11`: local names, a 1-based position where the element repeats."""
    parts = []
    node: etree._Element | None = el
    while node is not None:
        name = _local(node)
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


_CLARK = re.compile(r"\{https?://[^}]*\}")


def _schema_error_path(root: etree._Element, path: str | None, line: int) -> str:
    """libxml2 names the element by an XPath of positions (`/*/*[4]/*[4]`): read as our path of names."""
    if path:
        try:
            found = root.getroottree().xpath(path)
        except etree.XPathError:
            found = []
        if found and isinstance(found[0], etree._Element):
            return path_of(found[0])
    return f"line {line}"


def _find(el: etree._Element | None, *names: str) -> etree._Element | None:
    # iterchildren(tag) filters in C: a third of the time of find(), which parses its path each call.
    for name in names:
        if el is None:
            return None
        el = next(el.iterchildren(f"{{{FA3_NS}}}{name}"), None)
    return el


def _text_of(el: etree._Element | None) -> str | None:
    return None if el is None or el.text is None else str(el.text).strip()


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None  # the schema has said so already


def _text(el: etree._Element | None, *names: str) -> str | None:
    return _text_of(_find(el, *names))


def _amount(el: etree._Element | None, name: str) -> Decimal | None:
    return _decimal(_text(el, name))


_NS_PREFIX = f"{{{FA3_NS}}}"


def _fields(el: etree._Element | None) -> dict[str, etree._Element]:
    """An element's children by local name, the first of each: one pass over `Fa`'s children instead of a
    search per field (the totals read some forty of them)."""
    found: dict[str, etree._Element] = {}
    if el is not None:
        for child in el.iterchildren(tag=etree.Element):
            tag = child.tag
            if isinstance(tag, str) and tag.startswith(_NS_PREFIX):
                found.setdefault(tag[len(_NS_PREFIX):], child)
    return found


def _field_text(fields: dict[str, etree._Element], name: str) -> str | None:
    return _text_of(fields.get(name))


def _field_amount(fields: dict[str, etree._Element], name: str) -> Decimal | None:
    return _decimal(_field_text(fields, name))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _parse(xml: bytes, interactive: bool) -> tuple[etree._Element, ProblemCollector]:
    """The document checks of weryfikacja-faktury.md, "Weryfikacja XML" and "Rozmiar pliku"."""
    limit = MAX_BYTES_WITH_ATTACHMENTS if not interactive else MAX_BYTES
    if xml.startswith(_BOM):
        raise InvalidInput.one("/", "the invoice starts with a byte-order mark: KSeF takes UTF-8 without one",
                               CODE_FILE)
    root = parse_untrusted(xml, "/", limit, code=CODE_FILE, utf8_only=True)
    out = ProblemCollector()
    if root.tag != FA3_ROOT:
        raise InvalidInput.one("/" + _local(root), f"the root element is {root.tag}, not Faktura of FA(3) "
                                                   f"({{{FA3_NS}}}Faktura)", CODE_FILE)
    pis = [n for n in root.itersiblings(preceding=True) if isinstance(n, etree._ProcessingInstruction)]
    pis += [n for n in root.itersiblings() if isinstance(n, etree._ProcessingInstruction)]
    pis += list(root.iter(etree.PI))
    for pi in pis:
        out.add("/Faktura", f"a processing instruction <?{pi.target} ...?> is not allowed in an invoice",
                CODE_FILE)
    # parse_untrusted has checked the bytes are UTF-8. Every discouraged sequence holds one of these five byte
    # strings, each found by memchr-speed `in`; most invoices hold none, and the pattern is not run at all.
    maybe = any(marker in xml for marker in _DISCOURAGED_MARKERS)
    bad = _DISCOURAGED_UTF8.search(xml) if maybe else None
    if bad is not None:
        line = xml.count(b"\n", 0, bad.start()) + 1
        out.add(f"line {line}", f"the character U+{ord(bad.group().decode('utf-8')):04X} is one of the "
                                "discouraged Unicode characters KSeF refuses", CODE_FILE)
    attachment = _find(root, "Zalacznik")
    if attachment is not None:
        if interactive:
            out.add(path_of(attachment), "an invoice with an attachment (Zalacznik) can only be sent in a batch "
                                         "session, not an interactive one", CODE_ATTACHMENT)
    elif len(xml) > MAX_BYTES:
        out.add("/", f"the invoice has {len(xml)} bytes: without attachments at most {MAX_BYTES}", CODE_FILE)
    return root, out


def _schema_problems(root: etree._Element) -> list[Problem]:
    xsd = schema()
    if xsd.validate(root):
        return []
    return [Problem(_schema_error_path(root, e.path, e.line), f"not valid against FA(3): {_CLARK.sub('', e.message)}",
                    CODE_FILE)
            for e in list(xsd.error_log)[:MAX_SCHEMA_PROBLEMS]]


def _check_nips(root: etree._Element, out: ProblemCollector) -> None:
    """weryfikacja-faktury.md, "Walidacja numeru NIP": Podmiot1, Podmiot2, Podmiot3, PodmiotUpowazniony."""
    parties = [_find(root, "Podmiot1"), _find(root, "Podmiot2"), _find(root, "PodmiotUpowazniony")]
    parties += root.findall(f"{{{FA3_NS}}}Podmiot3")
    for party in parties:
        nip = _find(party, "DaneIdentyfikacyjne", "NIP")
        if nip is None or not (nip.text or "").strip().isdigit() or len((nip.text or "").strip()) != 10:
            continue  # absent, or the schema's pattern refused it already
        value = (nip.text or "").strip()
        if nip_check_digit(value[:9]) != int(value[9]):
            out.add(path_of(nip), f"NIP {value} has a wrong check digit", CODE_SEMANTICS)


def _check_lines(fa: etree._Element, out: ProblemCollector) -> dict[str, list[etree._Element]]:
    """Each line's value against quantity × price − discount; the lines grouped by the P_13 they add up to."""
    groups: dict[str, list[etree._Element]] = {}
    for line in fa.findall(f"{{{FA3_NS}}}FaWiersz"):
        quantity, discount = _amount(line, "P_8B"), _amount(line, "P_10") or Decimal(0)
        for price_name, value_name, kind in (("P_9A", "P_11", "net"), ("P_9B", "P_11A", "gross")):
            price, value = _amount(line, price_name), _amount(line, value_name)
            if quantity is None or price is None or value is None:
                continue
            expected = _cents(quantity * price - discount)
            if abs(expected - value) > CENT:
                how = f"P_8B {quantity} × {price_name} {price}" + (f" − P_10 {discount}" if discount else "")
                out.add(path_of(_find(line, value_name)),
                        f"the line's {kind} value is {value}, but {how} = {expected}")
        rate, oss = _text(line, "P_12"), _find(line, "P_12_XII")
        group = OSS_GROUP if oss is not None else RATE_GROUP.get(rate or "")
        if group is not None:
            groups.setdefault(group, []).append(line)
    return groups


def _check_totals(fa: etree._Element, invoice_type: str, out: ProblemCollector) -> None:
    lines = fa.findall(f"{{{FA3_NS}}}FaWiersz")
    groups = _check_lines(fa, out)
    fa_path = path_of(fa)
    fields = _fields(fa)
    lines_complete = bool(lines) and all(_amount(line, "P_11") is not None and
                                         (_text(line, "P_12") or _find(line, "P_12_XII") is not None)
                                         for line in lines)
    if invoice_type == "VAT" and lines_complete:
        for name in sorted(set(groups) | {n for n in NET_FIELDS if n in fields and n != "P_13_11"}):
            from_lines = sum((_amount(line, "P_11") or Decimal(0) for line in groups.get(name, [])), Decimal(0))
            given = _field_amount(fields, name)
            if given is None and from_lines:
                out.add(f"{fa_path}/{name}", f"missing: the lines of its rate add up to {from_lines}")
            elif given is not None and given != from_lines:
                rates = sorted({_text(line, "P_12") or "OSS" for line in groups.get(name, [])})
                which = f"rate {', '.join(rates)}" if rates else "its rate: none"
                out.add(f"{fa_path}/{name}", f"is {given}, but the net values (P_11) of the lines of {which} "
                                             f"add up to {from_lines}")
    for net_name, vat_name in VAT_OF.items():
        net, vat = _field_amount(fields, net_name), _field_amount(fields, vat_name)
        if net is None or vat is None:
            continue
        rates = sorted({r for r in (_text(line, "P_12") for line in groups.get(net_name, [])) if r})
        candidates = rates or list(_GROUP_RATES[net_name])
        tolerance = max(CENT, HALF_CENT * len(groups.get(net_name, [])))
        expected = [_cents(net * Decimal(r) / 100) for r in candidates]
        if all(abs(e - vat) > tolerance for e in expected):
            said = " or ".join(f"{e} ({r}%)" for e, r in zip(expected, candidates, strict=True))
            out.add(f"{fa_path}/{vat_name}", f"is {vat}, but the VAT of {net_name} {net} is {said}")
    nets = [a for a in (_field_amount(fields, n) for n in NET_FIELDS) if a is not None]
    gross = _field_amount(fields, "P_15")
    if nets and gross is not None and invoice_type not in _SETTLEMENT:
        vats = [a for a in (_field_amount(fields, n) for n in VAT_FIELDS) if a is not None]
        total = sum(nets, Decimal(0)) + sum(vats, Decimal(0))
        if abs(total - gross) > CENT / 2:
            out.add(f"{fa_path}/P_15", f"is {gross}, but the net sums P_13_x and the VAT P_14_x add up to {total}")


def _summary(root: etree._Element, has_attachment: bool, warnings: tuple[Problem, ...] = ()) -> Fa3Summary:
    fa = _find(root, "Fa")
    fields = _fields(fa)
    nets = [a for a in (_field_amount(fields, n) for n in NET_FIELDS) if a is not None]
    vats = [a for a in (_field_amount(fields, n) for n in VAT_FIELDS) if a is not None]
    issued = _field_text(fields, "P_1")
    try:
        issue_date = date.fromisoformat(issued or "")
    except ValueError:
        issue_date = date.min  # a received invoice with a broken date: its warning says so
    return Fa3Summary(
        seller_nip=_text(root, "Podmiot1", "DaneIdentyfikacyjne", "NIP") or "",
        seller_name=_text(root, "Podmiot1", "DaneIdentyfikacyjne", "Nazwa") or "",
        buyer_nip=_text(root, "Podmiot2", "DaneIdentyfikacyjne", "NIP"),
        buyer_name=_text(root, "Podmiot2", "DaneIdentyfikacyjne", "Nazwa"),
        number=_field_text(fields, "P_2") or "", issue_date=issue_date,
        invoice_type=_field_text(fields, "RodzajFaktury") or "", currency=_field_text(fields, "KodWaluty") or "",
        net=sum(nets, Decimal(0)), vat=sum(vats, Decimal(0)), gross=_field_amount(fields, "P_15") or Decimal(0),
        lines=len(fa.findall(f"{{{FA3_NS}}}FaWiersz")) if fa is not None else 0, has_attachment=has_attachment,
        warnings=warnings)


def _content(root: etree._Element, out: ProblemCollector, sender_nip: str | None, today: date | None) -> None:
    _check_nips(root, out)
    fa = _find(root, "Fa")
    if fa is None:
        return  # the schema said so
    issued = _text(fa, "P_1")
    if today is not None and issued:
        try:
            if date.fromisoformat(issued) > today:
                out.add(f"{path_of(fa)}/P_1",
                        f"the issue date {issued} is later than today ({today.isoformat()}), the day KSeF would "
                        "take the invoice", CODE_SEMANTICS)
        except ValueError:
            pass  # the schema said so
    seller = _find(root, "Podmiot1", "DaneIdentyfikacyjne", "NIP")
    if sender_nip is not None and seller is not None and (seller.text or "").strip() != sender_nip:
        out.add(path_of(seller), f"the seller is NIP {(seller.text or '').strip()}, not the customer sending "
                                 f"(NIP {sender_nip})")
    _check_totals(fa, _text(fa, "RodzajFaktury") or "", out)


def _nip_digits(sender_nip: str | None) -> str | None:
    if sender_nip is None:
        return None
    value = sender_nip.strip().upper()
    return value[2:] if value.startswith("PL") else value


def validate_fa3(xml: bytes, sender_nip: str | None = None, today: date | None = None,
                 interactive: bool = True) -> Fa3Summary:
    """Check an FA(3) invoice before it is sent; raise InvalidInput listing every problem (each naming the
    element and what is wrong, with KSeF's code where KSeF would refuse it too), else its summary.

    `sender_nip`: the sending customer ("PL" + 10 digits, or the digits): the seller must be it. `today`: the day
    of sending (P_1 may not be later). `interactive`: sent in an interactive session (no attachment allowed)."""
    root, out = _parse(xml, interactive)
    out.problems.extend(_schema_problems(root))
    if not out.problems:  # the content rules read a document the schema holds to its shape
        _content(root, out, _nip_digits(sender_nip), today)
    out.raise_if_any()
    return _summary(root, _find(root, "Zalacznik") is not None)


def check_received_fa3(xml: bytes) -> Fa3Summary:
    """An invoice KSeF accepted and we downloaded: parsed as safely as any (a document that does not parse, or
    is not FA(3), is refused), then every problem (schema, NIPs, totals) is returned as a warning, never an
    error: KSeF took it, so it is legally issued."""
    root, out = _parse(xml, interactive=False)
    schema_problems = _schema_problems(root)
    out.problems.extend(schema_problems)
    if not schema_problems:
        _content(root, out, None, None)
    return _summary(root, _find(root, "Zalacznik") is not None, tuple(out.problems))
