"""The Campaign aggregate and the campaign costs read model: one cost event, one cost row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.campaign import Campaign, Cost, campaign_id_of
from domain.errors import InvalidField
from domain.money import MAX_AMOUNT_MINOR, Money
from domain.values import Meta
from projections.campaign_costs import CAMPAIGN_COSTS, CampaignCostsProjection
from projections.event_record import EventRecord
from projections.row_changes import Insert

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
COST_ID = "0b5f4d0e-4a47-4f0e-9d0c-7a43f7e3a001"


def _meta(at: datetime = T0) -> Meta:
    return Meta(actor="manager-mia", correlation_id="req-1", occurred_at=at)


def test_a_campaign_id_is_derived_from_its_name_alone() -> None:
    assert campaign_id_of("spring-sale") == campaign_id_of("spring-sale")
    assert campaign_id_of("spring-sale") != campaign_id_of("Spring-sale")
    assert Campaign.create("spring-sale", _meta()).id == campaign_id_of("spring-sale")


def test_a_recorded_cost_is_an_event_with_the_campaign_name_amount_currency_and_business_time() -> None:
    campaign = Campaign.create("spring-sale", _meta())
    back_dated = datetime(2026, 2, 1, tzinfo=UTC)
    campaign.record_cost(COST_ID, Money(125_00, "EUR"), "flyers", _meta(back_dated))
    events = campaign.collect_events()
    assert [type(e) for e in events] == [Campaign.Created, Campaign.CostRecorded]
    cost = events[1]
    assert isinstance(cost, Campaign.CostRecorded)
    assert (cost.campaign, cost.cost_id, cost.amount, cost.currency, cost.note) == (
        "spring-sale",
        COST_ID,
        125_00,
        "EUR",
        "flyers",
    )
    assert cost.occurred_at == back_dated
    assert campaign.costs == [Cost(COST_ID, Money(125_00, "EUR"), "flyers", back_dated, "manager-mia")]
    assert campaign.cost(COST_ID) == campaign.costs[0]


def test_a_second_cost_with_the_id_of_a_cost_recorded_already_is_refused_naming_the_cost_id() -> None:
    campaign = Campaign.create("spring-sale", _meta())
    campaign.record_cost(COST_ID, Money(1_00, "EUR"), None, _meta())
    with pytest.raises(InvalidField) as refused:
        campaign.record_cost(COST_ID, Money(2_00, "EUR"), None, _meta())
    assert refused.value.field == "cost_id"
    assert len(campaign.costs) == 1


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT_MINOR + 1])
def test_a_cost_of_zero_or_less_or_beyond_the_limit_is_refused_naming_the_amount(amount: int) -> None:
    campaign = Campaign.create("spring-sale", _meta())
    with pytest.raises(InvalidField) as refused:
        campaign.record_cost(COST_ID, Money(amount, "EUR"), None, _meta())
    assert refused.value.field == "amount"
    assert campaign.costs == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, " spring", "spring\t"])
def test_a_blank_overlong_or_space_padded_campaign_name_is_refused_naming_the_name(name: str) -> None:
    with pytest.raises(InvalidField) as refused:
        Campaign.create(name, _meta())
    assert refused.value.field == "name"


def _record(event_type: str, data: dict[str, object], version: int = 2) -> EventRecord:
    return EventRecord(
        position=7,
        event_type=event_type,
        aggregate_type=event_type.split(".")[0],
        aggregate_id=campaign_id_of("spring-sale"),
        aggregate_version=version,
        occurred_at=T0,
        recorded_at=datetime(2026, 3, 2, tzinfo=UTC),
        actor="manager-mia",
        correlation_id="req-1",
        data=data,
    )


def test_each_cost_event_becomes_one_row_keyed_by_the_event_with_its_business_time() -> None:
    data = {"campaign": "spring-sale", "cost_id": COST_ID, "amount": 125_00, "currency": "EUR", "note": None}
    changes = CampaignCostsProjection().apply(_record("campaign.cost_recorded", data))
    assert changes == [
        Insert(
            CAMPAIGN_COSTS.name,
            {
                "event_id": f"{campaign_id_of('spring-sale')}:2",
                "campaign": "spring-sale",
                "cost_id": COST_ID,
                "amount": 125_00,
                "currency": "EUR",
                "occurred_at": T0,
                "recorded_at": datetime(2026, 3, 2, tzinfo=UTC),
                "recorded_by": "manager-mia",
                "note": None,
            },
        )
    ]
    again = CampaignCostsProjection().apply(_record("campaign.cost_recorded", data, version=3))
    assert again == [Insert(CAMPAIGN_COSTS.name, {**changes[0].row, "event_id": f"{campaign_id_of('spring-sale')}:3"})]


def test_events_other_than_a_recorded_cost_change_no_cost_rows() -> None:
    assert CampaignCostsProjection().apply(_record("campaign.created", {"name": "spring-sale"}, 1)) == []
    assert CampaignCostsProjection().apply(_record("lead.captured", {"campaign": "spring-sale"}, 1)) == []
