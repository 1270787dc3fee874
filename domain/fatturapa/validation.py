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
from typing import Any

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


def _kids(el: etree._Element | None) -> dict[Any, etree._Element]:
    """The children of `el` by tag, the first of each (as `el.find(tag)` gives): read once, then looked up
    for every field the rules need, instead of one ElementPath search per field."""
    kids: dict[Any, etree._Element] = {}
    if el is not None:
        for child in el:
            kids.setdefault(child.tag, child)
    return kids


def _t(el: etree._Element | None) -> str | None:
    """The element's text, stripped; None when absent or blank."""
    if el is None:
        return None
    value = el.text
    if value is None:
        return None
    value = value.strip()
    return value or None


def _dec(value: str | None) -> Decimal | None:
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
    kids = _kids(el)
    country, code = _t(kids.get("IdPaese")), _t(kids.get("IdCodice"))
    return f"{country}{code}" if country and code else None


def _name(anagrafica: etree._Element | None) -> str:
    if anagrafica is None:
        return ""
    kids = _kids(anagrafica)
    name = _t(kids.get("Denominazione"))
    if name:
        return name
    return " ".join(p for p in (_t(kids.get("Nome")), _t(kids.get("Cognome"))) if p)


# ---------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
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


def _check_header(root: etree._Element, out: ProblemCollector, sender_vat: str | None) -> _Header:
    header = _kids(root).get("FatturaElettronicaHeader")
    hk = _kids(header)
    dt = hk.get("DatiTrasmissione")
    dtk = _kids(dt)
    transmitter = dtk.get("IdTrasmittente")
    tk = _kids(transmitter)
    t_country, t_code = _t(tk.get("IdPaese")), _t(tk.get("IdCodice"))
    if not t_country or not t_code:
        out.add(xpath_of(transmitter), "IdTrasmittente (transmitter id) needs IdPaese and IdCodice", "00300")
    elif t_country == "IT" and not (is_partita_iva(t_code) or is_codice_fiscale(t_code)):
        out.add(xpath_of(tk["IdCodice"]), f"{t_code} is neither a valid partita IVA nor a codice fiscale", "00300")
    progressivo = _t(dtk.get("ProgressivoInvio"))
    if progressivo is None:
        out.add(xpath_of(dt) + "/ProgressivoInvio", "ProgressivoInvio (sending progressive) is required", "00200")

    formato = _t(dtk.get("FormatoTrasmissione"))
    versione = root.get("versione")
    if formato not in ("FPA12", "FPR12"):
        out.add(xpath_of(dtk.get("FormatoTrasmissione")),
                f"FormatoTrasmissione {formato!r} is neither FPA12 nor FPR12", "00428")
    elif formato != versione:
        out.add(xpath_of(dtk["FormatoTrasmissione"]),
                f"FormatoTrasmissione {formato} differs from the root's versione {versione}")
    codice = _t(dtk.get("CodiceDestinatario")) or ""
    if formato == "FPA12" and len(codice) != 6:
        out.add(xpath_of(dt) + "/CodiceDestinatario",
                f"an FPA12 invoice needs the 6-character office code (codice ufficio), not {codice!r}", "00427")
    elif formato == "FPR12" and len(codice) != 7:
        out.add(xpath_of(dt) + "/CodiceDestinatario",
                f"an FPR12 invoice needs a 7-character recipient code, not {codice!r}", "00427")
    pec = _t(dtk.get("PECDestinatario"))
    if pec and codice != CODICE_DESTINATARIO_PEC:
        out.add(xpath_of(dtk["PECDestinatario"]),
                f"PECDestinatario is allowed only with CodiceDestinatario {CODICE_DESTINATARIO_PEC}", "00426")

    seller = _kids(hk.get("CedentePrestatore")).get("DatiAnagrafici")
    sk = _kids(seller)
    seller_id = sk.get("IdFiscaleIVA")
    sik = _kids(seller_id)
    s_country, s_code = _t(sik.get("IdPaese")) or "", _t(sik.get("IdCodice")) or ""
    if not is_valid_id_codice(s_country, s_code):
        out.add(xpath_of(sik.get("IdCodice")), f"{s_code} is not a valid partita IVA", "00301")
    seller_cf = sk.get("CodiceFiscale")
    if seller_cf is not None and not is_codice_fiscale(_t(seller_cf) or ""):
        out.add(xpath_of(seller_cf), f"{_t(seller_cf)} is not a valid codice fiscale", "00302")
    if sender_vat is not None and f"{s_country}{s_code}".upper() != sender_vat.replace(" ", "").upper():
        out.add(xpath_of(seller_id), f"the seller (CedentePrestatore) is {s_country}{s_code}, not the sending "
                f"customer {sender_vat}")

    buyer = _kids(hk.get("CessionarioCommittente")).get("DatiAnagrafici")
    bk = _kids(buyer)
    buyer_id = bk.get("IdFiscaleIVA")
    buyer_cf = bk.get("CodiceFiscale")
    if buyer_id is None and buyer_cf is None:
        out.add(xpath_of(buyer), "the buyer needs IdFiscaleIVA or CodiceFiscale", "00417")
    if buyer_id is not None:
        bik = _kids(buyer_id)
        b_country, b_code = _t(bik.get("IdPaese")) or "", _t(bik.get("IdCodice")) or ""
        if not is_valid_id_codice(b_country, b_code):
            out.add(xpath_of(bik.get("IdCodice")), f"{b_code} is not a valid partita IVA", "00305")
    if buyer_cf is not None and not is_codice_fiscale(_t(buyer_cf) or ""):
        out.add(xpath_of(buyer_cf), f"{_t(buyer_cf)} is not a valid codice fiscale", "00306")

    return _Header(
        transmitter_id=f"{t_country}{t_code}" if t_country and t_code else "",
        progressivo_invio=progressivo or "",
        format=formato or root.get("versione", ""),
        sender_vat=f"{s_country}{s_code}" if s_country and s_code else "",
        sender_name=_name(sk.get("Anagrafica")),
        recipient_vat=_vat(buyer_id),
        recipient_fiscal_code=_t(buyer_cf),
        recipient_name=_name(bk.get("Anagrafica")),
        codice_destinatario=codice,
        pec_destinatario=pec,
    )


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


