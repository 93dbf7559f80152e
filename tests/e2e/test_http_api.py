"""The HTTP API end to end: real server, real store, real HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LEAD, LEAD_PHONE_FORMS, LiveServer, problem


def entries(trail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["event_type"], e["actor"]) for e in trail["entries"]]


def settled(client: httpx.Client, path: str, position: int, **params: Any) -> Any:
    """A read-model GET that waits for the projections to reach `position` (read your writes)."""
    response = client.get(path, params={**params, "min_position": position})
    assert response.status_code == 200, response.text
    return response.json()


def stage_of(pipeline: dict[str, Any], stage: str) -> tuple[int, dict[str, int]]:
    found = next(s for s in pipeline["stages"] if s["stage"] == stage)
    return found["count"], found["value"]


def deal_of(forecast: dict[str, Any], lead_id: str) -> dict[str, Any] | None:
    return next((d for d in forecast["deals"] if d["lead_id"] == lead_id), None)


def segment_sizes(client: httpx.Client, position: int) -> dict[str, int]:
    return {s["name"]: s["members"] for s in settled(client, "/v1/segments", position)["segments"]}


def lead_in_list(client: httpx.Client, lead_id: str, position: int) -> dict[str, Any]:
    page = settled(client, "/v1/leads", position, limit=200)
    return next(item for item in page["items"] if item["id"] == lead_id)


def test_a_lead_lives_from_capture_through_conversion_and_purchase_to_reactivation(live: LiveServer) -> None:
    alice = live.client("alice", "rep")
    maria = live.client("maria", "manager")
    marketing = live.client("marketing-bot", "service")
    shop = live.client("shop", "service")

    # capture: a rep's lead is theirs
    captured = alice.post("/v1/leads", json=LEAD)
    assert captured.status_code == 201, captured.text
    lead_id = captured.json()["id"]
    assert captured.headers["Location"] == f"/v1/leads/{lead_id}"
    assert captured.headers["ETag"] == f'"{captured.json()["version"]}"'
    position = captured.json()["position"]
    assert position >= 1
    first = alice.get(f"/v1/leads/{lead_id}").json()
    assert first["owner"] == "alice" and first["stage"] == "new"
    # ...and the read models show it at once when asked for that position
    assert stage_of(settled(alice, "/v1/pipeline", position), "new") == (1, {"USD": 1_200_000})
    new_deal = deal_of(settled(maria, "/v1/forecast", position), lead_id)
    assert new_deal and (new_deal["stage"], new_deal["value"], new_deal["owner"]) == ("new", 1_200_000, "alice")
    assert lead_in_list(alice, lead_id, position)["stage"] == "new"

    # interactions raise the score
    assert marketing.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "email_click"}).status_code == 200
    assert (
        alice.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "meeting", "detail": "intro"}).status_code == 200
    )
    demo = alice.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "demo"})
    assert demo.status_code == 200
    engaged = alice.get(f"/v1/leads/{lead_id}")
    assert engaged.json()["score"] > first["score"]
    assert engaged.json()["interaction_count"] == 3
    assert engaged.json()["score_breakdown"]
    listed = lead_in_list(alice, lead_id, demo.json()["position"])
    assert listed["score"] == engaged.json()["score"] and listed["last_interaction_at"] is not None

    # stages, each conditional on the version last seen
    etag = engaged.headers["ETag"]
    for stage in ("contacted", "qualified", "proposal"):
        moved = alice.post(f"/v1/leads/{lead_id}/stage", json={"stage": stage}, headers={"If-Match": etag})
        assert moved.status_code == 200, moved.text
        etag = moved.headers["ETag"]
        pipeline = settled(alice, "/v1/pipeline", moved.json()["position"])
        assert stage_of(pipeline, stage) == (1, {"USD": 1_200_000}) and stage_of(pipeline, "new")[0] == 0
        assert deal_of(settled(maria, "/v1/forecast", moved.json()["position"]), lead_id)["stage"] == stage
    assert alice.get(f"/v1/leads/{lead_id}").json()["stage"] == "proposal"
    assert pipeline["conversions"][0] == {"stage": "new", "entered": 1, "advanced": 1, "rate": 1.0}

    # conversion makes a contact
    converted = alice.post(
        f"/v1/leads/{lead_id}/convert",
        json={"deal_value": 2_400_000, "currency": "USD"},
        headers={"If-Match": etag, "X-Request-ID": "deal-42"},
    )
    assert converted.status_code == 200, converted.text
    assert converted.headers["X-Request-ID"] == "deal-42"
    contact_id = converted.json()["contact_id"]
    assert converted.json()["related_id"] == contact_id
    won = alice.get(f"/v1/leads/{lead_id}").json()
    assert won["stage"] == "converted" and won["converted_contact_id"] == contact_id and won["deal_value"] == 2_400_000
    position = converted.json()["position"]
    pipeline = settled(alice, "/v1/pipeline", position)
    assert stage_of(pipeline, "converted") == (1, {"USD": 2_400_000}) and pipeline["open_count"] == 0
    assert pipeline["win_rate"] == 1.0
    forecast = settled(maria, "/v1/forecast", position)
    assert deal_of(forecast, lead_id) is None
    assert forecast["rows"][0]["closed"] == 2_400_000 and forecast["rows"][0]["currency"] == "USD"
    contacts = settled(maria, "/v1/contacts", position)["items"]
    assert [(c["id"], c["name"], c["lead_id"]) for c in contacts] == [(contact_id, "Ada Lovelace", lead_id)]
    assert segment_sizes(maria, position)["prospects"] == 1
    assert settled(maria, f"/v1/contacts/{contact_id}/features", position)["lifecycle"] == "prospect"

    # the shop records a purchase on the contact
    bought = shop.post(f"/v1/contacts/{contact_id}/purchases", json={"order_id": "o-1", "amount": 129_900})
    assert bought.status_code == 200, bought.text
    contact = alice.get(f"/v1/contacts/{contact_id}")
    assert contact.status_code == 200
    assert contact.json()["purchase_count"] == 1 and contact.json()["lifetime_value"] == {"USD": 129_900}
    assert contact.json()["lead_id"] == lead_id and contact.json()["name"] == "Ada Lovelace"
    position = bought.json()["position"]
    sizes = segment_sizes(maria, position)
    assert (sizes["prospects"], sizes["new_customers"], sizes["high_value"], sizes["repeat_buyers"]) == (0, 1, 1, 0)
    members = settled(maria, "/v1/segments/new_customers/members", position)
    assert [m["contact_id"] for m in members["items"]] == [contact_id] and members["total"] == 1
    features = settled(maria, f"/v1/contacts/{contact_id}/features", position)
    assert (features["purchase_count"], features["total_value"], features["currency"]) == (1, 129_900, "USD")
    assert (features["lifecycle"], features["frequency"], features["T"]) == ("new", 0, 0.0)

    # new interest reopens the contact as a new lead, owned by the rep
    reactivated = alice.post(f"/v1/contacts/{contact_id}/reactivate", json={"interest": "analytics add-on"})
    assert reactivated.status_code == 201, reactivated.text
    new_lead_id = reactivated.json()["lead_id"]
    assert reactivated.headers["Location"] == f"/v1/leads/{new_lead_id}"
    new_lead = alice.get(f"/v1/leads/{new_lead_id}").json()
    assert new_lead["source"] == "reactivation" and new_lead["contact_id"] == contact_id
    assert new_lead["owner"] == "alice" and new_lead["interest"] == "analytics add-on"
    position = reactivated.json()["position"]
    pipeline = settled(alice, "/v1/pipeline", position)
    assert stage_of(pipeline, "new")[0] == 1 and stage_of(pipeline, "converted")[0] == 1
    assert settled(alice, "/v1/pipeline", position, source="reactivation")["open_count"] == 1
    assert lead_in_list(alice, new_lead_id, position)["contact_id"] == contact_id
    assert settled(maria, f"/v1/contacts/{contact_id}/features", position)["reactivations"] == 1

    # the audit trails show every step and who took it
    lead_trail = alice.get(f"/v1/leads/{lead_id}/history").json()
    steps = entries(lead_trail)
    assert steps[0] == ("lead.captured", "alice")
    assert ("lead.interaction_logged", "marketing-bot") in steps
    assert [s for s in steps if s[0] == "lead.stage_changed"] == [("lead.stage_changed", "alice")] * 3
    assert steps[-1] == ("lead.converted", "alice")
    assert lead_trail["entries"][-1]["correlation_id"] == "deal-42"
    assert [e["version"] for e in lead_trail["entries"]] == list(range(1, won["version"] + 1))
    assert entries(alice.get(f"/v1/contacts/{contact_id}/history").json()) == [
        ("contact.created", "alice"),
        ("contact.purchase_recorded", "shop"),
        ("contact.reactivated", "alice"),
    ]


def test_a_stale_if_match_is_a_conflict_and_changes_nothing(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    seen = admin.get(f"/v1/leads/{lead_id}").headers["ETag"]
    assert admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted"}, headers={"If-Match": seen}).is_success
    head = live.head()

    stale = admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "qualified"}, headers={"If-Match": seen})

    body = problem(stale, 409)
    assert body["type"].endswith("/version-conflict")
    assert body["expected_version"] == int(seen.strip('"')) and body["current_version"] == body["expected_version"] + 1
    assert live.head() == head
    assert admin.get(f"/v1/leads/{lead_id}").json()["stage"] == "contacted"
    assert problem(admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "new"}, headers={"If-Match": "soon"}), 400)
    # a weak ETag and an unquoted version are read too
    current = admin.get(f"/v1/leads/{lead_id}").headers["ETag"]
    weak = admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "qualified"}, headers={"If-Match": f"W/{current}"})
    assert weak.status_code == 200


def test_an_idempotent_create_retried_gives_the_same_id_and_reusing_the_key_differently_is_a_conflict(
    live: LiveServer,
) -> None:
    admin = live.client()
    key = {"Idempotency-Key": "form-submission-77"}
    first = admin.post("/v1/leads", json=LEAD, headers=key)
    assert first.status_code == 201
    head = live.head()

    retry = admin.post("/v1/leads", json=LEAD, headers=key)
    other = admin.post("/v1/leads", json={**LEAD, "name": "Grace Hopper"}, headers=key)

    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"] and retry.json()["position"] is None
    assert retry.headers["Location"] == first.headers["Location"]
    body = problem(other, 409)
    assert body["type"].endswith("/idempotency-key-reused") and body["differing_fields"] == ["name"]
    assert live.head() == head

    contact = {"name": "Linus Torvalds", "email": "linus@example.org"}
    created = admin.post("/v1/contacts", json=contact, headers={"Idempotency-Key": "signup-1"})
    again = admin.post("/v1/contacts", json=contact, headers={"Idempotency-Key": "signup-1"})
    assert created.status_code == 201 and again.status_code == 200
    assert created.json()["id"] == again.json()["id"]
    # a header and a body key that disagree are refused
    both = admin.post("/v1/contacts", json={**contact, "idempotency_key": "a"}, headers={"Idempotency-Key": "b"})
    assert [e["field"] for e in problem(both, 422)["errors"]] == ["Idempotency-Key"]


BAD_CAPTURES = [
    ("missing name", {k: v for k, v in LEAD.items() if k != "name"}, "name"),
    ("bad email", {**LEAD, "email": "not-an-email"}, "email"),
    ("negative value", {**LEAD, "estimated_value": -5}, "estimated_value"),
    ("value as float", {**LEAD, "estimated_value": 12.5}, "estimated_value"),
    ("unknown field", {**LEAD, "nickname": "Ada"}, "nickname"),
    ("unknown source", {**LEAD, "source": "carrier_pigeon"}, "source"),
    ("bad currency", {**LEAD, "currency": "XXX"}, "currency"),
    ("future occurred_at", {**LEAD, "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
    ("naive occurred_at", {**LEAD, "occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
    ("bad phone", {**LEAD, "phone": "call me"}, "phone"),
    ("unreachable", {"name": "Nobody", "source": "web_form"}, None),
    ("not an object", [LEAD], None),
]


def test_bad_input_is_422_naming_each_field_and_appends_nothing(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    head = live.head()

    for case, payload, field in BAD_CAPTURES:
        body = problem(admin.post("/v1/leads", json=payload), 422)
        assert body["type"].endswith("/validation"), case
        assert field in [e["field"] for e in body["errors"]], (case, body["errors"])
        assert all(e["message"] for e in body["errors"]), case

    for path, payload, field in [
        (f"/v1/leads/{lead_id}/stage", {"stage": "won"}, "stage"),
        (f"/v1/leads/{lead_id}/interactions", {"kind": "email_open", "detail": "x" * 2001}, "detail"),
        (f"/v1/leads/{lead_id}/convert", {"deal_value": "lots"}, "deal_value"),
        (f"/v1/leads/{lead_id}/assign", {}, "owner"),
    ]:
        body = problem(admin.post(path, json=payload), 422)
        assert field in [e["field"] for e in body["errors"]], (path, body["errors"])
    assert problem(admin.get("/v1/leads/not-a-uuid"), 422)["errors"][0]["field"] == "lead_id"
    assert problem(admin.get(f"/v1/leads/{lead_id}", params={"version": 0}), 422)["errors"][0]["field"] == "version"
    no_body = problem(admin.post(f"/v1/leads/{lead_id}/stage"), 422)
    assert no_body["errors"][0]["field"] is None

    malformed = admin.post("/v1/leads", content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert problem(malformed, 400)["type"].endswith("/malformed-json")
    assert live.head() == head


def test_a_broken_business_rule_is_a_conflict(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    head = live.head()
    same_stage = problem(admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "new"}), 409)
    assert same_stage["type"].endswith("/business-rule") and "already in stage" in same_stage["detail"]
    assert admin.post(f"/v1/leads/{lead_id}/disqualify", json={"reason": "no budget"}).status_code == 200
    closed = problem(admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100}), 409)
    assert "disqualified" in closed["detail"]
    assert live.head() == head + 1


Denials = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def denials(caplog: pytest.LogCaptureFixture) -> Iterator[Denials]:
    """Reads the JSON lines the `crm.auth` logger has written so far."""
    with caplog.at_level(logging.WARNING, logger="crm.auth"):
        yield lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.auth"]


def test_without_a_valid_token_the_answer_is_401_and_the_denial_is_logged(live: LiveServer, denials: Denials) -> None:
    lead_id = live.client().post("/v1/leads", json=LEAD).json()["id"]
    anonymous = live.client(None)
    head = live.head()

    missing = anonymous.get(f"/v1/leads/{lead_id}")
    wrong = anonymous.get(f"/v1/leads/{lead_id}", headers={"Authorization": "Bearer crm_forged"})
    basic = anonymous.post("/v1/leads", json=LEAD, headers={"Authorization": "Basic cm9vdDpyb290"})

    for response in (missing, wrong, basic):
        assert problem(response, 401)["type"].endswith("/unauthenticated")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert live.head() == head
    logged = denials()
    assert [d["reason"] for d in logged] == ["missing_token", "unknown_token", "missing_token"]
    assert logged[1]["path"] == f"/v1/leads/{lead_id}" and logged[1]["request_id"] == wrong.headers["X-Request-ID"]
    assert all("crm_forged" not in json.dumps(d) for d in logged)


def test_a_rep_sees_and_changes_only_their_own_leads(live: LiveServer, denials: Denials) -> None:
    manager = live.client("maria", "manager")
    alice, bob = live.client("alice", "rep"), live.client("bob", "rep")
    bobs_lead = manager.post("/v1/leads", json={**LEAD, "owner": "bob"}).json()["id"]
    head = live.head()

    for response in (
        alice.get(f"/v1/leads/{bobs_lead}"),
        alice.get(f"/v1/leads/{bobs_lead}/history"),
        alice.post(f"/v1/leads/{bobs_lead}/stage", json={"stage": "contacted"}),
        alice.post(f"/v1/leads/{bobs_lead}/convert", json={"deal_value": 100}),
    ):
        assert problem(response, 404)["type"].endswith("/not-found")
    assert alice.get(f"/v1/leads/{bobs_lead}").json()["detail"] == f"lead {bobs_lead} not found"
    assert live.head() == head
    logged = denials()
    assert len(logged) == 5 and {(d["reason"], d["user"]) for d in logged} == {("not_owner", "alice")}

    assert bob.get(f"/v1/leads/{bobs_lead}").status_code == 200
    assert bob.post(f"/v1/leads/{bobs_lead}/stage", json={"stage": "contacted"}).status_code == 200
    # reps capture for themselves only, and do not hand leads around
    assert problem(alice.post("/v1/leads", json={**LEAD, "owner": "bob"}), 403)
    assert problem(bob.post(f"/v1/leads/{bobs_lead}/assign", json={"owner": "alice"}), 403)
    # once a manager reassigns it, the lead is alice's
    assert manager.post(f"/v1/leads/{bobs_lead}/assign", json={"owner": "alice"}).status_code == 200
    assert alice.get(f"/v1/leads/{bobs_lead}").status_code == 200
    assert problem(bob.get(f"/v1/leads/{bobs_lead}"), 404)


def test_an_analyst_reads_masked_personal_data_and_may_not_write(live: LiveServer, denials: Denials) -> None:
    admin = live.client()
    analyst = live.client("ana", "analyst")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    contact_id = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100}).json()["contact_id"]
    assert admin.patch(f"/v1/contacts/{contact_id}", json={"email": "ada@lovelace.example"}).status_code == 200
    head = live.head()

    lead = analyst.get(f"/v1/leads/{lead_id}").json()
    contact = analyst.get(f"/v1/contacts/{contact_id}").json()
    lead_trail = analyst.get(f"/v1/leads/{lead_id}/history").text
    contact_trail = analyst.get(f"/v1/contacts/{contact_id}/history").json()

    assert (lead["name"], lead["email"], lead["phone"]) == ("A*** L***", "a***@acme.example", "***18")
    assert lead["company"] == "Acme" and lead["score"] >= 0
    assert (contact["name"], contact["email"]) == ("A*** L***", "a***@lovelace.example")
    assert not any(personal in lead_trail for personal in ("Lovelace", "ada@", *LEAD_PHONE_FORMS))
    assert contact_trail["entries"][-1]["data"]["changes"] == {"email": "a***@lovelace.example"}
    for response in (
        analyst.post("/v1/leads", json=LEAD),
        analyst.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "call"}),
        analyst.patch(f"/v1/contacts/{contact_id}", json={"title": "CEO"}),
        analyst.post(f"/v1/contacts/{contact_id}/reactivate", json={"interest": "more"}),
    ):
        assert problem(response, 403)["type"].endswith("/forbidden")
    assert live.head() == head
    assert {(d["reason"], d["role"]) for d in denials()} == {("role_forbids", "analyst")}
    # the admin still sees everything
    assert admin.get(f"/v1/leads/{lead_id}").json()["name"] == "Ada Lovelace"


def test_a_service_logs_interactions_records_purchases_and_creates_contacts_only(live: LiveServer) -> None:
    admin, service = live.client(), live.client("shop", "service")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    created = service.post("/v1/contacts", json={"name": "Hedy Lamarr", "email": "hedy@example.org"})
    assert created.status_code == 201
    contact_id = created.json()["id"]

    assert service.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "web_visit"}).status_code == 200
    assert service.post(f"/v1/contacts/{contact_id}/interactions", json={"kind": "support"}).status_code == 200
    assert service.post(f"/v1/contacts/{contact_id}/purchases", json={"order_id": "A1", "amount": 500}).is_success
    for response in (
        service.get(f"/v1/leads/{lead_id}"),
        service.get(f"/v1/contacts/{contact_id}/history"),
        service.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted"}),
        service.post(f"/v1/contacts/{contact_id}/consent", json={"channel": "email", "granted": True}),
    ):
        problem(response, 403)
    assert admin.get(f"/v1/contacts/{contact_id}/history").json()["entries"][0]["actor"] == "shop"


def test_an_oversized_body_is_413_before_it_is_parsed(live: LiveServer) -> None:
    admin = live.client()
    head = live.head()
    declared = admin.post("/v1/leads", json={**LEAD, "campaign": "x" * 70_000})

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "Ada", "campaign": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    streamed = admin.post("/v1/leads", content=chunks(), headers={"Content-Type": "application/json"})

    for response in (declared, streamed):
        assert problem(response, 413)["type"].endswith("/body-too-large")
        assert response.headers["X-Request-ID"]
    assert "transfer-encoding" not in declared.request.headers
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    assert live.head() == head
    assert admin.post("/v1/leads", json={**LEAD, "campaign": "x" * 200}).status_code == 201


def test_reads_at_a_version_or_a_time_carry_their_etag(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json={**LEAD, "occurred_at": "2026-01-10T09:00:00Z"}).json()["id"]
    admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted", "occurred_at": "2026-01-12T09:00:00Z"})
    admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "qualified", "occurred_at": "2026-01-20T09:00:00+01:00"})
    now = admin.get(f"/v1/leads/{lead_id}")
    assert now.json()["stage"] == "qualified" and now.headers["ETag"] == f'"{now.json()["version"]}"'

    first = admin.get(f"/v1/leads/{lead_id}", params={"version": 1})
    then = admin.get(f"/v1/leads/{lead_id}", params={"as_of": "2026-01-15T00:00:00"})

    assert first.json()["version"] == 1 and first.headers["ETag"] == '"1"'
    assert then.json()["stage"] == "contacted" and then.headers["ETag"] == f'"{then.json()["version"]}"'
    assert problem(admin.get(f"/v1/leads/{lead_id}", params={"version": 99}), 404)
    assert problem(admin.get(f"/v1/leads/{lead_id}", params={"as_of": "2025-12-31T00:00:00Z"}), 404)


def test_contacts_are_created_updated_and_not_mistaken_for_leads(live: LiveServer) -> None:
    admin = live.client()
    created = admin.post("/v1/contacts", json={"name": "Radia Perlman", "email": "radia@example.org"})
    contact_id = created.json()["id"]
    assert created.headers["Location"] == f"/v1/contacts/{contact_id}" and created.headers["ETag"] == '"1"'

    patched = admin.patch(
        f"/v1/contacts/{contact_id}",
        json={"title": "Fellow"},
        headers={"If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200 and patched.headers["ETag"] == '"2"'
    assert admin.get(f"/v1/contacts/{contact_id}").json()["title"] == "Fellow"
    assert problem(admin.patch(f"/v1/contacts/{contact_id}", json={}), 422)
    assert "name" in [
        e["field"] for e in problem(admin.patch(f"/v1/contacts/{contact_id}", json={"name": ""}), 422)["errors"]
    ]
    assert problem(admin.patch(f"/v1/contacts/{contact_id}", json={"title": "Fellow"}), 409)
    consent = admin.post(f"/v1/contacts/{contact_id}/consent", json={"channel": "email", "granted": True})
    assert consent.status_code == 200
    assert admin.get(f"/v1/contacts/{contact_id}").json()["consents"] == {"email": True}

    assert problem(admin.get(f"/v1/leads/{contact_id}"), 404)
    assert problem(admin.get(f"/v1/leads/{contact_id}/history"), 404)
    assert problem(admin.post(f"/v1/leads/{contact_id}/stage", json={"stage": "contacted"}), 404)


def test_health_metrics_request_ids_and_docs(live: LiveServer) -> None:
    admin = live.client()
    admin.post("/v1/leads", json=LEAD)
    head = live.head()
    assert head >= 1

    echoed = admin.get("/healthz", headers={"X-Request-ID": "probe-1"})
    invented = admin.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert echoed.json() == {"status": "ok"}
    ready = admin.get("/readyz").json()
    assert ready["status"] == "ready" and ready["head_position"] == head
    assert set(ready["lag"]) == set(live.read_side.queries.store.projections)
    assert echoed.headers["X-Request-ID"] == "probe-1"
    assert invented.headers["X-Request-ID"] != "bad id\twith spaces" and len(invented.headers["X-Request-ID"]) == 32

    admin.get("/v1/leads/00000000-0000-0000-0000-000000000000")
    metrics = admin.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert f"crm_events_appended_total {float(head)}\n" in text
    assert 'crm_http_requests_total{method="POST",route="/v1/leads",status="201"} 1' in text
    assert 'crm_http_requests_total{method="GET",route="/v1/leads/{lead_id}",status="404"} 1' in text
    assert 'crm_http_request_duration_seconds_sum{method="GET",route="/healthz",status="200"}' in text

    unknown = admin.get("/v1/nothing-here")
    assert problem(unknown, 404)["type"] == "about:blank"
    assert problem(admin.delete("/v1/leads"), 405)
    schema = admin.get("/openapi.json").json()
    assert {"/v1/leads", "/v1/leads/{lead_id}/convert", "/v1/contacts/{contact_id}/reactivate"} <= set(schema["paths"])
    assert "application/problem+json" in schema["paths"]["/v1/leads"]["post"]["responses"]["422"]["content"]
    assert admin.get("/docs").status_code == 200


def test_unexpected_failures_are_problems_too_and_leak_nothing(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    rescored = admin.post(f"/v1/leads/{lead_id}/rescore")
    assert rescored.status_code == 200 and rescored.json()["id"] == lead_id

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(live.crm, "get_lead", broken)
    monkeypatch.setattr(live.crm, "head_position", broken)
    failed = admin.get(f"/v1/leads/{lead_id}", headers={"X-Request-ID": "oops-1"})
    down = admin.get("/readyz")
    alive = admin.get("/healthz")

    body = problem(failed, 500)
    assert failed.headers["X-Request-ID"] == "oops-1" and body["request_id"] == "oops-1"
    assert "secret" not in failed.text
    not_ready = problem(down, 503)
    assert not_ready["type"].endswith("/not-ready") and "secret" not in down.text
    assert not_ready["checks"] == {"event_store": "failed", "read_models": "skipped"}
    assert down.headers["Retry-After"].isdigit()
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
