"""Payloads are sealed in Temporal's history and readable only through the codec (and its endpoint)."""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.main import create_app
from core.codec import EncryptionCodec, local_key, parse_keys
from core.settings import Settings
from core.temporal import data_converter

SECRET = "Via Roma 1, Mario Rossi, IBAN IT60X0542811101000000123456"


@dataclass
class EchoInput:
    text: str


@workflow.defn(sandboxed=False)
class EchoWorkflow:
    @workflow.run
    async def run(self, inp: EchoInput) -> str:
        await workflow.sleep(timedelta(milliseconds=1))
        return inp.text


async def test_roundtrip_and_key_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(SECRET).encode())
    sealed = await EncryptionCodec([old]).encode([payload])
    assert SECRET.encode() not in sealed[0].SerializeToString()
    rotated = EncryptionCodec([new, old])  # new key encrypts, old still decrypts
    assert (await rotated.decode(sealed))[0] == payload
    with pytest.raises(ValueError, match="unknown key id"):
        await EncryptionCodec([new]).decode(sealed)
    tampered = Payload(metadata=sealed[0].metadata, data=sealed[0].data[:-1] + bytes([sealed[0].data[-1] ^ 1]))
    with pytest.raises(Exception):  # noqa: B017  (AES-GCM raises InvalidTag)
        await EncryptionCodec([old]).decode([tampered])


def test_local_key_is_private_and_stable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = local_key(tmp_path)
    assert local_key(tmp_path) == key and len(key) == 32
    assert (tmp_path / "codec.key").stat().st_mode & 0o777 == 0o600


async def test_history_holds_no_plaintext(dev_env: WorkflowEnvironment, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(DATA_DIR=tmp_path)
    client = Client(dev_env.client.service_client, namespace="default", data_converter=data_converter(settings))
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(client, task_queue=task_queue, workflows=[EchoWorkflow]):
        handle = await client.start_workflow(EchoWorkflow.run, EchoInput(SECRET), id=f"echo-{uuid.uuid4()}",
                                             task_queue=task_queue)
        assert await handle.result() == SECRET
    history = await handle.fetch_history()
    raw = history.to_json()
    assert SECRET not in raw and base64.b64encode(SECRET.encode()).decode()[:20] not in raw
    assert "binary/encrypted" in base64.b64decode(
        json.loads(raw)["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
        ["metadata"]["encoding"]).decode()


async def test_codec_endpoint_decodes_for_allowed_operators(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(DATA_DIR=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite", PAYLOAD_CODEC_KEY=key,
                        CODEC_AUTH_TOKEN="operator-token")
    http = TestClient(create_app(settings))
    plain = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                           "data": base64.b64encode(json.dumps(SECRET).encode()).decode()}]}
    assert http.post("/codec/encode", json=plain).status_code == 401
    auth = {"Authorization": "Bearer operator-token"}
    sealed = http.post("/codec/encode", json=plain, headers=auth).json()
    assert SECRET not in json.dumps(sealed)
    assert http.post("/codec/decode", json=sealed, headers={"Authorization": "Bearer wrong"}).status_code == 401
    decoded = http.post("/codec/decode", json=sealed, headers=auth).json()
    assert decoded == plain
    assert http.post("/codec/decode", content=b"not json", headers=auth).status_code == 400
    # What the endpoint sealed, the workers' codec (same keys) opens.
    sealed_payload = Payload(metadata={k: base64.b64decode(v) for k, v in sealed["payloads"][0]["metadata"].items()},
                             data=base64.b64decode(sealed["payloads"][0]["data"]))
    opened = await (EncryptionCodec(parse_keys(key)).decode([sealed_payload]))
    assert json.loads(opened[0].data) == SECRET


def test_codec_endpoint_without_token_serves_only_this_machine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(DATA_DIR=tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite")
    http = TestClient(create_app(settings))  # its client address is not a loopback address
    assert http.post("/codec/decode", json={"payloads": []}).status_code == 403
