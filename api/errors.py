"""Domain errors get their HTTP meaning here, and only here."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unavailable


def install(app: FastAPI) -> None:
    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid input",
                "detail": str(exc),
                "problems": [
                    {"field": p.field, "message": p.message, "code": p.code} for p in exc.problems
                ],
            },
        )

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"error": "conflict", "detail": str(exc)})

    @app.exception_handler(RateLimited)  # before Conflict, its base: the handler of the nearest class wins
    async def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return JSONResponse(status_code=429, content={"error": "too many requests", "detail": str(exc)},
                            headers=headers)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"error": "not found", "detail": str(exc)})

    @app.exception_handler(Forbidden)  # a starter's refusal: the same answer as the guard's (api/access.py)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": {
            "error": "forbidden", "detail": exc.reason, "permission": exc.permission}})

    @app.exception_handler(Unavailable)
    async def _unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": "unavailable", "detail": str(exc)})

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_still_running(_: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        """The workflow took the request but did not finish it within HTTP_WAIT_SECONDS (#18.5): it goes on."""
        return JSONResponse(status_code=503, headers={"Retry-After": "30"}, content={
            "error": "unavailable", "detail": "the request was taken but not finished within the wait; it "
                                              "goes on: read the resource's status before asking again"})

    @app.exception_handler(RPCError)
    async def _temporal_unanswered(_: Request, exc: RPCError) -> JSONResponse:
        """Temporal unreachable or silent past RPC_TIMEOUT: a clear 503, never a request hanging (#18.5)."""
        if exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.CANCELLED):
            return JSONResponse(status_code=503, headers={"Retry-After": "30"}, content={
                "error": "unavailable", "detail": f"Temporal did not answer ({exc.status.name}); try again"})
        return JSONResponse(status_code=500, content={"error": "internal", "detail": "Temporal refused the call"})
