"""The headers the OpenAPI document declares are the ones the app sends: a flow through most
operations, each answer held against its operation's declared response headers (`ETag`,
`Location`, `Idempotent-Replayed`, `X-Request-ID`, `WWW-Authenticate`, `Retry-After`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import bootstrap, following_read_models, open_identity_locks, webhook_desk
from services.settings import Settings
from services.storage.access_log import MemoryAccessLog
from services.storage.tokens import MemoryTokenStore

ALWAYS_SENT = ("X-Request-ID", "ETag", "Location", "Idempotent-Replayed", "WWW-Authenticate")
"""Headers sent whenever the document declares them for the status answered."""
SOMETIMES_SENT = ("Retry-After",)
"""Headers the document declares for a status that some of its answers send (a 503 of the
database does; one of a server without read models does not)."""


class Checked:
    """An admin's client whose every answer is checked against the document's headers."""

    def __init__(self, client: TestClient, spec: dict[str, Any]) -> None:
        self.client = client
        self.spec = spec
        self.routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in spec["paths"]]
        self.checked: set[str] = set()

    def __call__(self, method: str, url: str, status: int, **kwargs: Any) -> httpx.Response:
        """Send a request; assert its status and that its headers are the declared ones."""
        response = self.client.request(method, url, **kwargs)
        assert response.status_code == status, response.text
        path = next(template for pattern, template in self.routes if pattern.match(url.split("?")[0]))
        label = f"{method} {path} {status}"
        declared = self.spec["paths"][path][method.lower()]["responses"][str(status)].get("headers", {})
        for name in ALWAYS_SENT + SOMETIMES_SENT:
            if name in response.headers:
                assert name in declared, f"{label}: sends {name}, which its OpenAPI response does not declare"
            elif name in ALWAYS_SENT:
                assert name not in declared, f"{label}: declares {name}, which it does not send"
        self.checked.add(f"{method} {path}")
        return response


@pytest.fixture
def send() -> Iterator[Checked]:
    """An admin's checked client of the API over an in-memory store, webhook subscriptions too
    (to loopback addresses: nothing is delivered here, and nothing need resolve)."""
    settings = Settings(database_url="memory://", webhooks_allow_private_networks=True)
    crm = bootstrap(settings)
    tokens = MemoryTokenStore()
    try:
        with webhook_desk(crm, settings) as webhooks:
            app = create_app(crm, tokens, access_log=MemoryAccessLog(), webhooks=webhooks)
            with TestClient(app, headers={"Authorization": f"Bearer {tokens.issue('root', 'admin')}"}) as client:
                yield Checked(client, app.openapi())
    finally:
        crm.close()


@contextmanager
def with_read_models(tmp_path: Path, role: str) -> Iterator[Checked]:
    """A checked client in `role` of the API over a SQLite store whose read models it follows
    (the inbound routes read the people index)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}")
    crm = bootstrap(settings)
    tokens = MemoryTokenStore()
    try:
        with following_read_models(crm, settings) as read_side:
            app = create_app(
                crm,
                tokens,
                read_models=read_side.queries,
                wait_for=read_side.wait_for,
                access_log=MemoryAccessLog(),
                identity_locks=open_identity_locks(settings),
            )
            with TestClient(app, headers={"Authorization": f"Bearer {tokens.issue('forms', role)}"}) as client:
                yield Checked(client, app.openapi())
    finally:
        crm.close()


