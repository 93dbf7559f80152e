"""Erasure and export over HTTP: who may, what the person's records read afterwards, and what an
export holds."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.conftest import LEAD, LiveServer, problem

REASON = {"reason": "data subject request 2026-117"}


def a_customer(live: LiveServer) -> tuple[str, str]:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "call", "detail": "spoke to Ada on +44 20 7946 0018"})
    converted = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 2_400_000})
    assert converted.status_code == 200, converted.text
    return lead_id, converted.json()["contact_id"]


def test_the_privacy_role_exports_a_person_and_then_erases_them_everywhere(live: LiveServer) -> None:
    lead_id, contact_id = a_customer(live)
    dpo = live.client("dana", "privacy")

    exported = dpo.get(f"/v1/contacts/{contact_id}/export")
    assert exported.status_code == 200, exported.text
    export = exported.json()
    assert [c["email"] for c in export["contacts"]] == [LEAD["email"]]
    assert [lead["id"] for lead in export["leads"]] == [lead_id]
    assert {h["id"] for h in export["histories"]} == {lead_id, contact_id}
    assert "+44 20 7946 0018" in exported.text  # the interaction's detail is theirs too

    erased = dpo.post(f"/v1/contacts/{contact_id}/erase", json=REASON)
    assert erased.status_code == 200, erased.text
    assert set(erased.json()["erased_ids"]) == {lead_id, contact_id}
    assert erased.headers["ETag"] == f'"{erased.json()["version"]}"'

    admin = live.client()
    lead = admin.get(f"/v1/leads/{lead_id}").json()
    assert (lead["name"], lead["email"], lead["phone"], lead["title"]) == ("[erased]", None, None, None)
    assert (lead["stage"], lead["deal_value"]) == ("converted", 2_400_000)  # the numbers stay
    history = admin.get(f"/v1/leads/{lead_id}/history").json()["entries"]
    assert history[-1]["event_type"] == "lead.erased" and history[-1]["data"] == REASON
    assert "Ada" not in admin.get(f"/v1/leads/{lead_id}/history").text
    assert "Ada" not in admin.get(f"/v1/contacts/{contact_id}/export").text
    listed = admin.get("/v1/leads", params={"min_position": erased.json()["position"]}).json()["items"]
    assert [item["name"] for item in listed if item["id"] == lead_id] == ["[erased]"]
    # an erased person's records take no more commands, and erasing again appends nothing
    assert problem(admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "call"}), 409)
    again = dpo.post(f"/v1/leads/{lead_id}/erase", json=REASON)
    assert again.status_code == 200 and again.json()["position"] is None


def test_only_admins_and_the_privacy_role_may_erase_or_export(live: LiveServer) -> None:
    lead_id, contact_id = a_customer(live)
    for role in ("manager", "rep", "analyst", "service"):
        client = live.client(f"someone-{role}", role)
        assert problem(client.post(f"/v1/leads/{lead_id}/erase", json=REASON), 403), role
        assert problem(client.get(f"/v1/contacts/{contact_id}/export"), 403), role
    assert live.client().get(f"/v1/leads/{lead_id}").json()["name"] == LEAD["name"]  # nothing was erased


def test_an_erasure_needs_a_reason_and_the_right_kind_of_record(live: LiveServer) -> None:
    lead_id, contact_id = a_customer(live)
    dpo = live.client("dana", "privacy")
    missing = problem(dpo.post(f"/v1/leads/{lead_id}/erase", json={}), 422)
    assert [e["field"] for e in missing["errors"]] == ["reason"]
    assert problem(dpo.post(f"/v1/leads/{lead_id}/erase", json={"reason": "no\nnewlines"}), 422)
    assert problem(dpo.post(f"/v1/leads/{contact_id}/erase", json=REASON), 404)  # a contact is not a lead
    assert problem(dpo.get(f"/v1/contacts/{lead_id}/export"), 404)
    assert live.client().get(f"/v1/leads/{lead_id}").json()["name"] == LEAD["name"]


def test_personal_data_never_reaches_the_logs(live: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    lead_id, contact_id = a_customer(live)  # captures, logs a call with a phone number, converts
    analyst = live.client("ana", "analyst")
    analyst.get(f"/v1/leads/{lead_id}/history")
    live.client("eve", "rep").get(f"/v1/leads/{lead_id}")  # a denial, logged
    live.client().post("/v1/leads", json={**LEAD, "email": "not-an-email"})  # a refused body, logged
    live.client("dana", "privacy").post(f"/v1/contacts/{contact_id}/erase", json=REASON)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "auth.denied" in logged, "the denial was not captured: the check below would prove nothing"
    for secret in (LEAD["name"], LEAD["email"], LEAD["phone"], "7946 0018"):
        assert secret not in logged, secret
