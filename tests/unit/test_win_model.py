"""The learned win probability: naive Bayes with Laplace smoothing, its explanation, the AUC,
and the training set as of a date (no fact known only after it)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from projections.event_record import EventRecord, record_to_json
from projections.forecast import forecast
from projections.forecast_model import DealHistory
from projections.win_model import (
    MIN_CLOSED,
    OTHER_COMPANY,
    LeadFeatures,
    NoModel,
    TrainingRow,
    WinModel,
    age_bucket,
    auc,
    engagement_bucket,
    forecast_win_probability,
    train,
)
from projections.win_model_queries import (
    JournalEntry,
    closed_since,
    entry_of,
    lead_at,
    lead_win_probability,
    learn,
    training_fingerprint,
    training_rows,
)
from tests.unit.sqlite_reader import SqliteReader, to_db
from tests.unit.test_pipeline_projection import LeadLog, on, store_of

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
CLOSED = AS_OF - timedelta(days=10)


def features(stage: str = "new", company: str | None = "Acme", lead_id: str = "x") -> LeadFeatures:
    return LeadFeatures(lead_id, stage, "web_form", None, "alice", company, interactions=3, age_days=10.0)


def rows(won_in: dict[str, int], lost_in: dict[str, int]) -> list[TrainingRow]:
    """Closed leads that differ only by stage: so many won and so many lost in each stage."""
    made = []
    for outcome, per_stage in ((True, won_in), (False, lost_in)):
        for stage, n in per_stage.items():
            made += [TrainingRow(features(stage), outcome, CLOSED) for _ in range(n)]
    return made


def trained(won_in: dict[str, int], lost_in: dict[str, int]) -> WinModel:
    model = train(rows(won_in, lost_in), AS_OF)
    assert isinstance(model, WinModel)
    return model


def test_the_probability_is_the_prior_times_the_smoothed_likelihood_ratio_computed_by_hand() -> None:
    model = trained({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16})
    # P(proposal | won) = (8 + 1) / (10 + 2), P(proposal | lost) = (4 + 1) / (20 + 2): odds 10/20 x 3.3
    odds = (10 / 20) * ((9 / 12) / (5 / 22))
    assert model.probability(features("proposal")) == pytest.approx(odds / (1 + odds))
    assert model.contribution("stage", "proposal") == pytest.approx(math.log(3.3))
    assert model.version == "nb-1:2026-06-01T00:00:00Z:30"


def test_a_value_never_seen_in_training_is_smoothed_as_one_more_value_of_its_feature() -> None:
    model = trained({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16})
    # three values of stage now: P(negotiation | won) = 1 / 13, P(negotiation | lost) = 1 / 23
    assert model.contribution("stage", "negotiation") == pytest.approx(math.log(23 / 13))


def test_a_feature_every_lead_shares_contributes_nothing() -> None:
    model = trained({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16})
    explained = {c.feature: c.contribution for c in model.explain(features("proposal")).contributions}
    assert explained["source"] == pytest.approx(0.0) and explained["engagement"] == pytest.approx(0.0)


def test_the_explanation_sums_to_the_log_odds_largest_contribution_first() -> None:
    model = trained({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16})
    explanation = model.explain(features("new"))
    p = model.probability(features("new"))
    assert explanation.base_log_odds + sum(c.contribution for c in explanation.contributions) == pytest.approx(
        math.log(p / (1 - p))
    )
    sizes = [abs(c.contribution) for c in explanation.contributions]
    assert sizes == sorted(sizes, reverse=True)
    assert explanation.contributions[0].feature == "stage" and explanation.contributions[0].value == "new"


def test_too_few_closed_leads_or_too_few_of_one_outcome_learn_no_model_and_say_why() -> None:
    few = train(rows({"new": 10}, {"new": MIN_CLOSED - 11}), AS_OF)
    one_sided = train(rows({"new": 4}, {"new": 40}), AS_OF)
    assert isinstance(few, NoModel) and "10 won and 19 lost" in few.reason
    assert isinstance(one_sided, NoModel) and one_sided.won == 4


def test_rows_closed_after_the_training_date_are_left_out_of_the_model() -> None:
    late = [TrainingRow(features("proposal"), True, AS_OF + timedelta(seconds=1)) for _ in range(50)]
    model = train(rows({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16}) + late, AS_OF)
    assert isinstance(model, WinModel) and model.leads == 30


def test_a_company_rarer_than_the_minimum_reads_as_other() -> None:
    base = rows({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16})
    rare = [TrainingRow(features("new", company="Hooli"), False, CLOSED) for _ in range(2)]
    model = train(base + rare, AS_OF)
    assert isinstance(model, WinModel)
    assert model.value_of("company", features(company="Hooli")) == OTHER_COMPANY
    assert model.value_of("company", features(company="Acme")) == "Acme"


def test_the_buckets_of_engagement_and_age() -> None:
    assert [engagement_bucket(n) for n in (0, 1, 2, 3, 9, 10)] == ["0", "1-2", "1-2", "3-5", "6-9", "10+"]
    assert [age_bucket(d) for d in (0.5, 7.0, 45.0, 200.0)] == ["0-7d", "7-30d", "30-90d", "180d+"]


def test_the_auc_counts_ties_as_half_a_pair_won() -> None:
    # won 0.4 and 0.8 against lost 0.1 and 0.4: three pairs won, one tied
    assert auc([0.1, 0.4, 0.4, 0.8], [False, True, False, True]) == pytest.approx(3.5 / 4)
    assert auc([1, 2, 3], [False, False, True]) == 1.0
    assert auc([1, 1, 1], [True, False, True]) == 0.5
    assert auc([1, 2], [True, True]) is None


def test_as_the_forecast_s_win_probability_the_model_judges_a_deal_by_its_stage_alone() -> None:
    model = trained({"proposal": 8, "new": 2}, {"proposal": 4, "new": 16})
    p = forecast_win_probability(model)
    odds = (10 / 20) * ((9 / 12) / (5 / 22))
    history = DealHistory(as_of=AS_OF)
    assert p("proposal", 3.0, history) == pytest.approx(odds / (1 + odds))
    assert p("new", 3.0, history) < p("proposal", 3.0, history)


# --- the training set read from a lead's events ------------------------------------------------


def record(version: int, event_type: str, at: datetime, **data: object) -> JournalEntry:
    return JournalEntry(event_type, version, at, data)


def story(closes_at: datetime, converted: bool = True) -> list[JournalEntry]:
    """Captured 30 days before closing, two interactions, qualified, then closed."""
    start = closes_at - timedelta(days=30)
    captured = {"source": "web_form", "campaign": None, "owner": None, "company": "Acme", "name": "[erased]"}
    closing = ("lead.converted", {"deal_value": 100}) if converted else ("lead.disqualified", {"reason": "no"})
    return [
        record(1, "lead.captured", start, **captured),
        record(2, "lead.assigned", start + timedelta(days=1), owner="bob"),
        record(3, "lead.interaction_logged", start + timedelta(days=2), kind="call"),
        record(4, "lead.scored", start + timedelta(days=2), score=40),
        record(5, "lead.stage_changed", start + timedelta(days=3), stage="qualified"),
        record(6, "lead.interaction_logged", start + timedelta(days=20), kind="demo"),
        record(7, closing[0], closes_at, **closing[1]),
    ]


def test_a_closed_lead_trains_as_it_was_just_before_it_closed_not_in_its_closed_stage() -> None:
    [row] = training_rows({"a": story(CLOSED)}, AS_OF)
    assert row.won and row.closed_at == CLOSED
    assert row.features.stage == "qualified" and row.features.owner == "bob"
    assert row.features.interactions == 2 and row.features.age_days == pytest.approx(30.0)


def test_a_lead_closing_after_the_training_date_is_not_in_that_date_s_training_set() -> None:
    after = story(AS_OF + timedelta(days=1))
    [early] = training_rows({"late": after, "early": story(CLOSED, converted=False)}, AS_OF)
    assert early.features.lead_id == "early" and early.won is False
    assert training_rows({"late": after}, AS_OF) == []
    assert len(training_rows({"late": after}, AS_OF + timedelta(days=2))) == 1


def test_a_lead_is_read_at_a_date_with_only_what_had_happened_by_then() -> None:
    events = story(AS_OF + timedelta(days=5))
    then = lead_at(
        "a", events, AS_OF - timedelta(days=22, hours=12)
    )  # after the first interaction, before the stage change
    assert then is not None and then.is_open
    assert then.features.stage == "new" and then.features.interactions == 1 and then.score == 40
    assert lead_at("a", events, AS_OF - timedelta(days=40)) is None


def test_the_backtest_takes_the_leads_open_at_its_date_that_closed_since() -> None:
    [lead] = closed_since({"later": story(AS_OF + timedelta(days=5)), "before": story(CLOSED)}, AS_OF)
    assert lead.won and lead.then.features.stage == "qualified"


def test_a_journal_record_reads_back_as_the_entry_of_its_event() -> None:
    at = AS_OF - timedelta(days=3)
    recorded = EventRecord(7, "lead.scored", "lead", UUID(int=1), 4, at, at, "a", "c", {"score": 40, "reason": "x"})
    assert entry_of(record_to_json(recorded)) == JournalEntry("lead.scored", 4, at, {"score": 40, "reason": "x"})


# --- through the pipeline projection's journal, and as the forecast's win probability ----------


def journaled_history() -> LeadLog:
    """24 leads won from proposal after two calls, 6 lost from proposal, 12 lost from new, one
    open in proposal (all in 2026), and one lead won after the training date."""
    log = LeadLog()
    for n in range(42):
        name, start = f"lead{n}", on(1, 1) + timedelta(days=n)
        log.capture(name, start)
        log.interact(name, start + timedelta(days=1))
        if n < 30:
            log.move(name, "proposal", start + timedelta(days=2))
            log.interact(name, start + timedelta(days=3))
        closing = start + timedelta(days=20)
        (log.convert(name, closing, 1_000) if n < 24 else log.disqualify(name, closing))
    log.capture("open", on(3, 1))
    log.move("open", "proposal", on(3, 2))
    log.capture("late", on(3, 1))
    log.convert("late", on(4, 20), 1_000)
    return log


def journaled(log: LeadLog) -> SqliteReader:
    """The pipeline read model of the log with its journal written as the real store writes it
    (the unit reader leaves the journal out)."""
    store = store_of(log.records)
    for r in log.records:
        store.db.execute(
            "INSERT INTO pipeline_lead_events VALUES (?, ?, ?, ?, ?)",
            [str(r.aggregate_id), r.aggregate_version, to_db(r.occurred_at), to_db(r.recorded_at), record_to_json(r)],
        )
    return store


def test_the_training_set_is_read_from_the_pipeline_journal_as_of_its_date() -> None:
    store = journaled(journaled_history())
    model = learn(store, on(4, 1))
    assert isinstance(model, WinModel) and (model.won, model.lost) == (24, 18)
    assert model.counts["stage"] == {"new": (0, 12), "proposal": (24, 6)}
    assert model.counts["engagement"] == {"1-2": (24, 18)}


def test_an_open_lead_is_scored_and_a_closed_one_is_not() -> None:
    store = journaled(journaled_history())
    model = learn(store, on(4, 1))
    scored = lead_win_probability(store, model, LeadLog.key("open"), on(4, 1))
    closed = lead_win_probability(store, model, LeadLog.key("lead0"), on(4, 1))
    assert scored.value is not None and scored.value > 0.5 and scored.model_version == model.version
    assert closed.value is None and closed.reason is not None and "closed (converted)" in closed.reason


def test_the_model_plugs_into_the_forecast_as_its_win_probability() -> None:
    store = journaled(journaled_history())
    model = learn(store, on(4, 1))
    assert isinstance(model, WinModel)
    learned = forecast(store, on(4, 1), months=3, win_probability=forecast_win_probability(model))
    [deal] = [d for d in learned.deals if d.lead_id == LeadLog.key("open")]
    assert deal.probability == pytest.approx(model.explain(features("proposal"), only=("stage",)).probability)


def test_the_training_fingerprint_counts_the_journal_entries_dated_before_the_cutoff() -> None:
    log = journaled_history()
    entries, latest = training_fingerprint(journaled(log), on(4, 1))
    assert entries == sum(1 for r in log.records if r.occurred_at < on(4, 1)) and latest is not None
    assert training_fingerprint(journaled(log), on(1, 1)) == (0, None)
