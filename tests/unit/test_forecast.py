"""The forecast: learned or default win probabilities and times to close, spreading the open
pipeline over months, the forecast categories, and accuracy against what actually closed.

The history (2026, midnight UTC; values in minor units, USD unless said otherwise):

    won1   new 01-05 (100_000), qualified 01-10, proposal 01-20, converted 02-10 (100_000)
    won2   new 01-08  (60_000), qualified 01-15, proposal 02-01, converted 03-03 (60_000)
    lost1  new 01-10  (70_000), qualified 01-20, proposal 02-05, disqualified 02-20
    lost2  new 01-12  (10_000), disqualified 01-30
    open1  new 03-01  (40_000)
    open2  new 02-01  (90_000), qualified 03-10
    open3  new 01-15  (30_000 EUR), proposal 01-25
    open4  new 02-20 (100_000), negotiation 03-14
    open5  new 03-12  (50_000), contacted 03-13
    open6  new 03-14  (20_000)

The forecast is made as of 03-15. Afterwards: open4 converts 03-25 (100_000), open1 is
disqualified 04-01, open2 converts 04-10 (95_000), and late1 (new 03-20) converts 05-05 (10_000).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from projections.forecast import (
    BEST_CASE_THRESHOLD,
    COMMIT_THRESHOLD,
    DEFAULT_DAYS_TO_CLOSE,
    OVERDUE_CLOSE_DAYS,
    category_of,
    expected_close,
    forecast,
    forecast_accuracy,
    learn_days_to_close,
    learn_win_probabilities,
)
from projections.pipeline_queries import DEFAULT_WIN_PROBABILITIES, OPEN_STAGE_ORDER
from tests.unit.sqlite_reader import SqliteReader
from tests.unit.test_pipeline_projection import LeadLog, on, store_of

AS_OF = on(3, 15)
MARCH, APRIL, MAY = date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)


def history() -> LeadLog:
    log = LeadLog()
    log.capture("won1", on(1, 5), value=100_000)
    log.move("won1", "qualified", on(1, 10))
    log.move("won1", "proposal", on(1, 20))
    log.convert("won1", on(2, 10), 100_000)
    log.capture("won2", on(1, 8), value=60_000)
    log.move("won2", "qualified", on(1, 15))
    log.move("won2", "proposal", on(2, 1))
    log.convert("won2", on(3, 3), 60_000)
    log.capture("lost1", on(1, 10), value=70_000)
    log.move("lost1", "qualified", on(1, 20))
    log.move("lost1", "proposal", on(2, 5))
    log.disqualify("lost1", on(2, 20))
    log.capture("lost2", on(1, 12), value=10_000)
    log.disqualify("lost2", on(1, 30))
    log.capture("open1", on(3, 1), value=40_000)
    log.capture("open2", on(2, 1), value=90_000)
    log.move("open2", "qualified", on(3, 10))
    log.capture("open3", on(1, 15), value=30_000, currency="EUR")
    log.move("open3", "proposal", on(1, 25))
    log.capture("open4", on(2, 20), value=100_000)
    log.move("open4", "negotiation", on(3, 14))
    log.capture("open5", on(3, 12), value=50_000)
    log.move("open5", "contacted", on(3, 13))
    log.capture("open6", on(3, 14), value=20_000)
    # after the forecast date
    log.capture("late1", on(3, 20), value=10_000)
    log.convert("open4", on(3, 25), 100_000)
    log.disqualify("open1", on(4, 1))
    log.convert("open2", on(4, 10), 95_000)
    log.convert("late1", on(5, 5), 10_000)
    return log


@pytest.fixture
def log() -> LeadLog:
    return history()


@pytest.fixture
def store(log: LeadLog) -> SqliteReader:
    return store_of(log.records)


def key(name: str) -> str:
    return LeadLog.key(name)


# --- thresholds and defaults ------------------------------------------------------------------


def test_the_categories_follow_the_documented_thresholds() -> None:
    assert (COMMIT_THRESHOLD, BEST_CASE_THRESHOLD) == (0.7, 0.4)
    assert [category_of(p) for p in (0.05, 0.39, 0.4, 0.69, 0.7, 1.0)] == [
        "pipeline",
        "pipeline",
        "best_case",
        "best_case",
        "commit",
        "commit",
    ]


def test_every_open_stage_has_a_default_probability_and_time_to_close() -> None:
    assert set(DEFAULT_WIN_PROBABILITIES) == set(DEFAULT_DAYS_TO_CLOSE) == set(OPEN_STAGE_ORDER)
    assert list(DEFAULT_WIN_PROBABILITIES.values()) == [0.05, 0.10, 0.15, 0.30, 0.50, 0.70]


# --- win probabilities ------------------------------------------------------------------------


def test_win_probabilities_are_learned_from_leads_that_reached_the_stage_and_closed(store: SqliteReader) -> None:
    # when learned as of 03-15 from as few as 2 closed leads per stage
    learned = learn_win_probabilities(store, AS_OF, min_sample=2)
    # then: new: won1, won2 won, lost1, lost2 lost; qualified and proposal: won1, won2 won, lost1 lost
    table = {s.stage: (s.sample_size, s.converted, s.learned) for s in learned.stages}
    assert table == {
        "new": (4, 2, True),
        "contacted": (0, 0, False),
        "nurturing": (0, 0, False),
        "qualified": (3, 2, True),
        "proposal": (3, 2, True),
        "negotiation": (0, 0, False),
    }
    assert learned.probabilities == pytest.approx(
        {
            "new": 0.5,
            "contacted": 0.10,
            "nurturing": 0.15,
            "qualified": 2 / 3,
            "proposal": 2 / 3,
            "negotiation": 0.70,
        }
    )
    assert (learned.as_of, learned.min_sample) == (AS_OF, 2)


def test_below_the_minimum_sample_the_default_probability_is_used(store: SqliteReader) -> None:
    learned = learn_win_probabilities(store, AS_OF)  # min_sample 20
    assert learned.probabilities == dict(DEFAULT_WIN_PROBABILITIES)
    assert not any(s.learned for s in learned.stages)
    assert learned.stage("new").sample_size == 4  # the sample is still reported
    given = learn_win_probabilities(store, AS_OF, min_sample=5, defaults={**DEFAULT_WIN_PROBABILITIES, "new": 0.2})
    assert given.stage("new").probability == 0.2


def test_win_probabilities_learned_as_of_an_earlier_date_see_only_leads_closed_by_then(store: SqliteReader) -> None:
    # as of 02-15 only won1 (02-10) and lost2 (01-30) had closed
    learned = learn_win_probabilities(store, on(2, 15), min_sample=1)
    assert (learned.stage("new").sample_size, learned.stage("new").probability) == (2, 0.5)
    assert (learned.stage("qualified").sample_size, learned.stage("qualified").probability) == (1, 1.0)
    # and at the end of May, lost1, lost2 and open1 lost, won1, won2, open4, open2 and late1 won
    assert learn_win_probabilities(store, on(5, 31), min_sample=1).stage("new").probability == pytest.approx(5 / 8)


# --- times to close and expected close dates --------------------------------------------------


def test_days_to_close_are_the_median_days_from_entering_a_stage_to_conversion(store: SqliteReader) -> None:
    days = learn_days_to_close(store, AS_OF, min_sample=2)
    # new: 36 (won1) and 54 (won2); qualified: 31 and 47; proposal: 21 and 30
    assert days.days == {
        "new": 45.0,
        "contacted": DEFAULT_DAYS_TO_CLOSE["contacted"],
        "nurturing": DEFAULT_DAYS_TO_CLOSE["nurturing"],
        "qualified": 39.0,
        "proposal": 25.5,
        "negotiation": DEFAULT_DAYS_TO_CLOSE["negotiation"],
    }
    assert [(s.stage, s.sample_size, s.learned) for s in days.stages if s.sample_size] == [
        ("new", 2, True),
        ("qualified", 2, True),
        ("proposal", 2, True),
    ]
    assert learn_days_to_close(store, AS_OF).days == dict(DEFAULT_DAYS_TO_CLOSE)


def test_days_to_close_count_from_the_last_entry_into_a_stage() -> None:
    # given a lead that was qualified on day 0, went back to contacted, was qualified again on
    # 01-21 and converted 01-31
    log = LeadLog()
    log.capture("kim", on(1, 1))
    log.move("kim", "qualified", on(1, 1))
    log.move("kim", "contacted", on(1, 11))
    log.move("kim", "qualified", on(1, 21))
    log.convert("kim", on(1, 31), 1_000)
    days = learn_days_to_close(store_of(log.records), on(2, 1), min_sample=1)
    assert days.stage("qualified").days == 10.0
    assert days.stage("contacted").days == 20.0
    assert days.stage("new").days == 30.0


def test_the_expected_close_is_entry_plus_days_to_close_or_shortly_after_the_forecast_if_overdue() -> None:
    assert expected_close(on(3, 1), 45, AS_OF) == on(4, 15)
    assert expected_close(on(3, 1), 14, AS_OF) == AS_OF  # due exactly now
    assert expected_close(on(1, 25), 25.5, AS_OF) == AS_OF + timedelta(days=OVERDUE_CLOSE_DAYS)
    assert OVERDUE_CLOSE_DAYS == 7


def test_each_open_lead_gets_its_probability_expected_value_and_expected_close(store: SqliteReader) -> None:
    result = forecast(store, AS_OF, months=3, min_sample=2, model="stage")
    deals = {
        d.lead_id: (d.stage, d.stage_entered_at, d.expected_close, d.expected_value, d.category) for d in result.deals
    }
    assert deals == {
        key("open1"): ("new", on(3, 1), on(4, 15), 20_000.0, "best_case"),
        key("open2"): ("qualified", on(3, 10), on(4, 18), pytest.approx(60_000), "best_case"),
        key("open3"): ("proposal", on(1, 25), on(3, 22), pytest.approx(20_000), "best_case"),  # overdue
        key("open4"): ("negotiation", on(3, 14), on(3, 28), 70_000.0, "commit"),
        key("open5"): ("contacted", on(3, 13), on(5, 12), 5_000.0, "pipeline"),
        key("open6"): ("new", on(3, 14), on(4, 28), 10_000.0, "best_case"),
    }


# --- the forecast -----------------------------------------------------------------------------


def test_the_forecast_spreads_the_weighted_pipeline_over_months_by_category(store: SqliteReader) -> None:
    result = forecast(store, AS_OF, months=3, min_sample=2, model="stage")
    assert result.months == [MARCH, APRIL, MAY]
    table = {(r.month, r.currency): (r.closed, r.commit, r.best_case, r.pipeline) for r in result.rows}
    assert table == {
        (MARCH, "EUR"): (0, 0, 20_000, 20_000),  # open3, overdue, into March
        (MARCH, "USD"): (60_000, 70_000, 70_000, 70_000),  # won2 closed 03-03; open4 commit
        (APRIL, "EUR"): (0, 0, 0, 0),
        (APRIL, "USD"): (0, 0, 90_000, 90_000),  # open1 20_000 + open2 60_000 + open6 10_000
        (MAY, "EUR"): (0, 0, 0, 0),
        (MAY, "USD"): (0, 0, 0, 5_000),  # open5
    }
    assert result.row(MARCH, "USD").expected_total == 130_000
    assert result.beyond_horizon == {}
    assert result.win_probabilities.stage("new").learned
    assert result.days_to_close.stage("qualified").learned
    assert (result.commit_threshold, result.best_case_threshold) == (0.7, 0.4)


def test_closed_counts_only_deals_converted_in_the_month_by_the_forecast_date(store: SqliteReader) -> None:
    # won1 converted in February (before the first month); open4 converts 03-25, after the date
    result = forecast(store, AS_OF, months=3, min_sample=2, model="stage")
    assert [r.closed for r in result.rows if r.currency == "USD"] == [60_000, 0, 0]


def test_leads_expected_after_the_horizon_are_reported_apart(store: SqliteReader) -> None:
    result = forecast(store, AS_OF, months=2, min_sample=2, model="stage")
    assert result.months == [MARCH, APRIL]
    assert result.beyond_horizon == {"USD": 5_000}  # open5, expected in May


def test_without_enough_history_the_forecast_uses_the_default_probabilities_and_times(store: SqliteReader) -> None:
    # with defaults: open1 new .05 closes 05-30; open2 qualified .30 closes 04-24; open3 proposal .50
    # overdue (02-24) closes 03-22; open4 negotiation .70 closes 03-28; open5 contacted .10 closes
    # 05-12; open6 new .05 closes 06-12, after May
    result = forecast(store, AS_OF, model="stage")
    assert not any(s.learned for s in result.win_probabilities.stages)
    table = {(r.month, r.currency): (r.commit, r.best_case, r.pipeline) for r in result.rows}
    assert table == {
        (MARCH, "EUR"): (0, 15_000, 15_000),
        (MARCH, "USD"): (70_000, 70_000, 70_000),
        (APRIL, "EUR"): (0, 0, 0),
        (APRIL, "USD"): (0, 0, 27_000),
        (MAY, "EUR"): (0, 0, 0),
        (MAY, "USD"): (0, 0, 7_000),  # open1 2_000 + open5 5_000
    }
    assert result.beyond_horizon == {"USD": 1_000}


def test_the_forecast_of_an_empty_pipeline_has_its_months_and_no_rows() -> None:
    result = forecast(store_of([]), AS_OF, months=2)
    assert (result.months, result.rows, result.deals) == ([MARCH, APRIL], [], [])
    with pytest.raises(ValueError):
        forecast(store_of([]), AS_OF, months=0)


def test_the_forecast_spans_a_year_end() -> None:
    log = LeadLog()
    log.capture("yul", on(12, 20, year=2025), value=10_000)
    result = forecast(store_of(log.records), on(12, 31, year=2025), months=3, model="stage")
    assert result.months == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    # new, default 90 days: 2026-03-20, after the horizon
    assert result.beyond_horizon == {"USD": 500}


@pytest.mark.parametrize("when", [on(2, 1), on(2, 10), AS_OF, on(3, 25), on(4, 30)])
def test_a_forecast_as_of_a_date_equals_the_forecast_of_a_replay_that_stops_at_that_date(
    log: LeadLog, store: SqliteReader, when: datetime
) -> None:
    replayed = store_of(log.until(when))
    assert forecast(store, when, months=3, min_sample=2) == forecast(replayed, when, months=3, min_sample=2)


# --- accuracy ---------------------------------------------------------------------------------


def test_forecast_accuracy_compares_the_past_forecast_with_what_actually_closed(store: SqliteReader) -> None:
    # when the forecast of 03-15 is checked against everything recorded since
    accuracy = forecast_accuracy(store, AS_OF, horizon_months=3, min_sample=2, model="stage")
    # then: March USD closed won2 60_000 and open4 100_000; April open2 95_000; May late1 10_000,
    # a lead captured after the forecast
    table = {
        (m.month, m.currency): (m.predicted_total, m.actual, m.actual_from_forecast_deals, m.error)
        for m in accuracy.months
    }
    assert table == {
        (MARCH, "EUR"): (20_000, 0, 0, -20_000),
        (MARCH, "USD"): (130_000, 160_000, 100_000, 30_000),
        (APRIL, "EUR"): (0, 0, 0, 0),
        (APRIL, "USD"): (90_000, 95_000, 95_000, 5_000),
        (MAY, "EUR"): (0, 0, 0, 0),
        (MAY, "USD"): (5_000, 10_000, 0, 5_000),
    }
    march = accuracy.month(MARCH, "USD")
    assert (march.closed_at_forecast, march.predicted_commit, march.predicted_best_case) == (60_000, 70_000, 70_000)
    assert accuracy.forecast == forecast(store, AS_OF, months=3, min_sample=2, model="stage")
    assert (accuracy.made_as_of, accuracy.horizon_months, accuracy.actual_as_of) == (AS_OF, 3, None)


def test_forecast_accuracy_can_count_only_what_had_closed_by_a_given_date(store: SqliteReader) -> None:
    accuracy = forecast_accuracy(store, AS_OF, horizon_months=3, min_sample=2, actual_as_of=on(4, 5), model="stage")
    assert [m.actual for m in accuracy.months if m.currency == "USD"] == [160_000, 0, 0]
    assert accuracy.actual_as_of == on(4, 5)
