"""A server's recent token lookups, kept for a moment so that a request need not ask the token
store (a database query, and a thread-pool hop off the event loop) when the same token was
looked up a moment ago.

Revocation still holds: a revocation through the same store (`TokenStore.on_revoke`) empties the
cache at once, so this process refuses the token from its very next request; a revocation by
another process (`crm token revoke`) is seen once the entry is older than `seconds`
(`CRM_TOKEN_CACHE_SECONDS`, 0 turns the cache off), the bound on how long another process's
revocation may take to reach this one. An entry never outlives its token's expiry (reckoned by
the store's clock), and only valid tokens are kept: an unknown, expired or revoked one asks the
store every time, so that a token issued a moment ago by another process works at once and a
stream of made-up tokens cannot push the real ones out."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from services.auth.policy import Principal, Refusal

MAX_ENTRIES = 4096
"""How many tokens the cache keeps at most (the least recently used go first)."""


class RevocableTokens(Protocol):
    """A token store as the cache uses it (`services.storage.tokens.TokenStore`)."""

    clock: Callable[[], datetime]

    def resolve_until(self, token: str) -> tuple[Principal, datetime] | Refusal:
        """The principal of a valid token and when it expires, or why the token is refused."""
        ...

    def on_revoke(self, forget: Callable[[], None]) -> None:
        """Call `forget` whenever the store revokes tokens."""
        ...


class TokenCache:
    """The principals of the valid tokens `tokens` resolved in the last `seconds`."""

    def __init__(
        self,
        tokens: RevocableTokens,
        seconds: float,
        *,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens
        self.seconds = seconds
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[Principal, datetime, float]] = OrderedDict()
        self._lock = threading.Lock()  # lookups run on the event loop and in the thread pool
        self._revocations = 0
        """How often the store revoked: a lookup that began before a revocation keeps nothing."""
        tokens.on_revoke(self.forget)

    def cached(self, token: str) -> Principal | None:
        """The principal of a token resolved lately and still valid, without asking the store;
        None when the store must be asked."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            principal, expires_at, kept_until = entry
            if self._monotonic() >= kept_until or self.tokens.clock() >= expires_at:
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return principal

    def resolve(self, token: str) -> Principal | Refusal:
        """The principal a valid token belongs to, from the cache or else the store (and kept)."""
        principal = self.cached(token)
        if principal is not None:
            return principal
        revocations = self._revocations
        found = self.tokens.resolve_until(token)
        if isinstance(found, Refusal):
            return found
        principal, expires_at = found
        with self._lock:
            if revocations != self._revocations:
                return principal  # valid when looked up; the next request asks the store again
            self._entries[token] = (principal, expires_at, self._monotonic() + self.seconds)
            self._entries.move_to_end(token)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return principal

    def forget(self) -> None:
        """Drop every entry (a token was revoked: which one is not known by its token)."""
        with self._lock:
            self._revocations += 1
            self._entries.clear()
