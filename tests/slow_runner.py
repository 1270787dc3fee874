"""A workflow runner that holds back every workflow task that continues as new.

It widens, on demand, the window in which a continue-as-new is in flight: the certificate tests' old flake
(a query answered by the closing run on the time-skipping server) came from a busy machine opening that
window by chance. With this runner the window is open for `delay` seconds every time."""

from __future__ import annotations

import time
from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner


class _SlowInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance, delay: float) -> None:
        self._inner, self._delay = inner, delay

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        completion = self._inner.activate(act)
        if any(c.HasField("continue_as_new_workflow_execution") for c in completion.successful.commands):
            time.sleep(self._delay)  # the worker thread holds the finished task back
        return completion

    def get_serialization_context(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.get_serialization_context(*args, **kwargs)

    def get_external_store_context(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.get_external_store_context(*args, **kwargs)

    def get_info(self) -> Any:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()


class SlowContinueAsNewRunner(WorkflowRunner):
    """The SDK's sandboxed runner, with each continue-as-new completion delayed by `delay` seconds
    (use with `debug_mode=True` on the worker, so the deadlock detector does not count the delay)."""

    def __init__(self, delay: float) -> None:
        self._inner, self._delay = SandboxedWorkflowRunner(), delay

    def prepare_workflow(self, defn: Any) -> None:
        self._inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _SlowInstance(self._inner.create_instance(det), self._delay)

    def set_worker_level_failure_exception_types(self, types: Any) -> None:
        self._inner.set_worker_level_failure_exception_types(types)
