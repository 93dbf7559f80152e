"""Everything configurable, typed and validated in one place: the `CRM_*` environment variables
(or a `.env` file), read once by the entry points and passed down. Reading settings has no side
effect: nothing here creates a folder or opens a connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.calendar import BusinessCalendar, parse_weekdays

ENV_PREFIX = "CRM_"
DEFAULT_DATABASE_URL = "sqlite:///var/crm.sqlite"

Backend = Literal["sqlite", "postgres", "memory"]


class SettingsError(ValueError):
    """A setting has a value the CRM cannot use."""


@dataclass(frozen=True)
class Database:
    """Where the event store (and the read models and tokens beside it) lives, as parsed from
    `CRM_DATABASE_URL`: `sqlite:///path`, `postgresql://user:pw@host:port/db` or `memory://`."""

    backend: Backend
    path: str = ""
    """SQLite: the file (relative to the working directory), or `:memory:`."""
    host: str = ""
    port: int = 5432
    name: str = ""
    user: str = ""
    password: str = ""


def parse_database_url(url: str) -> Database:
    """The database a URL names; SettingsError (naming the URL, password hidden) when it names none."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return Database("memory")
    if scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory:
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise SettingsError(f"{redact(url)!r} names no SQLite file")
        return Database("sqlite", path=path)
    if scheme in ("postgres", "postgresql"):
        name = parts.path.lstrip("/")
        if not (parts.hostname and name):
            raise SettingsError(f"{redact(url)!r} needs a host and a database name")
        try:
            port = parts.port or 5432
        except ValueError:
            raise SettingsError(f"{redact(url)!r} has a port that is not a number") from None
        return Database(
            "postgres",
            host=parts.hostname,
            port=port,
            name=unquote(name),
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
        )
    raise SettingsError(f"{redact(url)!r}: scheme must be sqlite, postgresql or memory")