def _sconti(el: etree._Element) -> list[tuple[Decimal, Decimal | None, Decimal | None]]:
    """Each ScontoMaggiorazione (discount SC or surcharge MG) of `el`: (sign, Percentuale, Importo)."""
    found = []
    for sm in el.iterchildren("ScontoMaggiorazione"):
        smk = _kids(sm)
        sign = Decimal(-1) if _t(smk.get("Tipo")) == "SC" else Decimal(1)
        found.append((sign, _dec(_t(smk.get("Percentuale"))), _dec(_t(smk.get("Importo")))))
    return found


def _expected_prezzo_totale(line: etree._Element, lk: dict[Any, etree._Element]) -> list[Decimal]:
    """PrezzoTotale = (PrezzoUnitario with its discounts/surcharges) × Quantita. A fixed-amount discount is
    read per unit and, as some issuers do, on the line: both readings are accepted."""
    unit = _dec(_t(lk.get("PrezzoUnitario"))) or Decimal(0)
    qty = _dec(_t(lk.get("Quantita")))
    qty = Decimal(1) if qty is None else qty
    per_unit, on_line, fixed = unit, unit * qty, False
    if "ScontoMaggiorazione" in lk:
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


def _check_body(body: etree._Element, out: ProblemCollector, today: date) -> DocumentSummary | None:
    bk = _kids(body)
    dati_generali = bk.get("DatiGenerali")
    dgk = _kids(dati_generali)
    dgd = dgk.get("DatiGeneraliDocumento")
    dk = _kids(dgd)
    tipo = _t(dk.get("TipoDocumento")) or ""
    numero = _t(dk.get("Numero")) or ""
    data = _date(_t(dk.get("Data")))
    if numero and not any(c.isdigit() for c in numero):
        out.add(xpath_of(dk["Numero"]), f"the invoice number {numero!r} contains no digit", "00425")
    if data is not None and data > today:
        out.add(xpath_of(dk["Data"]), f"the invoice date {data} is after today ({today})", "00403")
    if dati_generali is not None and "DatiFattureCollegate" in dgk:
        for linked in dati_generali.iterchildren("DatiFattureCollegate"):
            linked_data = _kids(linked).get("Data")
            linked_date = _date(_t(linked_data))
            if data is not None and linked_date is not None and linked_date > data:
                out.add(xpath_of(linked_data),
                        f"the linked invoice's date {linked_date} is after this invoice's date {data}", "00418")

    beni_servizi = bk.get("DatiBeniServizi")
    lines: list[tuple[etree._Element, dict[Any, etree._Element]]] = []
    summaries: list[tuple[etree._Element, dict[Any, etree._Element]]] = []
    if beni_servizi is not None:
        for child in beni_servizi:
            if child.tag == "DettaglioLinee":
                lines.append((child, _kids(child)))
            elif child.tag == "DatiRiepilogo":
                summaries.append((child, _kids(child)))
    if "DatiRitenuta" not in dk and any(_t(lk.get("Ritenuta")) == "SI" for _, lk in lines):
        out.add(xpath_of(dgd) + "/DatiRitenuta",
                "DatiRitenuta (withholding) is required when a line has Ritenuta SI", "00411")

    # Taxable amount expected per (rate, nature): the lines plus any pension-fund contribution (cassa).
    expected: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
    for line, lk in lines:
        aliquota = _dec(_t(lk.get("AliquotaIVA")))
        natura = _t(lk.get("Natura"))
        _natura_rule(out, line, aliquota, natura, "00400", "00401")
        total = _dec(_t(lk.get("PrezzoTotale")))
        if total is not None:
            candidates = _expected_prezzo_totale(line, lk)
            if all(abs(total - c) > TOLERANCE_PREZZO_TOTALE for c in candidates):
                out.add(xpath_of(lk["PrezzoTotale"]),
                        f"PrezzoTotale {total} should be {_round_cent(candidates[0])} "
                        "(PrezzoUnitario with discounts × Quantita)", "00423")
            if aliquota is not None:
                expected[(aliquota, natura if aliquota == 0 else None)] += total
    if dgd is not None and "DatiCassaPrevidenziale" in dk:
        for cassa in dgd.iterchildren("DatiCassaPrevidenziale"):
            ck = _kids(cassa)
            aliquota = _dec(_t(ck.get("AliquotaIVA")))
            natura = _t(ck.get("Natura"))
            _natura_rule(out, cassa, aliquota, natura, "00413", "00414")
            contributo = _dec(_t(ck.get("ImportoContributoCassa")))
            if aliquota is not None and contributo is not None:
                expected[(aliquota, natura if aliquota == 0 else None)] += contributo

    declared: dict[tuple[Decimal, str | None], Decimal] = defaultdict(Decimal)
    first_of_group: dict[tuple[Decimal, str | None], etree._Element] = {}
    imponibile_total, imposta_total = Decimal(0), Decimal(0)
    for summary, rk in summaries:
        aliquota = _dec(_t(rk.get("AliquotaIVA"))) or Decimal(0)
        natura = _t(rk.get("Natura"))
        _natura_rule(out, summary, aliquota, natura, "00429", "00430")
        if natura and natura.startswith("N6") and _t(rk.get("EsigibilitaIVA")) == "S":
            out.add(xpath_of(rk["EsigibilitaIVA"]),
                    "reverse charge (Natura N6) cannot go with split payment (EsigibilitaIVA S)", "00420")
        imponibile = _dec(_t(rk.get("ImponibileImporto"))) or Decimal(0)
        imposta = _dec(_t(rk.get("Imposta"))) or Decimal(0)
        arrotondamento = _dec(_t(rk.get("Arrotondamento"))) or Decimal(0)
        imponibile_total += imponibile
        imposta_total += imposta
        should = _round_cent(imponibile * aliquota / 100)
        if abs(imposta - should) > TOLERANCE_IMPOSTA:
            out.add(xpath_of(rk.get("Imposta")),
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

    importo_totale = _dec(_t(dk.get("ImportoTotaleDocumento")))
    if importo_totale is not None and summaries:
        base = imponibile_total + imposta_total + (_dec(_t(dk.get("Arrotondamento"))) or Decimal(0))
        if "ScontoMaggiorazione" in dk:
            for sign, pct, sm_amount in _sconti(dgd):
                base += sign * (sm_amount if sm_amount is not None else base * (pct or Decimal(0)) / 100)
        bollo = _dec(_t(_kids(dk.get("DatiBollo")).get("ImportoBollo"))) or Decimal(0)
        candidates = [base, base + bollo]
        if all(abs(importo_totale - c) > TOLERANCE_TOTALE_DOCUMENTO for c in candidates):
            out.add(xpath_of(dk["ImportoTotaleDocumento"]),
                    f"ImportoTotaleDocumento {importo_totale} does not match the VAT summaries "
                    f"(taxable + VAT = {_round_cent(base)})")

    if data is not None and "DatiPagamento" in bk:
        for due in body.iterfind("DatiPagamento/DettaglioPagamento/DataScadenzaPagamento"):
            due_date = _date(_t(due))
            if due_date is not None and due_date < data:
                out.add(xpath_of(due), f"payment due {due_date} is before the invoice date {data}")

    if data is None:
        return None
    return DocumentSummary(
        tipo_documento=tipo,
        numero=numero,
        data=data,
        divisa=_t(dk.get("Divisa")) or "",
        importo_totale=importo_totale,
        imponibile=imponibile_total,
        imposta=imposta_total,
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
    header = _check_header(root, out, sender_vat)
    documents = []
    seen: dict[tuple[str, str, int], etree._Element] = {}
    for body in root.iterchildren("FatturaElettronicaBody"):
        doc = _check_body(body, out, today)
        if doc is None:
            continue
        key = (doc.tipo_documento, doc.numero, doc.year)
        if key in seen:
            out.add(xpath_of(body) + "/DatiGenerali/DatiGeneraliDocumento/Numero",
                    f"document {doc.numero} of {doc.year} appears twice in this file (also at "
                    f"{xpath_of(seen[key])})", "00409")
        seen.setdefault(key, body)
        documents.append(doc)
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
    )


__all__ = [
    "DocumentSummary",
    "InvalidInput",
    "InvoiceSummary",
    "Problem",
    "document_keys",
    "validate_invoice",
    "xpath_of",
]