def test_every_answer_sends_the_headers_its_operation_declares_and_no_others(send: Checked, tmp_path: Path) -> None:
    send("GET", "/healthz", 200)
    send("GET", "/readyz", 200)
    send("GET", "/metrics", 200)
    send("GET", "/v1/leads/00000000-0000-0000-0000-000000000000", 401, headers={"Authorization": ""})
    send("GET", "/v1/pipeline", 503)  # no read models in this process

    send("POST", "/v1/users", 201, json={"id": "rep-anna", "name": "Anna Berg", "role": "rep"})
    send("POST", "/v1/users", 201, json={"id": "rep-ben", "name": "Ben Ode", "role": "rep"})
    send("GET", "/v1/users", 200)
    send("GET", "/v1/users/rep-anna", 200)
    send("PATCH", "/v1/users/rep-anna", 200, json={"daily_capacity": 20})
    rules = send("GET", "/v1/assignment-rules", 200)
    send("PUT", "/v1/assignment-rules", 200, json={"rules": []}, headers={"If-Match": rules.headers["ETag"]})

    lead = {"name": "Ada Lovelace", "email": "ada@acme.example", "source": "web_form", "owner": "rep-anna"}
    lead_id = send("POST", "/v1/leads", 201, json=lead, headers={"Idempotency-Key": "k-1"}).json()["id"]
    send("POST", "/v1/leads", 200, json=lead, headers={"Idempotency-Key": "k-1"})
    send("GET", f"/v1/leads/{lead_id}", 200)
    send("GET", f"/v1/leads/{lead_id}/history", 200)
    send("POST", f"/v1/leads/{lead_id}/interactions", 200, json={"kind": "demo"})
    send("POST", f"/v1/leads/{lead_id}/consent", 200, json={"channel": "email", "granted": True})
    send("POST", f"/v1/leads/{lead_id}/stage", 200, json={"stage": "qualified"})
    send("POST", f"/v1/leads/{lead_id}/assign", 200, json={"owner": "rep-ben"})
    send("POST", f"/v1/leads/{lead_id}/rescore", 200)
    task = {"title": "Call back", "due_at": "2030-03-03T09:00:00Z"}
    send("POST", f"/v1/leads/{lead_id}/tasks", 201, json=task, headers={"Idempotency-Key": "t-1"})
    send("POST", f"/v1/leads/{lead_id}/tasks", 200, json=task, headers={"Idempotency-Key": "t-1"})
    contact_id = send("POST", f"/v1/leads/{lead_id}/convert", 200, json={"deal_value": 1000}).json()["contact_id"]

    send("GET", f"/v1/contacts/{contact_id}", 200)
    send("GET", f"/v1/contacts/{contact_id}/history", 200)
    send("PATCH", f"/v1/contacts/{contact_id}", 200, json={"company": "Initech"})
    send("POST", f"/v1/contacts/{contact_id}/interactions", 200, json={"kind": "meeting"})
    send("POST", f"/v1/contacts/{contact_id}/purchases", 200, json={"order_id": "A-1", "amount": 4990})
    send("POST", f"/v1/contacts/{contact_id}/consent", 200, json={"channel": "sms", "granted": False})
    send("POST", f"/v1/contacts/{contact_id}/tasks", 201, json=task)
    again = {"interest": "the add-on"}
    send("POST", f"/v1/contacts/{contact_id}/reactivate", 201, json=again, headers={"Idempotency-Key": "r-1"})
    send("POST", f"/v1/contacts/{contact_id}/reactivate", 200, json=again, headers={"Idempotency-Key": "r-1"})
    contact = {"name": "Grace Hopper", "email": "grace@navy.example"}
    send("POST", "/v1/contacts", 201, json=contact, headers={"Idempotency-Key": "c-1"})
    send("POST", "/v1/contacts", 200, json=contact, headers={"Idempotency-Key": "c-1"})
    send("GET", f"/v1/contacts/{contact_id}/export", 200)
    send("POST", f"/v1/contacts/{contact_id}/erase", 200, json={"reason": "data subject request 2026-117"})

    sequence = {"name": "event-follow-up", "steps": [{"wait_days": 1, "email": {"template": "fair-thanks"}}]}
    send("POST", "/v1/sequences", 201, json=sequence)
    send("GET", "/v1/sequences", 200)
    send("GET", "/v1/sequences/event-follow-up", 200)
    other = send("POST", "/v1/leads", 201, json={**lead, "email": "alan@acme.example"}).json()["id"]
    send("POST", f"/v1/leads/{other}/enrolments", 200, json={"sequence": "event-follow-up"})
    send("POST", f"/v1/leads/{other}/enrolments/exit", 200, json={"sequence": "event-follow-up"})
    send("POST", f"/v1/leads/{other}/disqualify", 200, json={"reason": "no budget"})
    send("POST", f"/v1/leads/{other}/erase", 200, json={"reason": "data subject request 2026-118"})
    send("GET", "/v1/audit/access", 200)
    cost = {"amount": 250000, "currency": "USD", "note": "trade fair booth"}
    send("POST", "/v1/campaigns/spring-launch/costs", 201, json=cost, headers={"Idempotency-Key": "s-1"})
    send("POST", "/v1/campaigns/spring-launch/costs", 200, json=cost, headers={"Idempotency-Key": "s-1"})
    send("GET", "/v1/campaigns/spring-launch/costs", 200)

    hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["lead.*"]}
    hook_id = send("POST", "/v1/webhooks", 201, json=hook).json()["id"]
    send("GET", "/v1/webhooks", 200)
    send("GET", f"/v1/webhooks/{hook_id}", 200)
    send("PATCH", f"/v1/webhooks/{hook_id}", 200, json={"active": False})
    send("POST", f"/v1/webhooks/{hook_id}/rotate-secret", 200)
    send("GET", f"/v1/webhooks/{hook_id}/deliveries", 200)
    send("POST", f"/v1/webhooks/{hook_id}/replay", 202, json={"from_position": 1})
    send("DELETE", f"/v1/webhooks/{hook_id}", 204)

    with with_read_models(tmp_path, "service") as forms:
        form = {"name": "Ada Lovelace", "email": "ada@acme.example", "campaign": "spring-launch"}
        forms("POST", "/v1/inbound/leads", 201, json=form)
        forms("POST", "/v1/inbound/leads", 200, json=form)
        forms("POST", "/v1/inbound/interactions", 200, json={"email": "ada@acme.example", "kind": "email_open"})
        send.checked |= forms.checked

    declaring = {
        f"{method.upper()} {path}"
        for path, methods in send.spec["paths"].items()
        for method, operation in methods.items()
        if any(
            set(response.get("headers", {})) & {"ETag", "Location", "Idempotent-Replayed"}
            for response in operation["responses"].values()
        )
    }
    unchecked = sorted(declaring - send.checked)
    assert not unchecked, (
        f"add a request of these operations to this flow, to check the headers they declare: {unchecked}"
    )