def redact(url: str) -> str:
    """The URL with its password replaced by `***`, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{hostport}"))


class Settings(BaseSettings):
    """The CRM's settings. Each field `name` is read from the variable `CRM_NAME`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="the event store: sqlite:///path, postgresql://user:password@host:port/db, or memory://",
    )
    scoring_half_life_days: float = Field(default=14.0, gt=0, description="half-life of engagement points")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", min_length=1, description="host:port of the brokers")
    kafka_partitions: int = Field(default=6, ge=1, description="partitions of the event topics the relay creates")
    kafka_topic_prefix: str = Field(default="", description="prefix of every topic and consumer group name")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="how every Kafka client of the CRM talks to the brokers"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="the SASL mechanism, with SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_username: str | None = Field(default=None, min_length=1, description="the SASL user")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="the SASL user's password")
    kafka_ssl_cafile: str | None = Field(
        default=None, description="PEM file of the CAs that sign the brokers' certificates"
    )
    kafka_ssl_certfile: str | None = Field(default=None, description="PEM file of the client certificate (mutual TLS)")
    kafka_ssl_keyfile: str | None = Field(default=None, description="PEM file of the client certificate's private key")
    kafka_ssl_key_password: SecretStr | None = Field(default=None, description="the password of that private key")
    kafka_connect_timeout_ms: int = Field(
        default=30_000, ge=100, description="how long a Kafka client tries to connect and authenticate before failing"
    )
    kafka_create_topics: bool = Field(
        default=True, description="create missing topics; false: only check that they exist, naming the missing"
    )
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="replication factor of the topics the CRM creates"
    )
    kafka_min_insync_replicas: int | None = Field(
        default=None, ge=1, description="min.insync.replicas of the topics the CRM creates (broker default when unset)"
    )
    kafka_retention_ms: int | None = Field(
        default=None,
        ge=-1,
        description="retention.ms of the topics the CRM creates (-1: forever; broker default when unset)",
    )
    cloudevents_source: str | None = Field(
        default=None,
        min_length=1,
        description="the CloudEvents source (ce_source header) of published events; default urn:crm:<store name>",
    )
    read_models: Literal["in-process", "kafka"] = Field(
        default="in-process",
        description="who keeps the read models: the server's in-process runner, or the Kafka consumers",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="port on which crm relay and crm consume serve /metrics"
    )
    master_key: SecretStr | None = Field(
        default=None, description="base64 of the 32-byte key that wraps the people's data keys (wins over the file)"
    )
    master_key_file: str | None = Field(
        default=None, description="a file holding the master key; made (mode 0600) when missing"
    )

    automation: Literal["in-process", "separate"] = Field(
        default="in-process",
        description="who runs the policies and timers: threads of crm serve, or a separate crm automate process",
    )
    automation_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="how long idle automation waits before looking again for due timers and new events",
    )
    token_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="how long crm serve keeps a valid token's lookup (and so how late a revocation by another "
        "process may reach it); 0: every request asks the token store",
    )
    time_zone: str = Field(
        default="UTC", description="IANA time zone business days are counted in, unless a user has their own"
    )
    business_days: str = Field(default="mon-fri", description="the weekdays that are business days, e.g. mon-fri")
    qualify_score: int = Field(
        default=60, ge=1, le=100, description="a lead whose score reaches this gets a task to qualify it"
    )
    default_phone_region: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}$",
        description="ISO 3166-1 alpha-2 region that phones without a country code are read in, when the lead "
        "names no country (unset: such numbers are not compared)",
    )
    webhooks_allow_private_networks: bool = Field(
        default=False,
        description="let webhook URLs be http, or name loopback, private or link-local addresses (tests, labs)",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("business_days")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        parse_weekdays(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _names_a_database(cls, value: str) -> str:
        parse_database_url(value)
        return value

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"CRM_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs CRM_KAFKA_SASL_USERNAME "
                "and CRM_KAFKA_SASL_PASSWORD"
            )
        if (
            self.kafka_min_insync_replicas is not None
            and self.kafka_min_insync_replicas > self.kafka_replication_factor
        ):
            raise ValueError(
                f"CRM_KAFKA_MIN_INSYNC_REPLICAS={self.kafka_min_insync_replicas} is more than "
                f"CRM_KAFKA_REPLICATION_FACTOR={self.kafka_replication_factor}: no write could ever be acknowledged"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the CRM_* variables (of the process, or of `environ`); SettingsError names the
        variable and the reason."""
        try:
            if environ is None:
                return cls()
            known = {f"{ENV_PREFIX}{name.upper()}": name for name in cls.model_fields}
            return cls.model_validate({known[key]: value for key, value in environ.items() if key in known})
        except ValidationError as error:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {_reason(e)}" if e["loc"] else _reason(e)
                for e in error.errors()
            )
            raise SettingsError(problems) from None

    @property
    def database(self) -> Database:
        """The parsed `database_url`."""
        return parse_database_url(self.database_url)

    @property
    def backend(self) -> Backend:
        """`sqlite`, `postgres` or `memory`."""
        return self.database.backend

    @property
    def calendar(self) -> BusinessCalendar:
        """The business days and default time zone automation counts by."""
        return BusinessCalendar(weekdays=parse_weekdays(self.business_days), time_zone=self.time_zone)

    @property
    def event_source(self) -> str:
        """The CloudEvents `source` of the events this CRM publishes: `cloudevents_source`, or
        `urn:crm:<store name>` (the PostgreSQL database, the SQLite file's stem, or `memory`),
        which stays the same as long as the store does."""
        if self.cloudevents_source:
            return self.cloudevents_source
        database = self.database
        if database.backend == "postgres":
            name = database.name
        elif database.backend == "sqlite":
            name = PurePath(database.path).stem or "sqlite"
        else:
            name = "memory"
        return f"urn:crm:{quote(name, safe='')}"

    @property
    def redacted_database_url(self) -> str:
        """`database_url` with the password hidden."""
        return redact(self.database_url)


def _reason(error: Mapping[str, object]) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")
