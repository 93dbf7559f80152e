"""Campaign costs and the campaign and rep analytics end to end: recording spend (roles,
idempotency, bad input), and the analytics tables as of a business time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LiveServer, problem

COST = {"amount": 250_000, "currency": "USD", "note": "trade fair booth"}


def test_a_manager_records_a_campaign_cost_and_gets_it_back_with_its_location(live: LiveServer) -> None:
    manager = live.client("mia", "manager")
    head = live.head()
    recorded = manager.post("/v1/campaigns/spring-launch/costs", json={**COST, "occurred_at": "2026-03-02T00:00:00Z"})
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert {k: body[k] for k in ("campaign", "amount", "currency", "note", "recorded_by", "version")} == {
        "campaign": "spring-launch",
        "amount": 250_000,
        "currency": "USD",
        "note": "trade fair booth",
        "recorded_by": "mia",
        "version": 2,
    }
    assert body["occurred_at"] == "2026-03-02T00:00:00Z" and body["position"] == head + 2
    assert recorded.headers["Location"] == "/v1/campaigns/spring-launch/costs"
    assert recorded.headers["ETag"] == '"2"'
    second = manager.post("/v1/campaigns/spring-launch/costs", json={"amount": 1_00, "currency": "eur"})
    assert second.status_code == 201 and second.json()["version"] == 3 and second.json()["currency"] == "EUR"
    listed = manager.get(recorded.headers["Location"]).json()
    assert [(c["cost_id"], c["amount"]) for c in listed["items"]] == [
        (body["cost_id"], 250_000),
        (second.json()["cost_id"], 1_00),
    ]
    problem(manager.get("/v1/campaigns/never-paid/costs"), 404)


def test_a_retry_with_the_same_idempotency_key_answers_the_same_cost_and_appends_nothing(live: LiveServer) -> None:
    manager = live.client("mia", "manager")
    first = manager.post("/v1/campaigns/spring-launch/costs", json=COST, headers={"Idempotency-Key": "inv-1"})
    assert first.status_code == 201, first.text
    head = live.head()
    again = manager.post("/v1/campaigns/spring-launch/costs", json=COST, headers={"Idempotency-Key": "inv-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["cost_id"] == first.json()["cost_id"] and again.json()["position"] is None
    other = manager.post(
        "/v1/campaigns/spring-launch/costs", json={**COST, "amount": 1}, headers={"Idempotency-Key": "inv-1"}
    )
    assert "amount" in problem(other, 409)["detail"]
    assert live.head() == head
    assert len(manager.get("/v1/campaigns/spring-launch/costs").json()["items"]) == 1


@pytest.mark.parametrize("role", ["rep", "analyst", "service", "privacy"])
def test_only_managers_and_admins_may_record_spend(live: LiveServer, role: str) -> None:
    head = live.head()
    problem(live.client("someone", role).post("/v1/campaigns/spring-launch/costs", json=COST), 403)
    assert live.head() == head


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**COST, "amount": 0}, "amount"),
        ({**COST, "amount": -5}, "amount"),
        ({**COST, "amount": 12.5}, "amount"),
        ({**COST, "amount": "100"}, "amount"),
        ({**COST, "currency": "XXX"}, "currency"),
        ({"amount": 100}, "currency"),
        ({**COST, "occurred_at": "1899-12-31T00:00:00Z"}, "occurred_at"),
        ({**COST, "occurred_at": "3000-01-01T00:00:00Z"}, "occurred_at"),
        ({**COST, "occurred_at": "yesterday"}, "occurred_at"),
        ({**COST, "note": ""}, "note"),
        ({**COST, "colour": "red"}, "colour"),
    ],
)
def test_a_bad_cost_is_a_422_naming_the_field_and_appends_nothing(
    live: LiveServer, body: dict[str, Any], field: str
) -> None:
    head = live.head()
    refused = problem(live.client().post("/v1/campaigns/spring-launch/costs", json=body), 422)
    assert field in {error["field"] for error in refused["errors"]}, refused
    assert live.head() == head


def test_a_campaign_name_with_surrounding_spaces_or_too_long_is_a_422(live: LiveServer) -> None:
    admin = live.client()
    for name in ["%20spring", "x" * 201]:
        refused = problem(admin.post(f"/v1/campaigns/{name}/costs", json=COST), 422)
        assert "name" in {error["field"] for error in refused["errors"]}, refused
