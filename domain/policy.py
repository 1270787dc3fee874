"""Who may do what: one table of actions and one function, `may`, that every surface asks.

Three kinds of user (PRODUCT.md part 4, seeds 001 and 002): the *operator* (the intermediary's staff) may do
everything; a *customer user* acts for its own customer only; an *accountant* (commercialista / biuro
rachunkowe) acts only for the customers that linked it, and only with what each one granted
(`domain.permissions`). Another customer's resource is "not found" (404), so its existence does not leak;
a missing permission is "forbidden" (403) and names the permission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.errors import Forbidden, Hidden
from domain.permissions import CONFIG_MANAGE, INVOICES_SEND, INVOICES_WRITE, READ

OPERATOR = "operator"
CUSTOMER = "customer"  # a customer user
ACCOUNTANT = "accountant"
KINDS = (OPERATOR, CUSTOMER, ACCOUNTANT)

# The header by which the `einvoice` CLI declares itself on each API request (starters/http_client.py); the
# HTTP guard (api/access.py) records such an authenticated request under surface "cli", as the client's
# declaration: a client can send anything, so it says where the request says it came from, not who may act.
CLIENT_HEADER = "X-Einvoice-Client"


@dataclass(frozen=True)
class Action:
    """One thing a user can ask for. `scoped`: it is about one customer (named by the request); an unscoped
    action answers only what the user may see (lists are filtered by the caller). `customer_may`: a customer
    user may do it for its own customer. `permission`: what an accountant needs granted (None: never)."""

    name: str
    scoped: bool = True
    customer_may: bool = True
    permission: str | None = READ
    operator_only: bool = False


def _a(name: str, **kw: object) -> tuple[str, Action]:
    return name, Action(name, **kw)  # type: ignore[arg-type]


ACTIONS: dict[str, Action] = dict([
    # customers
    _a("tenant.create", scoped=False, operator_only=True),
    _a("tenant.list", scoped=False),
    _a("tenant.read"),
    # the profile (seed 001): confirming the data and accepting the conditions is the customer's own act
    _a("tenant.confirm", permission=None),
    _a("signing.grant", permission=None),  # delegated signing (firma delegata): the customer's own decision
    # contracts: the intermediary opens and cancels the order; the customer's side sees it and can ask again
    _a("contract.start", operator_only=True),
    _a("contract.read"),
    _a("contract.resend", permission=CONFIG_MANAGE),
    _a("contract.cancel", operator_only=True),
    _a("contract.list", scoped=False),  # orders across customers: only those the user may see (the caller filters)
    # certificates and preferences: the service configuration
    _a("certificate.read"),
    _a("certificate.request", permission=CONFIG_MANAGE),
    _a("certificate.upload", permission=CONFIG_MANAGE),
    _a("certificate.revoke", permission=CONFIG_MANAGE),
    _a("certificate.delete", permission=CONFIG_MANAGE),
    _a("preferences.read"),
    _a("preferences.update", permission=CONFIG_MANAGE),
    # invoices
    _a("invoice.list"),
    _a("invoice.read"),
    _a("invoice.send", permission=INVOICES_SEND),
    _a("invoice.outcome", permission=INVOICES_WRITE),
    # the archive (conservazione)
    _a("archive.read"),
    _a("archive.verify"),
    _a("archive.verify_all", scoped=False, operator_only=True),
    _a("archive.usage", scoped=False),
    # the change feed, its snapshot and documents (#15): reading, so an accountant needs read
    _a("feed.read"),
    # the in-stack sync (#15.2): scheduling names a database our worker writes to, the intermediary's call;
    # pausing and resuming are the customer's service configuration
    _a("sync.read"),
    _a("sync.schedule", operator_only=True),
    _a("sync.pause", permission=CONFIG_MANAGE),
    # the download from KSeF (#14.4): taking the customer's received invoices is reading them; keeping a
    # schedule of it (create, pause, resume, remove) is the customer's service configuration
    _a("ksef.download"),
    _a("ksef.read"),
    _a("ksef.schedule", permission=CONFIG_MANAGE),
    # the customer's KSeF token (the credential our worker logs in to KSeF with for it): setting or removing it
    # is the customer's service configuration; whether one is set is `ksef.read`
    _a("ksef.token", permission=CONFIG_MANAGE),
    # KSeF's announcements of unavailability and failure (BIP): KSeF's, not a customer's; the intermediary's
    # operator records and ends them, every logged-in user may read them (the offline modes hang on them)
    _a("ksef.outage.record", scoped=False, operator_only=True),
    _a("ksef.outage.read", scoped=False),
    # users and delegation
    _a("user.create", operator_only=True),
    _a("user.self", scoped=False),  # one's own tokens, profile and links
    _a("delegation.invite", permission=None),  # a customer invites an accountant
    _a("delegation.request", scoped=False, customer_may=False),  # an accountant asks a customer
    _a("delegation.accept", scoped=False),  # the other party of a link accepts it (checked on the link)
    _a("delegation.grant", permission=None),  # set the permissions; never the accountant itself
    _a("delegation.read", permission=None),
    _a("audit.read", permission=None),  # "by the customer's users and operators" (issue #12)
    _a("audit.verify", scoped=False, operator_only=True),
])


@dataclass(frozen=True)
class Principal:
    """An authenticated user, as the checks see it. `grants`: an accountant's active links, customer VAT
    number → permissions granted."""

    user_id: int
    name: str
    kind: str
    customer_vat: str | None = None
    grants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    token_id: int | None = None  # the API token it was obtained from (a backend system's): checked on each use

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind of user {self.kind!r}; known: {', '.join(KINDS)}")

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def visible(self, vat: str) -> bool:
        """May this user learn that customer `vat` exists at all?"""
        if self.kind == OPERATOR:
            return True
        if self.kind == CUSTOMER:
            return vat == self.customer_vat
        return vat in self.grants


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200  # 403 or 404 when refused
    reason: str = ""
    permission: str | None = None


ALLOW = Decision(True)


def may(user: Principal, action: str, vat: str | None = None) -> Decision:
    """The one check: may `user` do `action` for customer `vat` (None for an unscoped action)?"""
    spec = ACTIONS.get(action)
    if spec is None:  # fail closed: an action nobody wrote a rule for is nobody's
        return Decision(False, 403, f"no rule for action {action!r}")
    if user.kind == OPERATOR:
        return ALLOW
    if spec.scoped:
        if vat is None:
            return Decision(False, 403, f"{action} needs a customer")
        if not user.visible(vat):
            return Decision(False, 404, f"no customer {vat}")
    if spec.operator_only:
        return Decision(False, 403, f"{action} is for the intermediary's operators")
    if user.kind == CUSTOMER:
        return ALLOW if spec.customer_may else Decision(False, 403, f"{action} is not for customer users")
    # an accountant
    if not spec.scoped:
        return ALLOW
    assert vat is not None
    if spec.permission is None:
        return Decision(False, 403, f"{action} is for the customer's own users")
    if spec.permission not in user.grants[vat]:
        return Decision(False, 403, f"{vat} has not granted you the permission {spec.permission!r}",
                        spec.permission)
    return ALLOW


def require(user: Principal, action: str, vat: str | None = None, missing: str | None = None) -> None:
    """`may`, as an exception: `Hidden` (404) for a customer the user may not see — with the words `missing`
    that a genuinely absent resource gets, so both answers are the same — and `Forbidden` (403) naming the
    permission otherwise."""
    decision = may(user, action, vat)
    if decision.allowed:
        return
    if decision.status == 404:
        raise Hidden(missing or decision.reason, decision.reason, action, vat)
    raise Forbidden(decision.reason, decision.permission or action, action, vat)
