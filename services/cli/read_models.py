"""`crm replay`, `crm verify` and `crm status`: the read-model tools of the CLI."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from projections.registry import PROJECTION_NAMES
from services.cli.common import CommandFailed, add_command, application, iso_date, positive, progress_bar

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm replay`, `crm verify` and `crm status`."""
    replay = add_command(commands, "replay", run_replay, "rebuild read models from the log into a fresh namespace")
    replay.add_argument("--projection", action="append", choices=PROJECTION_NAMES, help="only this one (repeatable)")
    replay.add_argument("--until", type=iso_date, help="only events that occurred on or before this business date")
    replay.add_argument("--swap", action="store_true", help="make the rebuilt read models the live ones")
    replay.add_argument(
        "--jobs",
        type=positive,
        default=1,
        help="share the projections out among this many processes (PostgreSQL; default 1)",
    )
    add_command(commands, "verify", run_verify, "compare the live read models with a fresh full replay, by checksum")
    status = add_command(commands, "status", run_status, "show the store head, read-model positions and lag")
    status.add_argument("--kafka", action="store_true", help="also the relay position and Kafka lag per partition")


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild, report events/s, optionally swap in."""
    from services.jobs.rebuild import SharedDatabaseNeeded, rebuild
    from services.storage.tracking import REBUILD_NAMESPACE

    if args.swap and args.until is not None:
        raise CommandFailed(
            "--swap with --until would make the live read models stale; rebuild as of a date without --swap",
            exit_code=2,
        )
    with application(settings) as app:
        head = app.head_position()
        label = f"rebuilding {','.join(args.projection or PROJECTION_NAMES)}"
        try:
            store, seconds = rebuild(
                app, settings, REBUILD_NAMESPACE, args.projection, head, args.until, progress_bar(label), args.jobs
            )
        except SharedDatabaseNeeded as error:
            raise CommandFailed(str(error), exit_code=2) from error
    print(file=sys.stderr)
    try:
        print(
            f"replayed {head} events into namespace {REBUILD_NAMESPACE!r} in {seconds:.1f} s "
            f"({head / seconds if seconds else 0:,.0f} events/s)"
        )
        if args.swap:
            store.swap_into_live()
            print(f"swapped into live: {', '.join(store.projections)}")
    finally:
        store.close()
    return 0


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Live read models (caught up) == a fresh full replay, table by table; exit 1 if not."""
    from services.jobs.rebuild import verify

    with application(settings) as app:
        position, checks = verify(app, settings, progress_bar("verifying"))
    print(file=sys.stderr)
    for check in checks:
        mark = "ok  " if check.same else "DIFF"
        print(f"{mark} {check.table}: live {check.live_rows} rows, replay {check.rebuilt_rows} rows")
    differences = sum(not check.same for check in checks)
    print(f"verified at position {position}: {'identical' if not differences else f'{differences} table(s) differ'}")
    return 1 if differences else 0


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    """Where the log is and how far behind each read model is."""
    from services.bootstrap import KafkaUnavailable, kafka_lags, open_read_models

    with application(settings) as app:
        head = app.head_position()
    live = open_read_models(settings)
    try:
        print(f"store head: {head} ({settings.backend})")
        for name in live.projections:
            position = live.position(name)
            print(f"  {name:<10} position {position:>9}  lag {head - position}  (in-process)")
        if args.kafka:
            relayed = live.relay_position()
            print(f"  relay      position {relayed:>9}  lag {head - relayed}")
            try:
                lags = kafka_lags(settings, live)
            except KafkaUnavailable as error:  # the broker, the user and why (e.g. a refused password)
                print(f"crm: {error}", file=sys.stderr)
                return 0
            except Exception as error:  # status must still answer without a broker
                print(f"crm: kafka {settings.kafka_bootstrap} not reachable ({type(error).__name__})", file=sys.stderr)
                return 0
            for name, partitions in lags.items():
                behind = sum(partitions.values())
                print(f"  {name:<10} kafka lag {behind} ({', '.join(f'{p}={lag}' for p, lag in partitions.items())})")
    finally:
        live.close()
    return 0
