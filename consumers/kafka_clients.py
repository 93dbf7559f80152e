"""Every Kafka client the CRM makes, from one place: the relay's producer, the projection
consumers, the dead-letter producer, the status and lag probes and the topic admin all get the
connection options (security protocol, SASL, TLS, the bootstrap time-out) from `client_config`,
so none of them can be forgotten when a broker asks for credentials. A unit test checks that no
other module constructs a client."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError, KafkaTimeoutError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
DEFAULT_CONNECT_TIMEOUT_MS = 30_000

T = TypeVar("T")


class KafkaUnavailable(RuntimeError):
    """No broker let a client in within its time-out: unreachable, or refusing the credentials
    or the TLS handshake; the message names the broker, the protocol, the user and the reason."""


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach and authenticate to the brokers; the passwords are left out of its repr."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = field(default=None, repr=False)
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS
    """How long a new client tries to bootstrap before it gives up with `KafkaUnavailable`."""

    @property
    def uses_sasl(self) -> bool:
        """True for SASL_PLAINTEXT and SASL_SSL."""
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        """True for SSL and SASL_SSL."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    def describe(self) -> str:
        """Where and as whom, without secrets: `127.0.0.1:9093 (SASL_PLAINTEXT, PLAIN as crm)`."""
        how: str = self.security_protocol
        if self.uses_sasl:
            how += f", {self.sasl_mechanism} as {self.sasl_username}"
        return f"{self.bootstrap} ({how})"


def as_connection(connection: KafkaConnection | str) -> KafkaConnection:
    """A connection; a bare `host:port` is a PLAINTEXT one."""
    return connection if isinstance(connection, KafkaConnection) else KafkaConnection(connection)


def client_config(connection: KafkaConnection, client_id: str) -> dict[str, Any]:
    """The options every Kafka client of the CRM is constructed with (kafka-python names)."""
    config: dict[str, Any] = {
        "bootstrap_servers": connection.bootstrap,
        "client_id": client_id,
        "security_protocol": connection.security_protocol,
        "bootstrap_timeout_ms": connection.connect_timeout_ms,
    }
    if connection.uses_sasl:
        config |= {
            "sasl_mechanism": connection.sasl_mechanism,
            "sasl_plain_username": connection.sasl_username,
            "sasl_plain_password": connection.sasl_password,
        }
    if connection.uses_tls:
        tls = {
            "ssl_cafile": connection.ssl_cafile,
            "ssl_certfile": connection.ssl_certfile,
            "ssl_keyfile": connection.ssl_keyfile,
            "ssl_password": connection.ssl_password,
        }
        config |= {name: value for name, value in tls.items() if value is not None}
    return config


def new_producer(connection: KafkaConnection | str, client_id: str, **options: Any) -> KafkaProducer:
    """A producer with the connection's options (and `options`, e.g. acks, batching)."""
    return _connect(connection, client_id, lambda config: KafkaProducer(**config, **options))


def new_consumer(connection: KafkaConnection | str, client_id: str, **options: Any) -> KafkaConsumer:
    """A consumer with the connection's options (and `options`, e.g. its group, offsets)."""
    return _connect(connection, client_id, lambda config: KafkaConsumer(**config, **options))


def new_admin(connection: KafkaConnection | str, client_id: str, **options: Any) -> KafkaAdminClient:
    """An admin client with the connection's options."""
    return _connect(connection, client_id, lambda config: KafkaAdminClient(**config, **options))


def _connect(connection: KafkaConnection | str, client_id: str, construct: Callable[[dict[str, Any]], T]) -> T:
    """Construct a client (it bootstraps at once); a bootstrap that fails within the time-out is
    `KafkaUnavailable`, naming the reason the client library only logged (a wrong password is
    otherwise a bare "unable to bootstrap")."""
    connection = as_connection(connection)
    with _bootstrap_failures() as failures:
        try:
            return construct(client_config(connection, client_id))
        except KafkaTimeoutError as error:
            reason = _likeliest(failures, connection) or str(error)
            seconds = connection.connect_timeout_ms / 1000
            raise KafkaUnavailable(
                f"Kafka at {connection.describe()} did not let {client_id} in within {seconds:g} s: {reason}"
            ) from error
        except KafkaError as error:
            raise KafkaUnavailable(f"Kafka at {connection.describe()} refused {client_id}: {error}") from error


_FAILED = re.compile(r"(?:Bootstrap connection to \S+ failed|Connection lost): (?P<reason>.*?)(?: \(backoff [^)]*\))?$")


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _FAILED.search(record.getMessage())
        if match:
            self.reasons.append(match.group("reason"))


@contextmanager
def _bootstrap_failures() -> Iterator[list[str]]:
    """The reasons kafka-python logs (its connection manager and its connections) for failed
    connections while the block runs."""
    handler = _Failures()
    logger = logging.getLogger("kafka")
    logger.addHandler(handler)
    try:
        yield handler.reasons
    finally:
        logger.removeHandler(handler)


_REFUSALS = (
    "SaslAuthenticationFailedError",
    "Authentication failed",
    "UnsupportedSaslMechanism",
    "certificate verify failed",
    "Handshake failed",
)
"""What a broker's refusal (not a time-out) looks like in kafka-python's messages."""


def _likeliest(reasons: list[str], connection: KafkaConnection) -> str | None:
    """An authentication or TLS failure tells more than the disconnects that follow it. A broker
    that refuses SASL credentials answers so and closes the connection, and the client does not
    always read the answer first: a SASL connection closed at every attempt says what to check."""
    for reason in reversed(reasons):
        if any(refusal in reason for refusal in _REFUSALS):
            return reason
    closed = [reason for reason in reasons if "disconnected" in reason]
    cut_short = ("disconnected", "Timeout", "timed out")  # the last attempt may meet the deadline
    if connection.uses_sasl and closed and all(any(word in r for word in cut_short) for r in reasons):
        return (
            f"the broker closed every connection ({closed[-1]}) while the client authenticated: "
            "a wrong user or password, a mechanism the listener does not take, or a listener without SASL"
        )
    return reasons[-1] if reasons else None
