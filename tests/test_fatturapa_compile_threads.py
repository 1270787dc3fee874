"""The schemas and stylesheets are compiled one at a time: libxml2 compiling two FatturaPA schemas at once
(the local SDI checks files in a thread pool) can fail to resolve the XML-DSig import, seen in a load run."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from lxml import etree

from domain.fatturapa import rendering, schema


def _concurrency_of(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, call: Any, args: list[str]) -> int:
    """How many compilations ran at once when 8 threads asked for `args` at the same moment."""
    real = getattr(target, name)
    inside, most, lock = 0, 0, threading.Lock()

    def counting(*a: Any, **kw: Any) -> Any:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)  # long enough for another thread to come in, if it can
        try:
            return real(*a, **kw)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(target, name, counting)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        barrier.wait()
        try:
            call(args[i % len(args)])
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return most


def test_schemas_compile_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    schema._compiled.cache_clear()
    try:
        most = _concurrency_of(monkeypatch, etree, "XMLSchema", schema.schema,
                               [schema.CURRENT_VERSION, "1.2.2", schema.FSM10_VERSION])
    finally:
        schema._compiled.cache_clear()  # compiled again, unpatched, by the next user
    assert most == 1


def test_stylesheets_compile_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    rendering._compiled.cache_clear()
    try:
        most = _concurrency_of(monkeypatch, etree, "XSLT", rendering._transform,
                               sorted(rendering.STYLESHEETS.values()))
    finally:
        rendering._compiled.cache_clear()
    assert most == 1
