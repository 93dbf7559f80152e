"""Settings read once from the environment and mapped onto eventsourcing's persistence settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///var/crm.sqlite"


class SettingsError(ValueError):
    """A setting has a value the CRM cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, parsed and validated in one place."""

    database_url: str = DEFAULT_DATABASE_URL
    scoring_half_life_days: float = 14.0
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 6
    kafka_topic_prefix: str = ""
    read_models: str = "in-process"
    """Who keeps the read models: `in-process` (the server's runner) or `kafka` (crm consume)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the CRM_* variables (defaults for the embedded mode)."""
        env = os.environ if environ is None else environ
        try:
            half_life = float(env.get("CRM_SCORING_HALF_LIFE_DAYS", "14"))
        except ValueError:
            raise SettingsError("CRM_SCORING_HALF_LIFE_DAYS must be a number of days") from None
        if half_life <= 0:
            raise SettingsError("CRM_SCORING_HALF_LIFE_DAYS must be positive")
        try:
            partitions = int(env.get("CRM_KAFKA_PARTITIONS", "6"))
        except ValueError:
            raise SettingsError("CRM_KAFKA_PARTITIONS must be a whole number") from None
        if partitions < 1:
            raise SettingsError("CRM_KAFKA_PARTITIONS must be at least 1")
        read_models = env.get("CRM_READ_MODELS", "in-process")
        if read_models not in ("in-process", "kafka"):
            raise SettingsError("CRM_READ_MODELS must be in-process or kafka")
        return cls(
            read_models=read_models,
            database_url=env.get("CRM_DATABASE_URL", DEFAULT_DATABASE_URL),
            scoring_half_life_days=half_life,
            kafka_bootstrap=env.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            kafka_partitions=partitions,
            kafka_topic_prefix=env.get("CRM_KAFKA_TOPIC_PREFIX", ""),
        )

    @property
    def backend(self) -> str:
        """`sqlite`, `postgres` or `memory`."""
        return persistence_env(self.database_url)["PERSISTENCE_MODULE"].rsplit(".", 1)[-1].replace("popo", "memory")

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing environment for this database URL."""
        return persistence_env(self.database_url)


def persistence_env(database_url: str) -> dict[str, str]:
    """Map `sqlite:///path`, `postgresql://user:pw@host:port/db` or `memory://` onto eventsourcing."""
    parts = urlsplit(database_url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if scheme == "sqlite":
        # sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory:
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise SettingsError(f"CRM_DATABASE_URL {database_url!r} names no SQLite file")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    if scheme in ("postgres", "postgresql"):
        dbname = parts.path.lstrip("/")
        if not (parts.hostname and dbname):
            raise SettingsError(f"CRM_DATABASE_URL {database_url!r} needs a host and a database name")
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(dbname),
            "POSTGRES_HOST": parts.hostname,
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "10",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "POSTGRES_LOCK_TIMEOUT": "5",
        }
        return env
    raise SettingsError(f"CRM_DATABASE_URL {database_url!r}: scheme must be sqlite, postgresql or memory")
