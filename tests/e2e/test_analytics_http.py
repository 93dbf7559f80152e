"""Campaign costs and the campaign and rep analytics end to end: recording spend (roles,
idempotency, bad input), and the analytics tables as of a business time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
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


def test_an_analyst_reads_a_campaigns_costs_with_emails_in_notes_masked_and_a_rep_not_at_all(
    live: LiveServer,
) -> None:
    admin = live.client()
    noted = {**COST, "note": "invoice from ada@acme.example"}
    assert admin.post("/v1/campaigns/spring-launch/costs", json=noted).status_code == 201
    (cost,) = live.client("ann", "analyst").get("/v1/campaigns/spring-launch/costs").json()["items"]
    assert cost["note"] == "invoice from a***@acme.example" and cost["amount"] == COST["amount"]
    assert admin.get("/v1/campaigns/spring-launch/costs").json()["items"][0]["note"] == noted["note"]
    problem(live.client("alice", "rep").get("/v1/campaigns/spring-launch/costs"), 403)


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


def lead(client: httpx.Client, name: str, **fields: Any) -> str:
    """A lead captured through the API (its business time and details from `fields`); its id."""
    email = f"{name.lower()}@example.org"
    response = client.post("/v1/leads", json={"name": name, "email": email, "source": "web_form", **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_campaign_analytics_answer_cost_and_roi_as_of_a_time_and_as_known_at_a_moment(live: LiveServer) -> None:
    admin, manager = live.client(), live.client("mia", "manager")
    ada = lead(admin, "Ada", campaign="spring", estimated_value=1_000_00, occurred_at="2026-03-01T09:00:00Z")
    converted = admin.post(
        f"/v1/leads/{ada}/convert", json={"deal_value": 6_000_00, "occurred_at": "2026-03-10T09:00:00Z"}
    )
    assert converted.status_code == 200, converted.text
    first = {"amount": 2_000_00, "currency": "USD", "occurred_at": "2026-03-05T00:00:00Z"}
    assert manager.post("/v1/campaigns/spring/costs", json=first).status_code == 201
    known = datetime.now(UTC)
    later = {"amount": 1_000_00, "currency": "USD", "occurred_at": "2026-04-01T00:00:00Z"}
    position = manager.post("/v1/campaigns/spring/costs", json=later).json()["position"]

    def spring(**params: str) -> dict[str, Any]:
        answer = manager.get("/v1/analytics/campaigns", params={"min_position": position, **params})
        assert answer.status_code == 200, answer.text
        (row,) = [r for r in answer.json()["items"] if r["campaign"] == "spring"]
        return dict(row)

    march = spring(as_of="2026-03-31T00:00:00Z")
    assert march == {
        "source": "web_form",
        "campaign": "spring",
        "leads": 1,
        "converted": 1,
        "conversion_rate": 1.0,
        "won_value": {"USD": 6_000_00},
        "cost": {"USD": 2_000_00},
        "roi": 2.0,  # (6000 - 2000) / 2000
        "cost_per_lead": {"USD": 2_000_00},
    }
    assert (spring()["cost"], spring()["roi"]) == ({"USD": 3_000_00}, 1.0)
    # as known before the second cost was recorded, only the first counts, whatever the business time
    assert (spring(known_at=known.isoformat())["cost"], spring(known_at=known.isoformat())["roi"]) == (
        {"USD": 2_000_00},
        2.0,
    )
    before = spring(as_of="2026-03-06T00:00:00Z")  # spent, not yet won
    assert (before["converted"], before["roi"]) == (0, -1.0)
    assert live.client("alice", "analyst").get("/v1/analytics/campaigns").status_code == 200
    for role in ("rep", "service", "privacy"):
        problem(live.client("someone", role).get("/v1/analytics/campaigns"), 403)


def test_rep_analytics_credit_each_owner_with_what_happened_while_the_lead_was_theirs(live: LiveServer) -> None:
    admin = live.client()
    bea = lead(admin, "Bea", owner="alice", occurred_at="2026-03-01T00:00:00Z")
    for path, body in [
        ("interactions", {"kind": "call", "occurred_at": "2026-03-02T00:00:00Z"}),
        ("assign", {"owner": "bob", "occurred_at": "2026-03-03T00:00:00Z"}),
        ("interactions", {"kind": "demo", "occurred_at": "2026-03-03T12:00:00Z"}),
        ("disqualify", {"reason": "no budget", "occurred_at": "2026-03-04T00:00:00Z"}),
    ]:
        answer = admin.post(f"/v1/leads/{bea}/{path}", json=body)
        assert answer.status_code == 200, answer.text
    position = answer.json()["position"]
    period = {"from": "2026-03-01", "to": "2026-03-31", "as_of": "2026-04-01T00:00:00Z", "min_position": position}
    answer = admin.get("/v1/analytics/reps", params=period)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"]) == ("2026-03-01", "2026-03-31")
    rows = {r["owner"]: r for r in body["items"]}
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"] == {
        "owner": "alice",
        "leads_worked": 1,
        "activities": 1,
        "won": 0,
        "lost": 0,
        "win_rate": None,
        "won_value": {},
        "median_days_to_first_touch": 1.0,
        "median_days_to_close": None,
        "open_leads": 0,
    }
    assert (rows["bob"]["activities"], rows["bob"]["lost"], rows["bob"]["win_rate"]) == (1, 1, 0.0)
    assert rows["bob"]["median_days_to_close"] == 3.0
    # as of the day before the close, the period ends there: nobody has closed anything yet
    early = admin.get("/v1/analytics/reps", params={**period, "as_of": "2026-03-03T23:00:00Z"}).json()
    assert {r["owner"]: r["lost"] for r in early["items"]} == {"alice": 0, "bob": 0}
    # a rep sees their own row only, and may not ask for another's
    mine = live.client("alice", "rep").get("/v1/analytics/reps", params=period)
    assert [r["owner"] for r in mine.json()["items"]] == ["alice"]
    problem(live.client("alice", "rep").get("/v1/analytics/reps", params={**period, "owner": "bob"}), 403)
    assert live.client("ann", "analyst").get("/v1/analytics/reps", params=period).status_code == 200
    problem(live.client("svc", "service").get("/v1/analytics/reps", params=period), 403)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/analytics/reps", {"from": "2026-13-01"}, "from"),
        ("/v1/analytics/reps", {"to": "soon"}, "to"),
        ("/v1/analytics/reps", {"from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ("/v1/analytics/reps", {"from": "1899-12-31", "to": "2026-03-01"}, "from"),
        ("/v1/analytics/reps", {"to": "3000-01-01"}, "to"),
        ("/v1/analytics/reps", {"as_of": "3000-01-01T00:00:00Z"}, "as_of"),
        ("/v1/analytics/reps", {"owner": "no spaces allowed"}, "owner"),
        ("/v1/analytics/reps", {"rep": "alice"}, "rep"),
        ("/v1/analytics/campaigns", {"as_of": "yesterday"}, "as_of"),
        ("/v1/analytics/campaigns", {"as_of": "1899-01-01T00:00:00Z"}, "as_of"),
        ("/v1/analytics/campaigns", {"known_at": "2999-01-01T00:00:00Z"}, "known_at"),
        ("/v1/analytics/campaigns", {"campaign": "spring"}, "campaign"),
    ],
)
def test_bad_analytics_parameters_are_a_422_naming_the_parameter(
    live: LiveServer, path: str, params: dict[str, str], field: str
) -> None:
    refused = problem(live.client().get(path, params=params), 422)
    assert [error["field"] for error in refused["errors"]] == [field], refused
