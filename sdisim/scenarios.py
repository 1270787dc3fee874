"""Which outcome the local SDI gives an accepted invoice, chosen by its codice destinatario (recipient code).

| recipient code | what happens |
|---|---|
| `SCARTO0` | NS notifica di scarto, with an error list |
| `NOCONS0` | MC notifica di mancata consegna (the recipient can still pick it up from its area) |
| `PAMC00`  | MC, then AT attestazione di trasmissione (PA: could not be delivered, transmission certified) |
| `PAOK00`  | RC ricevuta di consegna, then NE notifica esito EC01 (the PA accepts) |
| `PAKO00`  | RC, then NE EC02 (the PA refuses) |
| `PADT00`  | RC, then DT decorrenza termini after the DT delay (15 days by default) |
| anything else | RC |
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.sdi.messages import SdiError


@dataclass(frozen=True)
class Step:
    kind: str  # RC, NS, MC, NE, DT, AT
    late: bool = False  # after the DT delay instead of the ordinary delay
    esito: str | None = None  # NE: EC01 | EC02
    errors: tuple[SdiError, ...] = ()


SCENARIO_ERRORS = (
    SdiError("00305", "1.4.1.1.2 <IdCodice> non valido : IdFiscaleIVA del CessionarioCommittente non valido"),
    SdiError("00423", "2.2.1.11 <PrezzoTotale> non calcolato secondo le specifiche tecniche"),
)


def steps_for(recipient_code: str | None) -> list[Step]:
    code = (recipient_code or "").upper()
    if code == "SCARTO0":
        return [Step("NS", errors=SCENARIO_ERRORS)]
    if code == "NOCONS0":
        return [Step("MC")]
    if code == "PAMC00":
        return [Step("MC"), Step("AT", late=True)]
    if code == "PAOK00":
        return [Step("RC"), Step("NE", esito="EC01")]
    if code == "PAKO00":
        return [Step("RC"), Step("NE", esito="EC02")]
    if code == "PADT00":
        return [Step("RC"), Step("DT", late=True)]
    return [Step("RC")]
