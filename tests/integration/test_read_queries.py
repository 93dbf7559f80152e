"""The read-model queries over a real store (SQLite file and PostgreSQL), fed by the runner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from consumers.in_process_runner import InProcessRunner
from projections.segment_rules import UnknownSegment
from projections.win_model import WinModel
from services.app.commands import CaptureLead
from services.app.errors import ContactNotFound
from services.app.queries import ReadModelQueries
from services.bootstrap import bootstrap, open_read_models
from services.jobs.cdnow_import import import_purchases
from services.jobs.seed import seed_history
from services.settings import Settings
from tests.integration.conftest import BACKENDS

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"
END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_pipeline_forecast_and_segments_answer_from_the_store(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    store = open_read_models(settings)
    seed_history(app, leads=80, seed=9, end=END)
    import_purchases(app, SAMPLE)
    InProcessRunner(app, store).catch_up()
    queries = ReadModelQueries(store)

    summary = queries.pipeline(as_of=END)
    total = sum(s.count for s in summary.stages)
    assert total == 80 + sum(1 for _ in store.fetch("SELECT lead_id FROM pipeline_leads WHERE source = 'reactivation'"))
    assert queries.pipeline(as_of=datetime(2024, 1, 1, tzinfo=UTC)).stages[0].count == 0

    forecast = queries.forecast(as_of=END, months=3)
    assert len(forecast.months) == 3
    # the default forecast's deals are moved by the learned win model the queries keep for the day
    trained = queries.win_model(END.date())
    assert isinstance(trained, WinModel)
    assert (forecast.model, forecast.win_model, forecast.win_model_reason) == ("hazard_win", trained.version, None)

    [cdnow] = queries.contacts(external_id="cdnow:4")
    features = queries.contact_features(UUID(cdnow.contact_id), as_of=datetime(1997, 9, 30, tzinfo=UTC), unit="weeks")
    # customer 00004: purchases on 1997-01-01, 01-18, 08-02 (and 12-12, after the date)
    assert (features.frequency, features.purchase_count) == (2, 3)
    assert features.recency == pytest.approx((datetime(1997, 8, 2) - datetime(1997, 1, 1)).days / 7)
    assert features.monetary == pytest.approx((2973 + 1496) / 2)

    names = {s.name for s in queries.segments(as_of=datetime(1997, 9, 30, tzinfo=UTC))}
    assert {"repeat_buyers", "prospects"} <= names
    members = queries.segment_members("repeat_buyers", as_of=datetime(1997, 9, 30, tzinfo=UTC))
    assert cdnow.contact_id in {m.contact_id for m in members}
    with pytest.raises(UnknownSegment):
        queries.segment_members("no-such-segment")
    with pytest.raises(ContactNotFound):
        queries.contact_features(UUID(int=0))
    store.close()
    app.close()


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_a_pipeline_or_forecast_answer_is_kept_until_the_pipeline_applies_another_event(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    store = open_read_models(settings)
    try:
        seed_history(app, leads=30, seed=4, end=END)
        runner = InProcessRunner(app, store)
        runner.catch_up()
        queries = ReadModelQueries(store)

        # the same question at the same position is answered once
        first = queries.pipeline(as_of=END)
        assert queries.pipeline(as_of=END) is first
        assert queries.pipeline(as_of=END, source="web_form") is not first
        forecast = queries.forecast(as_of=END, months=2)
        assert queries.forecast(as_of=END, months=2) is forecast

        # a new lead, applied: the answers are computed again and count it
        app.capture_lead(CaptureLead(name="New Lead", email="new.lead@example.com", source="web_form", occurred_at=END))
        runner.catch_up()
        again = queries.pipeline(as_of=END)
        assert again is not first
        assert sum(s.count for s in again.stages) == sum(s.count for s in first.stages) + 1
        assert queries.forecast(as_of=END, months=2) is not forecast

        # as of now: every event applied counts, one captured this very moment included
        now_before = sum(s.count for s in queries.pipeline().stages)
        app.capture_lead(CaptureLead(name="Just Now", email="just.now@example.com", source="web_form"))
        runner.catch_up()
        assert sum(s.count for s in queries.pipeline().stages) == now_before + 1
    finally:
        store.close()
        app.close()
