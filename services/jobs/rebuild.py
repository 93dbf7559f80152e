"""Rebuilding read models from the log into a namespace of their own, and checking the live
read models against such a rebuild (`crm replay`, `crm verify`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.event_record import EventRecord
from projections.registry import IN_BUSINESS_TIME, PROJECTION_NAMES
from services.app.application import CrmApplication
from services.bootstrap import in_process_runner, open_read_models, read_log
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


def fold_per_aggregate(
    app: CrmApplication, settings: Settings, namespace: str, names: Sequence[str], until_position: int
) -> ReadModelStore:
    """The named projections rebuilt into an emptied namespace from scratch per aggregate: every
    aggregate's events up to `until_position` in business order (creation first, then
    occurred_at, then version), one aggregate after another. In this order no event is back-dated
    before another of its aggregate, so no journal rebuild runs: the rows come from the
    projection's plain changes, a path independent of the live one's rebuilds."""
    from projections.registry import select_projections

    store = open_read_models(settings, namespace, select_projections(list(names), settings.default_phone_region))
    store.reset()
    per_aggregate: dict[Any, list[EventRecord]] = {}
    start = 1
    while start <= until_position:
        records = read_log(app, start, 1000, stop=until_position)
        if not records:
            break
        for record in records:
            per_aggregate.setdefault(record.aggregate_id, []).append(record)
        start = records[-1].position + 1
    store.apply_folds(list(per_aggregate.values()))
    return store


@dataclass(frozen=True)
class TableCheck:
    """One table of the live read models against the same table rebuilt from the log."""

    table: str
    live_rows: int
    rebuilt_rows: int
    same: bool


def verify(app: CrmApplication, settings: Settings, progress: Progress | None = None) -> tuple[int, list[TableCheck]]:
    """The live read models (caught up first, when this process keeps them) against a fresh
    rebuild up to the same position, table by table; returns the position and the checks. The
    projections that follow business time (the pipeline, the segments: `IN_BUSINESS_TIME`) are
    checked against a fold per aggregate in business order (`fold_per_aggregate`), the others
    against a replay in log order."""
    live = open_read_models(settings)
    try:
        if live.fed_by_kafka():
            # Kafka consumers keep these read models: compare at the store head (lag must be zero).
            position = app.head_position()
        else:
            in_process_runner(app, live).catch_up()
            position = min(live.position(name) for name in live.projections)
        in_log_order = [name for name in PROJECTION_NAMES if name not in IN_BUSINESS_TIME]
        fresh, _ = rebuild(app, settings, VERIFY_NAMESPACE, in_log_order, until_position=position, progress=progress)
        folded = fold_per_aggregate(app, settings, VERIFY_NAMESPACE, IN_BUSINESS_TIME, position)
        try:
            expected, actual = {**fresh.checksums(), **folded.checksums()}, live.checksums()
            checks = [
                TableCheck(table, actual[table][0], rows, digest == actual[table][1])
                for table, (rows, digest) in expected.items()
            ]
        finally:
            for store in (fresh, folded):
                store.drop()
                store.close()
    finally:
        live.close()
    return position, checks
