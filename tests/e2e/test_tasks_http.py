"""Follow-up tasks over HTTP: adding them to leads and contacts, the task list with its filters,
overdue and pages, one task, completing and rescheduling, who sees and changes which tasks,
and bad input refused with the field named and nothing stored."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LEAD, LEAD_PHONE_FORMS, LiveServer, problem

NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def a_lead(client: httpx.Client, owner: str | None = "alice", **fields: Any) -> str:
    email = f"{owner or 'nobody'}.{len(fields)}.{datetime.now(UTC).timestamp()}@example.org"
    response = client.post("/v1/leads", json={**LEAD, "email": email, "owner": owner, **fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def add(client: httpx.Client, on: str, due: datetime, **fields: Any) -> httpx.Response:
    """POST a task on `on` (`leads/<id>` or `contacts/<id>`)."""
    headers = fields.pop("headers", {})
    body = {"title": "Call back about the demo", "due_at": iso(due), **fields}
    return client.post(f"/v1/{on}/tasks", json=body, headers=headers)


def added(client: httpx.Client, on: str, due: datetime, **fields: Any) -> str:
    response = add(client, on, due, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["task_id"])


def listed(client: httpx.Client, **params: Any) -> list[str]:
    """The ids of every task the list answers with these filters, following the cursors."""
    ids: list[str] = []
    cursor = None
    while True:
        response = client.get("/v1/tasks", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        ids += [item["id"] for item in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return ids
        assert len(ids) < 500, "the cursor does not advance"


@pytest.fixture
def admin(live: LiveServer) -> httpx.Client:
    return live.client()


# --- adding and reading -------------------------------------------------------------------------


def test_a_task_added_to_a_lead_is_201_with_its_location_and_reads_back_at_once(
    live: LiveServer, admin: httpx.Client
) -> None:
    # given a lead of alice's
    lead_id = a_lead(admin)

    # when a task is added to it
    response = add(admin, f"leads/{lead_id}", NOW + timedelta(days=1), note="She prefers mornings")

    # then it is 201 with the task's Location and the lead's new version, and reads back at once
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/v1/tasks/{body['task_id']}"
    assert (body["id"], body["related_id"]) == (lead_id, body["task_id"])
    assert response.headers["ETag"] == f'"{body["version"]}"'
    task = admin.get(response.headers["Location"])  # no min_position: the read waits for the task
    assert task.status_code == 200, task.text
    assert {k: v for k, v in task.json().items() if k not in ("created_at", "due_at")} == {
        "id": body["task_id"],
        "aggregate_type": "lead",
        "aggregate_id": lead_id,
        "title": "Call back about the demo",
        "note": "She prefers mornings",
        "owner": "alice",
        "status": "open",
        "overdue": False,
        "created_by": "root",
        "completed_at": None,
    }
    assert datetime.fromisoformat(task.json()["due_at"]) == NOW + timedelta(days=1)


def test_a_contacts_task_is_for_the_owner_of_the_lead_it_came_from(admin: httpx.Client) -> None:
    lead_id = a_lead(admin, owner="bob")
    contact_id = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100}).json()["contact_id"]
    task_id = added(admin, f"contacts/{contact_id}", NOW + timedelta(days=3), title="Send the invoice")
    task = admin.get(f"/v1/tasks/{task_id}").json()
    assert (task["aggregate_type"], task["aggregate_id"], task["owner"]) == ("contact", contact_id, "bob")


def test_a_retry_with_the_same_idempotency_key_is_200_with_the_same_task_and_appends_nothing(
    live: LiveServer, admin: httpx.Client
) -> None:
    lead_id = a_lead(admin)
    key = {"Idempotency-Key": "task-call-4711"}
    first = add(admin, f"leads/{lead_id}", NOW, headers=key)
    head = live.head()
    again = add(admin, f"leads/{lead_id}", NOW, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["task_id"] == first.json()["task_id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert live.head() == head
    other = problem(add(admin, f"leads/{lead_id}", NOW, title="Something else", headers=key), 409)
    assert other["differing_fields"] == ["title"] and other["existing_id"] == first.json()["task_id"]


def test_a_closed_lead_takes_no_task_and_an_unknown_record_none_either(live: LiveServer, admin: httpx.Client) -> None:
    won = a_lead(admin)
    admin.post(f"/v1/leads/{won}/convert", json={"deal_value": 100})
    head = live.head()
    assert problem(add(admin, f"leads/{won}", NOW), 409)["detail"].startswith(f"lead {won} was converted")
    assert problem(add(admin, "leads/0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21", NOW), 404)
    assert problem(add(admin, "contacts/0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21", NOW), 404)
    assert live.head() == head


# --- the list -----------------------------------------------------------------------------------


def test_the_list_filters_by_owner_status_and_due_time_and_knows_what_is_overdue(admin: httpx.Client) -> None:
    # given tasks of alice and bob, one of them late, one done
    alices, bobs = a_lead(admin, owner="alice"), a_lead(admin, owner="bob")
    late = added(admin, f"leads/{alices}", NOW - timedelta(days=2))
    today = added(admin, f"leads/{alices}", NOW + timedelta(hours=3))
    later = added(admin, f"leads/{bobs}", NOW + timedelta(days=5))
    done = added(admin, f"leads/{bobs}", NOW - timedelta(days=1))
    assert admin.post(f"/v1/tasks/{done}/complete").status_code == 200
    position = admin.post(f"/v1/tasks/{today}/reschedule", json={"due_at": iso(NOW + timedelta(days=1))}).json()[
        "position"
    ]

    # then the list answers soonest due first, with each filter and their combinations
    assert listed(admin, min_position=position) == [late, done, today, later]
    assert listed(admin, owner="alice") == [late, today]
    assert listed(admin, status="open") == [late, today, later]
    assert listed(admin, status="done") == [done]
    assert listed(admin, status="overdue") == [late]
    assert listed(admin, status="overdue", owner="bob") == []
    assert listed(admin, due_before=iso(NOW)) == [late, done]
    assert listed(admin, status="open", due_before=iso(NOW + timedelta(days=2))) == [late, today]
    items = {i["id"]: i for i in admin.get("/v1/tasks").json()["items"]}
    assert (items[late]["overdue"], items[done]["overdue"], items[today]["overdue"]) == (True, False, False)
    assert items[done]["status"] == "done" and items[done]["completed_at"] is not None


def test_the_list_pages_through_every_task_once_in_due_order(live: LiveServer, admin: httpx.Client) -> None:
    lead_id = a_lead(admin)
    made = [added(admin, f"leads/{lead_id}", NOW + timedelta(hours=h)) for h in (5, 1, 3, 2, 4)]
    first = admin.get("/v1/tasks", params={"limit": 2, "min_position": live.head()}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    assert listed(admin, limit=2) == [made[1], made[3], made[2], made[4], made[0]]
    assert admin.get("/v1/tasks", params={"limit": 5}).json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "late"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21").decode()}, "cursor"),
        ({"due_before": "tomorrow"}, "due_before"),
        ({"due_before": "3000-01-01T00:00:00Z"}, "due_before"),
        ({"limit": 0}, "limit"),
        ({"owner": "a b"}, "owner"),
    ],
)
def test_a_bad_list_parameter_is_a_422_naming_it(admin: httpx.Client, params: dict[str, Any], field: str) -> None:
    body = problem(admin.get("/v1/tasks", params=params), 422)
    assert [e["field"] for e in body["errors"]] == [field]


# --- completing and rescheduling ----------------------------------------------------------------


def test_completing_and_rescheduling_a_task_right_after_adding_it(live: LiveServer, admin: httpx.Client) -> None:
    lead_id = a_lead(admin)
    task_id = added(admin, f"leads/{lead_id}", NOW + timedelta(days=1))
    other = added(admin, f"leads/{lead_id}", NOW + timedelta(days=2))

    # a reschedule moves the due time (no min_position needed: the task is looked for until found)
    moved = admin.post(f"/v1/tasks/{other}/reschedule", json={"due_at": iso(NOW + timedelta(days=9))})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["task_id"], moved.json()["id"]) == (other, lead_id)
    shown = admin.get(f"/v1/tasks/{other}", params={"min_position": moved.json()["position"]}).json()
    assert datetime.fromisoformat(shown["due_at"]) > NOW + timedelta(days=8)

    # a completion marks it done, once
    done = admin.post(f"/v1/tasks/{task_id}/complete", json={})
    assert done.status_code == 200, done.text
    assert (
        admin.get(f"/v1/tasks/{task_id}", params={"min_position": done.json()["position"]}).json()["status"] == "done"
    )
    head = live.head()
    assert "cannot be completed" in problem(admin.post(f"/v1/tasks/{task_id}/complete"), 409)["detail"]
    assert (
        "cannot be rescheduled"
        in problem(admin.post(f"/v1/tasks/{task_id}/reschedule", json={"due_at": iso(NOW + timedelta(days=3))}), 409)[
            "detail"
        ]
    )
    assert live.head() == head

    history = [e["event_type"] for e in admin.get(f"/v1/leads/{lead_id}/history").json()["entries"]]
    assert history[-4:] == ["lead.task_created", "lead.task_created", "lead.task_rescheduled", "lead.task_completed"]


def test_an_unknown_task_is_404_everywhere(admin: httpx.Client) -> None:
    unknown = "c3a1e7d2-8f4b-4a6e-9b2d-5e0f1a7c3b94"
    assert problem(admin.get(f"/v1/tasks/{unknown}"), 404)["detail"] == f"task {unknown} not found"
    assert problem(admin.post(f"/v1/tasks/{unknown}/complete"), 404)
    assert problem(admin.post(f"/v1/tasks/{unknown}/reschedule", json={"due_at": iso(NOW)}), 404)


# --- who sees and changes which tasks -----------------------------------------------------------


def test_a_rep_sees_and_changes_only_their_own_tasks(live: LiveServer, admin: httpx.Client) -> None:
    alice, bob = live.client("alice", "rep"), live.client("bob", "rep")
    # given a lead of each, with a task for its owner, and a task for alice on bob's lead
    alices, bobs = a_lead(admin, owner="alice"), a_lead(admin, owner="bob")
    hers = added(alice, f"leads/{alices}", NOW + timedelta(days=1))
    his = added(bob, f"leads/{bobs}", NOW + timedelta(days=1))
    hers_on_his = added(admin, f"leads/{bobs}", NOW + timedelta(days=2), owner="alice")
    head = live.head()

    # then each rep lists only their own, and another's task is not found for them
    assert listed(alice, min_position=head) == [hers, hers_on_his] and listed(bob) == [his]
    assert problem(alice.get("/v1/tasks", params={"owner": "bob"}), 403)
    assert problem(alice.get(f"/v1/tasks/{his}"), 404)["detail"] == f"task {his} not found"
    assert problem(alice.post(f"/v1/tasks/{his}/complete"), 404)
    assert problem(alice.post(f"/v1/tasks/{his}/reschedule", json={"due_at": iso(NOW)}), 404)
    # nor may a rep add tasks on another's lead, or for someone else
    assert problem(add(alice, f"leads/{bobs}", NOW), 404)
    assert problem(add(alice, f"leads/{alices}", NOW, owner="bob"), 403)["detail"].endswith("for themselves")
    assert live.head() == head
    # but she completes her own task, even on bob's lead; a manager changes anyone's
    assert alice.post(f"/v1/tasks/{hers_on_his}/complete").status_code == 200
    assert live.client("maria", "manager").post(f"/v1/tasks/{his}/complete").status_code == 200


def test_an_analyst_reads_tasks_masked_and_changes_none(live: LiveServer, admin: httpx.Client) -> None:
    analyst = live.client("ana", "analyst")
    lead_id = a_lead(admin)
    task_id = added(admin, f"leads/{lead_id}", NOW, title="Ring +44 20 7946 0018", note="or ada@acme.example")
    seen = analyst.get(f"/v1/tasks/{task_id}").json()
    assert (seen["title"], seen["note"]) == ("Ring ***18", "or a***@acme.example")
    [item] = analyst.get("/v1/tasks", params={"min_position": live.head()}).json()["items"]
    assert (item["title"], item["note"]) == ("Ring ***18", "or a***@acme.example")
    history = repr(analyst.get(f"/v1/leads/{lead_id}/history").json())
    assert not any(form in history for form in LEAD_PHONE_FORMS)
    assert problem(add(analyst, f"leads/{lead_id}", NOW), 403)
    assert problem(analyst.post(f"/v1/tasks/{task_id}/complete"), 403)
    assert problem(live.client("svc", "service").get("/v1/tasks"), 403)


def test_reading_a_task_is_a_read_of_its_persons_data_in_the_access_log(live: LiveServer, admin: httpx.Client) -> None:
    lead_id = a_lead(admin)
    task_id = added(admin, f"leads/{lead_id}", NOW)
    live.client("ana", "analyst").get(f"/v1/tasks/{task_id}")
    live.access_log.flush()
    entries = admin.get("/v1/audit/access", params={"subject": lead_id, "user": "ana"}).json()["items"]
    assert [(e["role"], e["route"]) for e in entries] == [("analyst", "/v1/tasks/{task_id}")]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "due_at": "2026-03-03T09:00:00Z"}, "title"),
        ({"title": "   ", "due_at": "2026-03-03T09:00:00Z"}, "title"),
        ({"title": "x" * 201, "due_at": "2026-03-03T09:00:00Z"}, "title"),
        ({"title": "two\nlines", "due_at": "2026-03-03T09:00:00Z"}, "title"),
        ({"due_at": "2026-03-03T09:00:00Z"}, "title"),
        ({"title": "Call"}, "due_at"),
        ({"title": "Call", "due_at": "2026-03-03T09:00:00"}, "due_at"),
        ({"title": "Call", "due_at": "next week"}, "due_at"),
        ({"title": "Call", "due_at": "3001-01-01T00:00:00Z"}, "due_at"),
        ({"title": "Call", "due_at": "2026-03-03T09:00:00Z", "note": "x" * 2001}, "note"),
        ({"title": "Call", "due_at": "2026-03-03T09:00:00Z", "owner": "not a user"}, "owner"),
        (
            {"title": "Call", "due_at": "2026-03-03T09:00:00Z", "task_id": "c3a1e7d2-8f4b-4a6e-9b2d-5e0f1a7c3b94"},
            "task_id",
        ),
    ],
)
def test_a_bad_task_is_a_422_naming_the_field_and_stores_nothing(
    live: LiveServer, admin: httpx.Client, body: dict[str, Any], field: str
) -> None:
    lead_id = a_lead(admin)
    head = live.head()
    answer = problem(admin.post(f"/v1/leads/{lead_id}/tasks", json=body), 422)
    assert [e["field"] for e in answer["errors"]] == [field], answer
    assert live.head() == head
    assert listed(admin, min_position=head) == []


def test_a_bad_reschedule_is_a_422_naming_the_due_time_and_changes_nothing(
    live: LiveServer, admin: httpx.Client
) -> None:
    task_id = added(admin, f"leads/{a_lead(admin)}", NOW)
    head = live.head()
    for body in ({}, {"due_at": "soon"}, {"due_at": "2026-03-03T09:00:00"}):
        answer = problem(admin.post(f"/v1/tasks/{task_id}/reschedule", json=body), 422)
        assert [e["field"] for e in answer["errors"]] == ["due_at"], answer
    assert (
        problem(admin.post(f"/v1/tasks/{task_id}/complete", json={"done": True}), 422)["errors"][0]["field"] == "done"
    )
    assert live.head() == head
