"""Webhook subscriptions over HTTP: /v1/webhooks, admins only; the signing secret is shown when
it is issued and never again; event-type filters come from the catalogue; URLs the CRM must not
call are a 422 naming `url`; every change is an event of the subscription."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from consumers.envelope import encode, envelope_of
from consumers.event_log import read_records
from projections.event_record import EventRecord
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.settings import Settings
from services.storage.access_log import MemoryAccessLog
from services.storage.tokens import MemoryTokenStore
from tests.e2e.conftest import LiveServer, live_server, problem, running
from tests.support.processes import free_loopback_port
from tests.support.webhook_receiver import receiving


def events_of(server: LiveServer, aggregate_id: str) -> list[EventRecord]:
    """The log's events of one aggregate, in order."""
    return [r for r in read_records(server.crm, 1, 10_000) if str(r.aggregate_id) == aggregate_id]


ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

HOOK = {"url": "https://hooks.example.org/crm", "event_types": ["lead.*", "contact.created"], "description": "billing"}


@pytest.fixture
def lab(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """The API over a fresh store, with webhooks allowed to name loopback addresses (tests)."""
    monkeypatch.setenv("CRM_WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "true")
    with live_server(database_url) as server:
        yield server


def test_an_admin_subscribes_and_sees_the_secret_once(lab: LiveServer) -> None:
    admin = lab.client()
    # when an admin subscribes a tool
    created = admin.post("/v1/webhooks", json=HOOK)
    # then the answer carries a Standard Webhooks secret, and the subscription as given
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > len("whsec_") + 32
    assert (body["url"], body["event_types"], body["description"], body["active"]) == (
        HOOK["url"],
        HOOK["event_types"],
        "billing",
        True,
    )
    assert created.headers["Location"] == f"/v1/webhooks/{body['id']}"
    # but reading it again never shows the secret
    read = admin.get(f"/v1/webhooks/{body['id']}")
    assert read.status_code == 200 and "secret" not in read.json()
    assert read.json() == {k: v for k, v in body.items() if k != "secret"}
    listed = admin.get("/v1/webhooks").json()["items"]
    assert [item["id"] for item in listed] == [body["id"]] and "secret" not in listed[0]
    # and the secret is in no event of the log
    published = [encode(envelope_of(r)) for r in events_of(lab, body["id"])]
    assert len(published) == 1 and body["secret"].encode() not in published[0]
    assert json.loads(published[0])["event_type"] == "webhook.subscribed"


def test_changes_rotation_and_deletion_are_events_of_the_subscription(lab: LiveServer) -> None:
    admin = lab.client()
    hook = admin.post("/v1/webhooks", json=HOOK).json()
    url = f"/v1/webhooks/{hook['id']}"
    changed = admin.patch(url, json={"event_types": ["*"], "active": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["event_types"], changed.json()["active"]) == (["*"], False)
    rotated = admin.post(f"{url}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["secret"].startswith("whsec_") and new["secret"] != hook["secret"]
    assert new["previous_key_id"] == hook["key_id"] and new["key_id"] != hook["key_id"]
    assert new["previous_valid_until"] is not None
    assert admin.delete(url).status_code == 204
    problem(admin.get(url), 404)
    assert admin.get("/v1/webhooks").json()["items"] == []
    types = [r.event_type for r in events_of(lab, hook["id"])]
    assert types == ["webhook.subscribed", "webhook.changed", "webhook.secret_rotated", "webhook.deleted"]


@pytest.mark.parametrize("role", ["manager", "rep", "analyst", "service", "privacy"])
def test_only_admins_manage_webhooks(lab: LiveServer, role: str) -> None:
    hook = lab.client().post("/v1/webhooks", json=HOOK).json()
    other = lab.client("someone", role)
    problem(other.post("/v1/webhooks", json=HOOK), 403)
    problem(other.get("/v1/webhooks"), 403)
    problem(other.get(f"/v1/webhooks/{hook['id']}"), 403)
    problem(other.post(f"/v1/webhooks/{hook['id']}/rotate-secret"), 403)
    problem(other.delete(f"/v1/webhooks/{hook['id']}"), 403)


@pytest.mark.parametrize(
    ("event_types", "field"),
    [(["lead.nonsense"], "event_types.0"), (["lead.*", "nobody.*"], "event_types.1"), ([], "event_types")],
)
def test_an_event_type_filter_outside_the_catalogue_is_a_422_and_stores_nothing(
    lab: LiveServer, event_types: list[str], field: str
) -> None:
    admin = lab.client()
    head = lab.head()
    refused = admin.post("/v1/webhooks", json={**HOOK, "event_types": event_types})
    assert [e["field"] for e in problem(refused, 422)["errors"]] == [field]
    assert lab.head() == head


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.org/crm",
        "https://127.0.0.1/crm",
        "https://localhost:8443/crm",
        "https://10.1.2.3/crm",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/crm",
        "https://192.168.0.10/crm",
        "ftp://hooks.example.org/crm",
    ],
)
def test_a_url_the_crm_must_not_call_is_a_422_naming_url(database_url: str, url: str) -> None:
    # given a server that keeps webhooks off private networks (the default)
    with live_server(database_url) as server:
        admin = server.client()
        head = server.head()
        refused = admin.post("/v1/webhooks", json={**HOOK, "url": url})
        assert [e["field"] for e in problem(refused, 422)["errors"]] == ["url"]
        assert server.head() == head
        assert admin.get("/v1/webhooks").json()["items"] == []
        assert not Settings().webhooks_allow_private_networks


def eventually(read: Callable[[], T], ready: Callable[[T], bool], seconds: float = 10) -> T:
    """What `read` gives once `ready` holds of it; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not ready(value := read()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {value!r}"
        time.sleep(0.05)
    return value


@contextmanager
def crm_serve(database_url: str, cwd: Path) -> Iterator[httpx.Client]:
    """`crm serve` as an operator starts it (webhooks allowed onto loopback), with an admin
    token issued by `crm token issue`; an admin's client once it answers /readyz."""
    env = {
        **os.environ,
        "CRM_DATABASE_URL": database_url,
        "CRM_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "CRM_AUTOMATION_POLL_SECONDS": "0.05",
        "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the working directory
    }
    cli = [sys.executable, "-m", "services.cli"]
    issued = subprocess.run(
        [*cli, "token", "issue", "--user", "root", "--role", "admin"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert issued.returncode == 0, issued.stderr
    port = free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {issued.stdout.strip()}"}, trust_env=False, timeout=10
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"crm serve exited {server.returncode}"
            assert time.monotonic() < deadline, "crm serve did not answer /readyz"
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield client
    finally:
        client.close()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_crm_serve_delivers_lists_the_attempts_and_replays(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    with receiving() as receiver, crm_serve(database_url, tmp_path) as admin:
        # given a subscription to lead captures, made over HTTP
        created = admin.post("/v1/webhooks", json={"url": receiver.url, "event_types": ["lead.captured"]})
        assert created.status_code == 201, created.text
        hook = created.json()
        receiver.secrets.append(hook["secret"])
        # when a lead is captured, then the server itself delivers it, signed
        lead = admin.post("/v1/leads", json={"name": "Ada Lovelace", "email": "ada@acme.example", "source": "event"})
        assert lead.status_code == 201, lead.text
        (delivery,) = receiver.wait_for(1)
        assert delivery.verified_with == (hook["secret"],)
        assert delivery.envelope["aggregate_id"] == lead.json()["id"]
        # and the attempt is listed (once logged, just after the answer came), a page at a time
        attempts = eventually(
            lambda: admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"limit": 1}).json(),
            lambda page: bool(page["items"]),
        )
        assert [(a["attempt"], a["status_code"], a["event_id"]) for a in attempts["items"]] == [
            (1, 200, delivery.headers["webhook-id"])
        ]
        assert attempts["next_cursor"] is None
        problem(admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "nonsense"}), 422)
        # when history is replayed from the lead's position, it comes again with the same webhook-id
        replayed = admin.post(
            f"/v1/webhooks/{hook['id']}/replay", json={"from_position": delivery.envelope["position"]}
        )
        assert replayed.status_code == 202, replayed.text
        again = receiver.wait_for(2)[1]
        assert again.headers["webhook-id"] == delivery.headers["webhook-id"] and again.verified_with
        both = admin.post(
            f"/v1/webhooks/{hook['id']}/replay", json={"from_position": 1, "since": "2026-01-01T00:00:00Z"}
        )
        assert problem(both, 422)["errors"]


def test_a_server_without_webhooks_answers_503() -> None:
    crm = bootstrap(Settings(database_url="memory://"))
    tokens = MemoryTokenStore()
    app = create_app(crm, tokens, access_log=MemoryAccessLog())
    with running(app) as base_url:
        answer = httpx.get(
            f"{base_url}/v1/webhooks", headers={"Authorization": f"Bearer {tokens.issue('root', 'admin')}"}
        )
        assert problem(answer, 503)["type"] == "/problems/webhooks-unavailable"


def test_changing_the_url_to_one_the_crm_must_not_call_is_a_422_and_changes_nothing(database_url: str) -> None:
    with live_server(database_url) as server:
        admin = server.client()
        public = {**HOOK, "url": "https://93.184.215.14/crm"}  # a public address: no DNS needed
        hook = admin.post("/v1/webhooks", json=public)
        assert hook.status_code == 201, hook.text
        head = server.head()
        refused = admin.patch(f"/v1/webhooks/{hook.json()['id']}", json={"url": "https://127.0.0.1/crm"})
        assert [e["field"] for e in problem(refused, 422)["errors"]] == ["url"]
        assert server.head() == head
        assert admin.get(f"/v1/webhooks/{hook.json()['id']}").json()["url"] == public["url"]
