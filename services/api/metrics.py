"""The API's Prometheus metrics (prometheus_client): request counts and latency histograms per
method, route and status, the process and Python collectors and `crm_build_info`, and the event
log and read-model positions, read from the store when scraped. `GET /metrics` answers even when
the store does not: the store's figures are then left out and `crm_event_store_up` is 0."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.app.application import AppendGroups
from services.metrics import process_registry
from services.version import crm_version

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the request latency histogram."""
CONTENT_TYPE = CONTENT_TYPE_LATEST

log = logging.getLogger("crm.http")

Positions = Callable[[], dict[str, int] | None]
"""The log position each read model applied, or None when this process does not follow them."""


class Metrics:
    """One app's registry: what the edge observes per request, and the store's figures."""

    def __init__(self, head: Callable[[], int], positions: Positions, groups: AppendGroups | None = None) -> None:
        self.registry = process_registry("api", crm_version())
        labels = ("method", "route", "status")
        self.requests = Counter(
            "crm_http_requests", "HTTP requests answered, by method, route and status.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "crm_http_request_duration_seconds",
            "Time spent answering HTTP requests.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StoreFigures(head, positions))
        if groups is not None:
            self.registry.register(_GroupFigures(groups))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one answered request."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything."""
        return generate_latest(self.registry)


class _StoreFigures(Collector):
    """The head of the log and how far each read model followed it, read when scraped."""

    def __init__(self, head: Callable[[], int], positions: Positions, groups: AppendGroups | None = None) -> None:
        self.head = head
        self.positions = positions

    def collect(self) -> Iterator[Metric]:
        try:
            head, positions = self.head(), self.positions()
        except Exception as error:  # the metrics still answer; the store's figures are absent
            log.warning("metrics: the store does not answer (%s)", type(error).__name__)
            yield GaugeMetricFamily("crm_event_store_up", "1 when the event store answered the scrape.", value=0)
            return
        yield GaugeMetricFamily("crm_event_store_up", "1 when the event store answered the scrape.", value=1)
        yield CounterMetricFamily(
            "crm_events_appended", "Events appended to the event log (its head position).", value=head
        )
        if positions is None:
            return  # not followed here (Kafka consumers keep them): no lag rather than a wrong one
        position = GaugeMetricFamily(
            "crm_projection_position", "Log position each read model has applied up to.", labels=["projection"]
        )
        lag = GaugeMetricFamily(
            "crm_projection_lag", "Events appended but not yet applied, per read model.", labels=["projection"]
        )
        for name, applied in sorted(positions.items()):
            position.add_metric([name], applied)
            lag.add_metric([name], max(head - applied, 0))
        yield position
        yield lag


class _GroupFigures(Collector):
    """How this process's appends were grouped into transactions (group commit)."""

    def __init__(self, groups: AppendGroups) -> None:
        self.groups = groups

    def collect(self) -> Iterator[Metric]:
        g = self.groups
        yield CounterMetricFamily(
            "crm_append_transactions", "Transactions the event store appended in (one per group).", value=g.groups
        )
        yield CounterMetricFamily(
            "crm_append_appends", "Appends (commands) written in those transactions.", value=g.appends
        )
        yield CounterMetricFamily(
            "crm_append_group_wait_seconds",
            "Time appends waited, in all, from queueing to the start of their group's transaction.",
            value=g.waited_seconds,
        )
        yield GaugeMetricFamily("crm_append_largest_group", "The most appends one transaction held.", value=g.largest)
