"""The console's analytics queries over a real store (SQLite file and PostgreSQL), checked
against a hand-built history: where the pipeline starts, names, the rep table and the campaign
table, each as of two dates (owners, stages and values as they stood then); and segment sizes at
several moments read in one pass, equal to the summaries as of each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.in_process_runner import InProcessRunner
from projections.analytics_queries import CampaignRow, RepRow, campaign_table, first_lead_at, lead_names, rep_table
from projections.segment_queries import segment_sizes_at, segment_summaries
from projections.segment_rules import default_rules
from services.app.application import Context
from services.app.commands import AssignLead, ChangeStage, ConvertLead, DisqualifyLead
from services.bootstrap import bootstrap, open_read_models
from services.settings import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.factories import TEAM, capture, hire

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
BOSS = Context(actor="mia", correlation_id="req-mia")


def at(day: int, hour: int = 9) -> datetime:
    """`hour` o'clock UTC on `day` March 2026."""
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_rep_and_campaign_tables_count_each_owners_and_campaigns_leads_as_of_a_date(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    hire(app, *TEAM)
    store = open_read_models(settings)
    assert first_lead_at(store) is None
    ada = app.capture_lead(
        capture(
            name="Ada",
            email="ada@a.example",
            owner="alice",
            source="webinar",
            campaign="spring",
            estimated_value=100_00,
            occurred_at=at(1),
        ),
        BOSS,
    ).id
    app.change_stage(ada, ChangeStage(stage="contacted", occurred_at=at(3)), BOSS)
    app.convert_lead(ada, ConvertLead(deal_value=150_00, currency="EUR", occurred_at=at(10)), BOSS)
    bea = app.capture_lead(
        capture(
            name="Bea",
            email="bea@a.example",
            owner="alice",
            source="webinar",
            campaign="spring",
            estimated_value=200_00,
            currency="USD",
            occurred_at=at(2),
        ),
        BOSS,
    ).id
    app.assign_lead(bea, AssignLead(owner="bob", occurred_at=at(12)), BOSS)  # alice's until the 12th
    app.disqualify_lead(bea, DisqualifyLead(reason="no budget", occurred_at=at(14)), BOSS)
    cal = app.capture_lead(
        capture(name="Cal", email="cal@a.example", owner=None, source="referral", occurred_at=at(5)), BOSS
    ).id
    app.capture_lead(capture(name="Dee", email="dee@a.example", owner="bob", occurred_at=at(20)), BOSS)
    InProcessRunner(app, store).catch_up()

    assert first_lead_at(store) == at(1)
    assert lead_names(store, {str(ada), str(cal), "not-a-lead"}) == {str(ada): "Ada", str(cal): "Cal"}

    # the 11th: alice owns Ada (won, 150 EUR) and Bea (new); Cal belongs to nobody
    assert rep_table(store, at(11)) == [
        RepRow("alice", open_leads=1, leads_worked=1, won=1, lost=0, win_rate=1.0, won_value={"EUR": 150_00}),
        RepRow(None, open_leads=1, leads_worked=0, won=0, lost=0, win_rate=None, won_value={}),
    ]
    # the 15th: Bea is bob's and lost; Dee not captured yet
    assert rep_table(store, at(15)) == [
        RepRow("alice", open_leads=0, leads_worked=1, won=1, lost=0, win_rate=1.0, won_value={"EUR": 150_00}),
        RepRow("bob", open_leads=0, leads_worked=1, won=0, lost=1, win_rate=0.0, won_value={}),
        RepRow(None, open_leads=1, leads_worked=0, won=0, lost=0, win_rate=None, won_value={}),
    ]
    assert [r.owner for r in rep_table(store, at(15), owner="bob")] == ["bob"]

    assert campaign_table(store, at(4)) == [
        CampaignRow("webinar", "spring", leads=2, converted=0, conversion_rate=0.0, won_value={}),
    ]
    assert campaign_table(store, at(21)) == [
        CampaignRow("referral", None, leads=2, converted=0, conversion_rate=0.0, won_value={}),
        CampaignRow("webinar", "spring", leads=2, converted=1, conversion_rate=0.5, won_value={"EUR": 150_00}),
    ]
    assert campaign_table(store, at(21), owner="alice") == [
        CampaignRow("webinar", "spring", leads=1, converted=1, conversion_rate=1.0, won_value={"EUR": 150_00}),
    ]
    moments = [at(1), at(11), datetime.now(UTC)]  # before Ada's contact, after it, now
    rules = default_rules()
    sizes = segment_sizes_at(store, rules, moments)
    assert sizes == {
        rule.name: [next(s.members for s in segment_summaries(store, rules, m) if s.name == rule.name) for m in moments]
        for rule in rules
    }
    assert sum(counts[-1] for counts in sizes.values()) > 0  # Ada's contact is in some segment now
    store.close()
    app.close()
