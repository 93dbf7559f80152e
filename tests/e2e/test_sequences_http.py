"""Nurture sequences over HTTP: defining them (422s naming the field, nothing stored), reading
them, enrolling a lead by hand (who may, and when it is refused), and a sequence's statistics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LEAD, LiveServer, problem

WELCOME: dict[str, Any] = {
    "name": "welcome",
    "description": "The first week",
    "steps": [
        {"wait_days": 0, "email": {"template": "welcome-1"}},
        {"wait_days": 2, "task": {"title": "Call", "due_in_days": 1}},
    ],
    "enrol_when": {"sources": ["webinar"]},
}


def capture(live: LiveServer, **fields: Any) -> str:
    response = live.client().post("/v1/leads", json={**LEAD, **fields})
    assert response.status_code == 201, response.text
    lead_id: str = response.json()["id"]
    return lead_id


def test_a_manager_defines_a_sequence_that_everyone_but_services_can_read(live: LiveServer) -> None:
    manager = live.client("maria", "manager")

    made = manager.post("/v1/sequences", json=WELCOME)

    assert made.status_code == 201, made.text
    assert made.headers["Location"] == "/v1/sequences/welcome"
    body = made.json()
    assert (body["name"], body["defined_by"], len(body["steps"])) == ("welcome", "maria", 2)
    assert body["steps"][1]["task"] == {"title": "Call", "due_in_days": 1}
    for role in ("rep", "analyst", "admin"):
        listed = live.client("someone", role).get("/v1/sequences")
        assert listed.status_code == 200 and [s["name"] for s in listed.json()["items"]] == ["welcome"], role
    assert live.client("analyst", "analyst").get("/v1/sequences/welcome").json()["steps"] == body["steps"]
    problem(live.client("svc", "service").get("/v1/sequences"), 403)
    problem(live.client("nobody", "admin").get("/v1/sequences/no-such-thing"), 404)


@pytest.mark.parametrize("role", ["rep", "analyst", "service", "privacy"])
def test_only_managers_and_admins_define_sequences(live: LiveServer, role: str) -> None:
    problem(live.client("someone", role).post("/v1/sequences", json=WELCOME), 403)

    assert live.client().get("/v1/sequences").json()["items"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"wait_days": -1, "email": {"template": "x"}}]}, "steps.0.wait_days"),
        ({"steps": [{"wait_days": 0, "fax": {"number": "1"}}]}, "steps.0.fax"),
        ({"steps": [{"wait_days": 0}]}, "steps.0"),
        ({"steps": [{"wait_days": 0, "score_check": {"min_score": "high"}}]}, "steps.0.score_check.min_score"),
        ({"name": "Welcome Series"}, "name"),
        ({"enrol_when": {"sources": ["carrier_pigeon"]}}, "enrol_when.sources.0"),
    ],
)
def test_an_invalid_definition_is_a_422_naming_the_field_and_nothing_is_stored(
    live: LiveServer, change: dict[str, Any], field: str
) -> None:
    admin = live.client()

    body = problem(admin.post("/v1/sequences", json={**WELCOME, **change}), 422)

    assert field in {error["field"] for error in body["errors"]}, body
    assert admin.get("/v1/sequences").json()["items"] == []


def test_a_name_is_defined_once(live: LiveServer) -> None:
    admin = live.client()
    assert admin.post("/v1/sequences", json=WELCOME).status_code == 201

    body = problem(admin.post("/v1/sequences", json={**WELCOME, "description": "another"}), 409)

    assert "welcome" in body["detail"]
    assert admin.get("/v1/sequences/welcome").json()["description"] == "The first week"


def test_a_rep_enrols_their_own_lead_once_at_a_time(live: LiveServer) -> None:
    live.client().post("/v1/sequences", json=WELCOME)
    mine, theirs = capture(live, owner="alice"), capture(live, owner="bob", email="bob.lead@example.org")
    alice = live.client("alice", "rep")

    enrolled = alice.post(f"/v1/leads/{mine}/enrolments", json={"sequence": "welcome"})
    again = alice.post(f"/v1/leads/{mine}/enrolments", json={"sequence": "welcome"})

    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.headers["ETag"] == f'"{enrolled.json()["version"]}"'
    assert "already enrolled" in problem(again, 409)["detail"]
    problem(alice.post(f"/v1/leads/{theirs}/enrolments", json={"sequence": "welcome"}), 404)
    problem(live.client("ann", "analyst").post(f"/v1/leads/{mine}/enrolments", json={"sequence": "welcome"}), 403)
    history = live.client().get(f"/v1/leads/{mine}/history").json()["entries"]
    assert [e["event_type"] for e in history].count("lead.nurture_enrolled") == 1


def test_enrolling_in_a_sequence_nobody_defined_is_a_422_naming_sequence(live: LiveServer) -> None:
    admin = live.client()
    lead_id = capture(live)
    version = admin.get(f"/v1/leads/{lead_id}").json()["version"]

    unknown = problem(admin.post(f"/v1/leads/{lead_id}/enrolments", json={"sequence": "no-such-one"}), 422)
    malformed = problem(admin.post(f"/v1/leads/{lead_id}/enrolments", json={"sequence": "No Such One"}), 422)

    assert unknown["errors"] == [
        {"field": "sequence", "message": "no nurture sequence is named 'no-such-one'", "type": "unknown_sequence"}
    ]
    assert [e["field"] for e in malformed["errors"]] == ["sequence"]
    assert admin.get(f"/v1/leads/{lead_id}").json()["version"] == version


def test_the_stats_count_what_the_enrolments_did_for_analysts(live: LiveServer) -> None:
    admin = live.client()
    admin.post("/v1/sequences", json=WELCOME)
    first, second = capture(live), capture(live, email="second@example.org")
    for lead_id in (first, second):
        assert admin.post(f"/v1/leads/{lead_id}/enrolments", json={"sequence": "welcome"}).status_code == 200
    ended = admin.post(f"/v1/leads/{first}/enrolments/exit", json={"sequence": "welcome"})
    converted = admin.post(f"/v1/leads/{first}/convert", json={"deal_value": 5_000})
    assert ended.status_code == 200 and converted.status_code == 200, converted.text

    analyst = live.client("ann", "analyst")
    stats = analyst.get("/v1/sequences/welcome/stats", params={"min_position": converted.json()["position"]})

    assert stats.status_code == 200, stats.text
    assert stats.json() == {
        "sequence": "welcome",
        "enrolled": 2,
        "active": 1,
        "completed": 0,
        "exited": {"manual": 1},
        "converted": 1,
    }
    problem(live.client("rita", "rep").get("/v1/sequences/welcome/stats"), 403)
    problem(analyst.get("/v1/sequences/nope/stats"), 404)


def test_every_sequence_operation_has_an_example(live: LiveServer) -> None:
    document = live.client().get("/openapi.json").json()
    paths = {path: ops for path, ops in document["paths"].items() if "sequence" in path or "enrolments" in path}

    assert set(paths) == {
        "/v1/sequences",
        "/v1/sequences/{name}",
        "/v1/sequences/{name}/stats",
        "/v1/leads/{lead_id}/enrolments",
        "/v1/leads/{lead_id}/enrolments/exit",
    }
    schemas = document["components"]["schemas"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            answer = operation["responses"].get("200") or operation["responses"]["201"]
            ref = answer["content"]["application/json"]["schema"].get("$ref", "")
            answered = schemas.get(ref.split("/")[-1], {})
            example = body.get("examples") if method == "post" else answered.get("examples")
            assert example, f"{method} {path} has no example"
