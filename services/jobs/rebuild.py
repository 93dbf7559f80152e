"""Rebuilding read models from the log into a namespace of their own, and checking the live
read models against such a rebuild (`crm replay`, `crm verify`)."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
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


class SharedDatabaseNeeded(ValueError):
    """A rebuild in several processes was asked of a store only one process sees (memory://)."""


def rebuild(
    app: CrmApplication,
    settings: Settings,
    namespace: str,
    names: list[str] | None = None,
    until_position: int | None = None,
    until_date: datetime | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> tuple[ReadModelStore, float]:
    """Rebuild read models into an emptied namespace, from the start of the log up to a
    position (the head by default), counting only events that occurred by `until_date` if
    given; returns the store and the seconds taken. With `jobs` > 1 the projections are shared
    out among that many processes (`shares`), each reading the log and keeping its projections'
    positions itself; progress is then the least position of them all."""
    from projections.registry import select_projections

    projections = select_projections(names, settings.default_phone_region)
    groups = shares([p.name for p in projections], jobs)
    if len(groups) > 1 and settings.backend == "memory":
        raise SharedDatabaseNeeded("a rebuild in several processes (--jobs) needs a database they share, not memory://")
    store = open_read_models(settings, namespace, projections)
    store.reset()
    started = time.monotonic()
    if len(groups) == 1:
        runner = in_process_runner(app, store, batch_size=1000, include=_occurred_by(until_date))
        runner.catch_up(until=until_position, progress=progress)
    else:
        head = app.head_position() if until_position is None else until_position
        _rebuild_in_processes(settings, namespace, groups, head, until_date, store, progress)
    return store, time.monotonic() - started


def _occurred_by(until_date: datetime | None) -> Callable[[EventRecord], bool] | None:
    """Which events a rebuild as of a business date counts (all when None)."""
    return (lambda r: r.occurred_at <= until_date) if until_date else None


REBUILD_WEIGHTS = {"pipeline": 6}
"""How long each projection's rebuild takes, relative to the others' 1: the pipeline journals
every lead event and keeps versions and stage intervals, and alone takes about as long as all
the others together."""


def shares(names: Sequence[str], jobs: int) -> list[list[str]]:
    """The projections shared out among at most `jobs` processes, heaviest first, each to the
    process with the least weight so far (`REBUILD_WEIGHTS`); no process goes without."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(names))))]
    weights = [0] * len(groups)
    for name in sorted(names, key=lambda n: -REBUILD_WEIGHTS.get(n, 1)):
        lightest = weights.index(min(weights))
        groups[lightest].append(name)
        weights[lightest] += REBUILD_WEIGHTS.get(name, 1)
    return groups


def _rebuild_in_processes(
    settings: Settings,
    namespace: str,
    groups: list[list[str]],
    head: int,
    until_date: datetime | None,
    store: ReadModelStore,
    progress: Progress | None,
) -> None:
    """Each group of projections caught up to `head` in a process of its own, into the emptied
    namespace of `store`; the progress follows their positions in `store` until all are done."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=context) as pool:
        running = [pool.submit(_catch_up_share, settings, namespace, group, head, until_date) for group in groups]
        while True:
            done, pending = wait(running, timeout=PROGRESS_SECONDS, return_when=FIRST_EXCEPTION)
            if progress:
                progress(min(store.position(name) for name in store.projections), head)
            if not pending or any(f.exception() for f in done):
                break
        for future in running:
            future.result()  # a failed share fails the rebuild, with its error


PROGRESS_SECONDS = 0.5
"""How often a rebuild in several processes reports its progress."""


def _catch_up_share(
    settings: Settings, namespace: str, names: list[str], head: int, until_date: datetime | None
) -> None:
    """In a child process: catch the named projections of the (emptied) namespace up to `head`."""
    from projections.registry import select_projections
    from services.bootstrap import bootstrap

    app = bootstrap(settings)
    store = open_read_models(settings, namespace, select_projections(names, settings.default_phone_region))
    try:
        in_process_runner(app, store, batch_size=1000, include=_occurred_by(until_date)).catch_up(until=head)
    finally:
        store.close()
        app.close()


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
