"""The composition root: the one place that turns settings into running parts and wires them
together — the application, the read-model store, the token store, and delivery (the in-process
runner, the Kafka relay and consumers), which is handed the application and the store it needs.
The CLI, the HTTP server, the benchmarks and the tests build everything through here."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from consumers.envelope import encode, envelope_of
from consumers.event_log import read_records
from consumers.in_process_runner import InProcessRunner
from consumers.kafka_clients import KafkaConnection
from consumers.kafka_clients import KafkaUnavailable as KafkaUnavailable  # re-exported for the CLI
from consumers.kafka_consumer import ProjectionConsumer, partition_lags, read_your_writes
from consumers.kafka_relay import KafkaRelay, TopicSettings, prepare_topics
from consumers.kafka_relay import MissingTopics as MissingTopics  # re-exported for the CLI
from consumers.topics import Topics
from domain.scoring import ScoringModel
from projections.event_record import EventRecord
from projections.pipeline_queries import Reader
from projections.registry import select_projections
from projections.row_changes import Projection
from services.app.application import CrmApplication
from services.app.inbound import InProcessIdentityLocks
from services.app.queries import ReadModelQueries
from services.automation import decay, nurture
from services.automation.assignment import AssignmentPolicy
from services.automation.clock import Clock as AutomationClock
from services.automation.clock import ManualClock, system_clock
from services.automation.engine import Automation
from services.automation.follow_up import FollowUpPolicy
from services.automation.policy import Policy
from services.automation.policy_runner import LogReader, MemoryPolicyPositions, PolicyRunner
from services.automation.scheduler import Scheduler, TimerKind
from services.automation.simulation import Configure, Simulation
from services.privacy.fields import PersonalFields
from services.privacy.keys import KeyStore, MasterKeyVault, PersonKeys
from services.privacy.mapper import SealingMapper
from services.settings import Database, Settings
from services.storage import fail_fast_postgres
from services.storage.access_log import AccessLog, MemoryAccessLog, PostgresAccessLog, SqliteAccessLog
from services.storage.as_known import pipeline_as_known_at
from services.storage.identity_locks import PostgresIdentityLocks
from services.storage.leader_lock import FileLeaderLock, LeaderLock, PostgresLeaderLock, ProcessLeaderLock
from services.storage.person_keys import MemoryKeyStore, PostgresKeyStore, SqliteKeyStore
from services.storage.read_model_store import ReadModelStore
from services.storage.recorders import read_model_recorder
from services.storage.sqlite_scrub import scrub_sqlite
from services.storage.tokens import (
    Clock,
    MemoryTokenStore,
    PostgresTokenStore,
    SqliteTokenStore,
    TokenStore,
    utc_now,
)
from services.storage.webhooks import MemoryWebhookStore, PostgresWebhookStore, SqliteWebhookStore, WebhookStore
from services.webhooks.delivery import WebhookDispatcher
from services.webhooks.subscriptions import WebhookDesk

WaitFor = Callable[[int, float], bool]
"""(position, timeout in seconds) -> True once every projection applied the position."""

ERASURE_WAIT_SECONDS = 10.0
"""How long an erasure waits for the read models to apply it before scrubbing the SQLite file."""

# --- how long anything waits on PostgreSQL (docs/operations.md, "When PostgreSQL is down") ----

POOL_WAIT_SECONDS = 1
"""How long a call waits for a pooled connection (event store, read models, tokens, keys). While
the database is down no connection comes: the call fails after this, and the API answers 503.
eventsourcing calls it POSTGRES_CONNECT_TIMEOUT and takes whole seconds."""
CONNECT_TIMEOUT_SECONDS = 3
"""libpq's timeout for making a new connection (an unreachable host; a refused port fails at
once). The pools connect in the background, so no request waits this long."""
RECONNECT_GIVE_UP_SECONDS = 10
"""How long a pool keeps trying to replace a lost connection before it gives the slot up; a
request then makes a new one at once. Bounds how soon the pools refill once the database is back."""
LOCK_TIMEOUT_SECONDS = 5
"""Longest wait for the event table's lock on append (the database answers, but is busy)."""
IDLE_IN_TRANSACTION_SECONDS = 5
"""The server ends a session idle inside a transaction this long (a client gone mid-transaction),
so that its locks do not outlive it."""


