"""The campaign and rep analytics as pure queries: ROI, cost per lead and cost shares; per rep,
the owner at each moment, activities, win rate, won value and the medians, over a hand-written
history projected into an in-memory store."""

from __future__ import annotations

import pytest

from projections.activities import ActivitiesProjection
from projections.analytics_queries import RepActivityRow, campaign_table, rep_activity
from projections.campaign_queries import per_lead, return_on, shared_out
from projections.pipeline import PipelineProjection
from tests.unit.sqlite_reader import SqliteReader
from tests.unit.test_pipeline_projection import LeadLog, day


def test_roi_is_won_minus_cost_over_cost_within_one_currency() -> None:
    assert return_on({"EUR": 5_000_00}, {"EUR": 2_000_00}) == 1.5
    assert return_on({}, {"EUR": 2_000_00}) == -1.0  # nothing won yet: all of the spend lost
    assert return_on({"EUR": 1_000_00}, {"EUR": 1_000_00}) == 0.0


@pytest.mark.parametrize(
    ("won", "cost"),
    [
        ({"EUR": 100}, {}),  # no cost: nothing to divide by
        ({"USD": 100}, {"EUR": 100}),  # won in another currency
        ({"EUR": 100, "USD": 5}, {"EUR": 100}),  # partly won in another currency
        ({"EUR": 100}, {"EUR": 100, "USD": 100}),  # spent in two currencies
    ],
)
def test_roi_is_none_without_a_cost_or_across_currencies(won: dict[str, int], cost: dict[str, int]) -> None:
    assert return_on(won, cost) is None


def test_cost_per_lead_is_in_whole_minor_units_and_empty_without_leads() -> None:
    assert per_lead({"EUR": 1_000_00, "USD": 10}, 3) == {"EUR": 33_333, "USD": 3}
    assert per_lead({"EUR": 1_000_00}, 0) == {}


def test_a_cost_shared_by_leads_adds_up_exactly_and_gives_the_remainder_to_the_largest_fractions() -> None:
    assert shared_out({"EUR": 100}, [1, 1, 1]) == [{"EUR": 34}, {"EUR": 33}, {"EUR": 33}]
    assert shared_out({"EUR": 10}, [3, 1]) == [{"EUR": 8}, {"EUR": 2}]  # 7.5 and 2.5: the tie to the first
    assert shared_out({"EUR": 10**13, "USD": 7}, [2, 5]) == [
        {"EUR": 2857142857143, "USD": 2},
        {"EUR": 7142857142857, "USD": 5},
    ]
    assert shared_out({"EUR": 10}, [0, 0]) == [{"EUR": 10}, {}]


def history() -> LeadLog:
    """ada: alice's from day 1, bob's from day 5, won by bob on day 10 (500.00 EUR); bea: alice's
    from day 2, lost on day 8; cy: nobody's from day 3. Interactions: ada on days 2 (alice's) and 6
    (bob's), bea on day 4, cy on day 4."""
    log = LeadLog()
    log.capture("ada", day(1), owner="alice", source="webinar", campaign="spring", value=400_00, currency="EUR")
    log.interact("ada", day(2))
    log.capture("bea", day(2), owner="alice", source="webinar", campaign="spring", value=100_00, currency="EUR")
    log.capture("cy", day(3), owner=None, source="referral", campaign="spring", value=None)
    log.interact("bea", day(4))
    log.interact("cy", day(4.5))
    log.assign("ada", "bob", day(5))
    log.interact("ada", day(6))
    log.disqualify("bea", day(8))
    log.convert("ada", day(10), 500_00, "EUR")
    return log


@pytest.fixture
def store() -> SqliteReader:
    projections = (PipelineProjection(), ActivitiesProjection())
    reader = SqliteReader([table for p in projections for table in p.tables])
    for record in history().records:
        for projection in projections:
            reader.apply(projection.apply(record))
    return reader


