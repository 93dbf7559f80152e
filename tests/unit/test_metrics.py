"""The Prometheus metrics of the API and the workers, as a scraper reads them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.api.metrics import LATENCY_BUCKETS, Metrics
from services.metrics import ConsumersCollector, RelayCollector, worker_registry
from services.storage.group_commit import Append, GroupStats


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def store_down() -> int:
    raise ConnectionError("the database went away")


def test_request_latency_is_a_histogram_with_buckets_per_route_and_status() -> None:
    metrics = Metrics(head=lambda: 7, positions=lambda: {"pipeline": 5})
    metrics.observe("GET", "/v1/leads/{lead_id}", 200, 0.012)
    metrics.observe("GET", "/v1/leads/{lead_id}", 200, 0.3)
    found = samples(metrics.render())
    labels = (("method", "GET"), ("route", "/v1/leads/{lead_id}"), ("status", "200"))
    assert found[("crm_http_requests_total", labels)] == 2
    assert found[("crm_http_request_duration_seconds_count", labels)] == 2
    assert found[("crm_http_request_duration_seconds_bucket", (("le", "0.025"), *labels))] == 1
    assert found[("crm_http_request_duration_seconds_bucket", (("le", "+Inf"), *labels))] == 2
    assert len([k for k in found if k[0] == "crm_http_request_duration_seconds_bucket"]) == len(LATENCY_BUCKETS) + 1


def test_the_store_figures_the_build_and_the_process_are_reported() -> None:
    found = samples(Metrics(head=lambda: 7, positions=lambda: {"pipeline": 5, "segments": 7}).render())
    assert found[("crm_events_appended_total", ())] == 7
    assert found[("crm_projection_lag", (("projection", "pipeline"),))] == 2
    assert found[("crm_projection_lag", (("projection", "segments"),))] == 0
    assert found[("crm_event_store_up", ())] == 1
    assert any(name == "crm_build_info" and dict(labels)["component"] == "api" for name, labels in found)
    assert ("process_cpu_seconds_total", ()) in found and any(name.startswith("python_") for name, _ in found)


def test_metrics_answer_while_the_store_is_down_without_its_figures() -> None:
    metrics = Metrics(head=store_down, positions=lambda: {"pipeline": 5})
    metrics.observe("GET", "/healthz", 503, 0.001)
    found = samples(metrics.render())
    assert found[("crm_event_store_up", ())] == 0
    assert not any(name.startswith(("crm_events_appended", "crm_projection")) for name, _ in found)
    assert ("crm_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "503"))) in found


def test_no_projection_lag_is_reported_where_this_process_does_not_follow_the_read_models() -> None:
    found = samples(Metrics(head=lambda: 7, positions=lambda: None).render())
    assert found[("crm_events_appended_total", ())] == 7
    assert not any(name.startswith("crm_projection") for name, _ in found)


class Stats:
    published, batches, failures = 40, 2, 3
    applied, skipped, dead_lettered, seconds = 30, 4, 1, 0.5


def test_the_relay_reports_its_lag_or_leaves_it_out_when_it_cannot_be_measured() -> None:
    found = samples_of(worker_registry("relay", RelayCollector(Stats(), position=lambda: 40, head=lambda: 45)))
    assert found[("crm_relay_published_events_total", ())] == 40
    assert found[("crm_relay_lag_events", ())] == 5
    assert found[("crm_relay_publish_failures_total", ())] == 3
    assert dict(next(labels for name, labels in found if name == "crm_build_info"))["component"] == "relay"
    unmeasured = samples_of(worker_registry("relay", RelayCollector(Stats(), position=lambda: 40, head=store_down)))
    assert ("crm_relay_published_events_total", ()) in unmeasured
    assert not any(name.startswith(("crm_relay_lag", "crm_relay_position")) for name, _ in unmeasured)


def test_consumers_report_their_counts_and_the_lag_per_partition_or_no_lag_at_all() -> None:
    lags = {"pipeline": {"crm.lead.events.v1:0": 3, "crm.lead.events.v1:1": 0}}
    found = samples_of(worker_registry("consume", ConsumersCollector([("pipeline", Stats())], lambda: lags)))
    assert found[("crm_consumer_applied_events_total", (("projection", "pipeline"),))] == 30
    assert found[("crm_consumer_dead_letters_total", (("projection", "pipeline"),))] == 1
    key = ("crm_consumer_lag_messages", (("partition", "crm.lead.events.v1:0"), ("projection", "pipeline")))
    assert found[key] == 3

    def kafka_down() -> dict[str, dict[str, int]]:
        raise ConnectionError("no broker")

    unmeasured = samples_of(worker_registry("consume", ConsumersCollector([("pipeline", Stats())], kafka_down)))
    assert not any(name == "crm_consumer_lag_messages" for name, _ in unmeasured)


def samples_of(registry: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    return samples(generate_latest(registry))  # type: ignore[arg-type]


def test_how_appends_were_grouped_into_transactions_is_reported_where_the_store_groups_them() -> None:
    stats = GroupStats()
    stats.record([Append([], {}, queued_at=0.0), Append([], {}, queued_at=0.5)], started=1.0)
    stats.record([Append([], {}, queued_at=2.0)], started=2.0)
    found = samples(Metrics(head=lambda: 7, positions=lambda: None, groups=stats).render())
    assert found[("crm_append_transactions_total", ())] == 2
    assert found[("crm_append_appends_total", ())] == 3
    assert found[("crm_append_group_wait_seconds_total", ())] == 1.5
    assert found[("crm_append_largest_group", ())] == 2
    assert not any(name.startswith("crm_append") for name, _ in samples(Metrics(lambda: 7, lambda: None).render()))
