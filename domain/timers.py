"""Timers: "do this at that time", asked for by a command and kept with its events.

A timer is named by its `timer_id` (one live timer per name: asking again moves it) and says what
is due (`kind`, handled by the automation's scheduler), about which aggregate, and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Timer:
    """A due action: `kind` on `aggregate_id` at `due_at` (aware), with what it needs in `payload`."""

    timer_id: str
    kind: str
    aggregate_id: UUID
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.due_at.tzinfo is None:
            raise ValueError("a timer's due_at must be timezone-aware")
