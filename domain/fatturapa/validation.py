"""The checks the SDI applies to an invoice's content, run before we send it, collecting every problem.

After the schema (00200), the SDI checks the content ("controlli di merito"); each rule below cites the
code of the SDI's list of checks ("Elenco controlli", Agenzia delle Entrate / Sogei, "Elenco dei controlli
sul file FatturaPA", version 1.2 onwards, fatturapa.gov.it) it mirrors, with the SDI's tolerance. Errors are
exactly those controls (#17.1), plus one rule of who may send: the seller must be the customer sending (code
None; never applied to a received invoice).

The hub's own advice is never an error by default: it is a **warning** (`InvoiceSummary.warnings`, each a
Problem whose code is one of WARNINGS), returned with the accepted invoice. A customer may turn chosen warnings
into errors (`strict=`, the customer's `strict_warnings` setting, off by default). The warnings:
- `hub:total`    ImportoTotaleDocumento differs from taxable + VAT (± discounts, stamp duty): it legitimately
                 does with withholding tax, social-security funds and split payment; the SDI has no such check.
- `hub:due-date` a payment due date (DataScadenzaPagamento) before the invoice date; the SDI has no such check.
- `hub:rounding` ImponibileImporto off its lines by more than a cent but within the SDI's 1 euro (00422).
- `hub:namespace` a namespace quirk repaired to read the file (domain.xmlsafe.repair_namespace_quirks).
- `hub:vat`      a simplified invoice's DatiIVA gives neither Imposta nor Aliquota (the schema allows it).

A simplified invoice (FSM10) has its own shape and the SDI applies only some of these controls to it: they
are in `domain/fatturapa/simplified.py`, each with its source.

A received invoice (`received=True`, the passive cycle) is never refused: the SDI delivered it, so every
problem found, the SDI's codes included, is returned as a warning with the summary (#17.2).

Each problem names the XPath of the element at fault (`p:` is the FatturaPA namespace) with 1-based positions
where an element repeats.

Duplicate invoices (00404: same sender, type, number and year as one already sent) need the database:
`document_keys(summary)` gives the keys the caller looks up; duplicates inside one file (00409) are checked
here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from domain.errors import InvalidInput, Problem, ProblemCollector
from domain.fatturapa.codes import is_codice_fiscale, is_partita_iva, is_valid_id_codice
from domain.fatturapa.loading import SIMPLIFIED_ROOT, LoadedInvoice, parse_invoice_root
from domain.fatturapa.schema import validate_schema

ITALY = ZoneInfo("Europe/Rome")
CODICE_DESTINATARIO_PEC = "0000000"  # the recipient receives by PEC, or through their reserved area
CENT = Decimal("0.01")
ZERO, ONE, MINUS_ONE = Decimal(0), Decimal(1), Decimal(-1)
# Tolerances of the amount checks, in euro, as the SDI publishes them.
# 00421 Imposta = ImponibileImporto x AliquotaIVA / 100, rounded: a cent either way.
# 00423 PrezzoTotale = PrezzoUnitario (with ScontoMaggiorazione) x Quantita: a cent either way.
# 00422 ImponibileImporto = sum of PrezzoTotale + sum of ImportoContributoCassa (same AliquotaIVA/Natura)
#       + Arrotondamento, "con una tolleranza di +/- 1 euro": the tolerance the SDI added to 00422 in its
#       Elenco controlli v1.2 (Elenco_Controlli_V1.2.pdf, fatturapa.gov.it, May 2016; implementers recorded
#       the change, e.g. the .NET FatturaElettronicaPA changelog v0.2.1 "Errore 00422, aggiunta tolleranza di
#       1 Euro come da specifiche PA aggiornate"). That list is not among /work/shared/standards: cited from
#       its publication.
TOLERANCE_IMPOSTA = Decimal("0.01")
TOLERANCE_IMPONIBILE = Decimal("1.00")
TOLERANCE_PREZZO_TOTALE = Decimal("0.01")
# The hub's own advice (warnings, not the SDI's): document total and ImponibileImporto to the cent.
TOLERANCE_TOTALE_DOCUMENTO = Decimal("0.01")
TOLERANCE_IMPONIBILE_STRICT = Decimal("0.01")

WARN_TOTAL = "hub:total"
WARN_DUE_DATE = "hub:due-date"
WARN_ROUNDING = "hub:rounding"
WARN_NAMESPACE = "hub:namespace"
WARN_VAT = "hub:vat"  # a simplified invoice's DatiIVA without Imposta or Aliquota (domain.fatturapa.simplified)
WARNINGS = (WARN_TOTAL, WARN_DUE_DATE, WARN_ROUNDING, WARN_NAMESPACE, WARN_VAT)


@dataclass(frozen=True)
class DocumentSummary:
    tipo_documento: str  # TD01 invoice, TD04 credit note, …
    numero: str
    data: date
    divisa: str  # currency, e.g. EUR
    importo_totale: Decimal | None  # ImportoTotaleDocumento, when given
    imponibile: Decimal  # sum of DatiRiepilogo/ImponibileImporto (taxable amount)
    imposta: Decimal  # sum of DatiRiepilogo/Imposta (VAT)

    @property
    def year(self) -> int:
        return self.data.year


@dataclass(frozen=True)
class InvoiceSummary:
    transmitter_id: str  # "IT" + IdTrasmittente/IdCodice
    progressivo_invio: str
    format: str  # FPA12 | FPR12 | FSM10
    sender_vat: str  # CedentePrestatore IdFiscaleIVA, with country prefix
    sender_name: str
    recipient_vat: str | None  # CessionarioCommittente IdFiscaleIVA, with country prefix
    recipient_fiscal_code: str | None
    recipient_name: str
    codice_destinatario: str
    pec_destinatario: str | None
    documents: list[DocumentSummary] = field(default_factory=list)
    schema_version: str = "1.2.3"
    warnings: list[Problem] = field(default_factory=list)  # the hub's advice: accepted all the same


def document_keys(summary: InvoiceSummary) -> list[tuple[str, str, str, int]]:
    """(sender_vat, tipo_documento, numero, year) of each document: the SDI refuses a document whose key
    was already sent (00404); the caller checks these against what it sent before."""
    return [(summary.sender_vat, d.tipo_documento, d.numero, d.year) for d in summary.documents]


# ---------------------------------------------------------------------------------------------- helpers
#
# The rules run on every invoice sent, after the schema: each element's children are read once, into a dict
# by tag, and an element's XPath is worked out only when a problem names it. The schema, checked before,
# allows one of each child the rules look up by tag; the repeated ones (bodies, lines, summaries, discounts,
# payments) are only tested for presence in these dicts and are iterated where they are checked.


def xpath_of(el: etree._Element) -> str:
    """An XPath naming `el`, with the FatturaPA root as `p:FatturaElettronica` and positions where needed."""
    parts = []
    node = el
    while True:
        parent = node.getparent()
        name = etree.QName(node).localname
        if parent is None:
            parts.append(f"p:{name}")
            break
        before = sum(1 for _ in node.itersiblings(node.tag, preceding=True))
        if before or next(node.itersiblings(node.tag), None) is not None:
            name = f"{name}[{before + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def _children(el: etree._Element | None) -> dict[Any, etree._Element]:
    """The child elements of `el` by tag."""
    children = {}
    if el is not None:
        for child in el:
            children[child.tag] = child
    return children


def _fields(el: etree._Element | None) -> dict[Any, str]:
    """The text of each child of `el` by tag, stripped ("" when empty, and for a child that is a container)."""
    fields = {}
    if el is not None:
        for child in el:
            fields[child.tag] = (child.text or "").strip()
    return fields


def _child(el: etree._Element | None, tag: str) -> etree._Element | None:
    """The first child of `el` named `tag`: looked up only to name it in a problem."""
    return None if el is None else el.find(tag)


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


def _value(el: etree._Element | None) -> str | None:
    """The element's text, stripped; None when absent or blank."""
    if el is None:
        return None
    return (el.text or "").strip() or None


