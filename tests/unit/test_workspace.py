"""The Workspace aggregate: the team's users and the ordered assignment rules, as events."""

from __future__ import annotations

from typing import Any

import pytest

from domain.assignment import AssignmentRule
from domain.errors import (
    DuplicateRuleName,
    InactiveUser,
    InvalidField,
    OccurredBeforeCreation,
    UnknownUser,
    UserAlreadyExists,
)
from domain.team import TeamRole, User
from domain.workspace import WORKSPACE_ID, Workspace
from projections.event_record import record_of
from projections.registry import all_projections
from tests.unit.factories import at, kinds, meta, pending, replay, the_only


def a_user(user_id: str = "rep-anna", **fields: Any) -> User:
    return User.model_validate({"id": user_id, "name": user_id.title(), "role": "rep", **fields})


def a_rule(name: str, *reps: str, **fields: Any) -> AssignmentRule:
    return AssignmentRule.model_validate({"name": name, "strategy": "round_robin", "reps": list(reps), **fields})


def a_workspace(*user_ids: str) -> Workspace:
    """A workspace with these reps on its team, its events already collected (as if saved)."""
    workspace = Workspace.set_up(meta())
    for user_id in user_ids:
        workspace.add_user(a_user(user_id), meta())
    workspace.collect_events()
    return workspace


def test_the_workspace_is_one_per_store_with_a_fixed_id_and_starts_empty() -> None:
    workspace = Workspace.set_up(meta())
    assert workspace.id == WORKSPACE_ID == Workspace.set_up(meta()).id
    assert (workspace.users, workspace.assignment_rules) == ({}, ())
    assert kinds(pending(workspace)) == ["Created"]


def test_adding_a_user_records_every_field_of_theirs() -> None:
    workspace = a_workspace()
    user = a_user("rep-ben", daily_capacity=5, time_zone="Europe/Berlin", away=True)
    workspace.add_user(user, meta(actor="root"))
    added = the_only(pending(workspace), Workspace.UserAdded)
    assert (added.user_id, added.name, added.role, added.active, added.away) == (
        "rep-ben",
        "Rep-Ben",
        "rep",
        True,
        True,
    )
    assert (added.daily_capacity, added.time_zone, added.actor) == (5, "Europe/Berlin", "root")
    assert workspace.users["rep-ben"] == user


def test_adding_a_user_whose_id_is_taken_is_refused_and_records_nothing() -> None:
    workspace = a_workspace("rep-anna")
    with pytest.raises(UserAlreadyExists, match="rep-anna"):
        workspace.add_user(a_user("rep-anna", role="manager"), meta())
    assert pending(workspace) == []
    assert workspace.users["rep-anna"].role is TeamRole.REP


def test_an_update_records_only_the_fields_that_change() -> None:
    workspace = a_workspace("rep-anna")
    changed = workspace.update_user("rep-anna", {"away": True, "role": "rep", "daily_capacity": 3}, meta())
    updated = the_only(pending(workspace), Workspace.UserUpdated)
    assert changed and (updated.user_id, updated.changes) == ("rep-anna", {"away": True, "daily_capacity": 3})
    assert workspace.users["rep-anna"].away and workspace.users["rep-anna"].daily_capacity == 3


def test_an_update_that_changes_nothing_records_nothing() -> None:
    workspace = a_workspace("rep-anna")
    assert not workspace.update_user("rep-anna", {"away": False, "name": "Rep-Anna"}, meta())
    assert pending(workspace) == []


def test_null_clears_the_capacity_and_the_time_zone() -> None:
    workspace = Workspace.set_up(meta())
    workspace.add_user(a_user("rep-anna", daily_capacity=4, time_zone="Asia/Tokyo"), meta())
    workspace.update_user("rep-anna", {"daily_capacity": None, "time_zone": None}, meta())
    user = workspace.users["rep-anna"]
    assert (user.daily_capacity, user.time_zone) == (None, None)


def test_updating_a_user_who_is_not_on_the_team_is_refused() -> None:
    with pytest.raises(UnknownUser):
        a_workspace().update_user("rep-zed", {"away": True}, meta())


