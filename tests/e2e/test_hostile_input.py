"""Hostile input through the real server: JSON nested deep enough to exhaust a recursive parser,
business times whose time-zone arithmetic overflows, and text with bidirectional controls or
line separators. Each is a 4xx naming what is wrong, never a 500, and appends nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LEAD, LiveServer, problem

JSON = {"Content-Type": "application/json"}


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


DEEP_BODIES = {
    "10,000 arrays": nested(10_000),
    "10,000 objects": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "10,000 arrays around a NUL": nested(10_000, b'"\\u0000"'),
    "deep arrays in a field": b'{"name": ' + nested(5_000) + b', "source": "web_form"}',
    "33 levels": nested(33),
}


@pytest.fixture
def admin(live: LiveServer) -> httpx.Client:
    return live.client()


def a_lead_and_its_contact(admin: httpx.Client) -> tuple[str, str, str]:
    """A lead, a converted lead and its contact."""
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    won = admin.post("/v1/leads", json={**LEAD, "email": "grace@navy.example"}).json()["id"]
    contact_id = admin.post(f"/v1/leads/{won}/convert", json={"deal_value": 100}).json()["contact_id"]
    return lead_id, won, contact_id


def test_json_nested_too_deeply_is_a_400_problem_and_appends_nothing(live: LiveServer, admin: httpx.Client) -> None:
    lead_id, _, contact_id = a_lead_and_its_contact(admin)
    head = live.head()

    for case, body in DEEP_BODIES.items():
        for method, path in (
            ("POST", "/v1/leads"),
            ("POST", f"/v1/leads/{lead_id}/interactions"),
            ("PATCH", f"/v1/contacts/{contact_id}"),
        ):
            answer = problem(admin.request(method, path, content=body, headers=JSON), 400)
            assert answer["type"].endswith("/malformed-json"), (case, path)
            assert "more than 32 levels deep" in answer["detail"], (case, answer)
            assert answer["request_id"]

    assert live.head() == head
    # 32 levels is still JSON the API reads (and refuses as the wrong shape)
    assert problem(admin.post("/v1/leads", content=nested(32), headers=JSON), 422)


OUT_OF_RANGE = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "9999-12-31T23:59:59-05:00",
]


def commands_at(when: str, lead_id: str, contact_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every command route, with `occurred_at` set to `when`."""
    at = {"occurred_at": when}
    lead, contact = f"/v1/leads/{lead_id}", f"/v1/contacts/{contact_id}"
    return [
        ("POST", "/v1/leads", {**LEAD, **at}),
        ("POST", f"{lead}/interactions", {"kind": "call", **at}),
        ("POST", f"{lead}/stage", {"stage": "contacted", **at}),
        ("POST", f"{lead}/assign", {"owner": "bob", **at}),
        ("POST", f"{lead}/disqualify", {"reason": "no budget", **at}),
        ("POST", f"{lead}/convert", {"deal_value": 100, **at}),
        ("POST", f"{lead}/rescore", at),
        ("POST", "/v1/contacts", {"name": "Hedy Lamarr", **at}),
        ("PATCH", contact, {"title": "Inventor", **at}),
        ("POST", f"{contact}/interactions", {"kind": "support", **at}),
        ("POST", f"{contact}/purchases", {"order_id": "o-1", "amount": 100, **at}),
        ("POST", f"{contact}/consent", {"channel": "email", "granted": True, **at}),
        ("POST", f"{contact}/reactivate", {"interest": "more", **at}),
    ]


def test_an_occurred_at_outside_the_years_1900_to_2999_is_a_422_naming_it_on_every_command(
    live: LiveServer, admin: httpx.Client
) -> None:
    lead_id, _, contact_id = a_lead_and_its_contact(admin)
    head = live.head()

    for when in OUT_OF_RANGE:
        for method, path, body in commands_at(when, lead_id, contact_id):
            answer = problem(admin.request(method, path, json=body), 422)
            assert [e["field"] for e in answer["errors"]] == ["occurred_at"], (method, path, when, answer)
            assert "between the years 1900 and 2999" in answer["errors"][0]["message"]

    assert live.head() == head