def eventsourcing_env(database: Database) -> dict[str, str]:
    """eventsourcing's persistence settings for a database; no other module names these keys."""
    if database.backend == "memory":
        return {"PERSISTENCE_MODULE": "services.storage.timers:MemoryTimerFactory"}
    if database.backend == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "APPLICATION_RECORDER_TOPIC": "services.storage.timers:SqliteTimerRecorder",
            "SQLITE_DBNAME": database.path,
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    return {
        "PERSISTENCE_MODULE": "services.storage.fail_fast_postgres:FailFastPostgresFactory",
        "APPLICATION_RECORDER_TOPIC": "services.storage.timers:PostgresTimerRecorder",
        "POSTGRES_DBNAME": database.name,
        "POSTGRES_HOST": database.host,
        "POSTGRES_PORT": str(database.port),
        "POSTGRES_USER": database.user,
        "POSTGRES_PASSWORD": database.password,
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_CONNECT_TIMEOUT": str(POOL_WAIT_SECONDS),
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_LOCK_TIMEOUT": str(LOCK_TIMEOUT_SECONDS),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": str(IDLE_IN_TRANSACTION_SECONDS),
        fail_fast_postgres.RECONNECT_TIMEOUT: str(RECONNECT_GIVE_UP_SECONDS),
        fail_fast_postgres.LIBPQ_CONNECT_TIMEOUT: str(CONNECT_TIMEOUT_SECONDS),
    }


def postgres_conninfo(database: Database) -> str:
    """A libpq connection string for a PostgreSQL database."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        dbname=database.name,
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
    )


class DatabaseUnavailable(Exception):
    """The settings' database cannot be opened (e.g. the SQLite file's folder cannot be made)."""


def prepare_database(settings: Settings) -> None:
    """Make the folder of an embedded SQLite file, and the file itself, when missing, readable
    and writable by its owner only (the one side effect of opening a store)."""
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        path = Path(database.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailable(f"cannot make the folder of {database.path}: {error.strerror}") from error
        try:
            _create_owner_only(path)
        except OSError as error:
            raise DatabaseUnavailable(f"cannot create {database.path}: {error.strerror}") from error


def _create_owner_only(path: Path) -> None:
    """Create an empty SQLite file with mode 0600 before SQLite would create it with the umask's
    mode (often readable by everyone). SQLite gives the -wal and -shm files it makes the mode of
    the database file, so they are the owner's only too. An existing file keeps its mode."""
    try:
        path.touch(mode=0o600, exist_ok=False)
    except FileExistsError:
        return
    path.chmod(0o600)  # exactly 0600, whatever the umask took away


def bootstrap(settings: Settings | None = None) -> CrmApplication:
    """The CRM application on the settings' event store (settings from the environment by default),
    its events' personal fields sealed with the people's keys."""
    settings = settings or Settings.from_env()
    prepare_database(settings)
    scoring = ScoringModel(half_life_days=settings.scoring_half_life_days)
    fields = PersonalFields(open_person_keys(settings))
    return CrmApplication(
        env=eventsourcing_env(settings.database),
        scoring=scoring,
        personal_fields=fields,
        calendar=settings.calendar,
    )


# --- privacy -----------------------------------------------------------------------------------


class MasterKeyError(Exception):
    """The master key cannot be read, or is not 32 bytes of base64."""


def master_key_file(settings: Settings) -> Path | None:
    """Where the master key is kept when no setting gives it: `CRM_MASTER_KEY_FILE`, else next to
    the SQLite file, or in var/ for PostgreSQL; nowhere for an in-memory store."""
    if settings.master_key_file:
        return Path(settings.master_key_file)
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        return Path(database.path).parent / "master.key"
    if database.backend == "postgres":
        return Path("var") / f"master-key.{database.host}-{database.port}-{database.name}"
    return None


def master_key(settings: Settings) -> bytes:
    """The key that wraps the people's data keys: `CRM_MASTER_KEY`, else its file (made, readable
    by its owner only, when missing), else a key of this process alone (`memory://`)."""
    if settings.master_key is not None:
        return _decode_master_key(settings.master_key.get_secret_value(), "CRM_MASTER_KEY")
    path = master_key_file(settings)
    if path is None:
        return os.urandom(32)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        return _decode_master_key(path.read_text().strip(), str(path))
    except FileExistsError:  # another process made it first
        return _decode_master_key(path.read_text().strip(), str(path))
    except OSError as error:
        raise MasterKeyError(f"cannot read or make the master key file {path}: {error.strerror}") from error


