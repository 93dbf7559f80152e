"""Timers kept beside the events, in the event store's own transactions.

A command that asks for a timer (`CrmAggregate.request_timer`) has it written in the SAME
transaction as its events: the timer exists exactly when the events that set it do. An action a
timer causes records the timer's firing in the same transaction as the action's events; the
firings table's primary key (timer, generation) refuses a second firing, so however often a
scheduler crashes, restarts or races another one, each due action happens once.

A timer is named: asking again for the same name moves it (a new `generation`, not yet fired).

The recorders here extend eventsourcing's application recorders through `_insert_events(cursor,
stored_events, **kwargs)`, the hook their `insert_events` calls inside the transaction before
(PostgreSQL) or as (SQLite) it inserts the events; `Application.save(..., timers=, firing=)`
passes the keyword arguments down to it (pinned by eventsourcing 9.5.x in pyproject.toml). The
PostgreSQL recorder writes them itself instead, in its group commit (`_write_group`: the timers
and firings of every append of a group, then their events, in one transaction)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from domain.time import parse_time
from domain.timers import Timer
from services.app.timers import Firing, FiringRecord, StoredTimer, TimerAlreadyFired, TimerSetting
from services.storage.fail_fast_postgres import FailFastApplicationRecorder
from services.storage.group_commit import Append, GroupCommit


def _db_time(moment: datetime) -> str:
    """Fixed-width ISO UTC text, so that text order is time order in both databases."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _setting_row(setting: TimerSetting, now: datetime) -> tuple[Any, ...]:
    timer = setting.timer
    payload = json.dumps(timer.payload, sort_keys=True, separators=(",", ":"))
    return (
        timer.timer_id,
        timer.kind,
        str(timer.aggregate_id),
        _db_time(timer.due_at),
        payload,
        setting.cause,
        _db_time(now),
    )


def _stored_timer(row: Any) -> StoredTimer:
    return StoredTimer(
        timer=Timer(
            timer_id=row["timer_id"],
            kind=row["kind"],
            aggregate_id=UUID(row["aggregate_id"]),
            due_at=parse_time(row["due_at"]),
            payload=json.loads(row["payload"]),
        ),
        generation=int(row["generation"]),
        cause=row["cause"],
        set_at=parse_time(row["set_at"]),
        fired_at=None if row["fired_at"] is None else parse_time(row["fired_at"]),
    )


def _firing_record(row: Any) -> FiringRecord:
    return FiringRecord(
        timer_id=row["timer_id"],
        generation=int(row["generation"]),
        kind=row["kind"],
        due_at=parse_time(row["due_at"]),
        fired_at=parse_time(row["fired_at"]),
        outcome=row["outcome"],
    )


class _SqlTimers:
    """The timer SQL both databases share; `{timers}` and `{firings}` are the two tables."""

    p = "?"

    def _timer_sql(self) -> dict[str, str]:
        p = self.p
        return {
            "set": (
                "INSERT INTO {timers} "
                "(timer_id, generation, kind, aggregate_id, due_at, payload, cause, set_at, fired_at) "
                f"VALUES ({p}, 1, {p}, {p}, {p}, {p}, {p}, {p}, NULL) "
                "ON CONFLICT (timer_id) DO UPDATE SET generation = {timers_ref}.generation + 1, "
                "kind = excluded.kind, aggregate_id = excluded.aggregate_id, due_at = excluded.due_at, "
                "payload = excluded.payload, cause = excluded.cause, set_at = excluded.set_at, fired_at = NULL"
            ),
            "fire": (
                "INSERT INTO {firings} (timer_id, generation, kind, due_at, fired_at, outcome) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
            ),
            "mark": f"UPDATE {{timers}} SET fired_at = {p} WHERE timer_id = {p} AND generation = {p}",
            "due": (
                f"SELECT * FROM {{timers}} WHERE fired_at IS NULL AND due_at <= {p} AND kind IN (%KINDS%) "
                f"ORDER BY due_at, timer_id LIMIT {p}"
            ),
            "get": f"SELECT * FROM {{timers}} WHERE timer_id = {p}",
            "fired": f"SELECT 1 FROM {{firings}} WHERE timer_id = {p} AND generation = {p}",
            "log": f"SELECT * FROM {{firings}} WHERE fired_at > {p} ORDER BY fired_at, timer_id LIMIT {p}",
        }


