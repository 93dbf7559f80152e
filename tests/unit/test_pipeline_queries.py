"""Pipeline queries as of any business time, on a small pipeline whose answers are worked out by hand.

The pipeline (days after 2026-01-01, values in minor units):

    ada  alice web_form 100_000 USD  new d0, contacted d2, qualified d5, proposal d10, converted d20 (120_000 USD)
    bea  bob   referral  50_000 USD  new d1, contacted d3, disqualified d8
    cy   alice referral 200_000 EUR  new d2, contacted d4, qualified d9
    dan  bob   web_form  80_000 USD  new d6, assigned to alice d7
    eve  alice web_form  30_000 USD  new d12, contacted d13, nurturing d15, contacted again d18

The log is written lead by lead, so log order is not business-time order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from projections.pipeline_queries import (
    DEFAULT_WIN_PROBABILITIES,
    OPEN_STAGE_ORDER,
    SUMMARY_STAGES,
    PipelineSummary,
    assignments_since,
    list_leads,
    open_leads_by_owner,
    pipeline_summary,
)
from tests.unit.sqlite_reader import SqliteReader
from tests.unit.test_pipeline_projection import LeadLog, day, iso, store_of


def small_pipeline() -> LeadLog:
    log = LeadLog()
    log.capture("ada", day(0), owner="alice", source="web_form", value=100_000)
    log.score("ada", 20, day(1))
    log.move("ada", "contacted", day(2))
    log.move("ada", "qualified", day(5))
    log.move("ada", "proposal", day(10))
    log.convert("ada", day(20), 120_000)
    log.capture("bea", day(1), owner="bob", source="referral", value=50_000)
    log.move("bea", "contacted", day(3))
    log.disqualify("bea", day(8))
    log.capture("cy", day(2), owner="alice", source="referral", value=200_000, currency="EUR")
    log.move("cy", "contacted", day(4))
    log.move("cy", "qualified", day(9))
    log.capture("dan", day(6), owner="bob", source="web_form", value=80_000)
    log.assign("dan", "alice", day(7))
    log.capture("eve", day(12), owner="alice", source="web_form", value=30_000)
    log.move("eve", "contacted", day(13))
    log.interact("eve", day(14))
    log.move("eve", "nurturing", day(15))
    log.move("eve", "contacted", day(18))
    return log


@pytest.fixture
def log() -> LeadLog:
    return small_pipeline()


@pytest.fixture
def store(log: LeadLog) -> SqliteReader:
    return store_of(log.records)


def counts(summary: PipelineSummary) -> dict[str, int]:
    return {s.stage: s.count for s in summary.stages if s.count}


# --- counts and values per stage --------------------------------------------------------------


def test_the_summary_lists_all_eight_stages_in_pipeline_order_then_disqualified(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30))
    in_order = "new contacted nurturing qualified proposal negotiation converted disqualified".split()
    assert [s.stage for s in summary.stages] == list(SUMMARY_STAGES) == in_order


def test_today_each_lead_counts_in_its_current_stage_with_its_value_per_currency(store: SqliteReader) -> None:
    # when the pipeline is summarised as of day 30
    summary = pipeline_summary(store, day(30))
    # then
    assert counts(summary) == {"new": 1, "contacted": 1, "qualified": 1, "converted": 1, "disqualified": 1}
    assert summary.stage("new").value == {"USD": 80_000}
    assert summary.stage("contacted").value == {"USD": 30_000}
    assert summary.stage("qualified").value == {"EUR": 200_000}
    assert summary.stage("nurturing").value == {}
    # the converted stage shows the lead's estimate: deal values are in the current row only
    assert summary.stage("converted").value == {"USD": 120_000}  # the deal value, not the estimate
    assert summary.stage("disqualified").value == {"USD": 50_000}
    assert summary.open_count == 3
    assert summary.open_value == {"EUR": 200_000, "USD": 110_000}


def test_weighted_value_is_value_times_the_default_win_probability_of_the_stage(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30))
    assert summary.stage("new").weighted_value == {"USD": 4_000}  # 80_000 x .05
    assert summary.stage("contacted").weighted_value == {"USD": 3_000}  # 30_000 x .10
    assert summary.stage("qualified").weighted_value == {"EUR": 60_000}  # 200_000 x .30
    assert summary.weighted_value == {"EUR": 60_000, "USD": 7_000}
    assert summary.stage("converted").win_probability is None
    assert summary.stage("converted").weighted_value == {}
    assert summary.win_probabilities == dict(DEFAULT_WIN_PROBABILITIES)


def test_given_win_probabilities_override_the_defaults_of_their_stages_only(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30), win_probabilities={"qualified": 0.5})
    assert summary.stage("qualified").weighted_value == {"EUR": 100_000}
    assert summary.stage("new").weighted_value == {"USD": 4_000}


def test_win_probabilities_for_closed_stages_or_outside_zero_to_one_are_refused(store: SqliteReader) -> None:
    with pytest.raises(ValueError):
        pipeline_summary(store, day(30), win_probabilities={"converted": 1.0})
    with pytest.raises(ValueError):
        pipeline_summary(store, day(30), win_probabilities={"new": 1.5})


def test_as_of_day_9_the_summary_shows_the_pipeline_as_it_stood_then(store: SqliteReader) -> None:
    # when summarised as of day 9: ada qualified, bea disqualified, cy qualified that day, dan new, eve not yet
    summary = pipeline_summary(store, day(9))
    # then
    assert summary.as_of == day(9)
    assert counts(summary) == {"new": 1, "qualified": 2, "disqualified": 1}
    assert summary.stage("qualified").value == {"EUR": 200_000, "USD": 100_000}
    assert summary.stage("qualified").weighted_value == {"EUR": 60_000, "USD": 30_000}
    assert summary.open_value == {"EUR": 200_000, "USD": 180_000}
    assert summary.weighted_value == {"EUR": 60_000, "USD": 34_000}


def test_a_lead_is_in_its_new_stage_from_the_instant_it_moves(store: SqliteReader) -> None:
    just_before = pipeline_summary(store, day(10) - timedelta(microseconds=1))
    at_the_move = pipeline_summary(store, day(10))
    assert just_before.stage("qualified").count == 2 and just_before.stage("proposal").count == 0
    assert at_the_move.stage("qualified").count == 1 and at_the_move.stage("proposal").count == 1


def test_before_anything_was_captured_the_summary_is_empty(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(-1))
    assert counts(summary) == {}
    assert summary.open_value == {}
    assert all(c.entered == 0 and c.rate is None for c in summary.conversions)
    assert summary.win_rate is None
    assert all(d.intervals == 0 and d.mean_days is None for d in summary.time_in_stage)


# --- filters ----------------------------------------------------------------------------------


def test_the_owner_filter_uses_each_leads_owner_as_of_the_date(store: SqliteReader) -> None:
    # as of day 6 dan still belongs to bob; from day 7 to alice
    bob_on_day_6 = pipeline_summary(store, day(6), owner="bob")
    assert (bob_on_day_6.owner, bob_on_day_6.source) == ("bob", None)
    assert counts(bob_on_day_6) == {"new": 1, "contacted": 1}
    assert bob_on_day_6.open_value == {"USD": 130_000}
    assert counts(pipeline_summary(store, day(7), owner="bob")) == {"contacted": 1}
    alice_today = pipeline_summary(store, day(30), owner="alice")
    assert counts(alice_today) == {"new": 1, "contacted": 1, "qualified": 1, "converted": 1}


def test_the_owner_filter_applies_to_conversion_rates_too(store: SqliteReader) -> None:
    # alice's leads as of day 30: ada, cy, dan, eve; ada converted, none disqualified
    summary = pipeline_summary(store, day(30), owner="alice")
    assert (summary.conversion("new").entered, summary.conversion("new").advanced) == (4, 3)
    assert (summary.converted, summary.disqualified, summary.win_rate) == (1, 0, 1.0)
    assert summary.duration("contacted").intervals == 3  # ada 3 days, cy 5, eve 2


def test_the_source_filter_selects_leads_by_source(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30), source="referral")
    assert summary.source == "referral"
    assert counts(summary) == {"qualified": 1, "disqualified": 1}
    assert counts(pipeline_summary(store, day(30), owner="alice", source="referral")) == {"qualified": 1}


# --- conversion rates -------------------------------------------------------------------------


def test_stage_to_stage_conversion_is_the_share_of_entrants_that_reached_a_later_stage(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30))
    rates = {c.stage: (c.entered, c.advanced, c.rate) for c in summary.conversions}
    assert list(rates) == list(OPEN_STAGE_ORDER)
    assert rates == {
        "new": (5, 4, 0.8),  # all but dan left new forwards
        "contacted": (4, 3, 0.75),  # bea was disqualified from contacted: not a step forward
        "nurturing": (1, 0, 0.0),  # eve went back to contacted
        "qualified": (2, 1, 0.5),  # ada went on to proposal, cy is still qualified
        "proposal": (1, 1, 1.0),  # ada converted
        "negotiation": (0, 0, None),
    }


def test_the_win_rate_is_converted_over_closed(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30))
    assert (summary.converted, summary.disqualified, summary.win_rate) == (1, 1, 0.5)


def test_conversion_rates_as_of_an_earlier_date_count_only_what_had_happened_by_then(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(9))
    rates = {c.stage: (c.entered, c.advanced) for c in summary.conversions}
    assert rates["new"] == (4, 3)
    assert rates["contacted"] == (3, 2)  # cy reached qualified on day 9 itself
    assert rates["qualified"] == (2, 0)  # ada reaches proposal only on day 10
    assert summary.conversion("contacted").rate == pytest.approx(2 / 3)
    assert (summary.converted, summary.disqualified, summary.win_rate) == (0, 1, 0.0)


# --- time in stage ----------------------------------------------------------------------------


def test_time_in_stage_averages_the_stays_that_had_ended(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(30))
    durations = {d.stage: (d.intervals, d.mean_days, d.median_days) for d in summary.time_in_stage}
    assert durations == {
        "new": (4, 1.75, 2.0),  # ada 2, bea 2, cy 2, eve 1; dan still new
        "contacted": (4, 3.75, 4.0),  # ada 3, bea 5, cy 5, eve 2; eve's second stay still open
        "nurturing": (1, 3.0, 3.0),  # eve 15 -> 18
        "qualified": (1, 5.0, 5.0),  # ada 5 -> 10; cy still qualified
        "proposal": (1, 10.0, 10.0),  # ada 10 -> 20
        "negotiation": (0, None, None),
    }


def test_time_in_stage_as_of_an_earlier_date_ignores_stays_ended_later(store: SqliteReader) -> None:
    summary = pipeline_summary(store, day(9))
    assert (summary.duration("new").intervals, summary.duration("new").mean_days) == (3, 2.0)
    contacted = summary.duration("contacted")  # ada 3, bea 5, cy 5 (left on day 9 itself)
    assert (contacted.intervals, contacted.median_days) == (3, 5.0)
    assert contacted.mean_days == pytest.approx(13 / 3)
    assert summary.duration("qualified").intervals == 0  # ada leaves qualified on day 10


def test_time_in_stage_keeps_fractions_of_days(log: LeadLog) -> None:
    # given fay, captured on day 40 and contacted six hours later
    log.capture("fay", day(40))
    log.move("fay", "contacted", day(40) + timedelta(hours=6))
    # when alice's web-form leads are summarised as of day 41
    summary = pipeline_summary(store_of(log.records), day(41), owner="alice", source="web_form")
    # then new counts ada 2 days, eve 1 day and fay a quarter day (dan is still new)
    new = summary.duration("new")
    assert new.intervals == 3
    assert new.mean_days == pytest.approx((2 + 1 + 0.25) / 3)
    assert new.median_days == 1.0


# --- replaying only up to a date gives the same answers ---------------------------------------


@pytest.mark.parametrize("when", [day(0), day(2), day(5.5), day(8), day(9), day(10), day(15), day(18), day(30)])
@pytest.mark.parametrize(("owner", "source"), [(None, None), ("alice", None), ("bob", "referral")])
def test_a_summary_as_of_a_date_equals_the_summary_of_a_replay_that_stops_at_that_date(
    log: LeadLog, store: SqliteReader, when: datetime, owner: str | None, source: str | None
) -> None:
    replayed = store_of(log.until(when))
    assert pipeline_summary(store, when, owner, source) == pipeline_summary(replayed, when, owner, source)


def test_the_replay_that_stops_early_really_holds_different_rows(log: LeadLog, store: SqliteReader) -> None:
    # as of day 9 the full history already knows when ada left qualified; the short replay does not
    query = "SELECT stage, left_at FROM pipeline_stage_intervals WHERE lead_id = ? AND stage = 'qualified'"
    assert store.fetch(query, [LeadLog.key("ada")]) == [{"stage": "qualified", "left_at": iso(day(10))}]
    assert store_of(log.until(day(9))).fetch(query, [LeadLog.key("ada")]) == [{"stage": "qualified", "left_at": None}]


# --- the lead list and each owner's workload ---------------------------------------------------


def test_the_lead_list_can_ask_for_the_leads_nobody_owns(log: LeadLog) -> None:
    log.capture("fay", day(3), owner=None)
    log.capture("gus", day(4), owner=None)
    log.assign("gus", "bob", day(5))
    store = store_of(log.records)
    assert [row.lead_id for row in list_leads(store, unassigned=True)] == [LeadLog.key("fay")]
    assert len(list_leads(store)) == 7


def test_open_leads_are_counted_per_owner_as_they_stand_now(store: SqliteReader) -> None:
    # ada is converted and bea disqualified; cy, dan (given to alice) and eve are open
    assert open_leads_by_owner(store) == {"alice": 3}


def test_assignments_count_from_each_owners_own_start_captures_and_handovers_alike(store: SqliteReader) -> None:
    # alice from day 6: dan handed over on day 7, eve captured for her on day 12 (eve's stage moves
    # are no assignments); bob from day 0: bea and dan, both captured for him
    assert assignments_since(store, {"alice": day(6), "bob": day(0)}) == {"alice": 2, "bob": 2}
    assert assignments_since(store, {"alice": day(6), "bob": day(0)}, until=day(10)) == {"alice": 1, "bob": 2}
    assert assignments_since(store, {"alice": day(13), "carol": day(0)}) == {"alice": 0, "carol": 0}
    assert assignments_since(store, {}) == {}