def _decode_master_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise MasterKeyError(f"{where} is not base64") from None
    if len(key) != 32:
        raise MasterKeyError(f"{where} must hold 32 bytes of base64, not {len(key)}")
    return key


def open_key_store(settings: Settings) -> KeyStore:
    """The people's wrapped keys beside the event store (a dict for `memory://`)."""
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        prepare_database(settings)
        return SqliteKeyStore(database.path)
    if database.backend == "postgres":
        return PostgresKeyStore(
            postgres_conninfo(database), timeout=POOL_WAIT_SECONDS, reconnect_timeout=RECONNECT_GIVE_UP_SECONDS
        )
    return MemoryKeyStore()


def after_erasure(settings: Settings, wait_for: WaitFor | None) -> Callable[[int | None], None]:
    """What the server does once an erasure appended its events: wait until the read models
    applied them, and on an embedded SQLite file, scrub the person's old rows out of it."""
    database = settings.database

    def scrub(position: int | None) -> None:
        if position and wait_for is not None:
            wait_for(position, ERASURE_WAIT_SECONDS)
        if database.backend == "sqlite" and database.path != ":memory:":
            scrub_sqlite(database.path)

    return scrub


def open_person_keys(settings: Settings) -> PersonKeys:
    """The key ring of the settings' store, its keys wrapped by the master key."""
    return PersonKeys(open_key_store(settings), MasterKeyVault(master_key(settings)))


def open_read_models(
    settings: Settings, namespace: str = "", projections: Sequence[Projection] | None = None
) -> ReadModelStore:
    """The read-model store beside the event store (same database), in a namespace."""
    prepare_database(settings)
    recorder = read_model_recorder(eventsourcing_env(settings.database), namespace)
    return ReadModelStore(
        recorder,
        projections if projections is not None else select_projections(None, settings.default_phone_region),
    )


def open_token_store(settings: Settings, clock: Clock = utc_now) -> TokenStore:
    """The token store beside the event store (a dict for `memory://`); `clock` tells it the
    time (tests set one to expire tokens and age their last use without waiting)."""
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        prepare_database(settings)
        return SqliteTokenStore(database.path, clock=clock)
    if database.backend == "postgres":
        return PostgresTokenStore(
            postgres_conninfo(database),
            timeout=POOL_WAIT_SECONDS,
            clock=clock,
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
        )
    return MemoryTokenStore(clock=clock)


def open_identity_locks(settings: Settings) -> InProcessIdentityLocks | PostgresIdentityLocks:
    """The locks that serialise inbound submissions for the same person: this process's own,
    and on PostgreSQL advisory locks too, for every process serving the store."""
    database = settings.database
    if database.backend == "postgres":
        return PostgresIdentityLocks(postgres_conninfo(database))
    return InProcessIdentityLocks()


def open_webhook_store(settings: Settings) -> WebhookStore:
    """The webhook tables beside the event store (dicts for `memory://`): the subscriptions'
    signing secrets, retry state and delivery attempts."""
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        prepare_database(settings)
        return SqliteWebhookStore(database.path)
    if database.backend == "postgres":
        return PostgresWebhookStore(
            postgres_conninfo(database), timeout=POOL_WAIT_SECONDS, reconnect_timeout=RECONNECT_GIVE_UP_SECONDS
        )
    return MemoryWebhookStore()


@contextmanager
def webhook_desk(app: CrmApplication, settings: Settings) -> Iterator[WebhookDesk]:
    """The webhook subscriptions of the settings' store until the block ends (their secrets,
    encrypted under the master key, their cursors, retry state and attempts in the webhook tables)."""
    store = open_webhook_store(settings)
    try:
        yield WebhookDesk(
            app,
            store,
            vault=MasterKeyVault(master_key(settings)),  # the secrets are kept encrypted at rest
            allow_private_networks=settings.webhooks_allow_private_networks,
        )
    finally:
        store.close()


