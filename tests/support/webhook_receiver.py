"""A webhook receiver for tests: a real HTTP server on a free loopback port, in a thread, that
verifies every delivery's signature with `standardwebhooks` against the secrets it is told,
keeps what it received, and answers with the statuses it is scripted to (200 once the script
runs out). It can be held (`hold`), to stand for a slow endpoint, until released."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    """One request the receiver got."""

    headers: dict[str, str]
    body: bytes
    verified_with: tuple[str, ...]
    """The secrets (of those the receiver knows) whose signature verified."""
    status: int
    received_at: float
    """When it arrived (the system clock, seconds since the epoch)."""

    @property
    def envelope(self) -> dict[str, Any]:
        """The JSON body."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """What the receiving server knows and got."""

    url: str = ""
    secrets: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    waiting: int = 0
    """Requests being held right now."""

    def hold(self) -> None:
        """Make every request wait until `release()` (a slow endpoint)."""
        self.released.clear()
        self.held.set()

    def release(self) -> None:
        """Let waiting requests be answered."""
        self.held.clear()
        self.released.set()

    def verified(self) -> list[Delivery]:
        """The deliveries whose signature verified with at least one known secret."""
        return [d for d in self.deliveries if d.verified_with]

    def wait_until_held(self, timeout: float = 30.0) -> None:
        """Wait until a request is being held."""
        with self.arrived:
            assert self.arrived.wait_for(lambda: self.waiting > 0, timeout), "no request came to be held"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until `count` requests arrived; returns them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.deliveries) >= count, timeout)
            assert len(self.deliveries) >= count, f"only {len(self.deliveries)} of {count} deliveries arrived"
            return list(self.deliveries)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if receiver.held.is_set():
                with receiver.arrived:
                    receiver.waiting += 1
                    receiver.arrived.notify_all()
                receiver.released.wait(30)
                with receiver.arrived:
                    receiver.waiting -= 1
            verified = []
            for secret in receiver.secrets:
                try:
                    Webhook(secret).verify(body, headers)
                    verified.append(secret)
                except WebhookVerificationError:
                    pass
            with receiver.arrived:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.deliveries.append(Delivery(headers, body, tuple(verified), status, time.time()))
                receiver.arrived.notify_all()
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"x" * 5000)

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender died while we held its request (a crash test)

    return Handler


@contextmanager
def receiving(*secrets: str) -> Iterator[Receiver]:
    """A receiver on a free loopback port until the block ends."""
    receiver = Receiver(secrets=list(secrets))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()
        thread.join(10)
