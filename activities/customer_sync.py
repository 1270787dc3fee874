"""The in-stack sync's one activity (#15.2): apply a customer's change feed to its target database.

The same client as `einvoice sync` on a customer's server (`sync.client.sync_once`: each page and the cursor
after it in one transaction of the copy, so a run killed mid-page resumes with nothing lost or doubled), fed
from our database directly instead of over HTTP (`LocalFeed`: the functions the feed routes call), so the
worker needs no token and no API.

Each run acts for the user who scheduled it and asks the policy first (`feed.read`): a deactivated user or a
withdrawn grant stops the next run, not a later one; such a run fails without retrying (`SyncRefused`). The
run's outcome is kept on the target row and in the audit trail (surface "schedule").
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from sqlalchemy import create_engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.db import get_engine, session_scope
from core.secrets import unseal
from core.settings import Settings
from domain.policy import may
from models import audit, feed
from models.base import utcnow
from models.files import StoredFile
from models.identity import User, principal_of
from models.sync_io import CustomerSyncInput, CustomerSyncReport
from models.sync_targets import SyncTarget
from models.tenant import Tenant
from sync.client import SyncError, sync_once

log = logging.getLogger("einvoice.customer_sync")

PAGE = 500
SURFACE = "schedule"


class LocalFeed:
    """A customer's feed read from our database: what `GET /customers/{vat}/feed`, `/snapshot` and `/files`
    answer, without HTTP."""

    def __init__(self, settings: Settings, vat: str, tenant_id: int):
        self.settings, self.vat, self.tenant_id = settings, vat, tenant_id

    def page(self, after: str | None, limit: int) -> dict[str, Any] | None:
        with session_scope(self.settings.database_url) as session:
            try:
                return feed.read_page(session, self.tenant_id, after, limit).to_json()
            except feed.CursorExpired:
                return None  # older than the retention: the client resyncs from the snapshot

    def snapshot(self) -> dict[str, Any]:
        from sqlalchemy.orm import Session

        engine = get_engine(self.settings.database_url)
        if engine.dialect.name == "postgresql":  # one consistent view of every table, as the route takes
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=engine, expire_on_commit=False) as session, session.begin():
            return {"vat": self.vat} | feed.snapshot(session, self.tenant_id)

    def file(self, file_id: str, sha256: str) -> bytes | None:
        with session_scope(self.settings.database_url) as session:
            row = session.get(StoredFile, int(file_id))
            if row is None or row.tenant_id != self.tenant_id:
                return None  # deleted since its entry was written: its tombstone follows
            content = bytes(row.content)
        digest = hashlib.sha256(content).hexdigest()
        if digest != sha256:
            raise SyncError(f"file {file_id} of {self.vat}: SHA-256 {digest} differs from {sha256} its entry names")
        return content


class CustomerSyncActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @activity.defn(name="customer_sync_apply_feed")
    def apply_feed(self, inp: CustomerSyncInput) -> CustomerSyncReport:
        """One round: check the scheduling user may still read the feed, then catch the copy up."""
        with session_scope(self.settings.database_url) as session:
            target = session.get(SyncTarget, inp.target_id)
            if target is None:
                raise ApplicationError(f"sync target {inp.target_id} no longer exists (unscheduled)",
                                       type="SyncRefused", non_retryable=True)
            tenant = session.get(Tenant, target.tenant_id)
            user = session.get(User, target.scheduled_by)
            assert tenant is not None
            vat = tenant.vat_number
            url = unseal(self.settings, target.database_url_sealed)
            reason = None
            if user is None or not user.active:
                reason = "the user who scheduled this sync is no longer active"
                actor = "user:gone"
            else:
                principal = principal_of(session, user)
                actor = principal.label
                decision = may(principal, "feed.read", vat)
                if not decision.allowed:
                    reason = f"{principal.label} may no longer read the feed of {vat}: {decision.reason}"
        if reason is not None:
            self._finish(inp.target_id, actor, vat, None, reason, refused=True)
            raise ApplicationError(reason, type="SyncRefused", non_retryable=True)
        engine = create_engine(url)
        try:
            out = sync_once(engine, LocalFeed(self.settings, vat, tenant.id), limit=PAGE,
                            on_page=lambda done, total: activity.heartbeat(done))
        except Exception as err:
            message = f"{type(err).__name__}: {str(err)[:500]}"
            self._finish(inp.target_id, actor, vat, None, message)
            raise  # retried by the workflow's policy; the copy kept every page it committed
        finally:
            engine.dispose()
        report = CustomerSyncReport(out.applied, out.pages, out.files, out.resynced, out.behind)
        self._finish(inp.target_id, actor, vat, report, None)
        return report

    def _finish(self, target_id: int, actor: str, vat: str, report: CustomerSyncReport | None, error: str | None,
                refused: bool = False) -> None:
        now = utcnow()
        with session_scope(self.settings.database_url) as session:
            target = session.get(SyncTarget, target_id)
            if target is not None:
                target.last_run_at = now
                target.last_error = error
                if report is not None:
                    target.last_applied, target.last_behind, target.last_success_at = \
                        report.applied, report.behind, now
            outcome = ("ok" if error is None else (f"refused: {error}" if refused else f"failed: {error}"))[:300]
            detail = "" if report is None else (f"{report.applied} applied, {report.files} files, "
                                                f"{report.behind} behind{', resynced' if report.resynced else ''}")
            audit.append(session, actor, SURFACE, "feed.read", f"scheduled sync {target_id}", outcome, vat, detail)
        if error is not None:
            log.warning("scheduled sync %s of %s: %s", target_id, vat, error)