def webhook_dispatcher(
    app: CrmApplication,
    desk: WebhookDesk,
    settings: Settings,
    clock: AutomationClock = system_clock,
    poll_interval: float | None = None,
) -> WebhookDispatcher:
    """The webhook deliveries of the settings' store: each subscription's events read from the
    log with personal fields sealed and sent as the relay's envelopes, while this process holds
    the store's webhook leadership."""
    mapper = app.mapper.sealed() if isinstance(app.mapper, SealingMapper) else None
    interval = settings.automation_poll_seconds if poll_interval is None else poll_interval

    def read(start: int, limit: int) -> list[EventRecord]:
        return read_records(app, start, limit, mapper=mapper)

    def published(record: EventRecord) -> bytes:
        return encode(envelope_of(record))

    lock = leader_lock(settings, purpose="webhooks")
    return WebhookDispatcher(desk, read, published, lock, clock=clock, poll_interval=interval)


def open_access_log(settings: Settings) -> AccessLog:
    """The access log beside the event store (a list for `memory://`): who read which person's
    data. Close it on shutdown: that writes what is still buffered."""
    database = settings.database
    if database.backend == "sqlite" and database.path != ":memory:":
        prepare_database(settings)
        return SqliteAccessLog(database.path)
    if database.backend == "postgres":
        return PostgresAccessLog(postgres_conninfo(database), timeout=POOL_WAIT_SECONDS)
    return MemoryAccessLog()


def read_log(app: CrmApplication, start: int, limit: int, stop: int | None = None) -> list[EventRecord]:
    """Up to `limit` event records of the log from `start` to `stop` (inclusive), as a runner reads them."""
    return read_records(app, start, limit, stop=stop)


def in_process_runner(app: CrmApplication, store: ReadModelStore, **options: object) -> InProcessRunner:
    """The runner that feeds the store's projections straight from the notification log."""
    return InProcessRunner(app, store, **options)  # type: ignore[arg-type]


# --- Kafka -------------------------------------------------------------------------------------


def topics(settings: Settings) -> Topics:
    """The topic and consumer-group names under the settings' prefix."""
    return Topics(settings.kafka_topic_prefix)


