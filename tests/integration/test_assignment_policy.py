"""The assignment policy on every backend: a lead captured without an owner goes to the rep the
first matching rule chooses, with the rule's name as the reason, in turn, skipping away reps
and reps at capacity; a lead no rule takes stays unassigned."""

from __future__ import annotations

from uuid import UUID

import pytest

from services.app.application import Context, CrmApplication
from services.app.commands import AddUser, ReplaceAssignmentRules, UpdateUser
from services.automation.assignment import AssignmentPolicy
from services.automation.policy_runner import MemoryPolicyPositions, PolicyRunner
from services.bootstrap import log_reader, read_models_on_demand
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

ROOT = Context(actor="root", correlation_id="setup")


def automation(app: CrmApplication, store: ReadModelStore) -> PolicyRunner:
    policy = AssignmentPolicy(store, read_models_on_demand(app, store), refresh_seconds=0)
    runner = PolicyRunner(app, [policy], MemoryPolicyPositions(), log_reader(app))
    runner.start_positions()
    return runner


def team(app: CrmApplication, rules: list[dict[str, object]], **capacity: int) -> None:
    for rep in ("anna", "ben", "cleo"):
        app.add_user(AddUser(id=rep, name=rep.title(), role="rep", daily_capacity=capacity.get(rep)), ROOT)
    app.replace_assignment_rules(ReplaceAssignmentRules.model_validate({"rules": rules}), ROOT)


def new_leads(app: CrmApplication, count: int, **fields: object) -> list[UUID]:
    return [app.capture_lead(capture(email=f"p{n}@example.com", owner=None, **fields), ALICE).id for n in range(count)]


def owners(app: CrmApplication, lead_ids: list[UUID]) -> list[str | None]:
    return [app.get_lead(lead_id).owner for lead_id in lead_ids]


def test_round_robin_skips_away_reps_and_respects_daily_capacity(app: CrmApplication, store: ReadModelStore) -> None:
    team(app, [{"name": "inbound", "strategy": "round_robin", "reps": ["anna", "ben", "cleo"]}], ben=1)
    app.update_user("cleo", UpdateUser(away=True), ROOT)
    runner = automation(app, store)
    leads = new_leads(app, 4)

    runner.catch_up()

    assert owners(app, leads) == ["anna", "ben", "anna", "anna"], "cleo is away, ben takes one a day"
    assigned = [e for e in app.history(leads[0]) if e.event_type == "lead.assigned"]
    assert [(e.actor, e.data["reason"]) for e in assigned] == [("automation:assignment", "inbound")]


def test_the_first_matching_rule_takes_the_lead_and_one_no_rule_takes_stays_unassigned(
    app: CrmApplication, store: ReadModelStore
) -> None:
    team(
        app,
        [
            {"name": "partners", "when": {"sources": ["partner"]}, "strategy": "round_robin", "reps": ["cleo"]},
            {"name": "germany", "when": {"countries": ["DE"]}, "strategy": "least_loaded", "reps": ["anna", "ben"]},
        ],
    )
    runner = automation(app, store)
    partner = new_leads(app, 1, source="partner", country="DE")
    german = new_leads(app, 1, source="referral", country="de")
    elsewhere = new_leads(app, 1, source="referral", country="FR")

    runner.catch_up()

    assert owners(app, partner + german + elsewhere) == ["cleo", "anna", None]


def test_a_rerun_assigns_no_lead_twice(app: CrmApplication, store: ReadModelStore) -> None:
    team(app, [{"name": "inbound", "strategy": "round_robin", "reps": ["anna", "ben"]}])
    leads = new_leads(app, 2)
    first = automation(app, store)
    first.positions.save_policy_position("assignment", 0)
    first.catch_up()
    versions = [app.get_lead(lead_id).version for lead_id in leads]

    again = automation(app, store)
    again.positions.save_policy_position("assignment", 0)
    again.catch_up()

    assert [app.get_lead(lead_id).version for lead_id in leads] == versions