def _dec(value: str | None) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _round_cent(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _far_from_all(value: Decimal, candidates: list[Decimal], tolerance: Decimal) -> bool:
    """Whether `value` differs from every candidate by more than `tolerance`."""
    for candidate in candidates:
        if abs(value - candidate) <= tolerance:
            return False
    return True


def _vat(id_fiscale: dict[Any, str]) -> str | None:
    country, code = id_fiscale.get("IdPaese"), id_fiscale.get("IdCodice")
    return f"{country}{code}" if country and code else None


def _name(anagrafica: dict[Any, str]) -> str:
    name = anagrafica.get("Denominazione")
    if name:
        return name
    return " ".join(p for p in (anagrafica.get("Nome"), anagrafica.get("Cognome")) if p)


# ---------------------------------------------------------------------------------------------- rules


@dataclass(slots=True)
class _Header:
    """What the summary needs from the header, read while checking it."""

    transmitter_id: str
    progressivo_invio: str
    format: str
    sender_vat: str
    sender_name: str
    recipient_vat: str | None
    recipient_fiscal_code: str | None
    recipient_name: str
    codice_destinatario: str
    pec_destinatario: str | None


def _check_header(header_el: etree._Element | None, versione: str | None, out: ProblemCollector,
                  sender_vat: str | None) -> _Header:
    header = _children(header_el)
    trasmissione = header.get("DatiTrasmissione")
    dt = _children(trasmissione)
    transmitter = _fields(dt.get("IdTrasmittente"))
    t_country, t_code = transmitter.get("IdPaese"), transmitter.get("IdCodice")
    if not t_country or not t_code:
        out.add(xpath_of(dt.get("IdTrasmittente")), "IdTrasmittente (transmitter id) needs IdPaese and IdCodice",
                "00300")
    elif t_country == "IT" and not (is_partita_iva(t_code) or is_codice_fiscale(t_code)):
        out.add(xpath_of(dt["IdTrasmittente"].find("IdCodice")),
                f"{t_code} is neither a valid partita IVA nor a codice fiscale", "00300")
    progressivo = _value(dt.get("ProgressivoInvio"))
    if progressivo is None:
        out.add(xpath_of(trasmissione) + "/ProgressivoInvio", "ProgressivoInvio (sending progressive) is required",
                "00200")

    formato = _value(dt.get("FormatoTrasmissione"))
    if formato not in ("FPA12", "FPR12"):
        out.add(xpath_of(dt.get("FormatoTrasmissione")),
                f"FormatoTrasmissione {formato!r} is neither FPA12 nor FPR12", "00428")
    elif formato != versione:  # 00428: FormatoTrasmissione not consistent with the root's versione
        out.add(xpath_of(dt["FormatoTrasmissione"]),
                f"FormatoTrasmissione {formato} differs from the root's versione {versione}", "00428")
    codice = _value(dt.get("CodiceDestinatario")) or ""
    if formato == "FPA12" and len(codice) != 6:
        out.add(xpath_of(trasmissione) + "/CodiceDestinatario",
                f"an FPA12 invoice needs the 6-character office code (codice ufficio), not {codice!r}", "00427")
    elif formato == "FPR12" and len(codice) != 7:
        out.add(xpath_of(trasmissione) + "/CodiceDestinatario",
                f"an FPR12 invoice needs a 7-character recipient code, not {codice!r}", "00427")
    pec = _value(dt.get("PECDestinatario"))
    if pec and codice != CODICE_DESTINATARIO_PEC:
        out.add(xpath_of(dt["PECDestinatario"]),
                f"PECDestinatario is allowed only with CodiceDestinatario {CODICE_DESTINATARIO_PEC}", "00426")

    seller = _children(_children(header.get("CedentePrestatore")).get("DatiAnagrafici"))
    seller_id = seller.get("IdFiscaleIVA")
    sid = _fields(seller_id)
    s_country, s_code = sid.get("IdPaese") or "", sid.get("IdCodice") or ""
    if not is_valid_id_codice(s_country, s_code):
        out.add(xpath_of(_child(seller_id, "IdCodice")), f"{s_code} is not a valid partita IVA", "00301")
    seller_cf = seller.get("CodiceFiscale")
    if seller_cf is not None and not is_codice_fiscale(_text(seller_cf)):
        out.add(xpath_of(seller_cf), f"{_value(seller_cf)} is not a valid codice fiscale", "00302")
    if sender_vat is not None and f"{s_country}{s_code}".upper() != sender_vat.replace(" ", "").upper():
        out.add(xpath_of(seller_id), f"the seller (CedentePrestatore) is {s_country}{s_code}, not the sending "
                f"customer {sender_vat}")

    buyer_el = _children(header.get("CessionarioCommittente")).get("DatiAnagrafici")
    buyer = _children(buyer_el)
    buyer_id = buyer.get("IdFiscaleIVA")
    buyer_cf = buyer.get("CodiceFiscale")
    if buyer_id is None and buyer_cf is None:
        out.add(xpath_of(buyer_el), "the buyer needs IdFiscaleIVA or CodiceFiscale", "00417")
    bid = _fields(buyer_id)
    if buyer_id is not None:
        b_country, b_code = bid.get("IdPaese") or "", bid.get("IdCodice") or ""
        if not is_valid_id_codice(b_country, b_code):
            out.add(xpath_of(buyer_id.find("IdCodice")), f"{b_code} is not a valid partita IVA", "00305")
    buyer_fiscal_code = _value(buyer_cf)
    if buyer_cf is not None and not is_codice_fiscale(buyer_fiscal_code or ""):
        out.add(xpath_of(buyer_cf), f"{buyer_fiscal_code} is not a valid codice fiscale", "00306")

    return _Header(
        transmitter_id=f"{t_country}{t_code}" if t_country and t_code else "",
        progressivo_invio=progressivo or "",
        format=formato or versione or "",
        sender_vat=f"{s_country}{s_code}" if s_country and s_code else "",
        sender_name=_name(_fields(seller.get("Anagrafica"))),
        recipient_vat=_vat(bid),
        recipient_fiscal_code=buyer_fiscal_code,
        recipient_name=_name(_fields(buyer.get("Anagrafica"))),
        codice_destinatario=codice,
        pec_destinatario=pec,
    )


def _natura_rule(out: ProblemCollector, parent: etree._Element, aliquota: Decimal | None, natura: str | None,
                 missing: str, present: str) -> None:
    if aliquota is None or (aliquota >= ONE and not natura):  # the usual case: a full rate, no Natura
        return
    if aliquota == ZERO:
        if not natura:
            out.add(xpath_of(parent) + "/Natura",
                    "Natura (nature of the operation) is required when AliquotaIVA is 0", missing)
    elif natura:
        out.add(xpath_of(parent.find("Natura")), "Natura is allowed only when AliquotaIVA is 0", present)
    if ZERO < aliquota < ONE:
        rate = parent.find("AliquotaIVA")
        out.add(xpath_of(parent if rate is None else rate),
                f"AliquotaIVA {aliquota} looks like a fraction: it must be a percentage (e.g. 22.00)", "00424")


def _sconti(el: etree._Element) -> list[tuple[Decimal, Decimal | None, Decimal | None]]:
    """Each ScontoMaggiorazione (discount SC or surcharge MG) of `el`: (sign, Percentuale, Importo)."""
    found = []
    for sm in el.iterchildren("ScontoMaggiorazione"):
        values = _fields(sm)
        sign = MINUS_ONE if values.get("Tipo") == "SC" else ONE
        found.append((sign, _dec(values.get("Percentuale")), _dec(values.get("Importo"))))
    return found


def _expected_prezzo_totale(line: etree._Element, values: dict[Any, str]) -> list[Decimal]:
    """PrezzoTotale = (PrezzoUnitario with its discounts/surcharges) × Quantita. A fixed-amount discount is
    read per unit and, as some issuers do, on the line: both readings are accepted."""
    unit = _dec(values.get("PrezzoUnitario")) or ZERO
    qty = _dec(values.get("Quantita"))
    qty = ONE if qty is None else qty
    if "ScontoMaggiorazione" not in values:
        return [unit * qty]
    per_unit, on_line, fixed = unit, unit * qty, False
    for sign, pct, amount in _sconti(line):
        if pct is not None:
            per_unit += sign * per_unit * pct / 100
            on_line += sign * on_line * pct / 100
        elif amount is not None:
            per_unit += sign * amount
            on_line += sign * amount
            fixed = True
    candidates = [per_unit * qty]
    if fixed:
        candidates.append(on_line)
    return candidates


def _payment_due_dates(body: etree._Element) -> list[etree._Element]:
    """Each DatiPagamento/DettaglioPagamento/DataScadenzaPagamento of the body, in document order."""
    return [due for payment in body if payment.tag == "DatiPagamento"
            for detail in payment if detail.tag == "DettaglioPagamento"
            for due in detail.iterchildren("DataScadenzaPagamento")]


@dataclass(frozen=True)
class _DocumentHead:
    """A body's DatiGenerali/DatiGeneraliDocumento, read once (the ordinary and the simplified invoice)."""

    parts: dict[str, etree._Element]
    generali: dict[str, etree._Element]
    dgd: etree._Element | None
    doc: dict[Any, str]
    tipo: str
    numero: str
    data: date | None


def _document_head(body: etree._Element, out: ProblemCollector, today: date) -> _DocumentHead:
    """The body's general data, with the controls every file's document gets on them: 00425 (a Numero
    without a digit) and 00403 (an invoice date after the day the SDI receives it)."""
    parts = _children(body)
    generali = _children(parts.get("DatiGenerali"))
    dgd = generali.get("DatiGeneraliDocumento")
    doc = _fields(dgd)
    numero = doc.get("Numero") or ""
    data = _date(doc.get("Data"))
    if numero and not any(map(str.isdigit, numero)):
        out.add(xpath_of(_child(dgd, "Numero")), f"the invoice number {numero!r} contains no digit", "00425")
    if data is not None and data > today:
        out.add(xpath_of(_child(dgd, "Data")), f"the invoice date {data} is after today ({today})", "00403")
    return _DocumentHead(parts, generali, dgd, doc, doc.get("TipoDocumento") or "", numero, data)


def _check_body(body: etree._Element, out: ProblemCollector, today: date,
                warn: ProblemCollector) -> DocumentSummary | None:
    head = _document_head(body, out, today)
    parts, generali, dgd, doc = head.parts, head.generali, head.dgd, head.doc
    tipo, numero, data = head.tipo, head.numero, head.data
    if data is not None and "DatiFattureCollegate" in generali:
        for linked in parts["DatiGenerali"].iterchildren("DatiFattureCollegate"):
            linked_date = _date(_fields(linked).get("Data"))
            if linked_date is not None and linked_date > data:
                out.add(xpath_of(linked.find("Data")),
                        f"the linked invoice's date {linked_date} is after this invoice's date {data}", "00418")

    lines: list[tuple[etree._Element, dict[Any, str]]] = []
    summaries: list[tuple[etree._Element, dict[Any, str]]] = []
    beni_servizi = parts.get("DatiBeniServizi")
    if beni_servizi is not None:
        for child in beni_servizi:
            if child.tag == "DettaglioLinee":
                lines.append((child, _fields(child)))
            elif child.tag == "DatiRiepilogo":
                summaries.append((child, _fields(child)))
    if "DatiRitenuta" not in doc and any(values.get("Ritenuta") == "SI" for _, values in lines):
        out.add(xpath_of(dgd) + "/DatiRitenuta",
                "DatiRitenuta (withholding) is required when a line has Ritenuta SI", "00411")

    # Taxable amount expected per (rate, nature): the lines plus any pension-fund contribution (cassa).
    expected: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
    for line, values in lines:
        aliquota = _dec(values.get("AliquotaIVA"))
        natura = values.get("Natura") or None
        _natura_rule(out, line, aliquota, natura, "00400", "00401")
        total = _dec(values.get("PrezzoTotale"))
        if total is not None:
            candidates = _expected_prezzo_totale(line, values)
            if _far_from_all(total, candidates, TOLERANCE_PREZZO_TOTALE):
                out.add(xpath_of(line.find("PrezzoTotale")),
                        f"PrezzoTotale {total} should be {_round_cent(candidates[0])} "
                        "(PrezzoUnitario with discounts × Quantita)", "00423")
            if aliquota is not None:
                expected[(aliquota, natura if aliquota == ZERO else None)] += total
    if dgd is not None and "DatiCassaPrevidenziale" in doc:
        for cassa in dgd.iterchildren("DatiCassaPrevidenziale"):
            values = _fields(cassa)
            aliquota = _dec(values.get("AliquotaIVA"))
            natura = values.get("Natura") or None
            _natura_rule(out, cassa, aliquota, natura, "00413", "00414")
            contributo = _dec(values.get("ImportoContributoCassa"))
            if aliquota is not None and contributo is not None:
                expected[(aliquota, natura if aliquota == ZERO else None)] += contributo

    declared: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
    first_of_group: dict[tuple[Decimal, str | None], etree._Element] = {}
    imponibile_total, imposta_total = ZERO, ZERO
    for summary, values in summaries:
        aliquota = _dec(values.get("AliquotaIVA")) or ZERO
        natura = values.get("Natura") or None
        _natura_rule(out, summary, aliquota, natura, "00429", "00430")
        if natura and natura.startswith("N6") and values.get("EsigibilitaIVA") == "S":
            out.add(xpath_of(summary.find("EsigibilitaIVA")),
                    "reverse charge (Natura N6) cannot go with split payment (EsigibilitaIVA S)", "00420")
        imponibile = _dec(values.get("ImponibileImporto")) or ZERO
        imposta = _dec(values.get("Imposta")) or ZERO
        arrotondamento = _dec(values.get("Arrotondamento")) or ZERO
        imponibile_total += imponibile
        imposta_total += imposta
        should = _round_cent(imponibile * aliquota / 100)
        if abs(imposta - should) > TOLERANCE_IMPOSTA:
            out.add(xpath_of(summary.find("Imposta")),
                    f"Imposta {imposta} should be {should} (ImponibileImporto {imponibile} × {aliquota}%)", "00421")
        key = (aliquota, natura if aliquota == ZERO else None)
        # Arrotondamento is the summary's rounding: the lines + rounding make the taxable amount.
        declared[key] += imponibile - arrotondamento
        first_of_group.setdefault(key, summary)
    for key, amount in declared.items():
        off = abs(amount - expected.get(key, ZERO))
        if off > TOLERANCE_IMPONIBILE_STRICT:
            rate, natura = key
            what = f"rate {rate}%" + (f" nature {natura}" if natura else "")
            message = (f"ImponibileImporto for {what} should be {_round_cent(expected.get(key, ZERO))} "
                       f"(the sum of the lines' PrezzoTotale), not {_round_cent(amount)}")
            where = xpath_of(first_of_group[key].find("ImponibileImporto"))
            if off > TOLERANCE_IMPONIBILE:  # 00422, the SDI's +/- 1 euro (see TOLERANCE_IMPONIBILE)
                out.add(where, message, "00422")
            else:
                warn.add(where, message + f": {off} off, within the SDI's 1 euro (00422)", WARN_ROUNDING)
    for key in expected:
        if key not in declared:
            rate, natura = key
            out.add(xpath_of(body) + "/DatiBeniServizi/DatiRiepilogo",
                    f"no DatiRiepilogo (VAT summary) for rate {rate}%" + (f" nature {natura}" if natura else ""),
                    "00419")

    importo_totale = _dec(doc.get("ImportoTotaleDocumento"))
    if importo_totale is not None and summaries:
        base = imponibile_total + imposta_total + (_dec(doc.get("Arrotondamento")) or ZERO)
        if "ScontoMaggiorazione" in doc:
            for sign, pct, sm_amount in _sconti(dgd):
                base += sign * (sm_amount if sm_amount is not None else base * (pct or ZERO) / 100)
        bollo = _dec(_fields(_child(dgd, "DatiBollo")).get("ImportoBollo")) or ZERO
        if _far_from_all(importo_totale, [base, base + bollo], TOLERANCE_TOTALE_DOCUMENTO):
            warn.add(xpath_of(_child(dgd, "ImportoTotaleDocumento")),
                     f"ImportoTotaleDocumento {importo_totale} does not match the VAT summaries "
                     f"(taxable + VAT = {_round_cent(base)}); right with withholding tax, social-security "
                     "funds or split payment", WARN_TOTAL)

    if data is not None and "DatiPagamento" in parts:
        for due in _payment_due_dates(body):
            due_date = _date(_text(due))
            if due_date is not None and due_date < data:
                warn.add(xpath_of(due), f"payment due {due_date} is before the invoice date {data}",
                         WARN_DUE_DATE)

    if data is None:
        return None
    return DocumentSummary(
        tipo_documento=tipo,
        numero=numero,
        data=data,
        divisa=doc.get("Divisa") or "",
        importo_totale=importo_totale,
        imponibile=imponibile_total,
        imposta=imposta_total,
    )


def italian_today(now: datetime | None = None) -> date:
    """Today in Italy, the SDI's day (00403: an invoice dated later than its reception): from 23:00 UTC (22:00 in
    summer) the machine's date is still yesterday's there."""
    return (now or datetime.now(UTC)).astimezone(ITALY).date()


def validate_invoice(xml: bytes, sender_vat: str | None = None, today: date | None = None,
                     strict: frozenset[str] = frozenset()) -> InvoiceSummary:
    """Check an invoice as the SDI would (schema, then content) and summarise it.

    `sender_vat` is the sending customer's VAT number ("IT" + 11 digits): the seller must be them.
    `today` is the day of sending (the invoice may not be dated later; by default today in Italy). Raises
    InvalidInput listing every problem with its XPath and SDI code. The hub's advice comes back in `warnings`;
    those whose code is in `strict` (see WARNINGS) are errors instead."""
    repairs: list[str] = []
    root = parse_invoice_root(xml, repairs=repairs)
    return _check_content(root, validate_schema(root), sender_vat, today, strict, tuple(repairs))


def check_loaded_invoice(loaded: LoadedInvoice, sender_vat: str | None = None,
                         today: date | None = None, strict: frozenset[str] = frozenset(),
                         received: bool = False) -> InvoiceSummary:
    """`validate_invoice` for a file `load_invoice` has already parsed and schema-checked: only the content
    checks remain (parsing and the schema are most of the cost). `received`: a file the SDI delivered, whose
    problems are all warnings."""
    return _check_content(loaded.root, loaded.schema_version, sender_vat, today, strict, loaded.repairs,
                          received)


def check_strict(names: str | None) -> frozenset[str]:
    """A customer's chosen warnings, comma-separated WARNINGS codes, checked ("" or None: none)."""
    chosen = frozenset(n.strip() for n in (names or "").split(",") if n.strip())
    unknown = sorted(chosen - set(WARNINGS))
    if unknown:
        raise InvalidInput.one("strict_warnings", f"unknown warning(s) {', '.join(unknown)}; "
                                                  f"choose among {', '.join(WARNINGS)}")
    return chosen


def _check_content(root: etree._Element, version: str, sender_vat: str | None,
                   today: date | None, strict: frozenset[str] = frozenset(), repairs: tuple[str, ...] = (),
                   received: bool = False) -> InvoiceSummary:
    today = today or italian_today()
    out = ProblemCollector()
    warn = ProblemCollector()
    simplified = root.tag == SIMPLIFIED_ROOT  # FSM10: its own shape and controls (domain.fatturapa.simplified)
    for repair in repairs:
        warn.add("/p:" + etree.QName(root).localname, f"namespace declaration repaired to read the file: {repair}",
                 WARN_NAMESPACE)
    parts = list(root)
    header_el = next((part for part in parts if part.tag == "FatturaElettronicaHeader"), None)
    if simplified:
        from domain.fatturapa import simplified as fsm

        header, regime = fsm.check_header(header_el, root.get("versione"), out, sender_vat)
        same = fsm.same_parties(header_el)
    else:
        header = _check_header(header_el, root.get("versione"), out, sender_vat)
    documents = []
    seen: dict[tuple[str, str, int], etree._Element] = {}
    for body in parts:
        if body.tag != "FatturaElettronicaBody":
            continue
        doc = fsm.check_body(body, out, today, warn, regime, same) if simplified else _check_body(body, out, today,
                                                                                                   warn)
        if doc is None:
            continue
        key = (doc.tipo_documento, doc.numero, doc.year)
        if key in seen:
            out.add(xpath_of(body) + "/DatiGenerali/DatiGeneraliDocumento/Numero",
                    f"document {doc.numero} of {doc.year} appears twice in this file (also at "
                    f"{xpath_of(seen[key])})", "00409")
        seen.setdefault(key, body)
        documents.append(doc)
    warnings = []
    for problem in warn.problems:
        if problem.code in strict and not received:  # the customer holds this advice as an error
            out.problems.append(problem)
        else:
            warnings.append(problem)
    if received:  # delivered by the SDI: kept, its problems shown
        warnings = out.problems + warnings
    else:
        out.raise_if_any()
    return InvoiceSummary(
        transmitter_id=header.transmitter_id,
        progressivo_invio=header.progressivo_invio,
        format=header.format,
        sender_vat=header.sender_vat,
        sender_name=header.sender_name,
        recipient_vat=header.recipient_vat,
        recipient_fiscal_code=header.recipient_fiscal_code,
        recipient_name=header.recipient_name,
        codice_destinatario=header.codice_destinatario,
        pec_destinatario=header.pec_destinatario,
        documents=documents,
        schema_version=version,
        warnings=warnings,
    )


__all__ = [
    "WARNINGS",
    "DocumentSummary",
    "InvalidInput",
    "InvoiceSummary",
    "Problem",
    "check_loaded_invoice",
    "check_strict",
    "document_keys",
    "validate_invoice",
    "xpath_of",
]
