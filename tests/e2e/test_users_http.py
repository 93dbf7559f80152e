"""The team and the assignment rules over HTTP: /v1/users and /v1/assignment-rules, the owners
leads may be given to, the roles that may do each, and the unassigned leads."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import LEAD, LiveServer, problem

ANNA = {"id": "rep-anna", "name": "Anna Berg", "role": "rep", "daily_capacity": 20, "time_zone": "Europe/Berlin"}


def field_errors(response: httpx.Response) -> list[tuple[str | None, str]]:
    """(field, type) of each error of a 422."""
    return [(e["field"], e["type"]) for e in problem(response, 422)["errors"]]


def a_rule(name: str, *reps: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "strategy": "round_robin", "reps": list(reps), **fields}


def test_an_admin_adds_a_user_who_may_then_own_leads_until_they_leave(live: LiveServer) -> None:
    admin = live.client()
    # when an admin adds anna
    added = admin.post("/v1/users", json=ANNA)
    # then she is on the team, with every field as given and the defaults for the rest
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == "/v1/users/rep-anna"
    assert added.json() == {**ANNA, "active": True, "away": False}
    assert admin.get("/v1/users/rep-anna").json() == added.json()
    assert [user["id"] for user in admin.get("/v1/users").json()["items"]] == ["alice", "bob", "rep-anna"]
    # and a lead may be given to her, with its country
    captured = admin.post("/v1/leads", json={**LEAD, "owner": "rep-anna", "country": "at"})
    assert captured.status_code == 201, captured.text
    lead = admin.get(f"/v1/leads/{captured.json()['id']}").json()
    assert (lead["owner"], lead["country"]) == ("rep-anna", "AT")

    # when she goes away, her fields change and only those
    away = admin.patch("/v1/users/rep-anna", json={"away": True, "daily_capacity": None})
    assert away.status_code == 200, away.text
    assert away.json() == {**ANNA, "active": True, "away": True, "daily_capacity": None}
    # and once she has left, no lead can be given to her any more
    assert admin.patch("/v1/users/rep-anna", json={"active": False}).json()["active"] is False
    head = live.head()
    refused = admin.post("/v1/leads", json={**LEAD, "owner": "rep-anna"})
    assert field_errors(refused) == [("owner", "inactive_user")]
    assert live.head() == head


def test_an_owner_who_is_not_on_the_team_is_a_422_naming_owner_and_nothing_is_stored(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    contact_id = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100}).json()["contact_id"]
    head = live.head()
    for response in (
        admin.post("/v1/leads", json={**LEAD, "owner": "zed"}),
        admin.post(f"/v1/leads/{lead_id}/assign", json={"owner": "zed"}),
        admin.post(f"/v1/contacts/{contact_id}/reactivate", json={"interest": "more", "owner": "zed"}),
    ):
        assert field_errors(response) == [("owner", "unknown_user")]
        assert "'zed' is not a user of the team" in problem(response, 422)["errors"][0]["message"]
    assert live.head() == head
    # and a rep who is not on the team cannot capture a lead, which would be theirs
    assert field_errors(live.client("newcomer", "rep").post("/v1/leads", json=LEAD)) == [("owner", "unknown_user")]
    assert live.head() == head


def test_bad_users_are_422s_naming_the_field_and_a_taken_id_is_a_409(live: LiveServer) -> None:
    admin = live.client()
    head = live.head()
    for body, field in (
        ({**ANNA, "id": "Rep Anna"}, "id"),
        ({**ANNA, "id": "none"}, "id"),
        ({**ANNA, "id": "x" * 65}, "id"),
        ({**ANNA, "role": "service"}, "role"),
        ({**ANNA, "time_zone": "Mars/Olympus"}, "time_zone"),
        ({**ANNA, "daily_capacity": -1}, "daily_capacity"),
        ({**ANNA, "away": "yes"}, "away"),
        ({**ANNA, "email": "anna@example.org"}, "email"),
    ):
        assert [f for f, _ in field_errors(admin.post("/v1/users", json=body))] == [field], body
    assert field_errors(admin.patch("/v1/users/alice", json={"name": None})) == [("name", "value_error")]
    assert problem(admin.patch("/v1/users/alice", json={}), 422)
    assert live.head() == head
    taken = admin.post("/v1/users", json={"id": "alice", "name": "Another Alice", "role": "manager"})
    assert problem(taken, 409)["type"].endswith("/user-exists")
    assert admin.get("/v1/users/alice").json()["role"] == "rep"
    assert problem(admin.get("/v1/users/nobody"), 404)
    assert problem(admin.patch("/v1/users/nobody", json={"away": True}), 404)
    assert live.head() == head


def test_the_assignment_rules_are_replaced_as_a_whole_and_read_back_in_order(live: LiveServer) -> None:
    manager = live.client("maria", "manager")
    empty = manager.get("/v1/assignment-rules")
    assert empty.status_code == 200 and empty.json()["rules"] == []
    rules = [
        a_rule("dach", "alice", when={"countries": ["de", "AT"], "sources": ["webinar"], "min_score": 30}),
        {"name": "split", "strategy": "weighted", "reps": ["alice", "bob"], "weights": {"bob": 3, "alice": 1}},
        {"name": "rest", "strategy": "least_loaded", "reps": ["bob"]},
    ]
    replaced = manager.put("/v1/assignment-rules", json={"rules": rules})
    assert replaced.status_code == 200, replaced.text
    read = manager.get("/v1/assignment-rules")
    assert read.json() == replaced.json() and read.headers["ETag"] == replaced.headers["ETag"]
    assert [rule["name"] for rule in read.json()["rules"]] == ["dach", "split", "rest"]
    assert read.json()["rules"][0]["when"] == {
        "sources": ["webinar"],
        "campaigns": [],
        "countries": ["DE", "AT"],
        "min_score": 30,
    }
    assert read.json()["rules"][1]["weights"] == {"alice": 1, "bob": 3}
    # a replacement based on an older read is a conflict
    manager.put("/v1/assignment-rules", json={"rules": rules[:1]})
    stale = manager.put("/v1/assignment-rules", json={"rules": []}, headers={"If-Match": read.headers["ETag"]})
    assert problem(stale, 409)["type"].endswith("/version-conflict")
    assert len(manager.get("/v1/assignment-rules").json()["rules"]) == 1


def test_bad_assignment_rules_are_422s_naming_the_field_and_change_nothing(live: LiveServer) -> None:
    admin = live.client()
    kept = admin.put("/v1/assignment-rules", json={"rules": [a_rule("kept", "alice")]}).json()
    head = live.head()
    for rules, field, kind in (
        ([a_rule("lonely")], "rules.0.reps", "too_short"),
        ([a_rule("one", "alice"), a_rule("two", "bob", "zed")], "rules.1.reps.1", "unknown_user"),
        ([a_rule("one", "alice"), a_rule("one", "bob")], "rules.1.name", "duplicate_name"),
        ([a_rule("w", "alice", "bob", strategy="weighted", weights={"alice": 1})], "rules.0.weights", "value_error"),
        (
            [a_rule("w", "alice", strategy="weighted", weights={"alice": 0})],
            "rules.0.weights.alice",
            "greater_than_equal",
        ),
        ([a_rule("w", "alice", weights={"alice": 1})], "rules.0.weights", "value_error"),
        ([a_rule("r", "alice", strategy="random")], "rules.0.strategy", "enum"),
        ([a_rule("c", "alice", when={"countries": ["Germany"]})], "rules.0.when.countries.0", "value_error"),
    ):
        assert field_errors(admin.put("/v1/assignment-rules", json={"rules": rules})) == [(field, kind)], field
    assert live.head() == head
    assert admin.get("/v1/assignment-rules").json() == kept


def test_who_may_read_and_manage_the_team_and_the_rules(live: LiveServer) -> None:
    admin, manager = live.client(), live.client("maria", "manager")
    rep, analyst, service = live.client("alice", "rep"), live.client("ana", "analyst"), live.client("shop", "service")
    rule = {"rules": [a_rule("all", "alice")]}
    head = live.head()
    # a rep, a manager or anyone else may not add users, nor change them
    for client in (rep, manager, analyst, service):
        assert problem(client.post("/v1/users", json=ANNA), 403)["type"].endswith("/forbidden")
        assert problem(client.patch("/v1/users/alice", json={"away": True}), 403)
    # reps, managers and admins see the team; analysts and services do not
    for client in (admin, manager, rep):
        assert client.get("/v1/users").status_code == 200 and client.get("/v1/users/bob").status_code == 200
    for client in (analyst, service):
        assert problem(client.get("/v1/users"), 403)
    # admins and managers read and replace the rules; nobody else
    for client in (rep, analyst, service):
        assert problem(client.get("/v1/assignment-rules"), 403)
        assert problem(client.put("/v1/assignment-rules", json=rule), 403)
    assert live.head() == head
    assert manager.put("/v1/assignment-rules", json=rule).status_code == 200
    assert admin.get("/v1/assignment-rules").status_code == 200
    assert admin.post("/v1/users", json=ANNA).status_code == 201


def test_the_lead_list_shows_the_leads_nobody_owns(live: LiveServer) -> None:
    admin, alice = live.client(), live.client("alice", "rep")
    nobodys = admin.post("/v1/leads", json=LEAD).json()
    alices = admin.post("/v1/leads", json={**LEAD, "email": "grace@acme.example", "owner": "alice"}).json()
    position = max(nobodys["position"], alices["position"])
    listed = admin.get("/v1/leads", params={"owner": "none", "min_position": position})
    assert [item["id"] for item in listed.json()["items"]] == [nobodys["id"]]
    assert [item["id"] for item in admin.get("/v1/leads", params={"owner": "alice"}).json()["items"]] == [alices["id"]]
    # a rep sees their own leads only, not the unassigned ones
    assert problem(alice.get("/v1/leads", params={"owner": "none"}), 403)
