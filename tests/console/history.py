"""A hand-built pipeline history for the manager and analyst pages: leads whose stages change
over the last 30 days of business time, so that the board as of each date is known."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from services.app.application import CrmApplication
from services.app.commands import ChangeStage, ConvertLead, DisqualifyLead
from tests.console.conftest import ALICE, BOB
from tests.integration.factories import capture


@dataclass(frozen=True)
class History:
    """The leads written and the dates the tests look at."""

    lin: UUID
    max: UUID
    noa: UUID
    first: date
    """The day the first lead was captured (30 days ago)."""


def days_ago(days: int, hour: int = 9) -> datetime:
    """`hour` o'clock UTC, `days` days before today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days) + timedelta(hours=hour)


def seed_board_history(crm: CrmApplication) -> History:
    """Lin (alice's): new 30 days ago, contacted 20, qualified 10 (1,000.00 EUR); Max (bob's): new 25
    days ago, converted 5 days ago (5,000.00 EUR); Noa (alice's): new 15 days ago, lost 3 days ago."""
    lin = crm.capture_lead(
        capture(
            name="Lin Board", email="lin@b.example", owner="alice", estimated_value=1000_00, occurred_at=days_ago(30)
        ),
        ALICE,
    ).id
    crm.change_stage(lin, ChangeStage(stage="contacted", occurred_at=days_ago(20)), ALICE)
    crm.change_stage(lin, ChangeStage(stage="qualified", occurred_at=days_ago(10)), ALICE)
    max_ = crm.capture_lead(
        capture(
            name="Max Board",
            email="max@b.example",
            owner="bob",
            estimated_value=4000_00,
            source="webinar",
            campaign="spring",
            occurred_at=days_ago(25),
        ),
        BOB,
    ).id
    crm.convert_lead(max_, ConvertLead(deal_value=5000_00, currency="EUR", occurred_at=days_ago(5)), BOB)
    noa = crm.capture_lead(
        capture(name="Noa Board", email="noa@b.example", owner="alice", estimated_value=None, occurred_at=days_ago(15)),
        ALICE,
    ).id
    crm.disqualify_lead(noa, DisqualifyLead(reason="no budget", occurred_at=days_ago(3)), ALICE)
    return History(lin, max_, noa, days_ago(30).date())
