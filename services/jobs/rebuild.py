"""Rebuilding read models from the log into a namespace of their own, and checking the live
read models against such a rebuild (`crm replay`, `crm verify`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.app.application import CrmApplication
from services.bootstrap import in_process_runner, open_read_models
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from services.storage.tracking import VERIFY_NAMESPACE

Progress = Callable[[int, int], None]


def rebuild(
    app: CrmApplication,
    settings: Settings,
    namespace: str,
    names: list[str] | None = None,
    until_position: int | None = None,
    until_date: datetime | None = None,
    progress: Progress | None = None,
) -> tuple[ReadModelStore, float]:
    """Rebuild read models into an emptied namespace, from the start of the log up to a
    position (the head by default), counting only events that occurred by `until_date` if
    given; returns the store and the seconds taken."""
    from projections.registry import select_projections

    store = open_read_models(settings, namespace, select_projections(names, settings.default_phone_region))
    store.reset()
    include = (lambda r: r.occurred_at <= until_date) if until_date else None
    runner = in_process_runner(app, store, batch_size=1000, include=include)
    started = time.monotonic()
    runner.catch_up(until=until_position, progress=progress)
    return store, time.monotonic() - started


@dataclass(frozen=True)
class TableCheck:
    """One table of the live read models against the same table rebuilt from the log."""

    table: str
    live_rows: int
    rebuilt_rows: int
    same: bool


def verify(app: CrmApplication, settings: Settings, progress: Progress | None = None) -> tuple[int, list[TableCheck]]:
    """The live read models (caught up first, when this process keeps them) against a fresh
    rebuild up to the same position, table by table; returns the position and the checks."""
    live = open_read_models(settings)
    try:
        if live.fed_by_kafka():
            # Kafka consumers keep these read models: compare at the store head (lag must be zero).
            position = app.head_position()
        else:
            in_process_runner(app, live).catch_up()
            position = min(live.position(name) for name in live.projections)
        fresh, _ = rebuild(app, settings, VERIFY_NAMESPACE, until_position=position, progress=progress)
        try:
            expected, actual = fresh.checksums(), live.checksums()
            checks = [
                TableCheck(table, actual[table][0], rows, digest == actual[table][1])
                for table, (rows, digest) in expected.items()
            ]
        finally:
            fresh.drop()
            fresh.close()
    finally:
        live.close()
    return position, checks
