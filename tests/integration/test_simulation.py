"""The what-if simulation, compared against a recorded history: replaying a window through the
same configuration reproduces what the automation did; the simulation writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.values import InteractionKind
from services.app.application import Context, CrmApplication
from services.app.commands import LogInteraction
from services.automation.clock import ManualClock
from services.automation.policy_runner import MemoryPolicyPositions, PolicyRunner
from services.automation.scheduler import Scheduler
from services.bootstrap import log_reader, policies, simulation, timer_kinds
from services.settings import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

pytestmark = pytest.mark.parametrize("database_url", BACKENDS[:2], indirect=True)


def no_changes(sim: CrmApplication, ctx: Context) -> None:
    """The configuration under test is the one in force."""


def recorded_history(app: CrmApplication, start: datetime) -> datetime:
    """Leads engaged now, and the whole automation run on a clock 30 days on; returns that moment."""
    later = start + timedelta(days=30)
    clock = ManualClock(later)
    runner = PolicyRunner(app, policies(Settings()), MemoryPolicyPositions(), log_reader(app), clock=clock)
    runner.start_positions()
    for n in range(4):
        lead_id = app.capture_lead(capture(email=f"lead{n}@example.com"), ALICE).id
        for kind in [InteractionKind.DEMO, InteractionKind.MEETING][: n % 2 + 1]:
            app.log_lead_interaction(lead_id, LogInteraction(kind=kind), ALICE)
    scheduler = Scheduler(app, timer_kinds(), clock)
    while runner.catch_up() or scheduler.run_due().fired:
        pass
    return later


def test_the_same_configuration_reproduces_what_the_automation_did(app: CrmApplication, database_url: str) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    end = recorded_history(app, start)
    head = app.head_position()

    report = simulation(app, Settings(database_url=database_url), no_changes).run(start, end)

    assert report.actual.rescored > 4, "decay lowered each lead's score several times"
    assert report.actual.tasks_created == 2, "the two leads with a demo and a meeting reached the qualify score"
    assert report.simulated == report.actual
    assert report.divergences == 0
    assert report.replayed == 4 + 6, "every capture and interaction, none of the automation's events"
    assert app.head_position() == head, "the simulation wrote nothing"


def test_a_shorter_window_simulates_only_what_was_due_in_it(app: CrmApplication, database_url: str) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    end = recorded_history(app, start)

    report = simulation(app, Settings(database_url=database_url), no_changes).run(start, start + timedelta(days=3))

    assert 0 < report.simulated.rescored < report.actual.rescored
    assert report.as_dict()["simulated"]["rescored"] == report.simulated.rescored
    assert end > start
