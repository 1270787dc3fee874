"""Every workflow and activity the worker runs, in one list per area.

Activities that need settings are methods of small classes built here, so tests can build them with
their own settings. One block per area.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from core.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client


def workflows() -> list[type]:
    found: list[type] = []
    # certificates
    from workflows.certificate_authorization import CertificateAuthorizationWorkflow

    found.append(CertificateAuthorizationWorkflow)
    # contracts
    from workflows.contract_acceptance import ContractAcceptanceWorkflow

    found.append(ContractAcceptanceWorkflow)
    # invoices
    from workflows.invoice_receive import InvoiceReceiveWorkflow
    from workflows.invoice_send import InvoiceSendWorkflow

    found += [InvoiceSendWorkflow, InvoiceReceiveWorkflow]
    # conservation
    from workflows.archive_verify import ArchiveVerifyWorkflow
    from workflows.conservation import ConservationWorkflow

    found += [ConservationWorkflow, ArchiveVerifyWorkflow]
    # the notification sweep (invoices)
    from workflows.notification_sweep import NotificationSweepWorkflow

    found.append(NotificationSweepWorkflow)
    # the in-stack sync of a customer's copy
    from workflows.customer_sync import CustomerSyncWorkflow

    found.append(CustomerSyncWorkflow)
    # the download from KSeF
    from workflows.ksef_download import KsefDownloadWorkflow

    found.append(KsefDownloadWorkflow)
    # KSeF as an invoice channel: one interactive session per customer
    from workflows.ksef_session import KsefSessionWorkflow

    found.append(KsefSessionWorkflow)
    return found


def activities(settings: Settings, client: Client | None = None) -> Sequence[Callable[..., Any]]:
    """`client`: the worker's own, for the activities that signal workflows (without one they connect
    from the settings when first needed)."""
    from activities.mail import MailActivities

    mail = MailActivities(settings)
    found: list[Callable[..., Any]] = [mail.send_email]
    # certificates
    from activities.certificates import CertificateActivities

    certs = CertificateActivities(settings)
    found += [certs.submit, certs.collect, certs.record_state, certs.mark_expired, certs.revoke,
              certs.delete_record, certs.compose_email]
    # contracts
    from activities.contracts import ContractActivities

    contracts = ContractActivities(settings)
    found += [contracts.open_order, contracts.send_invitation, contracts.accept_order, contracts.notify_activation,
              contracts.cancel_order, contracts.expire_order]
    # invoices
    from activities.invoices import InvoiceActivities
    from activities.sdi_channel import SdiChannelActivities

    invoices = InvoiceActivities(settings)
    channel = SdiChannelActivities(settings)
    found += [invoices.prepare_invoice, invoices.apply_outcome, invoices.ksef_offline_deadline, channel.transmit,
              channel.send_outcome]
    # conservation
    from activities.archive import ArchiveActivities

    archive = ArchiveActivities(settings)
    found += [archive.store_package, archive.record_package, archive.list_package_page, archive.verify_packages,
              archive.notify_fault]
    # the notification sweep
    from activities.notification_sweep import NotificationSweepActivities

    found.append(NotificationSweepActivities(settings, client).redeliver)
    # the in-stack sync
    from activities.customer_sync import CustomerSyncActivities

    found.append(CustomerSyncActivities(settings).apply_feed)
    # the download from KSeF
    from activities.ksef_download import KsefDownloadActivities

    download = KsefDownloadActivities(settings)
    found += [download.take, download.pending, download.handed_over]
    # KSeF as an invoice channel
    from activities.ksef_channel import KsefChannelActivities

    ksef = KsefChannelActivities(settings, client)
    found += [ksef.enqueue, ksef.open_session, ksef.send_invoice, ksef.await_invoice, ksef.close_session]
    return found