def test_each_interaction_is_credited_to_whoever_owned_the_lead_at_its_time(store: SqliteReader) -> None:
    rows = {r.owner: r for r in rep_activity(store, day(0), day(11))}
    assert {owner: r.activities for owner, r in rows.items()} == {"alice": 2, "bob": 1, None: 1}


def test_the_rep_table_over_a_period_counts_what_each_owner_did_in_it(store: SqliteReader) -> None:
    rows = rep_activity(store, day(4), day(11))
    assert rows == [
        # alice held ada until day 5 and bea throughout; bea's first touch (day 4) is 2 days after
        # capture, ada's (day 2) was before the period; bea closed lost 6 days after capture
        RepActivityRow("alice", 2, 1, 0, 1, 0.0, {}, 2.0, 6.0, 0),
        # bob won ada 9 days after its capture; its first touch was before he held it
        RepActivityRow("bob", 1, 1, 1, 0, 1.0, {"EUR": 500_00}, None, 9.0, 0),
        RepActivityRow(None, 1, 1, 0, 0, None, {}, 1.5, None, 1),
    ]


def test_a_period_ending_before_the_closes_counts_no_wins_and_the_owners_open_leads_then(
    store: SqliteReader,
) -> None:
    rows = {r.owner: r for r in rep_activity(store, day(0), day(6))}
    assert (rows["alice"].won, rows["alice"].lost, rows["alice"].win_rate) == (0, 0, None)
    assert rows["alice"].median_days_to_first_touch == 1.5  # ada after 1 day, bea after 2
    assert (rows["alice"].open_leads, rows["bob"].open_leads) == (1, 1)  # bea; ada from day 5
    assert rows["bob"].activities == 0


def test_the_owner_filter_answers_one_row_even_for_an_owner_who_did_nothing(store: SqliteReader) -> None:
    assert [r.owner for r in rep_activity(store, day(0), day(11), "bob")] == ["bob"]
    assert rep_activity(store, day(0), day(11), "carol") == [
        RepActivityRow("carol", 0, 0, 0, 0, None, {}, None, None, 0)
    ]


def test_the_campaign_table_with_costs_shares_a_campaigns_cost_among_its_sources_by_leads(
    store: SqliteReader,
) -> None:
    # spring: 2 webinar leads (one won, 500.00 EUR) and 1 referral lead; it cost 300.00 EUR
    rows = campaign_table(store, day(11), costs={"spring": {"EUR": 300_00}, "autumn": {"USD": 50_00}})
    assert [(r.source, r.campaign, r.leads, r.cost, r.roi, r.cost_per_lead) for r in rows] == [
        ("referral", "spring", 1, {"EUR": 100_00}, -1.0, {"EUR": 100_00}),
        ("webinar", "spring", 2, {"EUR": 200_00}, 1.5, {"EUR": 100_00}),
        (None, "autumn", 0, {"USD": 50_00}, -1.0, {}),
    ]
    assert sum(r.cost["EUR"] for r in rows if r.cost and "EUR" in r.cost) == 300_00
    assert [r.cost for r in campaign_table(store, day(11))] == [None, None]  # costs not asked for


def test_a_back_dated_assignment_recorded_after_an_interaction_moves_its_credit_without_refolding_activities() -> None:
    # given an interaction on day 6, and only afterwards an assignment to bob dated day 5
    log = LeadLog()
    log.capture("ada", day(1), owner="alice")
    log.interact("ada", day(6))
    projections = (PipelineProjection(), ActivitiesProjection())
    reader = SqliteReader([table for p in projections for table in p.tables])
    for record in log.records:
        for projection in projections:
            reader.apply(projection.apply(record))
    assert [(r.owner, r.activities) for r in rep_activity(reader, day(0), day(10))] == [("alice", 1)]
    back_dated = log.assign("ada", "bob", day(5))
    for projection in projections:
        reader.apply(projection.apply(back_dated))
    # then the interaction counts for bob, who held the lead on day 6; alice still worked it
    rows = {r.owner: (r.leads_worked, r.activities) for r in rep_activity(reader, day(0), day(10))}
    assert rows == {"alice": (1, 0), "bob": (1, 1)}
