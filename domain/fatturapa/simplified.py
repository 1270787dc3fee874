"""The SDI's controls on a simplified invoice (FatturaElettronicaSemplificata, FormatoTrasmissione FSM10:
TD07 simplified invoice, TD08 simplified credit note, TD09 simplified debit note), run after its schema.

The simplified invoice is another shape than the ordinary one: the seller's data sit directly in
CedentePrestatore (no DatiAnagrafici/Anagrafica), the buyer is CessionarioCommittente/IdentificativiFiscali
(IdFiscaleIVA and/or CodiceFiscale) with an optional AltriDatiIdentificativi (name, address), and each
DatiBeniServizi is one amount, `Importo`, with its VAT in `DatiIVA` as the tax itself (`Imposta`) or its rate
(`Aliquota`). Importo is the consideration including the VAT it incorporates (DPR 633/72 art. 21-bis c.1
lett. g: "l'ammontare del corrispettivo complessivo e dell'imposta incorporata, ovvero dei dati che
permettono di calcolarla"), so the tax given by its rate is Importo x Aliquota / (100 + Aliquota).

Which of the SDI's controls apply to FSM10, with the SDI's codes: the SDI's list of controls on the file
("Elenco controlli", Agenzia delle Entrate / Sogei, fatturapa.gov.it) as it reads for the FSM10 fields. That
list is not among /work/shared/standards; the codes and the fields they name for FSM10 are those implemented
and kept up to date with the specifications (v1.9 since 2025-04-01) by FatturaElettronica.NET@1b3da0a
`Validators/Semplificata/` (cited per rule below as "FE.NET <file>"). The header's identifier checks
(00300-00306) and the file-level ones (00403 date after receipt, 00409 duplicate in the file, 00425 number
without digit) are the SDI's on every file, as in `validation.py`.

Not applied, because the SDI does not apply them to FSM10 (or they have no FSM10 field): the VAT summary
checks 00419/00421/00422/00423, withholding 00411, pension funds 00413/00414, 00418, 00420, 00424, 00427, and
00426 (PECDestinatario with a CodiceDestinatario other than 0000000: FE.NET does not apply it to FSM10 and
no FSM10 source was found that says the SDI does; the hub does not refuse what it cannot show the SDI refuses).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from domain.errors import ProblemCollector
from domain.fatturapa.codes import is_codice_fiscale, is_partita_iva, is_valid_id_codice
from domain.fatturapa.validation import (
    WARN_VAT,
    ZERO,
    DocumentSummary,
    _child,
    _children,
    _dec,
    _document_head,
    _fields,
    _Header,
    _name,
    _round_cent,
    _text,
    _value,
    _vat,
    xpath_of,
)

FORMAT = "FSM10"
# 00460: a simplified invoice may not exceed 400 euro (DPR 633/72 art. 21-bis c.1, the limit raised from 100
# to 400 euro by the DM of 10 May 2019), summed over the body's DatiBeniServizi/Importo. Not checked for a
# note correcting an earlier invoice (DatiFatturaRettificata given: art. 21-bis c.2 allows the simplified
# variation note for any amount) nor for a seller under the flat-rate regimes RF19/RF20, who may issue
# simplified invoices of any amount since the specifications v1.9 (2025-04-01). FE.NET
# FatturaSemplificataValidator.cs (ImportoTotaleValidateAgainstError00460).
LIMIT_SIMPLIFIED = Decimal("400.00")
UNLIMITED_REGIMES = frozenset({"RF19", "RF20"})


def check_header(header_el: etree._Element | None, versione: str | None, out: ProblemCollector,
                 sender_vat: str | None) -> tuple[_Header, str]:
    """The header's controls; returns what the summary needs and the seller's RegimeFiscale."""
    header = _children(header_el)
    trasmissione = header.get("DatiTrasmissione")
    dt = _children(trasmissione)
    transmitter = _fields(dt.get("IdTrasmittente"))
    t_country, t_code = transmitter.get("IdPaese"), transmitter.get("IdCodice")
    # 00300 IdTrasmittente/IdCodice neither a valid partita IVA nor a codice fiscale (as in validation.py).
    if not t_country or not t_code:
        out.add(xpath_of(dt.get("IdTrasmittente")), "IdTrasmittente (transmitter id) needs IdPaese and IdCodice",
                "00300")
    elif t_country == "IT" and not (is_partita_iva(t_code) or is_codice_fiscale(t_code)):
        out.add(xpath_of(dt["IdTrasmittente"].find("IdCodice")),
                f"{t_code} is neither a valid partita IVA nor a codice fiscale", "00300")
    progressivo = _value(dt.get("ProgressivoInvio")) or ""
    formato = _value(dt.get("FormatoTrasmissione"))
    # 00428 FormatoTrasmissione not consistent with the root's versione. FE.NET DatiTrasmissioneValidator.cs.
    if formato != FORMAT or versione != FORMAT:
        out.add(xpath_of(dt.get("FormatoTrasmissione")),
                f"FormatoTrasmissione {formato!r} and the root's versione {versione!r} must both be {FORMAT}",
                "00428")
    codice = _value(dt.get("CodiceDestinatario")) or ""
    pec = _value(dt.get("PECDestinatario"))

    seller_el = header.get("CedentePrestatore")
    seller = _children(seller_el)
    seller_id = seller.get("IdFiscaleIVA")
    sid = _fields(seller_id)
    s_country, s_code = sid.get("IdPaese") or "", sid.get("IdCodice") or ""
    # 00301 CedentePrestatore/IdFiscaleIVA not a valid partita IVA; 00302 its CodiceFiscale not valid.
    if not is_valid_id_codice(s_country, s_code):
        out.add(xpath_of(_child(seller_id, "IdCodice")), f"{s_code} is not a valid partita IVA", "00301")
    seller_cf = seller.get("CodiceFiscale")
    if seller_cf is not None and not is_codice_fiscale(_text(seller_cf)):
        out.add(xpath_of(seller_cf), f"{_value(seller_cf)} is not a valid codice fiscale", "00302")
    if sender_vat is not None and f"{s_country}{s_code}".upper() != sender_vat.replace(" ", "").upper():
        out.add(xpath_of(seller_id), f"the seller (CedentePrestatore) is {s_country}{s_code}, not the sending "
                f"customer {sender_vat}")
    regime = _value(seller.get("RegimeFiscale")) or ""

    buyer = _children(header.get("CessionarioCommittente"))
    ids_el = buyer.get("IdentificativiFiscali")
    ids = _children(ids_el)
    buyer_id = ids.get("IdFiscaleIVA")
    buyer_cf = ids.get("CodiceFiscale")
    # 00417 IdentificativiFiscali with neither IdFiscaleIVA nor CodiceFiscale. FE.NET
    # IdentificativiFiscaliValidator.cs.
    if buyer_id is None and buyer_cf is None:
        out.add(xpath_of(ids_el) if ids_el is not None else "/p:FatturaElettronicaSemplificata",
                "the buyer needs IdFiscaleIVA or CodiceFiscale", "00417")
    bid = _fields(buyer_id)
    b_country = bid.get("IdPaese") or ""
    if buyer_id is not None:
        b_code = bid.get("IdCodice") or ""
        # 00305 the buyer's IdFiscaleIVA not a valid partita IVA; 00306 its CodiceFiscale not valid.
        if not is_valid_id_codice(b_country, b_code):
            out.add(xpath_of(buyer_id.find("IdCodice")), f"{b_code} is not a valid partita IVA", "00305")
        # 00476 seller and buyer both foreign (neither IdPaese IT). FE.NET FatturaElettronicaHeaderValidator.cs.
        if s_country and s_country != "IT" and b_country != "IT":
            out.add(xpath_of(buyer_id.find("IdPaese")),
                    f"the seller's IdPaese {s_country} and the buyer's {b_country} cannot both be other than IT",
                    "00476")
    buyer_fiscal_code = _value(buyer_cf)
    if buyer_cf is not None and not is_codice_fiscale(buyer_fiscal_code or ""):
        out.add(xpath_of(buyer_cf), f"{buyer_fiscal_code} is not a valid codice fiscale", "00306")

    return _Header(
        transmitter_id=f"{t_country}{t_code}" if t_country and t_code else "",
        progressivo_invio=progressivo,
        format=formato or versione or "",
        sender_vat=f"{s_country}{s_code}" if s_country and s_code else "",
        sender_name=_name(_fields(seller_el)),
        recipient_vat=_vat(bid),
        recipient_fiscal_code=buyer_fiscal_code,
        recipient_name=_name(_fields(buyer.get("AltriDatiIdentificativi"))),
        codice_destinatario=codice,
        pec_destinatario=pec,
    ), regime


def check_body(body: etree._Element, out: ProblemCollector, today: date, warn: ProblemCollector,
               regime: str, same_parties: bool) -> DocumentSummary | None:
    """One FatturaElettronicaBody's controls and its summary (None when it has no readable date)."""
    # 00425 Numero without a digit (FE.NET DatiGeneraliDocumentoValidator.cs) and 00403 the invoice date after
    # the day the SDI receives it: checked as for every file (validation._document_head).
    head = _document_head(body, out, today)
    generali, dgd, doc = head.generali, head.dgd, head.doc
    tipo, numero, data = head.tipo, head.numero, head.data
    # 00471 a TD07 with the same party as seller and buyer. FE.NET FatturaSemplificataValidator.cs.
    if tipo == "TD07" and same_parties:
        out.add(xpath_of(_child(dgd, "TipoDocumento")),
                "a TD07 simplified invoice cannot have the same party as seller and buyer", "00471")

    total, imposta_total = ZERO, ZERO
    for line in body.iterchildren("DatiBeniServizi"):
        values = _fields(line)
        importo = _dec(values.get("Importo")) or ZERO
        total += importo
        vat = _fields(line.find("DatiIVA"))
        imposta, aliquota = _dec(vat.get("Imposta")), _dec(vat.get("Aliquota"))
        natura = values.get("Natura") or None
        given = [v for v in (imposta, aliquota) if v is not None]
        # 00400 no VAT (the Imposta or Aliquota given is zero) without Natura; 00401 Natura with VAT charged.
        # FE.NET DatiBeniServiziValidator.cs.
        if given and all(v == ZERO for v in given) and not natura:
            out.add(xpath_of(line) + "/Natura",
                    "Natura (nature of the operation) is required when the VAT (Imposta or Aliquota) is 0", "00400")
        elif natura and any(v > ZERO for v in given):
            out.add(xpath_of(line.find("Natura")), "Natura is allowed only when the VAT (Imposta or Aliquota) is 0",
                    "00401")
        if not given:
            warn.add(xpath_of(line) + "/DatiIVA", "DatiIVA gives neither Imposta nor Aliquota: the VAT this "
                     "amount incorporates cannot be read", WARN_VAT)
        if imposta is None and aliquota is not None:
            imposta = _round_cent(importo * aliquota / (100 + aliquota))
        imposta_total += imposta or ZERO
    rettificata = "DatiFatturaRettificata" in generali
    if total > LIMIT_SIMPLIFIED and not rettificata and regime not in UNLIMITED_REGIMES:  # 00460, see the limit
        out.add(xpath_of(body) + "/DatiBeniServizi",
                f"the simplified invoice's total {total} exceeds the {LIMIT_SIMPLIFIED} euro limit (DPR 633/72 "
                "art. 21-bis, DM 10 May 2019); issue an ordinary invoice (FPR12)", "00460")

    if data is None:
        return None
    return DocumentSummary(
        tipo_documento=tipo,
        numero=numero,
        data=data,
        divisa=doc.get("Divisa") or "",
        importo_totale=total,
        imponibile=total - imposta_total,
        imposta=imposta_total,
    )


def same_parties(header_el: etree._Element | None) -> bool:
    """Whether the seller's IdFiscaleIVA is also the buyer's (00471 for TD07)."""
    header = _children(header_el)
    seller = _fields(_children(header.get("CedentePrestatore")).get("IdFiscaleIVA"))
    ids = _children(_children(header.get("CessionarioCommittente")).get("IdentificativiFiscali"))
    buyer = _fields(ids.get("IdFiscaleIVA"))
    return bool(_vat(seller)) and _vat(seller) == _vat(buyer)
