"""Merging duplicates over HTTP: a lead or contact merged into its survivor and unmerged again,
the refusals (409, 422) and who may merge (403)."""

from __future__ import annotations

from uuid import uuid4

import httpx

from tests.e2e.conftest import LEAD, LiveServer, problem


def a_lead(client: httpx.Client, **fields: object) -> str:
    captured = client.post("/v1/leads", json={**LEAD, **fields})
    assert captured.status_code == 201, captured.text
    return str(captured.json()["id"])


def a_contact(client: httpx.Client, name: str = "Grace Hopper") -> str:
    created = client.post("/v1/contacts", json={"name": name, "email": "grace@navy.example"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_a_manager_merges_a_duplicate_lead_and_unmerges_it_again(live: LiveServer) -> None:
    manager = live.client("maria", "manager")
    duplicate, survivor = a_lead(manager), a_lead(manager, name="Ada King")
    assert manager.post(f"/v1/leads/{duplicate}/interactions", json={"kind": "demo"}).is_success
    version = manager.get(f"/v1/leads/{duplicate}").headers["ETag"]

    merged = manager.post(f"/v1/leads/{duplicate}/merge", json={"into": survivor}, headers={"If-Match": version})

    assert merged.status_code == 200, merged.text
    assert merged.json()["related_id"] == survivor and merged.json()["position"] == live.head()
    assert manager.get(f"/v1/leads/{duplicate}").json()["merged_into"] == survivor
    assert manager.get(f"/v1/leads/{survivor}").json()["absorbed"] == [duplicate]
    assert manager.get(f"/v1/leads/{duplicate}/history").json()["entries"][-1]["event_type"] == "lead.merged_into"
    listed = manager.get("/v1/leads", params={"min_position": merged.json()["position"]}).json()["items"]
    assert [(item["id"], item["absorbed_interactions"]) for item in listed] == [(survivor, 1)]
    absorbed = manager.get(f"/v1/leads/{survivor}/history").json()["entries"][-1]
    assert absorbed["event_type"] == "lead.absorbed" and absorbed["data"]["interactions"] == 1
    # a merged duplicate refuses other commands, naming its survivor
    head = live.head()
    refused = problem(manager.post(f"/v1/leads/{duplicate}/stage", json={"stage": "contacted"}), 409)
    assert refused["type"].endswith("/merged") and survivor in refused["detail"]
    assert live.head() == head

    unmerged = manager.post(f"/v1/leads/{duplicate}/unmerge")

    assert unmerged.status_code == 200, unmerged.text
    assert manager.get(f"/v1/leads/{duplicate}").json()["merged_into"] is None
    assert manager.get(f"/v1/leads/{survivor}").json()["absorbed"] == []
    listed = manager.get("/v1/leads", params={"min_position": unmerged.json()["position"]}).json()["items"]
    assert sorted(item["id"] for item in listed) == sorted([duplicate, survivor])
    assert manager.post(f"/v1/leads/{duplicate}/stage", json={"stage": "contacted"}).is_success


def test_merges_that_break_a_rule_are_409_or_422_and_append_nothing(live: LiveServer) -> None:
    admin = live.client()
    duplicate, survivor, other = a_lead(admin), a_lead(admin), a_lead(admin)
    won = a_lead(admin)
    assert admin.post(f"/v1/leads/{won}/convert", json={"deal_value": 1_000}).is_success
    head = live.head()

    itself = problem(admin.post(f"/v1/leads/{duplicate}/merge", json={"into": duplicate}), 422)
    missing = problem(admin.post(f"/v1/leads/{duplicate}/merge", json={"into": str(uuid4())}), 422)
    bad = problem(admin.post(f"/v1/leads/{duplicate}/merge", json={"into": "nobody"}), 422)
    into_won = problem(admin.post(f"/v1/leads/{duplicate}/merge", json={"into": won}), 409)
    not_merged = problem(admin.post(f"/v1/leads/{duplicate}/unmerge"), 409)

    assert [e["field"] for e in itself["errors"]] == ["into"]
    assert [e["field"] for e in missing["errors"]] == ["into"] and [e["field"] for e in bad["errors"]] == ["into"]
    assert "converted" in into_won["detail"] and "not merged" in not_merged["detail"]
    assert live.head() == head
    # a merged lead is no survivor, and a survivor holding a duplicate is not merged itself
    assert admin.post(f"/v1/leads/{duplicate}/merge", json={"into": survivor}).is_success
    head = live.head()
    into_merged = problem(admin.post(f"/v1/leads/{other}/merge", json={"into": duplicate}), 409)
    holding = problem(admin.post(f"/v1/leads/{survivor}/merge", json={"into": other}), 409)
    stale = admin.post(f"/v1/leads/{duplicate}/unmerge", headers={"If-Match": '"1"'})
    assert into_merged["type"].endswith("/merged") and "holds merged duplicates" in holding["detail"]
    assert problem(stale, 409)["type"].endswith("/version-conflict")
    assert live.head() == head


def test_only_managers_and_admins_merge_and_unmerge(live: LiveServer) -> None:
    admin = live.client()
    duplicate, survivor = a_lead(admin, owner="alice"), a_lead(admin, owner="alice")
    contact, other_contact = a_contact(admin), a_contact(admin)
    head = live.head()
    for role in ("rep", "analyst", "service", "privacy"):
        caller = live.client("alice" if role == "rep" else f"a-{role}", role)
        for path, body in (
            (f"/v1/leads/{duplicate}/merge", {"into": survivor}),
            (f"/v1/leads/{duplicate}/unmerge", {}),
            (f"/v1/contacts/{contact}/merge", {"into": other_contact}),
            (f"/v1/contacts/{contact}/unmerge", {}),
        ):
            assert problem(caller.post(path, json=body), 403)["type"].endswith("/forbidden"), (role, path)
    assert live.head() == head
    assert live.client("maria", "manager").post(f"/v1/leads/{duplicate}/merge", json={"into": survivor}).is_success


def test_a_duplicate_contact_is_merged_refuses_purchases_and_is_unmerged(live: LiveServer) -> None:
    manager = live.client("maria", "manager")
    duplicate, survivor = a_contact(manager), a_contact(manager, "Grace B. Hopper")

    merged = manager.post(f"/v1/contacts/{duplicate}/merge", json={"into": survivor})

    assert merged.status_code == 200, merged.text
    assert manager.get(f"/v1/contacts/{duplicate}").json()["merged_into"] == survivor
    assert manager.get(f"/v1/contacts/{survivor}").json()["absorbed"] == [duplicate]
    purchase = {"order_id": "o-1", "amount": 4_999, "currency": "USD"}
    refused = problem(manager.post(f"/v1/contacts/{duplicate}/purchases", json=purchase), 409)
    assert refused["type"].endswith("/merged") and survivor in refused["detail"]
    assert problem(manager.post(f"/v1/contacts/{duplicate}/merge", json={"into": survivor}), 409)

    assert manager.post(f"/v1/contacts/{duplicate}/unmerge").status_code == 200
    assert manager.get(f"/v1/contacts/{duplicate}").json()["merged_into"] is None
    assert manager.post(f"/v1/contacts/{duplicate}/purchases", json=purchase).is_success
    itself = problem(manager.post(f"/v1/contacts/{duplicate}/merge", json={"into": duplicate}), 422)
    assert [e["field"] for e in itself["errors"]] == ["into"]
