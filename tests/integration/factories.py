"""Commands with sensible defaults, so each test names only what it is about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from consumers.in_process_runner import InProcessRunner
from consumers.ports import ReadModelWriter
from services.app.application import AuditEntry, Context, CrmApplication
from services.app.commands import AddUser, CaptureLead, CreateContact

ALICE = Context(actor="alice", correlation_id="req-alice")
BOB = Context(actor="bob", correlation_id="req-bob")

TEAM = ("alice", "bob")
"""The reps every test application has on its team, so that leads can be given to them."""


def hire(app: CrmApplication, *user_ids: str, role: str = "rep") -> None:
    """Put these users on the application's team, those who are not on it already."""
    on_the_team = {user.id for user in app.users()}
    for user_id in user_ids:
        if user_id not in on_the_team:
            app.add_user(AddUser(id=user_id, name=user_id.title(), role=role), Context("root", f"hire-{user_id}"))


def capture(**overrides: Any) -> CaptureLead:
    """A valid CaptureLead command."""
    fields: dict[str, Any] = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "company": "Analytical Engines",
        "title": "CTO",
        "source": "referral",
        "estimated_value": 12_000_00,
        "currency": "EUR",
    }
    fields.update(overrides)
    return CaptureLead(**fields)


def new_contact(**overrides: Any) -> CreateContact:
    """A valid CreateContact command."""
    fields: dict[str, Any] = {"name": "Grace Hopper", "email": "grace@example.com", "company": "Navy"}
    fields.update(overrides)
    return CreateContact(**fields)


Store = TypeVar("Store", bound=ReadModelWriter)


def caught_up(app: CrmApplication, store: Store) -> Store:
    """The store after the runner applied every event recorded so far."""
    InProcessRunner(app, store).catch_up()
    return store


def known_at_of(entries: Sequence[AuditEntry], k: int | None) -> datetime | None:
    """A transaction time to probe a record's history at: None (now), just before its creation
    was recorded (k = 0), or the recording time of its k-th event (counted round)."""
    if k is None:
        return None
    if k == 0:
        return entries[0].recorded_at - timedelta(microseconds=1)
    return entries[(k - 1) % len(entries)].recorded_at
