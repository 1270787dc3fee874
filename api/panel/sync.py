"""The sync screen (#15 in the panel): where the customer's copy is kept in step by our stack — the schedule's
database, interval, next and last round, its last error — with pause and resume for those who may
(`sync.pause`), and how to keep a copy on one's own server (`einvoice sync`). Through `starters.sync_schedules`,
after the policy is asked (a refusal audited, surface panel)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.deps import get_temporal
from api.panel import i18n
from api.panel.common import (
    PANEL,
    REFUSALS,
    attempt_message,
    customer_of,
    needs_user,
    posted_form,
    precheck,
    refusal,
    settings_of,
)
from api.panel.pages import allowed, language, render
from api.panel.session import PanelUser
from domain.errors import NotFound
from starters.sync_schedules import describe_sync, pause_sync

router = APIRouter(prefix="/panel/c/{vat}/sync", include_in_schema=False)


async def _temporal(request: Request) -> Client | None:
    try:
        return await get_temporal(request)
    except Exception:  # noqa: BLE001 - any failure to connect is shown as "unavailable", never a 500
        return None


async def _screen(request: Request, user: PanelUser, vat: str, status_code: int = 200,
                  message: str | None = None, ok: bool = False) -> Response:
    lang = language(request)
    settings = settings_of(request)
    schedule = None
    try:
        await run_in_threadpool(precheck, settings, user, "sync.read", vat)
        client = await _temporal(request)
        if client is None:
            message, status_code = i18n.translate(lang, "sync_unavailable"), 503
        else:
            schedule = await describe_sync(settings, vat, client, as_user=user.principal, surface=PANEL)
    except NotFound:
        schedule = None  # none scheduled: the page says how to keep a copy
    except REFUSALS as err:
        ref = refusal(request, err)
        return render(request, "message.html.j2", user=user, vat=vat, status_code=ref.status,
                      message=attempt_message(ref, lang))
    next_at = last_at = None
    if schedule is not None:
        next_at = _at(schedule.next_runs[0]) if schedule.next_runs and not schedule.paused else None
        last_at = _at(schedule.last_run_at)
    return render(request, "sync.html.j2", user=user, vat=vat, schedule=schedule, next_at=next_at, last_at=last_at,
                  status_code=status_code, message=message, ok=ok,
                  can_pause=allowed(user.principal, "sync.pause", vat))


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


@router.get("")
async def show(vat: str, request: Request) -> Response:
    user = await needs_user(request, vat)
    if isinstance(user, Response):
        return user
    return await _screen(request, user, customer_of(vat))


@router.post("/{verb}")
async def pause_or_resume(vat: str, verb: str, request: Request) -> Response:
    posted = await posted_form(request, vat)
    if isinstance(posted, Response):
        return posted
    user, vat, form = posted
    lang = language(request)
    if verb not in ("pause", "resume"):
        return await _screen(request, user, vat, 404, i18n.translate(lang, "sync_unknown_verb"))
    settings = settings_of(request)
    try:
        await run_in_threadpool(precheck, settings, user, "sync.pause", vat)
        client = await _temporal(request)
        if client is None:
            return await _screen(request, user, vat, 503, i18n.translate(lang, "sync_unavailable"))
        await pause_sync(settings, vat, verb == "pause", str(form.get("note") or "")[:200], client,
                         as_user=user.principal, surface=PANEL)
    except REFUSALS as err:
        ref = refusal(request, err)
        return await _screen(request, user, vat, ref.status, attempt_message(ref, lang))
    return await _screen(request, user, vat, ok=True, message=i18n.translate(lang, "sync_paused_done" if verb == "pause"
                                                                       else "sync_resumed"))
