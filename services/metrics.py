"""Prometheus metrics of the CRM's processes (prometheus_client): one registry per process with
the process and Python collectors and `crm_build_info`, and the collectors of the relay and the
projection consumers, which read their figures when scraped. `crm relay` and `crm consume` serve
theirs on `CRM_METRICS_PORT`; the HTTP API serves its own at `GET /metrics`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("crm.metrics")


def process_registry(component: str, version: str) -> CollectorRegistry:
    """A registry with the process, platform and garbage-collector metrics and `crm_build_info`."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    registry.register(_BuildInfo(component, version))
    return registry


class _BuildInfo(Collector):
    def __init__(self, component: str, version: str) -> None:
        self.labels = {"component": component, "version": version}

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("crm_build", "The CRM version this process runs.")
        info.add_metric([], self.labels)
        yield info


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "0.0.0.0") -> None:
    """Serve `/metrics` of a worker process on a port, in a background thread."""
    start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%s/metrics", host, port)


class _RelayStats(Protocol):
    published: int
    batches: int
    failures: int


class RelayCollector(Collector):
    """The relay's figures, read when scraped: events published, its position, and its lag
    behind the head of the log (omitted when the store does not answer)."""

    def __init__(self, stats: _RelayStats, position: Callable[[], int], head: Callable[[], int]) -> None:
        self.stats = stats
        self.position = position
        self.head = head

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "crm_relay_published_events", "Events the relay published to Kafka.", value=self.stats.published
        )
        yield CounterMetricFamily("crm_relay_batches", "Batches the relay published.", value=self.stats.batches)
        yield CounterMetricFamily(
            "crm_relay_publish_failures",
            "Publishes that failed and were retried from the saved position with a new producer.",
            value=self.stats.failures,
        )
        try:
            position, head = self.position(), self.head()
        except Exception as error:  # a lag that cannot be measured is absent, never wrong
            log.warning("relay metrics: store not answering (%s)", type(error).__name__)
            return
        yield GaugeMetricFamily("crm_relay_position", "Last log position the broker acknowledged.", value=position)
        yield GaugeMetricFamily("crm_relay_lag_events", "Events in the log not yet relayed.", value=head - position)


class _ConsumerStats(Protocol):
    applied: int
    skipped: int
    dead_lettered: int
    seconds: float


class ConsumersCollector(Collector):
    """The projection consumers' figures, read when scraped: events applied, duplicates skipped,
    messages dead-lettered, time spent applying, and the real lag per partition (messages in
    Kafka not yet applied; omitted when Kafka or the store does not answer)."""

    def __init__(
        self, stats: Sequence[tuple[str, _ConsumerStats]], lags: Callable[[], dict[str, dict[str, int]]]
    ) -> None:
        self.stats = stats
        self.lags = lags

    def collect(self) -> Iterator[Metric]:
        families = {
            "applied": CounterMetricFamily(
                "crm_consumer_applied_events", "Events applied to the read models.", labels=["projection"]
            ),
            "skipped": CounterMetricFamily(
                "crm_consumer_skipped_events", "Duplicates skipped by position.", labels=["projection"]
            ),
            "dead_lettered": CounterMetricFamily(
                "crm_consumer_dead_letters", "Messages parked in the dead-letter topic.", labels=["projection"]
            ),
            "seconds": CounterMetricFamily(
                "crm_consumer_apply_seconds", "Time spent applying batches.", labels=["projection"]
            ),
        }
        for name, stats in self.stats:
            for field, family in families.items():
                family.add_metric([name], getattr(stats, field))
        yield from families.values()
        yield from self._lag()

    def _lag(self) -> Iterable[Metric]:
        try:
            lags = self.lags()
        except Exception as error:  # a lag that cannot be measured is absent, never wrong
            log.warning("consumer metrics: lag not measurable (%s)", type(error).__name__)
            return []
        family = GaugeMetricFamily(
            "crm_consumer_lag_messages", "Messages in Kafka not yet applied.", labels=["projection", "partition"]
        )
        for projection, partitions in lags.items():
            for partition, lag in partitions.items():
                family.add_metric([projection, partition], lag)
        return [family]


def worker_registry(component: str, *collectors: Any) -> CollectorRegistry:
    """A process registry for a worker (`relay`, `consume`) with its own collectors."""
    from services.version import crm_version

    registry = process_registry(component, crm_version())
    for collector in collectors:
        registry.register(collector)
    return registry
