"""The what-if simulation, compared against a recorded history: replaying a window through the
same configuration reproduces what the automation did; another configuration gives another
answer; the simulation writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.values import InteractionKind
from services.app.application import Context, CrmApplication
from services.app.commands import LogInteraction, ReplaceAssignmentRules
from services.automation.clock import ManualClock
from services.automation.policy_runner import MemoryPolicyPositions, PolicyRunner
from services.automation.scheduler import Scheduler
from services.bootstrap import log_reader, open_read_models, policies, read_models_on_demand, simulation, timer_kinds
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture, hire

pytestmark = pytest.mark.parametrize("database_url", BACKENDS[:2], indirect=True)

ROOT = Context(actor="root", correlation_id="rules")
ROUND_ROBIN = [{"name": "everyone", "strategy": "round_robin", "reps": ["alice", "bob", "carol"]}]
ONLY_CAROL = [{"name": "carol takes all", "strategy": "round_robin", "reps": ["carol"]}]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[ReadModelStore]:
    store = open_read_models(settings)
    yield store
    store.close()


def rules(app: CrmApplication, ctx: Context, chosen: list[dict[str, object]]) -> None:
    app.replace_assignment_rules(ReplaceAssignmentRules.model_validate({"rules": chosen}), ctx)


def recorded_history(app: CrmApplication, settings: Settings, store: ReadModelStore, start: datetime) -> datetime:
    """Six unowned leads, some engaged, and the whole automation run as production runs it, on a
    clock 30 days on; returns that moment."""
    rules(app, ROOT, ROUND_ROBIN)
    later = start + timedelta(days=30)
    clock = ManualClock(later)
    runner = PolicyRunner(
        app,
        policies(settings, store, read_models_on_demand(app, store)),
        MemoryPolicyPositions(),
        log_reader(app),
        clock=clock,
    )
    runner.start_positions()
    for n in range(6):
        lead_id = app.capture_lead(capture(email=f"lead{n}@example.com", owner=None), ALICE).id
        for kind in [InteractionKind.DEMO, InteractionKind.MEETING][: n % 2 + 1]:
            app.log_lead_interaction(lead_id, LogInteraction(kind=kind), ALICE)
    scheduler = Scheduler(app, timer_kinds(), clock)
    while runner.catch_up() or scheduler.run_due().fired:
        pass
    return later + timedelta(microseconds=1)  # the window's end: after what the automation did then


def test_the_same_configuration_reproduces_what_the_automation_did(
    app: CrmApplication, settings: Settings, store: ReadModelStore
) -> None:
    hire(app, "carol")
    start = datetime.now(UTC)
    end = recorded_history(app, settings, store, start)
    head = app.head_position()

    report = simulation(app, settings, lambda sim, ctx: rules(sim, ctx, ROUND_ROBIN)).run(start, end)

    assert report.actual.assignments == {"alice": 2, "bob": 2, "carol": 2}, "round robin shared them out"
    assert report.actual.rescored > 6, "decay lowered each lead's score several times"
    assert report.actual.tasks_created == 3, "the three leads with a demo and a meeting reached the qualify score"
    assert report.simulated == report.actual
    assert report.divergences == 0
    assert app.head_position() == head, "the simulation wrote nothing"


def test_other_rules_show_what_would_have_happened_instead(
    app: CrmApplication, settings: Settings, store: ReadModelStore
) -> None:
    hire(app, "carol")
    start = datetime.now(UTC)
    end = recorded_history(app, settings, store, start)

    report = simulation(app, settings, lambda sim, ctx: rules(sim, ctx, ONLY_CAROL)).run(start, end)

    assert report.simulated.assignments == {"carol": 6}
    assert report.actual.assignments == {"alice": 2, "bob": 2, "carol": 2}
    assert report.as_dict()["simulated"]["assignments"] == {"carol": 6}


def test_a_shorter_window_simulates_only_what_was_due_in_it(
    app: CrmApplication, settings: Settings, store: ReadModelStore
) -> None:
    hire(app, "carol")
    start = datetime.now(UTC)
    end = recorded_history(app, settings, store, start)
    what_if = simulation(app, settings, lambda sim, ctx: rules(sim, ctx, ROUND_ROBIN))

    whole = what_if.run(start, end)
    first_days = what_if.run(start, start + timedelta(days=3))

    assert 0 < first_days.actual.rescored < whole.actual.rescored, "decay went on after the third day"
    assert first_days.simulated.rescored == first_days.actual.rescored
