"""`crm relay` and `crm consume`: the Kafka workers. Each runs until SIGTERM (or until idle) and,
with `CRM_METRICS_PORT` or `--metrics-port`, serves its own Prometheus `/metrics`."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from projections.registry import PROJECTION_NAMES
from services.cli.common import add_command, stop_on_signals

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm relay` and `crm consume`."""
    relay = add_command(commands, "relay", run_relay, "publish the event log to Kafka, in order per aggregate")
    relay.add_argument("--from", dest="from_position", type=int, help="republish history from this log position")
    relay.add_argument("--until-idle", action="store_true", help="exit once caught up (default: follow the log)")
    _metrics_port_option(relay)
    consume = add_command(commands, "consume", run_consume, "keep read models from the Kafka topics (consumer groups)")
    consume.add_argument("--projection", choices=[*PROJECTION_NAMES, "all"], default="all")
    consume.add_argument("--until-idle", action="store_true", help="exit after 10 empty polls")
    _metrics_port_option(consume)


def _metrics_port_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port (CRM_METRICS_PORT)"
    )


def _start(settings: Settings, args: argparse.Namespace, component: str, collector: Collector) -> None:
    """Logging, the topics, and the metrics endpoint when a port is set."""
    from services.bootstrap import create_topics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    created = create_topics(settings)
    if created:
        print(f"created topics: {', '.join(created)}", flush=True)
    port = args.metrics_port or settings.metrics_port
    if port:
        from services.metrics import serve_metrics, worker_registry

        serve_metrics(worker_registry(component, collector), port)


def run_relay(args: argparse.Namespace, settings: Settings) -> int:
    """Relay until SIGTERM (or idle); the position is saved only after the broker acknowledged."""
    from services.bootstrap import bootstrap, kafka_relay, open_read_models
    from services.metrics import RelayCollector

    app = bootstrap(settings)
    store = open_read_models(settings)
    try:
        relay = kafka_relay(app, store, settings)
        _start(settings, args, "relay", RelayCollector(relay.stats, relay.position, app.head_position))
        stop_on_signals([relay.stopping])
        if args.from_position is not None:
            relay.republish_from(args.from_position)
        last_report = [time.monotonic()]

        def report(_: int) -> None:
            if time.monotonic() - last_report[0] >= 5:
                last_report[0] = time.monotonic()
                rate = relay.stats.events_per_second
                print(f"relay at position {relay.position()}: {rate:,.0f} events/s", flush=True)

        stats = relay.run(until_idle=args.until_idle, on_batch=report)
        relay.close()
        position = relay.position()
    finally:
        store.close()
        app.close()
    print(f"relay stopped at position {position}: {stats.published} events, {stats.events_per_second:,.0f} events/s")
    return 0


def run_consume(args: argparse.Namespace, settings: Settings) -> int:
    """Consume until SIGTERM (or idle), one thread per projection; 1 if any of them failed."""
    from services.bootstrap import kafka_lags, open_read_models, projection_consumers
    from services.metrics import ConsumersCollector

    names = None if args.projection == "all" else [args.projection]
    store = open_read_models(settings)
    try:
        consumers = projection_consumers(settings, store, names)
        collector = ConsumersCollector(
            [(c.projection.name, c.stats) for c in consumers],
            lambda: kafka_lags(settings, store, [c.projection.name for c in consumers]),
        )
        _start(settings, args, "consume", collector)
        stop_on_signals([c.stopping for c in consumers])
        idle = 10 if args.until_idle else None
        failures: list[BaseException] = []

        def run_one(consumer: Any) -> None:
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
    finally:
        store.close()
    return 1 if failures else 0
