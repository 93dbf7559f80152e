"""Commands with sensible defaults, so each test names only what it is about."""

from __future__ import annotations

from typing import Any

from services.app.application import Context
from services.app.commands import CaptureLead, CreateContact

ALICE = Context(actor="alice", correlation_id="req-alice")
BOB = Context(actor="bob", correlation_id="req-bob")


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
