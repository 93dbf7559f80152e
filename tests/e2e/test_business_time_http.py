"""Business time over HTTP: reads as of a time (and as known at a time) fold a record's events in
occurred_at order, and a back-dated command is placed at its business time or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.conftest import LEAD, LiveServer, problem


def _stage(live: LiveServer, lead_id: str, stage: str, at: str) -> int:
    response = live.client().post(f"/v1/leads/{lead_id}/stage", json={"stage": stage, "occurred_at": at})
    return response.status_code


def test_a_stage_change_dated_between_two_earlier_ones_is_read_as_of_any_time(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json={**LEAD, "occurred_at": "2026-01-10T09:00:00Z"}).json()["id"]
    assert _stage(live, lead_id, "contacted", "2026-01-12T09:00:00Z") == 200
    assert _stage(live, lead_id, "qualified", "2026-01-20T09:00:00Z") == 200
    assert _stage(live, lead_id, "nurturing", "2026-01-15T09:00:00Z") == 200

    def stage_as_of(when: str) -> str:
        response = admin.get(f"/v1/leads/{lead_id}", params={"as_of": when})
        assert response.status_code == 200, response.text
        return str(response.json()["stage"])

    assert stage_as_of("2026-01-13T00:00:00Z") == "contacted"
    assert stage_as_of("2026-01-16T00:00:00Z") == "nurturing"
    assert stage_as_of("2026-01-21T00:00:00Z") == "qualified"
    now = admin.get(f"/v1/leads/{lead_id}").json()
    assert now["stage"] == "qualified"  # the latest business time, not the last command recorded


def test_a_back_dated_conversion_before_a_later_stage_change_is_a_409_naming_that_event(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json={**LEAD, "occurred_at": "2026-01-10T09:00:00Z"}).json()["id"]
    assert _stage(live, lead_id, "qualified", "2026-01-20T09:00:00Z") == 200
    before = admin.get(f"/v1/leads/{lead_id}/history").json()["entries"]
    head = live.head()

    refused = admin.post(
        f"/v1/leads/{lead_id}/convert", json={"deal_value": 900_000, "occurred_at": "2026-01-15T09:00:00Z"}
    )

    body = problem(refused, 409)
    assert body["type"].endswith("/timeline-conflict")
    later = body["conflicting_event"]
    assert later["event_type"] == "lead.stage_changed" and later["version"] == before[-1]["version"]
    assert datetime.fromisoformat(later["occurred_at"]) == datetime(2026, 1, 20, 9, tzinfo=UTC)
    assert "lead.stage_changed" in body["detail"]
    assert live.head() == head
    assert admin.get(f"/v1/leads/{lead_id}/history").json()["entries"] == before


def test_known_at_reads_the_record_as_the_store_knew_it_and_is_checked(live: LiveServer) -> None:
    admin = live.client()
    created = admin.post("/v1/contacts", json={"name": "Grace Hopper", "occurred_at": "2026-01-10T09:00:00Z"})
    contact_id = created.json()["id"]
    known = admin.get(f"/v1/contacts/{contact_id}/history").json()["entries"][-1]["recorded_at"]
    changed = admin.patch(f"/v1/contacts/{contact_id}", json={"company": "Navy", "occurred_at": "2026-01-12T09:00:00Z"})
    assert changed.status_code == 200, changed.text

    then = admin.get(f"/v1/contacts/{contact_id}", params={"as_of": "2026-01-13T00:00:00Z", "known_at": known})
    now = admin.get(f"/v1/contacts/{contact_id}", params={"as_of": "2026-01-13T00:00:00Z"})

    assert then.status_code == 200 and then.json()["company"] is None
    assert now.json()["company"] == "Navy"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for path in (f"/v1/contacts/{contact_id}", f"/v1/leads/{contact_id}"):
        for params in ({"known_at": future}, {"known_at": "1850-01-01T00:00:00Z"}, {"as_of": "3001-01-01T00:00:00Z"}):
            body = problem(admin.get(path, params=params), 422)
            assert [e["field"] for e in body["errors"]] == [next(iter(params))]
    assert problem(admin.get(f"/v1/contacts/{contact_id}", params={"as_of": "2026-01-09T00:00:00Z"}), 404)
    assert problem(admin.get(f"/v1/contacts/{contact_id}", params={"known_at": "2026-01-01T00:00:00Z"}), 404)


def test_a_stage_change_dated_before_a_conversion_shows_before_it_in_the_history_as_of_now(
    live: LiveServer,
) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json={**LEAD, "occurred_at": "2026-01-10T09:00:00Z"}).json()["id"]
    converted = admin.post(
        f"/v1/leads/{lead_id}/convert", json={"deal_value": 900_000, "occurred_at": "2026-01-20T09:00:00Z"}
    )
    assert converted.status_code == 200, converted.text

    assert _stage(live, lead_id, "proposal", "2026-01-15T09:00:00Z") == 200

    recorded = [e["event_type"] for e in admin.get(f"/v1/leads/{lead_id}/history").json()["entries"]]
    now = datetime.now(UTC).isoformat()
    folded = admin.get(f"/v1/leads/{lead_id}/history", params={"as_of": now}).json()["entries"]
    then = admin.get(f"/v1/leads/{lead_id}/history", params={"as_of": "2026-01-16T00:00:00Z"}).json()["entries"]
    assert recorded.index("lead.stage_changed") > recorded.index("lead.converted")
    business = [e["event_type"] for e in folded]
    assert business.index("lead.stage_changed") < business.index("lead.converted")
    assert [e["event_type"] for e in then][-1] == "lead.stage_changed"
    assert admin.get(f"/v1/leads/{lead_id}").json()["stage"] == "converted"
    assert admin.get(f"/v1/leads/{lead_id}", params={"as_of": "2026-01-16T00:00:00Z"}).json()["stage"] == "proposal"
    assert problem(admin.get(f"/v1/leads/{lead_id}/history", params={"as_of": "2026-01-01T00:00:00Z"}), 404)
    assert problem(admin.get(f"/v1/leads/{lead_id}/history", params={"known_at": "2999-01-01T00:00:00Z"}), 422)


def test_the_pipeline_and_forecast_as_known_at_a_past_moment_leave_out_what_was_recorded_later(
    live: LiveServer,
) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json={**LEAD, "occurred_at": "2026-01-10T09:00:00Z"}).json()["id"]
    assert _stage(live, lead_id, "contacted", "2026-01-12T09:00:00Z") == 200
    assert _stage(live, lead_id, "qualified", "2026-01-20T09:00:00Z") == 200
    known = admin.get(f"/v1/leads/{lead_id}/history").json()["entries"][-1]["recorded_at"]
    assert _stage(live, lead_id, "nurturing", "2026-01-15T09:00:00Z") == 200  # learned later, dated between
    position = live.head()

    def stages(**params: str) -> dict[str, int]:
        response = admin.get(
            "/v1/pipeline", params={"as_of": "2026-01-16T00:00:00Z", "min_position": position, **params}
        )
        assert response.status_code == 200, response.text
        return {s["stage"]: s["count"] for s in response.json()["stages"] if s["count"]}

    assert stages() == {"nurturing": 1}
    assert stages(known_at=known) == {"contacted": 1}

    def deal_stages(**params: str) -> list[str]:
        response = admin.get("/v1/forecast", params={"as_of": "2026-01-16T00:00:00Z", **params})
        assert response.status_code == 200, response.text
        return [d["stage"] for d in response.json()["deals"] if d["lead_id"] == lead_id]

    assert deal_stages() == ["nurturing"]
    assert deal_stages(known_at=known) == ["contacted"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for path in ("/v1/pipeline", "/v1/forecast"):
        for value in (future, "1850-01-01T00:00:00Z"):
            body = problem(admin.get(path, params={"known_at": value}), 422)
            assert [e["field"] for e in body["errors"]] == ["known_at"]


def test_segments_and_contact_features_as_known_at_a_past_moment_leave_out_what_was_recorded_later(
    live: LiveServer,
) -> None:
    admin = live.client()
    contact_id = admin.post(
        "/v1/contacts", json={"name": "Grace Hopper", "occurred_at": "2026-01-10T09:00:00Z"}
    ).json()["id"]
    bought = {"order_id": "A-2", "amount": 50_00, "occurred_at": "2026-01-12T09:00:00Z"}
    assert admin.post(f"/v1/contacts/{contact_id}/purchases", json=bought).status_code == 200
    known = admin.get(f"/v1/contacts/{contact_id}/history").json()["entries"][-1]["recorded_at"]
    earlier = {"order_id": "A-1", "amount": 70_00, "occurred_at": "2026-01-11T09:00:00Z"}  # learned later, dated before
    assert admin.post(f"/v1/contacts/{contact_id}/purchases", json=earlier).status_code == 200
    as_of = {"as_of": "2026-01-16T00:00:00Z", "min_position": str(live.head())}

    def features(**params: str) -> tuple[int, int, int]:
        response = admin.get(f"/v1/contacts/{contact_id}/features", params={**as_of, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        return body["purchase_count"], body["total_value"], body["frequency"]

    def repeat_buyers(**params: str) -> tuple[int, list[str]]:
        listed = admin.get("/v1/segments", params={**as_of, **params})
        members = admin.get("/v1/segments/repeat_buyers/members", params={**as_of, **params})
        assert listed.status_code == 200 and members.status_code == 200, (listed.text, members.text)
        [size] = [s["members"] for s in listed.json()["segments"] if s["name"] == "repeat_buyers"]
        return size, [m["contact_id"] for m in members.json()["items"]]

    assert features() == (2, 120_00, 1)
    assert features(known_at=known) == (1, 50_00, 0)
    assert repeat_buyers() == (1, [contact_id])
    assert repeat_buyers(known_at=known) == (0, [])
    before = problem(admin.get(f"/v1/contacts/{contact_id}/features", params={"known_at": "2026-01-01T00:00:00Z"}), 404)
    assert "as known at" in before["detail"], "the contact was not known yet"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for path in ("/v1/segments", "/v1/segments/repeat_buyers/members", f"/v1/contacts/{contact_id}/features"):
        for value in (future, "1850-01-01T00:00:00Z"):
            body = problem(admin.get(path, params={"known_at": value}), 422)
            assert [e["field"] for e in body["errors"]] == ["known_at"]


def test_the_lead_list_as_of_a_date_shows_each_lead_as_it_stood_then_filtered_then_and_as_known_then(
    live: LiveServer,
) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json={**LEAD, "owner": "alice", "occurred_at": "2026-01-10T09:00:00Z"}).json()[
        "id"
    ]
    later = {**LEAD, "name": "Bea Later", "email": "bea@later.example", "occurred_at": "2026-01-25T09:00:00Z"}
    later_id = admin.post("/v1/leads", json=later).json()["id"]
    assert _stage(live, lead_id, "contacted", "2026-01-12T09:00:00Z") == 200
    assert _stage(live, lead_id, "qualified", "2026-01-20T09:00:00Z") == 200
    known = admin.get(f"/v1/leads/{lead_id}/history").json()["entries"][-1]["recorded_at"]
    assert _stage(live, lead_id, "nurturing", "2026-01-15T09:00:00Z") == 200  # learned later, dated between
    moved = admin.post(f"/v1/leads/{lead_id}/assign", json={"owner": "bob", "occurred_at": "2026-01-18T09:00:00Z"})
    assert moved.status_code == 200, moved.text
    head = live.head()

    def listed(client: httpx.Client = admin, **params: str) -> list[tuple[str, str, str | None, str | None]]:
        response = client.get("/v1/leads", params={"min_position": head, **params})
        assert response.status_code == 200, response.text
        return [(i["id"], i["stage"], i["owner"], i["name"]) for i in response.json()["items"]]

    # as of a date: each lead as its events by then made it, the later one not yet there, names as now
    assert listed(as_of="2026-01-16T00:00:00Z") == [(lead_id, "nurturing", "alice", "Ada Lovelace")]
    assert listed(as_of="2026-01-16T00:00:00Z", stage="nurturing") == [(lead_id, "nurturing", "alice", "Ada Lovelace")]
    assert listed(as_of="2026-01-16T00:00:00Z", stage="qualified") == []
    # the owner filter follows the assignment's business time
    assert [i for i, *_ in listed(as_of="2026-01-19T00:00:00Z", owner="bob")] == [lead_id]
    assert listed(as_of="2026-01-19T00:00:00Z", owner="alice") == []
    # as known before the back-dated change was recorded
    assert listed(as_of="2026-01-16T00:00:00Z", known_at=known) == [(lead_id, "contacted", "alice", "Ada Lovelace")]
    # now: as the leads stand
    assert sorted(listed()) == sorted(
        [(lead_id, "qualified", "bob", "Ada Lovelace"), (later_id, "new", None, "Bea Later")]
    )
    # a rep sees only the leads they own now, as they stood then; an analyst sees names masked
    assert listed(live.client("alice", "rep"), as_of="2026-01-16T00:00:00Z") == []
    assert [i for i, *_ in listed(live.client("bob", "rep"), as_of="2026-01-19T00:00:00Z")] == [lead_id]
    assert listed(live.client("ana", "analyst"), as_of="2026-01-16T00:00:00Z")[0][3] == "A*** L***"
    # and bad dates are 422s naming the parameter
    for params, field in (
        ({"as_of": "1850-01-01T00:00:00Z"}, "as_of"),
        ({"known_at": "2999-01-01T00:00:00Z"}, "known_at"),
    ):
        body = problem(admin.get("/v1/leads", params=params), 422)
        assert field in str(body), body
