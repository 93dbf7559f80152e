"""The read-model routes end to end: lists with filters and cursors, read-your-writes through
`min_position`, who may see what, and the projection metrics."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx

from projections.registry import PROJECTION_NAMES
from tests.e2e.conftest import LEAD, LEAD_PHONE_FORMS, LiveServer, problem


def all_pages(client: httpx.Client, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next_cursor` until it is null."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        response = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor does not advance"


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def capture(client: httpx.Client, name: str, **fields: Any) -> tuple[str, int]:
    email = f"{name.lower().replace(' ', '.')}@example.org"
    response = client.post("/v1/leads", json={**LEAD, "name": name, "email": email, "phone": None, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["position"]


def test_the_lead_list_filters_and_pages_through_every_lead_once(live: LiveServer) -> None:
    admin = live.client()
    made: dict[str, dict[str, Any]] = {}
    for index in range(7):
        owner, source = ("bob" if index % 2 else "alice"), ("referral" if index < 3 else "web_form")
        lead_id, _ = capture(admin, f"Lead Number{index}", owner=owner, source=source)
        made[lead_id] = {"owner": owner, "source": source, "stage": "new"}
    contacted = sorted(made)[:2]
    for lead_id in contacted:
        assert admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted"}).status_code == 200
        made[lead_id]["stage"] = "contacted"
    engaged = sorted(made)[-1]
    last = admin.post(f"/v1/leads/{engaged}/interactions", json={"kind": "demo"})
    position = last.json()["position"]
    assert admin.get("/v1/leads", params={"min_position": position}).status_code == 200

    pages = all_pages(admin, "/v1/leads", limit=3)
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [item for page in pages for item in page]
    assert ids(listed) == sorted(made)
    assert all(item["name"].startswith("Lead Number") and item["value"] == 1_200_000 for item in listed)
    exact = admin.get("/v1/leads", params={"limit": 7}).json()
    assert len(exact["items"]) == 7 and exact["next_cursor"] is None

    def matching(**want: str) -> list[str]:
        return sorted(k for k, v in made.items() if all(v[f] == w for f, w in want.items()))

    assert ids(admin.get("/v1/leads", params={"stage": "contacted"}).json()["items"]) == contacted
    assert ids(admin.get("/v1/leads", params={"owner": "bob"}).json()["items"]) == matching(owner="bob")
    by_source = [i for page in all_pages(admin, "/v1/leads", source="web_form", limit=2) for i in ids(page)]
    assert by_source == matching(source="web_form")
    combined = admin.get("/v1/leads", params={"owner": "alice", "source": "referral", "stage": "new"}).json()
    assert ids(combined["items"]) == matching(owner="alice", source="referral", stage="new")
    scored = admin.get("/v1/leads", params={"min_score": 1}).json()["items"]
    assert engaged in ids(scored) and all(item["score"] >= 1 for item in scored)
    assert admin.get("/v1/leads", params={"min_score": 100}).json() == {"items": [], "next_cursor": None}

    for params, field in [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"'; DROP TABLE x").decode()}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"stage": "won"}, "stage"),
        ({"min_score": -1}, "min_score"),
        ({"owner": "not a name"}, "owner"),
    ]:
        body = problem(admin.get("/v1/leads", params=params), 422)
        assert [e["field"] for e in body["errors"]] == [field], (params, body)


def test_min_position_waits_for_the_read_models_and_answers_503_when_they_lag(live: LiveServer) -> None:
    admin = live.client()
    _, early = capture(admin, "Early Bird")
    assert admin.get("/v1/pipeline", params={"min_position": early}).json()["open_count"] == 1

    live.read_side.runner.stop()
    try:
        lead_id, position = capture(admin, "Late Comer")
        stale = admin.get("/v1/leads")  # without min_position: answers at once, from what is there
        assert lead_id not in ids(stale.json()["items"])
        started = time.monotonic()
        behind = admin.get("/v1/leads", params={"min_position": position})
        waited = time.monotonic() - started
        body = problem(behind, 503)
        assert body["type"].endswith("/read-model-behind") and body["min_position"] == position
        assert behind.headers["Retry-After"] == "1" and 1.5 < waited < 5
        assert set(body["positions"]) == set(PROJECTION_NAMES)
        assert f'crm_projection_lag{{projection="pipeline"}} {position - early}' in admin.get("/metrics").text
    finally:
        live.read_side.runner.start()
    # the runner catches up and the same read answers
    assert lead_id in ids(admin.get("/v1/leads", params={"min_position": position}).json()["items"])
    metrics = admin.get("/metrics").text
    assert f'crm_projection_position{{projection="pipeline"}} {position}' in metrics
    assert f'crm_projection_position{{projection="segments"}} {position}' in metrics
    assert 'crm_projection_lag{projection="segments"} 0' in metrics
    # a position the log has not reached is refused, without waiting
    started = time.monotonic()
    ahead = problem(admin.get("/v1/pipeline", params={"min_position": position + 1000}), 422)
    assert ahead["errors"][0]["field"] == "min_position" and time.monotonic() - started < 1.5
    assert problem(admin.get("/v1/segments", params={"min_position": -1}), 422)


def test_a_rep_lists_and_sums_only_their_own_leads(live: LiveServer) -> None:
    manager = live.client("maria", "manager")
    alice, bob = live.client("alice", "rep"), live.client("bob", "rep")
    mine = sorted(capture(manager, f"Alice Lead{i}", owner="alice")[0] for i in range(3))
    theirs, position = capture(manager, "Bob Lead", owner="bob", estimated_value=500)

    assert ids(alice.get("/v1/leads", params={"min_position": position}).json()["items"]) == mine
    assert ids(alice.get("/v1/leads", params={"owner": "alice"}).json()["items"]) == mine
    assert ids(bob.get("/v1/leads").json()["items"]) == [theirs]
    assert [i for page in all_pages(alice, "/v1/leads", limit=2) for i in ids(page)] == mine
    assert problem(alice.get("/v1/leads", params={"owner": "bob"}), 403)["type"].endswith("/forbidden")
    own = alice.get("/v1/pipeline").json()
    assert own["owner"] == "alice" and own["open_count"] == 3 and own["open_value"] == {"USD": 3_600_000}
    assert bob.get("/v1/pipeline").json()["open_value"] == {"USD": 500}
    assert problem(bob.get("/v1/pipeline", params={"owner": "alice"}), 403)
    assert manager.get("/v1/pipeline").json()["open_count"] == 4
    assert manager.get("/v1/pipeline", params={"owner": "bob"}).json()["open_count"] == 1
    # reps see the pipeline only; forecasts, segments and contacts are for analysts and managers
    for path in ("/v1/forecast", "/v1/segments", "/v1/contacts", "/v1/segments/prospects/members"):
        assert problem(alice.get(path), 403)
    service = live.client("shop", "service")
    for path in ("/v1/leads", "/v1/pipeline", "/v1/forecast", "/v1/contacts"):
        assert problem(service.get(path), 403)
    assert problem(live.client(None).get("/v1/pipeline"), 401)


def test_an_analyst_sees_personal_data_masked_in_lists_too(live: LiveServer) -> None:
    admin, analyst = live.client(), live.client("ana", "analyst")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    converted = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100})
    contact_id, position = converted.json()["contact_id"], converted.json()["position"]

    leads = analyst.get("/v1/leads", params={"min_position": position}).json()["items"]
    contacts = analyst.get("/v1/contacts").json()["items"]
    members = analyst.get("/v1/segments/prospects/members").json()["items"]

    assert [(item["id"], item["name"]) for item in leads] == [(lead_id, "A*** L***")]
    assert [(c["id"], c["name"], c["email"], c["phone"]) for c in contacts] == [
        (contact_id, "A*** L***", "a***@acme.example", "***18")
    ]
    assert contacts[0]["company"] == "Acme"
    assert [(m["contact_id"], m["name"]) for m in members] == [(contact_id, "A*** L***")]
    everything = analyst.get("/v1/leads").text + analyst.get("/v1/contacts").text
    assert not any(personal in everything for personal in ("Lovelace", "ada@", *LEAD_PHONE_FORMS))
    # the aggregates the analyst reads carry no personal data to mask
    assert analyst.get("/v1/pipeline").json()["converted"] == 1
    assert analyst.get("/v1/forecast", params={"months": 2}).status_code == 200
    assert analyst.get(f"/v1/contacts/{contact_id}/features").json()["lifecycle"] == "prospect"
    # the admin sees the names
    assert admin.get("/v1/contacts").json()["items"][0]["name"] == "Ada Lovelace"


def test_contacts_by_segment_or_external_id_and_segment_members_page_by_page(live: LiveServer) -> None:
    admin = live.client()
    buyers, others = [], []
    for index in range(5):
        created = admin.post("/v1/contacts", json={"name": f"Buyer Number{index}", "external_id": f"shop-{index}"})
        contact_id = created.json()["id"]
        if index % 2 == 0:
            bought = admin.post(f"/v1/contacts/{contact_id}/purchases", json={"order_id": "o1", "amount": 150_000})
            assert bought.status_code == 200, bought.text
            buyers.append(contact_id)
        else:
            others.append(contact_id)
    position = admin.get("/readyz").json()["head_position"]
    assert admin.get("/v1/segments", params={"min_position": position}).status_code == 200

    everyone = [i for page in all_pages(admin, "/v1/contacts", limit=2) for i in ids(page)]
    assert everyone == sorted(buyers + others)
    high_value = [i for page in all_pages(admin, "/v1/contacts", segment="high_value", limit=2) for i in ids(page)]
    assert high_value == sorted(buyers)
    assert ids(admin.get("/v1/contacts", params={"segment": "prospects"}).json()["items"]) == sorted(others)
    by_external = admin.get("/v1/contacts", params={"external_id": "shop-3"}).json()["items"]
    assert [(c["id"], c["external_id"]) for c in by_external] == [(others[1], "shop-3")]
    assert admin.get("/v1/contacts", params={"external_id": "shop-3", "segment": "high_value"}).json()["items"] == []
    assert problem(admin.get("/v1/contacts", params={"segment": "whales"}), 404)["type"].endswith("/unknown-segment")

    pages = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = admin.get("/v1/segments/high_value/members", params=params).json()
        assert body["segment"] == "high_value" and body["total"] == 3
        pages.append([m["contact_id"] for m in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [sorted(buyers)[:2], sorted(buyers)[2:]]
    assert problem(admin.get("/v1/segments/whales/members"), 404)
    before = admin.get("/v1/segments", params={"as_of": "2000-01-01T00:00:00Z"}).json()
    assert before["as_of"] == "2000-01-01T00:00:00Z" and {s["members"] for s in before["segments"]} == {0}
    assert problem(admin.get("/v1/segments", params={"as_of": "0001-01-01T00:00:00"}), 422)
    weeks = admin.get(f"/v1/contacts/{buyers[0]}/features", params={"unit": "weeks"}).json()
    assert weeks["unit"] == "weeks" and weeks["purchase_count"] == 1
    missing = admin.get("/v1/contacts/00000000-0000-0000-0000-000000000000/features")
    assert problem(missing, 404)["type"].endswith("/not-found")
    accuracy = admin.get("/v1/forecast/accuracy", params={"made_as_of": "2026-01-01", "months": 2}).json()
    assert accuracy["horizon_months"] == 2 and accuracy["made_as_of"] == "2026-01-01T00:00:00Z"
    assert problem(admin.get("/v1/forecast/accuracy"), 422)["errors"][0]["field"] == "made_as_of"
    assert problem(admin.get("/v1/forecast", params={"months": 25}), 422)


def test_text_with_a_nul_character_is_refused_before_it_reaches_the_log_or_a_query(live: LiveServer) -> None:
    admin = live.client()
    head = live.head()
    body = problem(admin.post("/v1/leads", json={**LEAD, "name": "Ada\u0000Lovelace", "campaign": "a\u0000"}), 422)
    assert sorted(e["field"] for e in body["errors"]) == ["campaign", "name"]
    assert {e["type"] for e in body["errors"]} == {"string_nul"}
    nested = problem(admin.post("/v1/contacts", json={"name": "Ada", "external_id": ["x\u0000"]}), 422)
    assert [e["field"] for e in nested["errors"]] == ["external_id.0"]
    for path in ("/v1/contacts?external_id=a%00b", "/v1/leads?owner=%00", "/v1/pipeline?source=web_form%00"):
        assert [e["field"] for e in problem(admin.get(path), 422)["errors"]] == [path.split("?")[1].split("=")[0]]
    assert live.head() == head
    # a backslash followed by u0000 is just text
    fine = admin.post("/v1/leads", json={**LEAD, "campaign": "C:\\u0000"})
    assert fine.status_code == 201, fine.text
    position = fine.json()["position"]
    assert admin.get("/v1/leads", params={"min_position": position}).json()["items"][0]["campaign"] == "C:\\u0000"
    # a version past any aggregate's is invalid input, not a database overflow
    lead_id = fine.json()["id"]
    assert [
        e["field"] for e in problem(admin.get(f"/v1/leads/{lead_id}", params={"version": 2**63}), 422)["errors"]
    ] == ["version"]


def test_the_forecast_backtest_answers_per_month_and_refuses_a_bad_range_naming_the_field(live: LiveServer) -> None:
    admin = live.client()
    body = admin.get("/v1/forecast/backtest", params={"from": "2026-01-15", "to": "2026-03-01", "months": 1}).json()
    assert (body["from_month"], body["to_month"], body["horizon_months"]) == ("2026-01-01", "2026-03-01", 1)
    assert {row["made_as_of"] for row in body["rows"]} <= {"2026-01-01", "2026-02-01", "2026-03-01"}
    # too little has closed here for a learned win probability: the forecast says so, and which model it used
    assert {row["win_model"] for row in body["rows"]} <= {None}
    forecast = admin.get("/v1/forecast", params={"months": 1}).json()
    assert (forecast["model"], forecast["win_model"]) == ("hazard_win", None)
    assert "too few closed leads to learn from" in forecast["win_model_reason"]
    for params, field in (
        ({"from": "2026-03-01", "to": "2026-01-01"}, "from"),
        ({"from": "1899-12-01", "to": "2026-01-01"}, "from"),
        ({"from": "2026-01-01", "to": "3000-01-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-02-01", "months": 0}, "months"),
        ({"to": "2026-02-01"}, "from"),
    ):
        assert problem(admin.get("/v1/forecast/backtest", params=params), 422)["errors"][0]["field"] == field
    future = admin.get("/v1/forecast/accuracy", params={"made_as_of": "2999-01-01T00:00:00Z"})
    assert problem(future, 422)["errors"][0]["field"] == "made_as_of"