def test_the_rules_are_replaced_as_a_whole_ordered_list() -> None:
    workspace = a_workspace("rep-anna", "rep-ben")
    first = [a_rule("germany", "rep-anna", when={"countries": ["de"]}), a_rule("rest", "rep-ben", "rep-anna")]
    workspace.replace_assignment_rules(first, meta())
    workspace.replace_assignment_rules([a_rule("everyone", "rep-ben")], meta())
    events = pending(workspace)
    assert kinds(events) == ["AssignmentRulesReplaced", "AssignmentRulesReplaced"]
    assert events[0].rules[0] == {
        "name": "germany",
        "when": {"sources": [], "campaigns": [], "countries": ["DE"], "min_score": None},
        "strategy": "round_robin",
        "reps": ["rep-anna"],
        "weights": None,
    }
    assert [r.name for r in workspace.assignment_rules] == ["everyone"]
    workspace.replace_assignment_rules([], meta())
    assert workspace.assignment_rules == ()


def test_a_rule_naming_someone_not_on_the_team_is_refused_naming_the_field() -> None:
    workspace = a_workspace("rep-anna", "rep-ben")
    rules = [a_rule("one", "rep-anna"), a_rule("two", "rep-ben", "rep-zed")]
    with pytest.raises(UnknownUser) as error:
        workspace.replace_assignment_rules(rules, meta())
    assert error.value.field == "rules.1.reps.1" and "rep-zed" in error.value.message
    assert pending(workspace) == [] and workspace.assignment_rules == ()


def test_two_rules_of_one_name_are_refused_naming_the_second() -> None:
    workspace = a_workspace("rep-anna")
    rules = [a_rule("one", "rep-anna"), a_rule("two", "rep-anna"), a_rule("one", "rep-anna")]
    with pytest.raises(DuplicateRuleName) as error:
        workspace.replace_assignment_rules(rules, meta())
    assert isinstance(error.value, InvalidField) and error.value.field == "rules.2.name"
    assert pending(workspace) == []


def test_an_inactive_rep_may_stay_in_a_rule_but_takes_no_lead_by_hand() -> None:
    workspace = a_workspace("rep-anna")
    workspace.update_user("rep-anna", {"active": False}, meta())
    workspace.replace_assignment_rules([a_rule("one", "rep-anna")], meta())
    with pytest.raises(InactiveUser) as error:
        workspace.check_assignable("rep-anna")
    assert error.value.field == "owner"


def test_nothing_changes_in_the_workspace_before_it_was_set_up() -> None:
    workspace = Workspace.set_up(meta(at=at(days=1)))
    with pytest.raises(OccurredBeforeCreation):
        workspace.add_user(a_user(), meta(at=at(days=0)))


def test_a_workspace_rebuilt_from_its_events_has_the_same_team_and_rules() -> None:
    workspace = Workspace.set_up(meta())
    workspace.add_user(a_user("rep-anna", time_zone="Europe/Paris"), meta())
    workspace.add_user(a_user("rep-ben"), meta())
    workspace.update_user("rep-ben", {"role": "manager", "away": True}, meta())
    rules = [a_rule("split", "rep-anna", "rep-ben", strategy="weighted", weights={"rep-anna": 2, "rep-ben": 1})]
    workspace.replace_assignment_rules(rules, meta())
    copy = replay(pending(workspace))
    assert (copy.id, copy.version, copy.users, copy.assignment_rules) == (
        workspace.id,
        workspace.version,
        workspace.users,
        workspace.assignment_rules,
    )
    assert copy.users["rep-ben"].role is TeamRole.MANAGER


def test_every_read_model_passes_over_the_workspaces_events() -> None:
    workspace = Workspace.set_up(meta())
    workspace.add_user(a_user("rep-anna"), meta())
    workspace.update_user("rep-anna", {"away": True}, meta())
    workspace.replace_assignment_rules([a_rule("one", "rep-anna")], meta())
    records = [record_of(event, position) for position, event in enumerate(pending(workspace), start=1)]
    assert {record.aggregate_type for record in records} == {"workspace"}
    for projection in all_projections():
        assert [projection.apply(record) for record in records] == [[], [], [], []], projection.name