def test_reading_as_of_a_time_outside_the_years_served_is_a_422_naming_as_of(
    live: LiveServer, admin: httpx.Client
) -> None:
    lead_id, _, contact_id = a_lead_and_its_contact(admin)

    for path in (f"/v1/leads/{lead_id}", f"/v1/contacts/{contact_id}"):
        for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"):
            answer = problem(admin.get(path, params={"as_of": when}), 422)
            assert [e["field"] for e in answer["errors"]] == ["as_of"], (path, when)
    assert admin.get(f"/v1/leads/{lead_id}", params={"as_of": "2999-01-01T00:00:00Z"}).status_code == 200


def test_bidi_controls_and_line_separators_in_names_and_other_single_line_text_are_422_naming_the_field(
    live: LiveServer, admin: httpx.Client
) -> None:
    lead_id, _, contact_id = a_lead_and_its_contact(admin)
    head = live.head()
    cases = [
        ("POST", "/v1/leads", {**LEAD, "name": "Ada \u202eecalevoL"}, "name"),
        ("POST", "/v1/leads", {**LEAD, "name": "Ada\u2028Lovelace"}, "name"),
        ("POST", "/v1/leads", {**LEAD, "company": "Acme\u2029Corp"}, "company"),
        ("POST", "/v1/leads", {**LEAD, "title": "\u2066CTO\u2069 "}, "title"),
        ("POST", "/v1/leads", {**LEAD, "campaign": "spring\u200flaunch"}, "campaign"),
        ("POST", "/v1/leads", {**LEAD, "owner": "bob\u202e"}, "owner"),
        ("POST", "/v1/contacts", {"name": "Hedy\u061cLamarr", "email": "hedy@example.org"}, "name"),
        ("POST", "/v1/contacts", {"name": "Hedy", "external_id": "x\u2028y"}, "external_id"),
        ("PATCH", f"/v1/contacts/{contact_id}", {"company": "Navy\u202dLab"}, "company"),
        ("POST", f"/v1/contacts/{contact_id}/reactivate", {"interest": "x", "campaign": "a\u2028b"}, "campaign"),
        ("POST", f"/v1/leads/{lead_id}/interactions", {"kind": "call", "detail": "pay \u202e00.001$"}, "detail"),
        ("POST", f"/v1/leads/{lead_id}/disqualify", {"reason": "no\u2067 budget"}, "reason"),
        ("POST", f"/v1/contacts/{contact_id}/reactivate", {"interest": "add-on\u200e"}, "interest"),
        ("POST", "/v1/users", {"id": "rep-eve", "name": "Eve\u202eLyn", "role": "rep"}, "name"),
        ("PATCH", "/v1/users/alice", {"name": "Alice\u2028Smith"}, "name"),
        (
            "PUT",
            "/v1/assignment-rules",
            {"rules": [{"name": "dach\u202e", "strategy": "round_robin", "reps": ["alice"]}]},
            "rules.0.name",
        ),
        (
            "PUT",
            "/v1/assignment-rules",
            {
                "rules": [
                    {"name": "a", "when": {"campaigns": ["x\u2066y"]}, "strategy": "round_robin", "reps": ["alice"]}
                ]
            },
            "rules.0.when.campaigns.0",
        ),
    ]

    for method, path, body, field in cases:
        answer = problem(admin.request(method, path, json=body), 422)
        assert [e["field"] for e in answer["errors"]] == [field], (body, answer)

    assert live.head() == head
    # free text keeps its line breaks, and right-to-left script itself is welcome
    multi_line = admin.post(
        f"/v1/leads/{lead_id}/interactions", json={"kind": "call", "detail": "first\nsecond\u2028third"}
    )
    assert multi_line.status_code == 200, multi_line.text
    arabic = admin.post("/v1/leads", json={**LEAD, "name": "محمد عبد الله"})
    assert arabic.status_code == 201, arabic.text
