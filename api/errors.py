"""Domain errors get their HTTP meaning here, and only here."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
