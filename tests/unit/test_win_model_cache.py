"""The read-model queries keep the trained win model per day, retrained only when what it
learns from changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.app.queries import ReadModelQueries


class CountingStore:
    """An empty read-model store that counts the full reads of the pipeline's journal, with a
    position and a journal fingerprint set by the test."""

    def __init__(self) -> None:
        self.at = 10
        self.entries_before_today = 5
        self.trainings = 0

    @property
    def projections(self) -> Mapping[str, object]:
        return {}

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if "COUNT(*)" in sql:
            return [{"entries": self.entries_before_today, "latest": "2026-03-01T00:00:00+00:00"}]
        if "pipeline_lead_events" in sql and "lead_id = ?" not in sql:
            self.trainings += 1
        return []

    def position(self, projection: str, source: str = "log") -> int:
        return self.at

    def wait(self, position: int, timeout: float = 2.0, source: str = "log") -> bool:
        return True


MORNING, EVENING = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 20, tzinfo=UTC)


def test_reads_of_one_day_share_the_model_trained_once() -> None:
    store = CountingStore()
    queries = ReadModelQueries(store)
    first = queries.win_probability(UUID(int=1), MORNING)
    queries.win_probability(UUID(int=2), EVENING)
    assert store.trainings == 1
    assert first.value is None and first.reason is not None and "too few closed leads" in first.reason


def test_a_write_of_today_moves_the_pipeline_but_does_not_retrain_the_day_s_model() -> None:
    store = CountingStore()
    queries = ReadModelQueries(store)
    queries.win_probability(UUID(int=1), MORNING)
    store.at = 11
    queries.win_probability(UUID(int=1), EVENING)
    assert store.trainings == 1


def test_an_event_dated_before_the_day_retrains_it_and_so_does_another_day() -> None:
    store = CountingStore()
    queries = ReadModelQueries(store)
    queries.win_probability(UUID(int=1), MORNING)
    store.at, store.entries_before_today = 11, 6
    queries.win_probability(UUID(int=1), EVENING)
    queries.win_probability(UUID(int=1), datetime(2026, 3, 3, 8, tzinfo=UTC))
    assert store.trainings == 3
