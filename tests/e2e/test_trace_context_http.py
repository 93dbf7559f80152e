"""The W3C trace context of a request reaches the events it appends, and only a well-formed one:
a malformed or repeated `traceparent` is ignored and never stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from tests.e2e.conftest import LEAD, LiveServer, live_server

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    """The API over a fresh SQLite store (the trace context does not depend on the backend)."""
    with live_server(f"sqlite:///{tmp_path / 'crm.sqlite'}") as server:
        yield server


def traces_of(live: LiveServer, aggregate_id: str) -> list[str | None]:
    """The stored traceparent of each of the aggregate's events, in order."""
    return [getattr(e, "traceparent", None) for e in live.crm.events.get(UUID(aggregate_id))]


def test_every_event_a_request_appends_keeps_its_traceparent(live: LiveServer) -> None:
    admin = live.client()
    lead = admin.post("/v1/leads", json=LEAD, headers={"traceparent": TRACEPARENT})
    assert lead.status_code == 201, lead.text
    captured = traces_of(live, lead.json()["id"])
    assert len(captured) >= 2 and set(captured) == {TRACEPARENT}  # captured and first scored
    staged = admin.post(
        f"/v1/leads/{lead.json()['id']}/stage", json={"stage": "contacted"}, headers={"traceparent": OTHER}
    )
    assert staged.is_success, staged.text
    assert traces_of(live, lead.json()["id"])[len(captured) :] == [OTHER]


@pytest.mark.parametrize(
    "headers",
    [
        [("traceparent", "00-not-a-trace-id-01")],
        [("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")],
        [("traceparent", TRACEPARENT), ("traceparent", OTHER)],  # repeated: the spec says ignore
    ],
    ids=["malformed", "zero trace id", "repeated"],
)
def test_a_traceparent_that_is_not_one_valid_header_is_ignored(
    live: LiveServer, headers: list[tuple[str, str]]
) -> None:
    lead = live.client().post("/v1/leads", json=LEAD, headers=headers)
    assert lead.status_code == 201, lead.text
    assert set(traces_of(live, lead.json()["id"])) == {None}


def test_a_request_without_a_traceparent_leaves_none_behind_for_the_next(live: LiveServer) -> None:
    admin = live.client()
    admin.post("/v1/leads", json=LEAD, headers={"traceparent": TRACEPARENT})
    plain = admin.post("/v1/leads", json={**LEAD, "name": "Grace Hopper"})
    assert set(traces_of(live, plain.json()["id"])) == {None}
