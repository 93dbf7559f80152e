"""The follow-up policy on every backend: a web-form lead gets a call task due in one business
day, a lead reaching the qualification score gets a qualify task, each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.calendar import BusinessCalendar
from domain.events import event_id_of
from domain.values import InteractionKind
from services.app.application import Context, CrmApplication
from services.app.commands import LogInteraction, UpdateUser
from services.automation.clock import ManualClock
from services.automation.follow_up import CALL_TITLE, FollowUpPolicy
from services.automation.policy_runner import MemoryPolicyPositions, PolicyRunner
from services.bootstrap import log_reader
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

FRIDAY_AFTERNOON_BERLIN = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # 16:00 in Berlin
BERLIN = BusinessCalendar(time_zone="Europe/Berlin")


def runner(
    app: CrmApplication, positions: MemoryPolicyPositions | None = None, now: datetime = FRIDAY_AFTERNOON_BERLIN
) -> PolicyRunner:
    policy = FollowUpPolicy(BERLIN, qualify_score=40)
    clock = ManualClock(now)
    return PolicyRunner(app, [policy], positions or MemoryPolicyPositions(), log_reader(app), clock=clock)


def test_a_web_form_lead_gets_a_call_task_due_the_next_business_day_for_its_owner(app: CrmApplication) -> None:
    follow_up = runner(app)
    follow_up.start_positions()
    lead_id = app.capture_lead(
        capture(source="web_form", owner="alice", title=None, company=None, occurred_at=FRIDAY_AFTERNOON_BERLIN),
        ALICE,
    ).id

    follow_up.catch_up()

    lead = app.get_lead(lead_id)
    (task,) = lead.tasks.values()
    assert task.title == CALL_TITLE
    assert task.owner == "alice"
    assert task.due_at == datetime(2026, 3, 9, 15, 0, tzinfo=UTC), "Monday 16:00 in Berlin"
    added = app.history(lead_id)[-1]
    assert added.event_type == "lead.task_created" and added.actor == "automation:follow_up"
    assert list(app.events.get(lead_id))[-1].cause == str(event_id_of(lead_id, 1))


def test_rerunning_the_policy_from_the_start_adds_no_second_task(app: CrmApplication) -> None:
    first = runner(app)
    first.start_positions()
    lead_id = app.capture_lead(capture(source="web_form", occurred_at=FRIDAY_AFTERNOON_BERLIN), ALICE).id
    first.catch_up()
    version = app.get_lead(lead_id).version

    lost = MemoryPolicyPositions()
    lost.save_policy_position("follow_up", 0)  # as if the position had never been saved
    runner(app, lost).catch_up()

    assert app.get_lead(lead_id).version == version
    assert len(app.get_lead(lead_id).tasks) == 1


def test_other_sources_get_no_call_task(app: CrmApplication) -> None:
    follow_up = runner(app)
    follow_up.start_positions()
    lead_id = app.capture_lead(capture(source="referral", title=None, company=None), ALICE).id

    follow_up.catch_up()

    assert app.get_lead(lead_id).tasks == {}


def test_a_lead_reaching_the_qualification_score_gets_a_qualify_task(app: CrmApplication) -> None:
    follow_up = runner(app, now=datetime.now(UTC) + timedelta(minutes=1))
    follow_up.start_positions()
    lead_id = app.capture_lead(capture(source="referral", owner="bob"), ALICE).id
    assert app.get_lead(lead_id).score < 40
    for kind in (InteractionKind.DEMO, InteractionKind.MEETING):
        app.log_lead_interaction(lead_id, LogInteraction(kind=kind), ALICE)
    assert app.get_lead(lead_id).score >= 40

    follow_up.catch_up()

    titles = [t.title for t in app.get_lead(lead_id).tasks.values()]
    assert len(titles) == 1 and titles[0] is not None and titles[0].startswith("Qualify")


def test_the_call_is_due_in_the_owners_own_business_day(app: CrmApplication) -> None:
    app.update_user("alice", UpdateUser(time_zone="America/New_York"), Context("root", "tz"))
    friday_evening_in_new_york = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)  # Saturday 00:30 in Berlin
    follow_up = runner(app, now=friday_evening_in_new_york)
    follow_up.start_positions()
    lead_id = app.capture_lead(
        capture(source="web_form", owner="alice", title=None, company=None, occurred_at=friday_evening_in_new_york),
        ALICE,
    ).id

    follow_up.catch_up()

    (task,) = app.get_lead(lead_id).tasks.values()
    # Monday 18:30 in New York (summer time began on Sunday), not a day counted in Berlin
    assert task.due_at == datetime(2026, 3, 9, 22, 30, tzinfo=UTC)
