"""The read-model queries keep the trained win model per pipeline position and day."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from services.app.queries import ReadModelQueries


class CountingStore:
    """An empty read-model store that counts the full reads of the pipeline's journal."""

    def __init__(self) -> None:
        self.at = 10
        self.trainings = 0

    @property
    def projections(self) -> Mapping[str, object]:
        return {}

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if "pipeline_lead_events" in sql and "lead_id = ?" not in sql:
            self.trainings += 1
        return []

    def position(self, projection: str, source: str = "log") -> int:
        return self.at

    def wait(self, position: int, timeout: float = 2.0, source: str = "log") -> bool:
        return True


def test_a_lead_s_read_reuses_the_model_until_the_pipeline_moves_or_the_day_changes() -> None:
    store = CountingStore()
    queries = ReadModelQueries(store)
    morning, evening = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 20, tzinfo=UTC)

    first = queries.win_probability(UUID(int=1), morning)
    queries.win_probability(UUID(int=2), evening)
    assert store.trainings == 1
    assert first.value is None and first.reason is not None and "too few closed leads" in first.reason

    store.at = 11
    queries.win_probability(UUID(int=1), evening)
    queries.win_probability(UUID(int=1), datetime(2026, 3, 3, 8, tzinfo=UTC))
    assert store.trainings == 3
