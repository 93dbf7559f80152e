"""Console sessions: a user signs in with their API token and gets a session cookie that names a
server-side session (a random id; the token stays on the server). Each session has its own CSRF
token, which every form sends back. Sessions live in this process's memory: a restart signs
everyone out, and every request still asks the token store, so a revoked token ends its session
on the next request."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_COOKIE = "crm_console"
SIGN_IN_COOKIE = "crm_console_sign_in"
"""Holds the CSRF token of the sign-in form (there is no session yet to hold it)."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 8 * 3600
"""A session ends this long after sign-in, whatever the token's own expiry."""


@dataclass(frozen=True)
class Session:
    """One signed-in browser: the token it signed in with, its CSRF token, when it ends."""

    session_id: str
    token: str
    csrf_token: str
    expires_at: float


class SessionStore:
    """The console's sessions, by id, in memory."""

    def __init__(self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, token: str) -> Session:
        """A new session for a token the caller has checked."""
        session = Session(secrets.token_urlsafe(32), token, secrets.token_urlsafe(32), self.clock() + self.lifetime)
        with self._lock:
            self._drop_expired()
            self._sessions[session.session_id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        """The live session of that id, if there is one."""
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[session_id]
                return None
        return session

    def close(self, session_id: str | None) -> None:
        """End a session (sign-out, or its token no longer holds)."""
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token with the one sent back."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
