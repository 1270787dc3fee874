"""The activities over the channel to the SDI (adapters/sdi.py: SDICoop, SOAP over HTTPS with client
certificates): RiceviFile and NotificaEsito with their records and retry classification.

`transmit` is idempotent by the SDI file name: a row in `sdi_transmissions` is written before the file goes
out, and the identificativo SdI the SDI answers is recorded in its own transaction right after, before
anything else can fail. A retry that finds it returns it without sending again. The one window left — a
crash after the SDI took the file and before the row is completed — resends the same name, which the SDI
refuses as a duplicate (00002) rather than delivering twice.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.sdi import SdiChannel, SdiCoopChannel, SdiRejected, SdiUnavailable, definitive_fault
from core.db import session_scope
from core.settings import Settings
from domain.errors import InvalidInput
from domain.sdi import soap
from models.files import read_file
from models.invoices import begin_transmission, complete_transmission, transmission
from models.invoices_io import SendOutcomeRequest, TransmitRequest, TransmitResult


def _never(message: str) -> ApplicationError:
    """Not retried: the workflow ends the invoice as refused (FAILED) with `message`, at once."""
    return ApplicationError(message + " (not retried: the same request cannot succeed)", type="SdiRefused",
                            non_retryable=True)


class SdiChannelActivities:
    def __init__(self, settings: Settings, channel: SdiChannel | None = None):
        self.settings = settings
        self.channel = channel or SdiCoopChannel(settings)

    @activity.defn(name="sdi_transmit")
    def transmit(self, req: TransmitRequest) -> TransmitResult:
        """RiceviFile, at most once per file name (idempotency key: the SDI file name)."""
        url = self.settings.database_url
        with session_scope(url) as session:
            done = transmission(session, req.file_name)
            if done is not None and done.state == "accepted":
                assert done.sdi_id is not None
                return TransmitResult(done.sdi_id, done.received_at or "", sent_now=False)
            if done is not None and done.state == "refused":
                raise ApplicationError(f"the SDI refused {req.file_name}: {done.error}", done.error,
                                       type="SdiRefused", non_retryable=True)
            # A second attempt after one whose answer never came (timeout, crash): the SDI may hold the file
            # already, under an identificativo we never learnt. The workflow then adopts that one.
            resent = begin_transmission(session, req.file_name, req.invoice_id).attempts > 1
            _, content = read_file(session, req.file_id)
        try:
            answer = self.channel.send_file(req.file_name, content)
        except SdiUnavailable as err:
            raise ApplicationError(str(err), type="SdiUnavailable") from err
        except SdiRejected as err:
            raise _never(f"the SDI refused {req.file_name}: {err}") from err
        except soap.SoapFault as err:
            if definitive_fault(err):
                raise _never(f"the SDI refused {req.file_name}: SOAP fault {err}") from err
            raise ApplicationError(f"SDI fault {err}", type="SdiFault") from err
        except InvalidInput as err:  # the SDI's answer broke the schema
            raise ApplicationError(f"unreadable answer from the SDI: {err}", type="SdiProtocol") from err
        if answer.errore == "EI02":  # service unavailable: nothing taken, try later
            raise ApplicationError("SDI: EI02 servizio non disponibile (service unavailable)", type="SdiUnavailable")
        received_at = answer.data_ora_ricezione.isoformat()
        with session_scope(url) as session:
            complete_transmission(session, req.file_name, answer.identificativo_sdi, received_at, answer.errore)
        if answer.errore:
            raise ApplicationError(f"the SDI refused {req.file_name}: {answer.errore} "
                                   f"{soap.INVIO_ERRORS.get(answer.errore, '')}", answer.errore,
                                   type="SdiRefused", non_retryable=True)
        activity.logger.info("%s taken by the SDI as %s", req.file_name, answer.identificativo_sdi)
        return TransmitResult(answer.identificativo_sdi, received_at, sent_now=True, resent=resent)

    @activity.defn(name="sdi_send_outcome")
    def send_outcome(self, req: SendOutcomeRequest) -> str:
        """SdIRiceviNotifica.NotificaEsito with the recipient's EC file; the SDI dedups by the file name
        (`<invoice>_EC_001.xml`), so a retry is harmless. Returns the SDI's Esito (ES01 accepted)."""
        from domain.sdi.messages import build_ec, notification_file_name

        ec = build_ec(req.sdi_id, req.esito, req.description, req.number, req.year, None)
        name = notification_file_name(req.file_name, "EC", 1)
        try:
            answer = self.channel.send_outcome(soap.FileSdI(req.sdi_id, name, ec))
        except SdiUnavailable as err:
            raise ApplicationError(str(err), type="SdiUnavailable") from err
        except SdiRejected as err:
            raise _never(f"the SDI refused the outcome {name}: {err}") from err
        except soap.SoapFault as err:
            if definitive_fault(err):
                raise _never(f"the SDI refused the outcome {name}: SOAP fault {err}") from err
            raise ApplicationError(f"SDI fault {err}", type="SdiFault") from err
        if answer.esito == "ES02":
            raise ApplicationError("SDI: ES02 servizio non disponibile (service unavailable)", type="SdiUnavailable")
        from models.invoices import store_invoice_file

        with session_scope(self.settings.database_url) as session:
            store_invoice_file(session, req.invoice_id, "outcome", name, "application/xml", ec)
        if answer.esito != "ES01":
            raise ApplicationError(f"the SDI did not accept the outcome: {answer.esito}", type="SdiRefused",
                                   non_retryable=True)
        return answer.esito
