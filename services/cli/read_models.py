"""`crm replay`, `crm verify`, `crm status` and `crm import`: the read-model tools of the CLI."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from consumers.in_process_runner import InProcessRunner
from services.app.application import CrmApplication
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from services.storage.read_models import PROJECTION_NAMES, RELAY_TRACKING, open_read_models, select_projections

REBUILD_NAMESPACE = "rebuild_"
VERIFY_NAMESPACE = "verify_"
COMMANDS = ("replay", "verify", "status", "import")


def add_commands(commands: Any, date_type: Any) -> None:
    """Register the read-model sub-commands on the `crm` parser."""
    replay = commands.add_parser("replay", help="rebuild read models from the log into a fresh namespace")
    replay.add_argument("--projection", action="append", choices=PROJECTION_NAMES, help="only this one (repeatable)")
    replay.add_argument("--until", type=date_type, help="only events that occurred on or before this business date")
    replay.add_argument("--swap", action="store_true", help="make the rebuilt read models the live ones")
    commands.add_parser("verify", help="compare the live read models with a fresh full replay, by checksum")
    status_parser = commands.add_parser("status", help="store head, projection positions and lag")
    status_parser.add_argument(
        "--kafka", action="store_true", help="also the relay position and Kafka lag per partition"
    )
    importer = commands.add_parser("import", help="import data")
    importer.add_argument("kind", choices=["purchases"], help="what the file holds")
    importer.add_argument("file", type=Path, help="a CDNOW-format purchases file")


def run(app: CrmApplication, settings: Settings, args: argparse.Namespace) -> int:
    """Run one of the read-model sub-commands."""
    if args.command == "replay":
        return replay(app, settings, args.projection, args.until, args.swap)
    if args.command == "verify":
        return verify(app, settings)
    if args.command == "status":
        return status(app, settings, kafka=args.kafka)
    return import_file(app, settings, args.file)


def _progress_bar(label: str) -> Any:
    started = time.monotonic()

    def show(position: int, head: int) -> None:
        share = position / head if head else 1.0
        bar = "#" * int(share * 30)
        rate = position / max(time.monotonic() - started, 1e-9)
        print(f"\r{label} [{bar:<30}] {share:6.1%} {position}/{head} ({rate:,.0f} events/s)", end="", file=sys.stderr)

    return show


def rebuild(
    app: CrmApplication,
    settings: Settings,
    namespace: str,
    names: list[str] | None = None,
    until_position: int | None = None,
    until_date: datetime | None = None,
) -> tuple[ReadModelStore, float]:
    """Rebuild read models into an empty namespace; returns the store and the seconds taken."""
    projections = select_projections(names)
    tables = [t for p in projections for t in p.tables]
    store = open_read_models(settings, namespace, projections)
    store.recorder.drop_read_model_tables(tables)
    store.recorder.drop_positions(p.name for p in projections)
    store.recorder.create_read_model_tables(tables)
    include = (lambda r: r.occurred_at <= until_date) if until_date else None
    runner = InProcessRunner(app, store, batch_size=1000, include=include)
    started = time.monotonic()
    runner.catch_up(until=until_position, progress=_progress_bar(f"rebuilding {','.join(store.projections)}"))
    print(file=sys.stderr)
    return store, time.monotonic() - started


def replay(app: CrmApplication, settings: Settings, names: list[str] | None, until: datetime | None, swap: bool) -> int:
    """`crm replay`: rebuild, report events/s, optionally swap in."""
    if swap and until is not None:
        print("crm: --swap with --until would make the live read models stale; rebuild as of a date without --swap")
        return 2
    head = app.head_position()
    store, seconds = rebuild(app, settings, REBUILD_NAMESPACE, names, head, until)
    print(
        f"replayed {head} events into namespace {REBUILD_NAMESPACE!r} in {seconds:.1f} s "
        f"({head / seconds if seconds else 0:,.0f} events/s)"
    )
    if swap:
        tables = [t for p in store.projections.values() for t in p.tables]
        store.recorder.swap_into_live(tables, list(store.projections))
        print(f"swapped into live: {', '.join(store.projections)}")
    store.close()
    return 0


def verify(app: CrmApplication, settings: Settings) -> int:
    """`crm verify`: live read models (caught up) == a fresh full replay, table by table."""
    live = open_read_models(settings)
    if _fed_by_kafka(live):
        # Kafka consumers keep these read models: compare at the store head (lag must be zero).
        position = app.head_position()
    else:
        InProcessRunner(app, live).catch_up()
        position = min(live.position(name) for name in live.projections)
    fresh, _ = rebuild(app, settings, VERIFY_NAMESPACE, until_position=position)
    expected, actual = fresh.checksums(), live.checksums()
    differences = 0
    for table, (rows, digest) in expected.items():
        live_rows, live_digest = actual[table]
        same = digest == live_digest
        differences += not same
        print(f"{'ok  ' if same else 'DIFF'} {table}: live {live_rows} rows, replay {rows} rows")
    fresh.recorder.drop_read_model_tables(t for p in fresh.projections.values() for t in p.tables)
    fresh.recorder.drop_positions(fresh.projections)
    fresh.close()
    live.close()
    print(f"verified at position {position}: {'identical' if not differences else f'{differences} table(s) differ'}")
    return 1 if differences else 0


def _fed_by_kafka(store: ReadModelStore) -> bool:
    """True when the read models are kept by Kafka consumers rather than the in-process runner."""
    sources = {source for name in store.projections for source in store.recorder.sources(name)}
    return bool(sources) and "log" not in sources


def status(app: CrmApplication, settings: Settings, kafka: bool = False) -> int:
    """`crm status`: where the log is and how far behind each read model is."""
    live = open_read_models(settings)
    head = app.head_position()
    print(f"store head: {head} ({settings.backend})")
    for name in live.projections:
        position = live.position(name)
        print(f"  {name:<10} position {position:>9}  lag {head - position}  (in-process)")
    if kafka:
        from services.cli.kafka import kafka_status

        relayed = live.recorder.max_tracking_id(RELAY_TRACKING) or 0
        print(f"  relay      position {relayed:>9}  lag {head - relayed}")
        kafka_status(settings, live)
    live.close()
    return 0


def import_file(app: CrmApplication, settings: Settings, path: Path) -> int:
    """`crm import purchases FILE`."""
    from services.jobs.cdnow_import import ImportFormatError, import_purchases

    if not path.is_file():
        print(f"crm: no such file: {path}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        report = import_purchases(app, path, progress=lambda n: None)
    except ImportFormatError as error:
        print(f"crm: {path}: {error}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - started
    print(
        f"imported {report.customers} customers, {report.purchases} purchases: {report.events} events appended "
        f"in {seconds:.1f} s ({report.events / seconds if seconds else 0:,.0f} events/s)"
    )
    return 0