def _firing_params(firing: Firing) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    fired_at = _db_time(firing.fired_at)
    return (
        (firing.timer_id, firing.generation, firing.kind, _db_time(firing.due_at), fired_at, firing.outcome),
        (fired_at, firing.timer_id, firing.generation),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SqliteTimerRecorder(_SqlTimers, SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder, with the timers in its transactions."""

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        base = events_table_name.removesuffix("_events")
        names = {"timers": f"{base}_timers", "firings": f"{base}_timer_firings"}
        names["timers_ref"] = names["timers"]
        self.timer_sql = {k: v.format(**names) for k, v in self._timer_sql().items()}
        self.create_table_statements += [
            f"CREATE TABLE IF NOT EXISTS {names['timers']} (timer_id TEXT PRIMARY KEY, generation INTEGER NOT NULL, "
            "kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, due_at TEXT NOT NULL, payload TEXT NOT NULL, "
            "cause TEXT, set_at TEXT NOT NULL, fired_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {names['timers']}_due ON {names['timers']} (due_at) WHERE fired_at IS NULL",
            f"CREATE TABLE IF NOT EXISTS {names['firings']} (timer_id TEXT NOT NULL, generation INTEGER NOT NULL, "
            "kind TEXT NOT NULL, due_at TEXT NOT NULL, fired_at TEXT NOT NULL, outcome TEXT NOT NULL, "
            "PRIMARY KEY (timer_id, generation))",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        self._write(c, kwargs.get("timers", ()), kwargs.get("firing"))
        return super()._insert_events(c, stored_events, **kwargs)

    def _write(self, c: Any, settings: Sequence[TimerSetting], firing: Firing | None) -> None:
        if firing is not None:
            fire, mark = _firing_params(firing)
            try:
                c.execute(self.timer_sql["fire"], fire)
            except Exception as error:
                if "UNIQUE" in str(error).upper():
                    raise TimerAlreadyFired(f"timer {firing.timer_id} generation {firing.generation} fired") from None
                raise
            c.execute(self.timer_sql["mark"], mark)
        now = datetime.now(UTC)
        for setting in settings:
            c.execute(self.timer_sql["set"], _setting_row(setting, now))

    def write_timers(self, settings: Sequence[TimerSetting], firing: Firing | None = None) -> None:
        """Timers and a firing in one transaction of their own (an action that appended nothing)."""
        with self.datastore.transaction(commit=True) as c:
            self._write(c, settings, firing)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.timer_sql[sql], params)
            return list(c.fetchall())

    def due_timers(self, now: datetime, limit: int, kinds: Sequence[str]) -> list[StoredTimer]:
        """Pending timers of these kinds due at or before `now`, earliest first."""
        if not kinds:
            return []
        key = "due:" + ",".join(kinds)
        if key not in self.timer_sql:
            self.timer_sql[key] = self.timer_sql["due"].replace("%KINDS%", ", ".join([self.p] * len(kinds)))
        return [_stored_timer(r) for r in self._rows(key, (_db_time(now), *kinds, limit))]

    def stored_timer(self, timer_id: str) -> StoredTimer | None:
        """A timer's latest generation."""
        rows = self._rows("get", (timer_id,))
        return _stored_timer(rows[0]) if rows else None

    def has_fired(self, timer_id: str, generation: int) -> bool:
        """True when that generation of the timer fired."""
        return bool(self._rows("fired", (timer_id, generation)))

    def firing_log(self, after: datetime | None = None, limit: int = 1000) -> list[FiringRecord]:
        """Firings in the order they fired."""
        return [_firing_record(r) for r in self._rows("log", (_db_time(after or _EPOCH), limit))]


class PostgresTimerRecorder(_SqlTimers, FailFastApplicationRecorder):
    """The PostgreSQL application recorder (one attempt per call), with the timers in its
    transactions. A second firing of a generation violates the firings' primary key when the
    transaction syncs: the whole append, events included, rolls back."""

    p = "%s"

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = datastore.schema
        base = events_table_name.removesuffix("_events")
        timers, firings = f"{base}_timers", f"{base}_timer_firings"
        names = {
            "timers": f'"{schema}"."{timers}"',
            "firings": f'"{schema}"."{firings}"',
            "timers_ref": "timers",
        }
        sql = {k: v.format(**names) for k, v in self._timer_sql().items()}
        sql["set"] = sql["set"].replace(f"INSERT INTO {names['timers']}", f"INSERT INTO {names['timers']} AS timers")
        self.timer_sql = sql
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{timers} (timer_id TEXT PRIMARY KEY, generation BIGINT NOT NULL, "
                "kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, due_at TEXT NOT NULL, payload TEXT NOT NULL, "
                "cause TEXT, set_at TEXT NOT NULL, fired_at TEXT)"
            ).format(schema=Identifier(schema), timers=Identifier(timers)),
            SQL("CREATE INDEX IF NOT EXISTS {index} ON {schema}.{timers} (due_at) WHERE fired_at IS NULL").format(
                index=Identifier(f"{timers}_due"), schema=Identifier(schema), timers=Identifier(timers)
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{firings} (timer_id TEXT NOT NULL, generation BIGINT NOT NULL, "
                "kind TEXT NOT NULL, due_at TEXT NOT NULL, fired_at TEXT NOT NULL, outcome TEXT NOT NULL, "
                "PRIMARY KEY (timer_id, generation))"
            ).format(schema=Identifier(schema), firings=Identifier(firings)),
        ]

        self.group_commit = GroupCommit(self._write_group)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Append the events (and their timers, a firing) in the next group commit
        (services/storage/group_commit.py); their notification ids."""
        return self.group_commit.append(stored_events, **kwargs)

    def _write_group(self, group: list[Append]) -> None:
        """Write a group of appends in one transaction: one table lock, one insert, one commit;
        after a uniqueness violation, each append under a savepoint of its own instead."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            if len(group) == 1:
                [append] = group
                append.ids = self._write_appends(curs, group)
                return
            try:
                with conn.transaction():  # a savepoint: undone alone when a rule breaks
                    ids = self._write_appends(curs, group)
            except psycopg.IntegrityError:
                for append in group:
                    try:
                        with conn.transaction():
                            append.ids = self._write_appends(curs, [append])
                    except psycopg.IntegrityError as error:
                        append.error = IntegrityError(str(error))
                return
            for append in group:
                append.ids, ids = ids[: len(append.events)], ids[len(append.events) :]

    def _write_appends(self, curs: Any, appends: Sequence[Append]) -> list[int]:
        """The appends' timers and firings, then all their events in one insert; their ids."""
        for append in appends:
            self._write(curs, append.options.get("timers", ()), append.options.get("firing"))
        events = [event for append in appends for event in append.events]
        if not events:
            return []
        PostgresAggregateRecorder._insert_stored_events(self, curs, events)
        return [int(row["notification_id"]) for row in curs.fetchall()]

    def _write(self, curs: Any, settings: Sequence[TimerSetting], firing: Firing | None) -> None:
        if firing is not None:
            fire, mark = _firing_params(firing)
            curs.execute(self.timer_sql["fire"], fire)
            curs.execute(self.timer_sql["mark"], mark)
        now = datetime.now(UTC)
        for setting in settings:
            curs.execute(self.timer_sql["set"], _setting_row(setting, now))

    def write_timers(self, settings: Sequence[TimerSetting], firing: Firing | None = None) -> None:
        """Timers and a firing in one transaction of their own (an action that appended nothing)."""
        try:
            with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
                self._write(curs, settings, firing)
        except IntegrityError:
            if firing is None:
                raise
            raise TimerAlreadyFired(f"timer {firing.timer_id} generation {firing.generation} fired") from None

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.timer_sql[sql], params)
            return list(curs.fetchall())

    due_timers = SqliteTimerRecorder.due_timers
    stored_timer = SqliteTimerRecorder.stored_timer
    has_fired = SqliteTimerRecorder.has_fired
    firing_log = SqliteTimerRecorder.firing_log


class MemoryTimerRecorder(POPOApplicationRecorder):
    """eventsourcing's in-memory application recorder, with the timers under its lock."""

    def __init__(self) -> None:
        super().__init__()
        self._timers: dict[str, StoredTimer] = {}
        self._firings: dict[tuple[str, int], FiringRecord] = {}
        self._timer_lock = threading.RLock()

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self._database_lock, self._timer_lock:
            firing = kwargs.get("firing")
            self._check_not_fired(firing)
            ids = super().insert_events(stored_events, **kwargs)
            self._write(kwargs.get("timers", ()), firing)
            return ids

    def _check_not_fired(self, firing: Firing | None) -> None:
        if firing is not None and (firing.timer_id, firing.generation) in self._firings:
            raise TimerAlreadyFired(f"timer {firing.timer_id} generation {firing.generation} fired")

    def _write(self, settings: Sequence[TimerSetting], firing: Firing | None) -> None:
        if firing is not None:
            self._firings[(firing.timer_id, firing.generation)] = FiringRecord(
                firing.timer_id, firing.generation, firing.kind, firing.due_at, firing.fired_at, firing.outcome
            )
            stored = self._timers.get(firing.timer_id)
            if stored is not None and stored.generation == firing.generation:
                self._timers[firing.timer_id] = StoredTimer(
                    stored.timer, stored.generation, stored.cause, stored.set_at, firing.fired_at
                )
        now = datetime.now(UTC)
        for setting in settings:
            previous = self._timers.get(setting.timer.timer_id)
            generation = 1 if previous is None else previous.generation + 1
            self._timers[setting.timer.timer_id] = StoredTimer(setting.timer, generation, setting.cause, now, None)

    def write_timers(self, settings: Sequence[TimerSetting], firing: Firing | None = None) -> None:
        """Timers and a firing at once, without events."""
        with self._timer_lock:
            self._check_not_fired(firing)
            self._write(settings, firing)

    def due_timers(self, now: datetime, limit: int, kinds: Sequence[str]) -> list[StoredTimer]:
        """Pending timers of these kinds due at or before `now`, earliest first."""
        with self._timer_lock:
            due = [
                t
                for t in self._timers.values()
                if t.fired_at is None and t.timer.due_at <= now and t.timer.kind in kinds
            ]
        return sorted(due, key=lambda t: (t.timer.due_at, t.timer.timer_id))[:limit]

    def stored_timer(self, timer_id: str) -> StoredTimer | None:
        """A timer's latest generation."""
        with self._timer_lock:
            return self._timers.get(timer_id)

    def has_fired(self, timer_id: str, generation: int) -> bool:
        """True when that generation of the timer fired."""
        with self._timer_lock:
            return (timer_id, generation) in self._firings

    def firing_log(self, after: datetime | None = None, limit: int = 1000) -> list[FiringRecord]:
        """Firings in the order they fired."""
        with self._timer_lock:
            records = [r for r in self._firings.values() if after is None or r.fired_at > after]
        return sorted(records, key=lambda r: (r.fired_at, r.timer_id))[:limit]


class MemoryTimerFactory(POPOFactory):
    """eventsourcing's in-memory persistence, with the timers (`PERSISTENCE_MODULE` names it)."""

    def application_recorder(self) -> MemoryTimerRecorder:
        """The in-memory event store, with its timers."""
        return MemoryTimerRecorder()