def kafka_connection(settings: Settings) -> KafkaConnection:
    """How every Kafka client of the CRM reaches and authenticates to the brokers (the one
    source of their options: `consumers.kafka_clients.client_config`)."""
    return KafkaConnection(
        bootstrap=settings.kafka_bootstrap,
        security_protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=_secret(settings.kafka_sasl_password),
        ssl_cafile=settings.kafka_ssl_cafile,
        ssl_certfile=settings.kafka_ssl_certfile,
        ssl_keyfile=settings.kafka_ssl_keyfile,
        ssl_password=_secret(settings.kafka_ssl_key_password),
        connect_timeout_ms=settings.kafka_connect_timeout_ms,
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def topic_settings(settings: Settings) -> TopicSettings:
    """How the CRM makes its topics, or that it makes none (`CRM_KAFKA_CREATE_TOPICS=false`)."""
    return TopicSettings(
        partitions=settings.kafka_partitions,
        replication_factor=settings.kafka_replication_factor,
        min_insync_replicas=settings.kafka_min_insync_replicas,
        retention_ms=settings.kafka_retention_ms,
        create=settings.kafka_create_topics,
    )


def create_topics(settings: Settings) -> list[str]:
    """Create the event and dead-letter topics when missing; returns the ones created. With
    `CRM_KAFKA_CREATE_TOPICS=false`, MissingTopics names every one that is not there."""
    return prepare_topics(kafka_connection(settings), topic_settings(settings), topics(settings))


def kafka_relay(app: CrmApplication, store: ReadModelStore, settings: Settings, **options: Any) -> KafkaRelay:
    """The relay from the notification log to the event topics, keeping its position in `store`;
    it publishes personal fields sealed, as they are stored."""
    mapper = app.mapper.sealed() if isinstance(app.mapper, SealingMapper) else None
    return KafkaRelay(
        app,
        store,
        kafka_connection(settings),
        topics=topics(settings),
        mapper=mapper,
        source=settings.event_source,
        **options,
    )


def projection_consumers(
    settings: Settings, store: ReadModelStore, names: Sequence[str] | None = None
) -> list[ProjectionConsumer]:
    """One consumer (and consumer group) per named projection, writing into `store`; each opens
    the sealed personal fields of what it consumes with the people's keys."""
    fields = PersonalFields(open_person_keys(settings))
    return [
        projection_consumer(settings, store, projection, fields)
        for projection in select_projections(names, settings.default_phone_region)
    ]


def projection_consumer(
    settings: Settings, store: ReadModelStore, projection: Projection, fields: PersonalFields, **options: Any
) -> ProjectionConsumer:
    """The consumer (and consumer group) of one projection, opening sealed fields with `fields`."""
    return ProjectionConsumer(
        projection,
        store,
        kafka_connection(settings),
        topics=topics(settings),
        open_record=fields.open_record,
        **options,
    )


def kafka_lags(
    settings: Settings, store: ReadModelStore, names: Sequence[str] | None = None
) -> dict[str, dict[str, int]]:
    """Per projection (all of the store's by default) and partition: messages in Kafka not yet
    applied to the read models."""
    return partition_lags(kafka_connection(settings), store, list(names or store.projections), topics(settings))


# --- the read side of a server ---------------------------------------------------------------


# --- automation ---------------------------------------------------------------------------


def timer_kinds() -> dict[str, TimerKind]:
    """Every kind of timer the CRM sets, and what fires it."""
    return {
        decay.KIND: TimerKind(decay.POLICY, decay.rescore_when_due),
        nurture.KIND: TimerKind(nurture.POLICY, nurture.perform_step_when_due),
    }


def policies(settings: Settings, read_models: Reader, wait_for: WaitFor) -> list[Policy]:
    """The policies that react to events, in the order they see each event: a capture is
    assigned before its follow-up task is made, so that the task is its new owner's, and before
    it is enrolled in a nurture sequence, so that its waits count in its owner's time zone."""
    zone = settings.time_zone
    return [
        AssignmentPolicy(read_models, wait_for, default_zone=zone),
        FollowUpPolicy(settings.calendar, settings.qualify_score),
        nurture.NurtureExits(),
        nurture.NurtureEnrolment(),
    ]


def log_reader(app: CrmApplication) -> LogReader:
    """Reads an application's log as event records, for the policy runner and simulations."""
    return lambda start, limit: read_records(app, start, limit)


def leader_lock(settings: Settings, purpose: str = "automation") -> LeaderLock:
    """The lock that makes one process the active one per store for `purpose` (automation,
    webhook deliveries, or keeping the read models in-process: `projections`)."""
    database = settings.database
    if database.backend == "postgres":
        return PostgresLeaderLock(
            postgres_conninfo(database), f"crm-{purpose}:{database.name}", connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
    if database.backend == "sqlite" and database.path != ":memory:":
        return FileLeaderLock(f"{database.path}.{purpose}.lock")
    return ProcessLeaderLock(f"crm-{purpose}:memory:{id(settings)}")


def automation(
    app: CrmApplication,
    store: ReadModelStore,
    settings: Settings,
    clock: AutomationClock = system_clock,
    poll_interval: float | None = None,
) -> Automation:
    """The automation engine on the settings' store: its policies follow the log (positions
    kept with the read models), its scheduler fires the timers, while it holds leadership; idle,
    it looks again every `poll_interval` seconds (`CRM_AUTOMATION_POLL_SECONDS` by default)."""
    runner = PolicyRunner(app, policies(settings, store, store.wait), store, log_reader(app), clock=clock)
    scheduler = Scheduler(app, timer_kinds(), clock)
    interval = settings.automation_poll_seconds if poll_interval is None else poll_interval
    return Automation(runner, scheduler, leader_lock(settings), poll_interval=interval)


def read_models_on_demand(app: CrmApplication, store: ReadModelStore) -> WaitFor:
    """A read-your-writes wait that brings the read models up to the log itself, there and then
    (for a simulation, or a test, where no runner follows the log in the background)."""
    runner = InProcessRunner(app, store)

    def caught_up(position: int, timeout: float) -> bool:
        runner.catch_up()
        return store.wait(position, 0)

    return caught_up


def simulation(app: CrmApplication, settings: Settings, configure: Configure) -> Simulation:
    """A what-if of the automation over the application's history: replayed into a fresh
    in-memory application, configured by `configure`, with the same policies and timers."""

    def new_app() -> CrmApplication:
        # nurture waits in the simulation count business days by the store's own calendar
        return CrmApplication(
            env=eventsourcing_env(Database(backend="memory")), scoring=app.scoring, calendar=app.calendar
        )

    def build_engine(sim: CrmApplication, clock: ManualClock) -> tuple[PolicyRunner, Scheduler]:
        # the simulated read models, kept in step with the simulated log whenever a policy asks
        memory = eventsourcing_env(Database(backend="memory"))
        store = ReadModelStore(read_model_recorder(memory), select_projections(None, settings.default_phone_region))
        sim_policies = policies(settings, store, read_models_on_demand(sim, store))
        runner = PolicyRunner(sim, sim_policies, MemoryPolicyPositions(), log_reader(sim), clock=clock)
        return runner, Scheduler(sim, timer_kinds(), clock)

    return Simulation(log_reader(app), new_app, log_reader, build_engine, configure)


@dataclass(frozen=True)
class ReadSide:
    """The read models of a running server: their queries, and how to wait for a position."""

    queries: ReadModelQueries
    wait_for: WaitFor
    runner: InProcessRunner | None
    """None when Kafka consumers keep the read models (CRM_READ_MODELS=kafka)."""


@contextmanager
def following_read_models(
    app: CrmApplication, settings: Settings, log: TextIO | None = None, poll_interval: float = 0.05
) -> Iterator[ReadSide]:
    """The read models beside the settings' event store, caught up with the log first and then
    kept following it by a background thread until the block ends. With `read_models=kafka` the
    Kafka consumers keep them; a runner here would apply every event a second time."""
    store = open_read_models(settings)
    try:
        yield from _following(app, store, settings, log, poll_interval)
    finally:
        store.close()


@contextmanager
def embedded_automation(app: CrmApplication, settings: Settings) -> Iterator[Automation | None]:
    """The automation engine in a thread of the server until the block ends, unless a separate
    `crm automate` runs it (`CRM_AUTOMATION=separate`: then None)."""
    if settings.automation != "in-process":
        yield None
        return
    store = open_read_models(settings)
    try:
        with automation(app, store, settings) as engine:
            yield engine
    finally:
        store.close()


@contextmanager
def embedded_webhooks(app: CrmApplication, desk: WebhookDesk, settings: Settings) -> Iterator[WebhookDispatcher | None]:
    """The webhook deliveries in threads of the server until the block ends, unless separate
    processes run them (`CRM_AUTOMATION=separate`, then `crm webhooks`: None here)."""
    if settings.automation != "in-process":
        yield None
        return
    with webhook_dispatcher(app, desk, settings) as dispatcher:
        yield dispatcher


def _queries(store: ReadModelStore) -> ReadModelQueries:
    """The routes' queries over `store`, able to answer as known at a past moment from its journal."""
    return ReadModelQueries(store, believed_at=partial(pipeline_as_known_at, store))


def _following(
    app: CrmApplication, store: ReadModelStore, settings: Settings, log: TextIO | None, poll_interval: float
) -> Iterator[ReadSide]:
    """The read side of a server: Kafka consumers keep it, or a runner caught up first."""
    if settings.read_models == "kafka":
        waiter = read_your_writes(app, store, settings.kafka_partitions, topics(settings))
        yield ReadSide(queries=_queries(store), wait_for=waiter, runner=None)
        return
    # one process per store keeps them: the one holding this lock, the others wait their turn (an
    # in-memory store is its process's own, and so are its read models)
    lock = None if settings.database.backend == "memory" else leader_lock(settings, "projections")
    runner = InProcessRunner(app, store, poll_interval=poll_interval, lock=lock)
    if runner.leads():
        started = time.monotonic()
        applied = runner.catch_up()
        if log is not None:
            seconds = time.monotonic() - started
            print(f"crm: read models caught up with {applied} events in {seconds:.1f} s", file=log, flush=True)
    elif log is not None:
        print(f"crm: another process keeps the read models; process {os.getpid()} reads them", file=log, flush=True)
    with runner:
        yield ReadSide(queries=_queries(store), wait_for=runner.wait, runner=runner)
