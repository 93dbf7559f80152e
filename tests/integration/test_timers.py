"""Timers kept with the events, and the scheduler that fires them, on every backend: a timer is
written in the transaction of the event that sets it, fires once when due by the clock, and
never again (not on a rerun, not when the clock steps back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.events import event_id_of
from domain.lead import DECAY_TIMER, Lead
from domain.values import InteractionKind
from services.app.application import Context, CrmApplication
from services.app.commands import DisqualifyLead, LogInteraction
from services.app.timers import Firing, TimerAlreadyFired
from services.automation import decay
from services.automation.clock import ManualClock
from services.automation.scheduler import Scheduler, TimerKind
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KINDS = {decay.KIND: TimerKind(decay.POLICY, decay.rescore_when_due)}


def engaged_lead(app: CrmApplication) -> Lead:
    """A lead with a demo and a meeting on Monday morning: decay will lower its score."""
    lead_id = app.capture_lead(capture(occurred_at=MONDAY), ALICE).id
    for kind in (InteractionKind.DEMO, InteractionKind.MEETING):
        app.log_lead_interaction(lead_id, LogInteraction(kind=kind, occurred_at=MONDAY), ALICE)
    return app.get_lead(lead_id)


def decay_timer_of(app: CrmApplication, lead: Lead):  # type: ignore[no-untyped-def]
    stored = app.timers.stored_timer(f"{DECAY_TIMER}:{lead.id}")
    assert stored is not None
    return stored


def test_a_score_change_sets_a_decay_timer_caused_by_its_event(app: CrmApplication) -> None:
    lead = engaged_lead(app)

    stored = decay_timer_of(app, lead)

    assert stored.timer.kind == DECAY_TIMER and stored.fired_at is None
    assert stored.timer.due_at > MONDAY
    assert stored.cause == str(event_id_of(lead.id, lead.version))
    assert stored.generation >= 2, "each score change moved the same timer"


def test_a_due_timer_fires_once_and_its_action_names_the_timer_cause(app: CrmApplication) -> None:
    lead = engaged_lead(app)
    stored = decay_timer_of(app, lead)
    clock = ManualClock(stored.timer.due_at - timedelta(seconds=1))
    scheduler = Scheduler(app, KINDS, clock)

    assert scheduler.run_due().fired == 0, "not due yet"
    clock.set(stored.timer.due_at + timedelta(minutes=5))
    run = scheduler.run_due()

    assert run.outcomes == {"done": 1}
    rescored = app.get_lead(lead.id)
    last = app.history(lead.id)[-1]
    assert rescored.score < lead.score
    assert last.event_type == "lead.scored" and last.data["reason"] == "decay"
    assert last.actor == "automation:decay"
    assert last.occurred_at == stored.timer.due_at, "dated when decay changed the score"
    assert app.history(lead.id)[-1].correlation_id == f"timer:{stored.timer.timer_id}#{stored.generation}"
    events = list(app.events.get(lead.id))
    assert events[-1].cause == stored.cause
    assert app.timers.has_fired(stored.timer.timer_id, stored.generation)
    rearmed = decay_timer_of(app, rescored)
    assert rearmed.generation == stored.generation + 1 and rearmed.fired_at is None
    assert rearmed.timer.due_at > stored.timer.due_at


def test_a_clock_stepping_back_fires_nothing_twice(app: CrmApplication) -> None:
    lead = engaged_lead(app)
    stored = decay_timer_of(app, lead)
    clock = ManualClock(stored.timer.due_at)
    scheduler = Scheduler(app, KINDS, clock)
    assert scheduler.run_due().fired == 1
    version = app.get_lead(lead.id).version

    clock.set(stored.timer.due_at - timedelta(days=1))
    scheduler.run_due()
    clock.set(stored.timer.due_at)
    again = scheduler.run_due()

    assert again.fired == 0
    assert app.get_lead(lead.id).version == version


def test_a_second_firing_of_the_same_generation_is_refused_and_appends_nothing(app: CrmApplication) -> None:
    lead = engaged_lead(app)
    stored = decay_timer_of(app, lead)
    assert Scheduler(app, KINDS, ManualClock(stored.timer.due_at)).fire(stored, stored.timer.due_at) == "done"
    version = app.get_lead(lead.id).version

    outcome = Scheduler(app, KINDS, ManualClock(stored.timer.due_at)).fire(stored, stored.timer.due_at)

    assert outcome == "already_fired"
    assert app.get_lead(lead.id).version == version
    with pytest.raises(TimerAlreadyFired):
        app.timers.write_timers(
            [], Firing(stored.timer.timer_id, stored.generation, DECAY_TIMER, stored.timer.due_at, stored.timer.due_at)
        )


def test_a_timer_of_a_closed_lead_is_recorded_as_skipped(app: CrmApplication) -> None:
    lead = engaged_lead(app)
    app.disqualify_lead(lead.id, DisqualifyLead(reason="no budget", occurred_at=MONDAY), ALICE)
    stored = decay_timer_of(app, lead)

    run = Scheduler(app, KINDS, ManualClock(stored.timer.due_at)).run_due()

    assert run.outcomes == {"skipped:LeadAlreadyDisqualified": 1}
    assert [f.outcome for f in app.timers.firing_log()] == ["skipped:LeadAlreadyDisqualified"]


def test_an_automated_command_repeated_for_the_same_cause_appends_nothing(app: CrmApplication) -> None:
    lead = engaged_lead(app)
    ctx = Context(actor="automation:test", correlation_id="c", cause="cause-1")
    later = MONDAY + timedelta(days=30)

    first = app.log_lead_interaction(lead.id, LogInteraction(kind=InteractionKind.CALL, occurred_at=later), ctx)
    again = app.log_lead_interaction(lead.id, LogInteraction(kind=InteractionKind.CALL, occurred_at=later), ctx)

    assert first.position is not None and again.position is None
    assert app.get_lead(lead.id).version == first.version
    other = Context(actor="automation:other", correlation_id="c", cause="cause-1")
    assert app.log_lead_interaction(lead.id, LogInteraction(kind="call", occurred_at=later), other).position


class TickingClock:
    """A clock that moves a second on every reading, as time passes during a long pass."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_each_firing_is_logged_at_the_time_it_fired_not_when_its_pass_began(app: CrmApplication) -> None:
    leads = [engaged_lead(app)]
    second_id = app.capture_lead(capture(occurred_at=MONDAY, email="grace@example.com"), ALICE).id
    app.log_lead_interaction(second_id, LogInteraction(kind=InteractionKind.DEMO, occurred_at=MONDAY), ALICE)
    leads.append(app.get_lead(second_id))
    latest_due = max(decay_timer_of(app, lead).timer.due_at for lead in leads)
    clock = TickingClock(latest_due)

    run = Scheduler(app, KINDS, clock).run_due()

    # the pass read the clock once to find what was due, then once per firing
    fired = [latest_due + timedelta(seconds=2), latest_due + timedelta(seconds=3)]
    assert run.fired == 2
    assert [record.fired_at for record in app.timers.firing_log()] == fired
    due = [record.due_at for record in app.timers.firing_log()]
    assert run.delays == [(f - d).total_seconds() for f, d in zip(fired, due, strict=True)]


def test_a_timer_whose_action_fails_is_recorded_as_failed_and_holds_up_no_other(app: CrmApplication) -> None:
    first, second = engaged_lead(app), engaged_lead(app)
    broken = decay_timer_of(app, first)

    def rescore_unless_broken(app: CrmApplication, stored: object, ctx: Context) -> None:
        if stored == broken:
            raise RuntimeError("a bug in the action")
        decay.rescore_when_due(app, stored, ctx)  # type: ignore[arg-type]

    due = max(broken.timer.due_at, decay_timer_of(app, second).timer.due_at)
    run = Scheduler(app, {decay.KIND: TimerKind(decay.POLICY, rescore_unless_broken)}, ManualClock(due)).run_due()

    assert run.outcomes == {"failed:RuntimeError": 1, "done": 1}
    assert app.get_lead(second.id).score < second.score
    assert app.get_lead(first.id).version == first.version
