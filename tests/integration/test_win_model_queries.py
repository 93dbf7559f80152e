"""The learned win probability over a real store (SQLite file and PostgreSQL): the pipeline's
journal read back, the model kept per day, and the backtest."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from consumers.in_process_runner import InProcessRunner
from projections.forecast import forecast
from projections.forecast_hazard import PipelineHistory
from projections.forecast_win import LeadJournal
from services.app.queries import ReadModelQueries
from services.bootstrap import bootstrap, open_read_models
from services.jobs.seed import seed_history
from services.settings import Settings
from tests.integration.conftest import BACKENDS

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_win_model_learns_from_the_store_s_journal_and_scores_an_open_lead(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    store = open_read_models(settings)
    seed_history(app, leads=150, seed=9, end=END)
    InProcessRunner(app, store).catch_up()
    queries = ReadModelQueries(store)

    model = queries.win_model(END.date())
    assert model.won >= 5 and model.lost >= 5
    [row] = store.fetch(
        "SELECT lead_id FROM pipeline_leads WHERE stage IN ('contacted', 'qualified') ORDER BY lead_id LIMIT 1"
    )
    scored = queries.win_probability(UUID(row["lead_id"]), END)
    assert scored.value is not None and 0 < scored.value < 1 and len(scored.explanation) == 7
    assert queries.win_model(END.date()) is model  # kept: nothing changed since

    backtest = queries.scoring_backtest(datetime(2026, 3, 1, tzinfo=UTC))
    assert backtest.leads == backtest.won + backtest.lost and backtest.leads > 0
    assert backtest.rule_auc is not None
    store.close()
    app.close()


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_a_forecast_with_its_win_model_trained_reads_only_the_open_deals_journal_and_answers_the_same(
    database_url: str,
) -> None:
    # given a seeded store and the win model trained as of the forecast's day
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    store = open_read_models(settings)
    seed_history(app, leads=120, seed=4, end=END)
    InProcessRunner(app, store).catch_up()
    as_of = datetime(2026, 4, 15, 12, tzinfo=UTC)
    model = LeadJournal.load(store).model(as_of)
    history = PipelineHistory.load(store)
    opened = {lead.lead_id for lead in history.open_at(as_of)}
    # when a forecast is made with that model, reading the journal of the open deals alone
    narrowed = LeadJournal.load(store, sorted(opened))
    with_model = forecast(store, as_of, win_model=model)
    # then it reads fewer leads' journals, and answers as the forecast that trains its own does
    assert set(narrowed.histories) == opened and len(opened) < len(LeadJournal.load(store).histories)
    assert with_model == forecast(store, as_of)
    assert with_model.win_model is not None
    store.close()
    app.close()
