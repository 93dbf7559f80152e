"""`crm relay` and `crm consume`: the Kafka side of the CLI (it starts consumers, it imports no
Kafka client itself)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from typing import Any

from services.app.application import CrmApplication
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from services.storage.read_models import PROJECTION_NAMES, open_read_models, select_projections

COMMANDS = ("relay", "consume")


def add_commands(commands: Any) -> None:
    """Register the Kafka sub-commands on the `crm` parser."""
    relay = commands.add_parser("relay", help="publish the event log to Kafka")
    relay.add_argument("--from", dest="from_position", type=int, help="republish history from this log position")
    relay.add_argument("--until-idle", action="store_true", help="exit once caught up (default: follow the log)")
    consume = commands.add_parser("consume", help="run projections as Kafka consumer groups")
    consume.add_argument("--projection", choices=[*PROJECTION_NAMES, "all"], default="all")
    consume.add_argument("--until-idle", action="store_true", help="exit after 10 empty polls")


def _stop_on_sigterm(events: list[threading.Event]) -> None:
    def stop(signum: int, frame: Any) -> None:
        for event in events:
            event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def run(app: CrmApplication, settings: Settings, args: argparse.Namespace) -> int:
    """Run `crm relay` or `crm consume` until SIGTERM (or idle)."""
    from consumers.kafka_relay import ensure_topics
    from consumers.topics import Topics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    created = ensure_topics(settings.kafka_bootstrap, settings.kafka_partitions, Topics(settings.kafka_topic_prefix))
    if created:
        print(f"created topics: {', '.join(created)}")
    if args.command == "relay":
        return _relay(app, settings, args)
    return _consume(settings, args)


def _relay(app: CrmApplication, settings: Settings, args: argparse.Namespace) -> int:
    from consumers.kafka_relay import KafkaRelay
    from consumers.topics import Topics

    store = open_read_models(settings)
    relay = KafkaRelay(app, store.recorder, settings.kafka_bootstrap, topics=Topics(settings.kafka_topic_prefix))
    _stop_on_sigterm([relay.stopping])
    if args.from_position is not None:
        relay.republish_from(args.from_position)
    last_report = [time.monotonic()]

    def report(_: int) -> None:
        if time.monotonic() - last_report[0] >= 5:
            last_report[0] = time.monotonic()
            print(f"relay at position {relay.position()}: {relay.stats.events_per_second:,.0f} events/s", flush=True)

    stats = relay.run(until_idle=args.until_idle, on_batch=report)
    relay.close()
    position = relay.position()
    store.close()
    print(f"relay stopped at position {position}: {stats.published} events, {stats.events_per_second:,.0f} events/s")
    return 0


def _consume(settings: Settings, args: argparse.Namespace) -> int:
    from consumers.kafka_consumer import ProjectionConsumer
    from consumers.topics import Topics

    names = None if args.projection == "all" else [args.projection]
    store = open_read_models(settings)
    topics = Topics(settings.kafka_topic_prefix)
    consumers = [
        ProjectionConsumer(p, store, settings.kafka_bootstrap, topics=topics) for p in select_projections(names)
    ]
    _stop_on_sigterm([c.stopping for c in consumers])
    idle = 10 if args.until_idle else None
    failures: list[BaseException] = []

    def run_one(consumer: ProjectionConsumer) -> None:
        try:
            consumer.run(idle)
        except BaseException as error:  # one failed projection stops them all, and the exit code says so
            failures.append(error)
            logging.getLogger("crm.consumer").exception("%s consumer failed", consumer.projection.name)
            for other in consumers:
                other.stopping.set()

    threads = [threading.Thread(target=run_one, args=(c,), name=f"consume-{c.projection.name}") for c in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for c in consumers:
        c.close()
        s = c.stats
        print(
            f"{c.projection.name}: applied {s.applied}, skipped {s.skipped} duplicates, "
            f"{s.dead_lettered} dead-lettered, {s.events_per_second:,.0f} events/s"
        )
    store.close()
    return 1 if failures else 0


def kafka_status(settings: Settings, store: ReadModelStore) -> None:
    """Print per-partition lag of each projection (for `crm status`), if Kafka answers."""
    from consumers.kafka_consumer import partition_lags
    from consumers.topics import Topics

    try:
        topics = Topics(settings.kafka_topic_prefix)
        lags = partition_lags(settings.kafka_bootstrap, store, list(store.projections), topics)
    except Exception as error:  # status must still answer without a broker
        print(f"kafka {settings.kafka_bootstrap}: not reachable ({type(error).__name__})", file=sys.stderr)
        return
    for name, partitions in lags.items():
        behind = sum(partitions.values())
        print(f"  {name:<10} kafka lag {behind} ({', '.join(f'{p}={lag}' for p, lag in partitions.items())})")
