"""A logged-in KSeF client per Polish customer, for the invoice channel (#14.3), kept in the worker's memory.

The worker authenticates as `adapters/ksef_authority.py` does: a XAdES-signed AuthTokenRequest in the context of
the customer's NIP, signed with the customer's own seal from the key store (`KSEF_KEY_ALIAS`, `ksef-{nip}`).
The access and refresh tokens stay inside the client (`adapters/ksef.py`: refreshed before they lapse, hidden
from every `repr`), so they are never in a workflow's input, output or history. A 401 (the authentication gone
at KSeF, e.g. after KSeF's restart) logs in again once. One call at a time per customer: the client is not
thread-safe and the activities run in a thread pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from adapters.ksef import KsefAuthFailed, KsefClient, KsefRejected, client_from_settings
from core.settings import Settings
from domain.errors import NotFound
from domain.signatures.keystore import FileKeyStore, Signer

T = TypeVar("T")
KEY_KEEP_SECONDS = 300.0


class KsefLogins:
    def __init__(self, settings: Settings, signer_for: Callable[[str], Signer] | None = None,
                 make_client: Callable[[], KsefClient] | None = None):
        self.settings = settings
        self._signer_for = signer_for or self._key_store_signer
        self._make_client = make_client or (lambda: client_from_settings(settings))
        self._keys: FileKeyStore | None = None
        self._clients: dict[str, KsefClient] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KsefLogins({len(self._clients)} logged in)"

    def _key_store_signer(self, nip: str) -> Signer:
        if self._keys is None:
            self._keys = FileKeyStore(self.settings.data_dir / "keys", keep_seconds=KEY_KEEP_SECONDS)
        return self._keys.signer(self.settings.ksef_key_alias.format(nip=nip))

    def _lock_of(self, nip: str) -> threading.RLock:
        with self._lock:
            return self._locks.setdefault(nip, threading.RLock())

    def _logged_in(self, nip: str) -> KsefClient:
        client = self._clients.get(nip)
        if client is None:
            try:
                signer = self._signer_for(nip)
            except NotFound as err:
                raise KsefAuthFailed("login", None, (), f"no KSeF signing certificate of {nip} in the key store "
                                                         f"({err}): deposit the customer's seal under that alias"
                                     ) from None
            client = self._make_client()
            try:
                client.login_xades("Nip", nip, signer)
            except BaseException:
                client.close()
                raise
            self._clients[nip] = client
        return client

    def forget(self, nip: str) -> None:
        with self._lock_of(nip):
            client = self._clients.pop(nip, None)
            if client is not None:
                client.close()

    def call(self, nip: str, fn: Callable[[KsefClient], T]) -> T:
        """`fn` with the customer's logged-in client; a 401 logs in again once; KSeF's errors as they are."""
        with self._lock_of(nip):
            for attempt in (1, 2):
                try:
                    return fn(self._logged_in(nip))
                except KsefRejected as err:
                    if err.status == 401 and attempt == 1:
                        self.forget(nip)
                        continue
                    raise
                except KsefAuthFailed:
                    self.forget(nip)
                    raise
            raise AssertionError("unreachable")

    def close(self) -> None:
        for nip in list(self._clients):
            self.forget(nip)
