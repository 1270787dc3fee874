"""The error every refusal of bad input raises: it names each field that is wrong and why.

Validation collects every problem instead of stopping at the first, so a caller fixes them all at once.
The HTTP layer turns it into a 422, the CLI into a red message and exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    field: str  # the input field or XPath the problem is about
    message: str
    code: str | None = None  # a standard's own error code where there is one (e.g. SDI "00423")

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"{self.field}: {self.message}{code}"


class InvalidInput(ValueError):
    """Bad input, refused before anything was written."""

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("InvalidInput needs at least one problem")
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, field: str, message: str, code: str | None = None) -> InvalidInput:
        return cls([Problem(field, message, code)])


class Conflict(Exception):
    """The request is well-formed but clashes with what exists (a duplicate, a wrong state)."""


class RateLimited(Conflict):
    """Refused because too many of the same request were made (a cap per hour or in all); nothing was done.
    `retry_after` is in how many seconds the next is allowed, None when never (the cap in all is reached)."""

    def __init__(self, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(LookupError):
    """What the request names does not exist."""


class Forbidden(PermissionError):
    """The user may see the customer but not do this (HTTP 403): names the permission (or action) it needs.
    `action` and `vat` say what was refused for whom, for the audit trail."""

    def __init__(self, reason: str, permission: str, action: str = "", vat: str | None = None):
        super().__init__(reason)
        self.reason, self.permission, self.action, self.vat = reason, permission, action, vat


class Hidden(NotFound):
    """Another customer's resource, answered as "not found" with the same words as a missing one, so its
    existence does not leak. `reason` (the policy's) and `vat` go to the audit trail only."""

    def __init__(self, message: str, reason: str, action: str = "", vat: str | None = None):
        super().__init__(message)
        self.reason, self.action, self.vat = reason, action, vat


class Unavailable(RuntimeError):
    """A part this request needs is not installed or not answering here (e.g. no browser to print a PDF)."""


@dataclass
class ProblemCollector:
    """Gathers problems across many checks, then raises them together."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, field: str, message: str, code: str | None = None) -> None:
        self.problems.append(Problem(field, message, code))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInput(self.problems)
