"""The remote codec endpoint for the Temporal Web UI: operators allowed to see payloads get them decrypted.

Temporal's codec-server protocol: POST /codec/decode (and /encode) with `{"payloads": [...]}` in protobuf
JSON. With CODEC_AUTH_TOKEN set, the caller must present it as a bearer token; without it, only callers on
this machine (the embedded stack) are served.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, HTTPException, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.deps import SettingsDep
from core.temporal import payload_codec

router = APIRouter(prefix="/codec", tags=["codec"])


def _authorize(request: Request, token: str) -> None:
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(status_code=401, detail="codec endpoint: a valid bearer token is required")
        return
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise HTTPException(status_code=403, detail="codec endpoint: set CODEC_AUTH_TOKEN to serve remote callers")


async def _apply(request: Request, settings: SettingsDep, encode: bool) -> Response:
    _authorize(request, settings.codec_auth_token.get_secret_value())
    codec = payload_codec(settings)
    payloads = Payloads()
    try:
        json_format.Parse(await request.body(), payloads)
    except json_format.ParseError as err:
        raise HTTPException(status_code=400, detail=f"body is not a Payloads JSON document: {err}") from err
    if codec is not None:
        converted = await (codec.encode(payloads.payloads) if encode else codec.decode(payloads.payloads))
        payloads = Payloads(payloads=converted)
    return Response(content=json_format.MessageToJson(payloads), media_type="application/json")


@router.post("/decode")
async def decode(request: Request, settings: SettingsDep) -> Response:
    return await _apply(request, settings, encode=False)


@router.post("/encode")
async def encode(request: Request, settings: SettingsDep) -> Response:
    return await _apply(request, settings, encode=True)
