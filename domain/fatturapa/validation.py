"""The checks the SDI applies to an invoice's content, run before we send it, collecting every problem.

After the schema (00200), the SDI checks the content ("controlli di merito"); each rule below cites the
code of the SDI's list of checks ("Elenco controlli") it mirrors. A few rules are the hub's own (code None):
that the sender is the customer sending, that ImportoTotaleDocumento adds up, and that payment is not due
before the invoice date. Each problem names the XPath of the element at fault (`p:` is the FatturaPA
namespace) with 1-based positions where an element repeats.

Duplicate invoices (00404: same sender, type, number and year as one already sent) need the database:
`document_keys(summary)` gives the keys the caller looks up; duplicates inside one file (00409) are checked
here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from lxml import etree

from domain.errors import InvalidInput, Problem, ProblemCollector
from domain.fatturapa.codes import is_codice_fiscale, is_partita_iva, is_valid_id_codice
from domain.fatturapa.loading import parse_invoice_root
from domain.fatturapa.schema import validate_schema

CODICE_DESTINATARIO_PEC = "0000000"  # the recipient receives by PEC, or through their reserved area
CENT = Decimal("0.01")
# Tolerances of the amount checks, in euro. The SDI allows a rounding cent on Imposta (00421) and on each
# line's PrezzoTotale (00423); we hold ImponibileImporto (00422) and the hub's document total to the same cent.
TOLERANCE_IMPOSTA = Decimal("0.01")
TOLERANCE_IMPONIBILE = Decimal("0.01")
TOLERANCE_PREZZO_TOTALE = Decimal("0.01")
TOLERANCE_TOTALE_DOCUMENTO = Decimal("0.01")


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
    format: str  # FPA12 | FPR12
    sender_vat: str  # CedentePrestatore IdFiscaleIVA, with country prefix
    sender_name: str
    recipient_vat: str | None  # CessionarioCommittente IdFiscaleIVA, with country prefix
    recipient_fiscal_code: str | None
    recipient_name: str
    codice_destinatario: str
    pec_destinatario: str | None
    documents: list[DocumentSummary] = field(default_factory=list)
    schema_version: str = "1.2.3"


def document_keys(summary: InvoiceSummary) -> list[tuple[str, str, str, int]]:
    """(sender_vat, tipo_documento, numero, year) of each document: the SDI refuses a document whose key
    was already sent (00404); the caller checks these against what it sent before."""
    return [(summary.sender_vat, d.tipo_documento, d.numero, d.year) for d in summary.documents]


# ---------------------------------------------------------------------------------------------- helpers


def xpath_of(el: etree._Element) -> str:
    """An XPath naming `el`, with the FatturaPA root as `p:FatturaElettronica` and positions where needed."""
    parts = []
    node: etree._Element | None = el
    while node is not None:
        parent = node.getparent()
        name = etree.QName(node).localname
        if parent is None:
            parts.append(f"p:{name}")
            break
        same = [s for s in parent if s.tag == node.tag]
        parts.append(name if len(same) == 1 else f"{name}[{same.index(node) + 1}]")
        node = parent
    return "/" + "/".join(reversed(parts))


def _text(el: etree._Element | None, path: str | None = None) -> str | None:
    if el is None:
        return None
    target = el.find(path) if path else el
    if target is None or target.text is None:
        return None
    value = target.text.strip()
    return value or None


def _amount(el: etree._Element | None, path: str) -> Decimal | None:
    value = _text(el, path)
    if value is None:
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


def _vat(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    country, code = _text(el, "IdPaese"), _text(el, "IdCodice")
    return f"{country}{code}" if country and code else None


def _name(anagrafica: etree._Element | None) -> str:
    if anagrafica is None:
        return ""
    name = _text(anagrafica, "Denominazione")
    if name:
        return name
    return " ".join(p for p in (_text(anagrafica, "Nome"), _text(anagrafica, "Cognome")) if p)


# ---------------------------------------------------------------------------------------------- rules


def _check_header(root: etree._Element, out: ProblemCollector, sender_vat: str | None) -> None:
    header = root.find("FatturaElettronicaHeader")
    dt = header.find("DatiTrasmissione")
    transmitter = dt.find("IdTrasmittente")
    t_country, t_code = _text(transmitter, "IdPaese"), _text(transmitter, "IdCodice")
    if not t_country or not t_code:
        out.add(xpath_of(transmitter), "IdTrasmittente (transmitter id) needs IdPaese and IdCodice", "00300")
    elif t_country == "IT" and not (is_partita_iva(t_code) or is_codice_fiscale(t_code)):
        out.add(xpath_of(transmitter.find("IdCodice")),
                f"{t_code} is neither a valid partita IVA nor a codice fiscale", "00300")
    progressive = dt.find("ProgressivoInvio")
    if _text(progressive) is None:
        out.add(xpath_of(dt) + "/ProgressivoInvio", "ProgressivoInvio (sending progressive) is required", "00200")

    formato = _text(dt, "FormatoTrasmissione")
    versione = root.get("versione")
    if formato not in ("FPA12", "FPR12"):
        out.add(xpath_of(dt.find("FormatoTrasmissione")), f"FormatoTrasmissione {formato!r} is neither FPA12 nor FPR12",
                "00428")
    elif formato != versione:
        out.add(xpath_of(dt.find("FormatoTrasmissione")),
                f"FormatoTrasmissione {formato} differs from the root's versione {versione}")
    codice = _text(dt, "CodiceDestinatario") or ""
    codice_path = xpath_of(dt) + "/CodiceDestinatario"
    if formato == "FPA12" and len(codice) != 6:
        out.add(codice_path, f"an FPA12 invoice needs the 6-character office code (codice ufficio), not {codice!r}",
                "00427")
    elif formato == "FPR12" and len(codice) != 7:
        out.add(codice_path, f"an FPR12 invoice needs a 7-character recipient code, not {codice!r}", "00427")
    pec = _text(dt, "PECDestinatario")
    if pec and codice != CODICE_DESTINATARIO_PEC:
        out.add(xpath_of(dt.find("PECDestinatario")),
                f"PECDestinatario is allowed only with CodiceDestinatario {CODICE_DESTINATARIO_PEC}", "00426")

    seller = header.find("CedentePrestatore/DatiAnagrafici")
    seller_id = seller.find("IdFiscaleIVA")
    s_country, s_code = _text(seller_id, "IdPaese") or "", _text(seller_id, "IdCodice") or ""
    if not is_valid_id_codice(s_country, s_code):
        out.add(xpath_of(seller_id.find("IdCodice")), f"{s_code} is not a valid partita IVA", "00301")
    seller_cf = seller.find("CodiceFiscale")
    if seller_cf is not None and not is_codice_fiscale(_text(seller_cf) or ""):
        out.add(xpath_of(seller_cf), f"{_text(seller_cf)} is not a valid codice fiscale", "00302")
    if sender_vat is not None and f"{s_country}{s_code}".upper() != sender_vat.replace(" ", "").upper():
        out.add(xpath_of(seller_id), f"the seller (CedentePrestatore) is {s_country}{s_code}, not the sending "
                f"customer {sender_vat}")

    buyer = header.find("CessionarioCommittente/DatiAnagrafici")
    buyer_id = buyer.find("IdFiscaleIVA")
    buyer_cf = buyer.find("CodiceFiscale")
    if buyer_id is None and buyer_cf is None:
        out.add(xpath_of(buyer), "the buyer needs IdFiscaleIVA or CodiceFiscale", "00417")
    if buyer_id is not None:
        b_country, b_code = _text(buyer_id, "IdPaese") or "", _text(buyer_id, "IdCodice") or ""
        if not is_valid_id_codice(b_country, b_code):
            out.add(xpath_of(buyer_id.find("IdCodice")), f"{b_code} is not a valid partita IVA", "00305")
    if buyer_cf is not None and not is_codice_fiscale(_text(buyer_cf) or ""):
        out.add(xpath_of(buyer_cf), f"{_text(buyer_cf)} is not a valid codice fiscale", "00306")


def _natura_rule(out: ProblemCollector, parent: etree._Element, aliquota: Decimal | None, natura: str | None,
                 missing: str, present: str) -> None:
    if aliquota is None:
        return
    if aliquota == 0 and not natura:
        out.add(xpath_of(parent) + "/Natura", "Natura (nature of the operation) is required when AliquotaIVA is 0",
                missing)
    elif aliquota != 0 and natura:
        out.add(xpath_of(parent.find("Natura")), "Natura is allowed only when AliquotaIVA is 0", present)
    if 0 < aliquota < 1:
        out.add(xpath_of(parent.find("AliquotaIVA")) if parent.find("AliquotaIVA") is not None else xpath_of(parent),
                f"AliquotaIVA {aliquota} looks like a fraction: it must be a percentage (e.g. 22.00)", "00424")


def _expected_prezzo_totale(line: etree._Element) -> list[Decimal]:
    """PrezzoTotale = (PrezzoUnitario with its discounts/surcharges) × Quantita. A fixed-amount discount is
    read per unit and, as some issuers do, on the line: both readings are accepted."""
    unit = _amount(line, "PrezzoUnitario") or Decimal(0)
    qty = _amount(line, "Quantita")
    qty = Decimal(1) if qty is None else qty
    per_unit, on_line, fixed = unit, unit * qty, False
    for sm in line.iterfind("ScontoMaggiorazione"):
        sign = Decimal(-1) if _text(sm, "Tipo") == "SC" else Decimal(1)
        pct, amount = _amount(sm, "Percentuale"), _amount(sm, "Importo")
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


def _check_body(body: etree._Element, out: ProblemCollector, today: date) -> DocumentSummary | None:
    dgd = body.find("DatiGenerali/DatiGeneraliDocumento")
    tipo = _text(dgd, "TipoDocumento") or ""
    numero = _text(dgd, "Numero") or ""
    data = _date(_text(dgd, "Data"))
    if numero and not any(c.isdigit() for c in numero):
        out.add(xpath_of(dgd.find("Numero")), f"the invoice number {numero!r} contains no digit", "00425")
    if data is not None and data > today:
        out.add(xpath_of(dgd.find("Data")), f"the invoice date {data} is after today ({today})", "00403")
    for linked in body.iterfind("DatiGenerali/DatiFattureCollegate"):
        linked_date = _date(_text(linked, "Data"))
        if data is not None and linked_date is not None and linked_date > data:
            out.add(xpath_of(linked.find("Data")),
                    f"the linked invoice's date {linked_date} is after this invoice's date {data}", "00418")

    lines = body.findall("DatiBeniServizi/DettaglioLinee")
    ritenuta_lines = [line for line in lines if _text(line, "Ritenuta") == "SI"]
    if ritenuta_lines and dgd.find("DatiRitenuta") is None:
        out.add(xpath_of(dgd) + "/DatiRitenuta",
                "DatiRitenuta (withholding) is required when a line has Ritenuta SI", "00411")

    # Taxable amount expected per (rate, nature): the lines plus any pension-fund contribution (cassa).
    expected: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
    for line in lines:
        aliquota = _amount(line, "AliquotaIVA")
        natura = _text(line, "Natura")
        _natura_rule(out, line, aliquota, natura, "00400", "00401")
        total = _amount(line, "PrezzoTotale")
        if total is not None:
            candidates = _expected_prezzo_totale(line)
            if all(abs(total - c) > TOLERANCE_PREZZO_TOTALE for c in candidates):
                out.add(xpath_of(line.find("PrezzoTotale")),
                        f"PrezzoTotale {total} should be {_round_cent(candidates[0])} "
                        "(PrezzoUnitario with discounts × Quantita)", "00423")
            if aliquota is not None:
                expected[(aliquota, natura if aliquota == 0 else None)] += total
    for cassa in dgd.iterfind("DatiCassaPrevidenziale"):
        aliquota = _amount(cassa, "AliquotaIVA")
        natura = _text(cassa, "Natura")
        _natura_rule(out, cassa, aliquota, natura, "00413", "00414")
        contributo = _amount(cassa, "ImportoContributoCassa")
        if aliquota is not None and contributo is not None:
            expected[(aliquota, natura if aliquota == 0 else None)] += contributo

    summaries = body.findall("DatiBeniServizi/DatiRiepilogo")
    declared: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
    first_of_group: dict[tuple[Decimal, str | None], etree._Element] = {}
    imponibile_total, imposta_total = Decimal(0), Decimal(0)
    for summary in summaries:
        aliquota = _amount(summary, "AliquotaIVA") or Decimal(0)
        natura = _text(summary, "Natura")
        _natura_rule(out, summary, aliquota, natura, "00429", "00430")
        if natura and natura.startswith("N6") and _text(summary, "EsigibilitaIVA") == "S":
            out.add(xpath_of(summary.find("EsigibilitaIVA")),
                    "reverse charge (Natura N6) cannot go with split payment (EsigibilitaIVA S)", "00420")
        imponibile = _amount(summary, "ImponibileImporto") or Decimal(0)
        imposta = _amount(summary, "Imposta") or Decimal(0)
        arrotondamento = _amount(summary, "Arrotondamento") or Decimal(0)
        imponibile_total += imponibile
        imposta_total += imposta
        should = _round_cent(imponibile * aliquota / 100)
        if abs(imposta - should) > TOLERANCE_IMPOSTA:
            out.add(xpath_of(summary.find("Imposta")),
                    f"Imposta {imposta} should be {should} (ImponibileImporto {imponibile} × {aliquota}%)", "00421")
        key = (aliquota, natura if aliquota == 0 else None)
        # Arrotondamento is the summary's rounding: the lines + rounding make the taxable amount.
        declared[key] += imponibile - arrotondamento
        first_of_group.setdefault(key, summary)
    for key, amount in declared.items():
        if abs(amount - expected.get(key, Decimal(0))) > TOLERANCE_IMPONIBILE:
            rate, natura = key
            what = f"rate {rate}%" + (f" nature {natura}" if natura else "")
            out.add(xpath_of(first_of_group[key].find("ImponibileImporto")),
                    f"ImponibileImporto for {what} should be {_round_cent(expected.get(key, Decimal(0)))} "
                    f"(the sum of the lines' PrezzoTotale), not {_round_cent(amount)}", "00422")
    for key in expected:
        if key not in declared:
            rate, natura = key
            out.add(xpath_of(body) + "/DatiBeniServizi/DatiRiepilogo",
                    f"no DatiRiepilogo (VAT summary) for rate {rate}%" + (f" nature {natura}" if natura else ""),
                    "00419")

    importo_totale = _amount(dgd, "ImportoTotaleDocumento")
    if importo_totale is not None and summaries:
        base = imponibile_total + imposta_total + (_amount(dgd, "Arrotondamento") or Decimal(0))
        for sm in dgd.iterfind("ScontoMaggiorazione"):
            sign = Decimal(-1) if _text(sm, "Tipo") == "SC" else Decimal(1)
            pct, sm_amount = _amount(sm, "Percentuale"), _amount(sm, "Importo")
            base += sign * (sm_amount if sm_amount is not None else base * (pct or Decimal(0)) / 100)
        bollo = _amount(dgd, "DatiBollo/ImportoBollo") or Decimal(0)
        candidates = [base, base + bollo]
        if all(abs(importo_totale - c) > TOLERANCE_TOTALE_DOCUMENTO for c in candidates):
            out.add(xpath_of(dgd.find("ImportoTotaleDocumento")),
                    f"ImportoTotaleDocumento {importo_totale} does not match the VAT summaries "
                    f"(taxable + VAT = {_round_cent(base)})")

    if data is not None:
        for due in body.iterfind("DatiPagamento/DettaglioPagamento/DataScadenzaPagamento"):
            due_date = _date(_text(due))
            if due_date is not None and due_date < data:
                out.add(xpath_of(due), f"payment due {due_date} is before the invoice date {data}")

    if data is None:
        return None
    return DocumentSummary(
        tipo_documento=tipo,
        numero=numero,
        data=data,
        divisa=_text(dgd, "Divisa") or "",
        importo_totale=importo_totale,
        imponibile=imponibile_total,
        imposta=imposta_total,
    )


def _summary(root: etree._Element, documents: list[DocumentSummary], version: str) -> InvoiceSummary:
    header = root.find("FatturaElettronicaHeader")
    dt = header.find("DatiTrasmissione")
    seller = header.find("CedentePrestatore/DatiAnagrafici")
    buyer = header.find("CessionarioCommittente/DatiAnagrafici")
    return InvoiceSummary(
        transmitter_id=_vat(dt.find("IdTrasmittente")) or "",
        progressivo_invio=_text(dt, "ProgressivoInvio") or "",
        format=_text(dt, "FormatoTrasmissione") or root.get("versione", ""),
        sender_vat=_vat(seller.find("IdFiscaleIVA")) or "",
        sender_name=_name(seller.find("Anagrafica")),
        recipient_vat=_vat(buyer.find("IdFiscaleIVA")),
        recipient_fiscal_code=_text(buyer, "CodiceFiscale"),
        recipient_name=_name(buyer.find("Anagrafica")),
        codice_destinatario=_text(dt, "CodiceDestinatario") or "",
        pec_destinatario=_text(dt, "PECDestinatario"),
        documents=documents,
        schema_version=version,
    )


def validate_invoice(xml: bytes, sender_vat: str | None = None, today: date | None = None) -> InvoiceSummary:
    """Check an invoice as the SDI would (schema, then content) and summarise it.

    `sender_vat` is the sending customer's VAT number ("IT" + 11 digits): the seller must be them.
    `today` is the day of sending (the invoice may not be dated later). Raises InvalidInput listing every
    problem with its XPath and SDI code."""
    today = today or date.today()
    root = parse_invoice_root(xml)
    version = validate_schema(root)
    out = ProblemCollector()
    _check_header(root, out, sender_vat)
    documents = []
    seen: dict[tuple[str, str, int], str] = {}
    for body in root.iterfind("FatturaElettronicaBody"):
        doc = _check_body(body, out, today)
        if doc is None:
            continue
        key = (doc.tipo_documento, doc.numero, doc.year)
        if key in seen:
            out.add(xpath_of(body) + "/DatiGenerali/DatiGeneraliDocumento/Numero",
                    f"document {doc.numero} of {doc.year} appears twice in this file (also at {seen[key]})", "00409")
        seen.setdefault(key, xpath_of(body))
        documents.append(doc)
    out.raise_if_any()
    return _summary(root, documents, version)


__all__ = [
    "DocumentSummary",
    "InvalidInput",
    "InvoiceSummary",
    "Problem",
    "document_keys",
    "validate_invoice",
    "xpath_of",
]
