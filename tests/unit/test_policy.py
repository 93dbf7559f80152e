"""The role rules for the team and the assignment rules."""

from __future__ import annotations

import pytest

from services.auth.policy import Action, Principal, Role

WHO_MAY = {
    Action.MANAGE_USERS: {Role.ADMIN},
    Action.READ_USERS: {Role.ADMIN, Role.MANAGER, Role.REP},
    Action.MANAGE_ASSIGNMENT_RULES: {Role.ADMIN, Role.MANAGER},
    Action.READ_ASSIGNMENT_RULES: {Role.ADMIN, Role.MANAGER},
}


@pytest.mark.parametrize("action", list(WHO_MAY))
def test_only_the_named_roles_may_read_or_manage_the_team_and_the_rules(action: Action) -> None:
    assert {role for role in Role if Principal("someone", role).may(action)} == WHO_MAY[action]


def test_only_admins_and_managers_may_record_what_a_campaign_cost() -> None:
    may = {role for role in Role if Principal("someone", role).may(Action.RECORD_CAMPAIGN_COST)}
    assert may == {Role.ADMIN, Role.MANAGER}
