"""The team's users as value types: their ids, roles, time zones, and who takes new leads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from domain.errors import InactiveUser, UnknownUser
from domain.team import TeamRole, User, check_assignable


def a_user(**overrides: Any) -> User:
    """A valid user, validated as new input is."""
    return User.model_validate({"id": "rep-anna", "name": "Anna Berg", "role": "rep", **overrides})


@pytest.mark.parametrize("user_id", ["rep-anna", "anna.berg@acme", "a_1", "x" * 64, "0"])
def test_a_user_id_is_a_lowercase_slug_of_at_most_64_characters(user_id: str) -> None:
    assert a_user(id=user_id).id == user_id


@pytest.mark.parametrize("user_id", ["", "Anna", "anna berg", "anna:berg", "x" * 65, "änna", "none", "rep/anna"])
def test_anything_else_is_refused_as_a_user_id(user_id: str) -> None:
    with pytest.raises(ValidationError) as error:
        a_user(id=user_id)
    assert [e["loc"] for e in error.value.errors()] == [("id",)]


def test_none_is_reserved_because_it_asks_the_lead_list_for_unassigned_leads() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        a_user(id="none")


def test_a_new_user_is_active_not_away_unlimited_and_in_the_default_time_zone() -> None:
    user = a_user()
    assert (user.role, user.active, user.away, user.daily_capacity, user.time_zone) == (
        TeamRole.REP,
        True,
        False,
        None,
        None,
    )


@pytest.mark.parametrize("role", ["rep", "manager", "admin", "analyst"])
def test_the_team_roles(role: str) -> None:
    assert a_user(role=role).role.value == role


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("role", "service"),
        ("role", "boss"),
        ("daily_capacity", -1),
        ("daily_capacity", "5"),
        ("daily_capacity", 1.5),
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", "europe/berlin"),
        ("time_zone", "localtime"),
        ("time_zone", "../etc/passwd"),
        ("time_zone", ""),
        ("name", ""),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        a_user(**{field: value})
    assert [e["loc"] for e in error.value.errors()] == [(field,)]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"])
def test_iana_time_zone_names_are_accepted(zone: str) -> None:
    assert a_user(time_zone=zone).time_zone == zone


def test_zero_capacity_means_no_leads_today_and_none_means_no_limit() -> None:
    assert not a_user(daily_capacity=0).takes_new_leads(assigned_today=0)
    assert a_user(daily_capacity=None).takes_new_leads(assigned_today=10_000)


def test_a_user_takes_new_leads_until_their_daily_capacity_is_reached() -> None:
    user = a_user(daily_capacity=2)
    assert [user.takes_new_leads(n) for n in range(4)] == [True, True, False, False]


def test_an_away_or_inactive_user_takes_no_new_leads() -> None:
    assert not a_user(away=True).takes_new_leads(0)
    assert not a_user(active=False).takes_new_leads(0)


def test_a_users_day_starts_at_their_own_midnight() -> None:
    # 2026-02-10 02:30 UTC is still the 9th in New York (UTC-5) and already the 10th in Berlin (UTC+1)
    moment = datetime(2026, 2, 10, 2, 30, tzinfo=UTC)
    assert a_user(time_zone="America/New_York").day_start(moment) == datetime(2026, 2, 9, 5, 0, tzinfo=UTC)
    assert a_user(time_zone="Europe/Berlin").day_start(moment) == datetime(2026, 2, 9, 23, 0, tzinfo=UTC)
    # after New York's clocks went forward (2026-03-08) its midnight is an hour earlier in UTC
    later = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
    assert a_user(time_zone="America/New_York").day_start(later) == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


def test_a_user_without_a_time_zone_lives_in_the_stores_default() -> None:
    moment = datetime(2026, 3, 10, 2, 30, tzinfo=UTC)
    assert a_user().day_start(moment) == datetime(2026, 3, 10, tzinfo=UTC)
    assert a_user().day_start(moment, default_zone="Asia/Tokyo") == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def test_a_recorded_user_is_read_back_without_being_validated_again() -> None:
    # a history stays readable even if a zone leaves the machine's database
    user = User.recorded({"id": "rep-anna", "name": "Anna", "role": "rep", "time_zone": "Gone/Zone"})
    assert user.role is TeamRole.REP and user.time_zone == "Gone/Zone"
    assert user.changed({"away": True, "role": "manager"}) == user.model_copy(
        update={"away": True, "role": TeamRole.MANAGER}
    )


def test_only_an_active_user_of_the_team_can_be_given_a_lead() -> None:
    team = {
        "rep-anna": a_user(),
        "rep-ben": a_user(id="rep-ben", active=False),
        "rep-cy": a_user(id="rep-cy", away=True),
    }
    check_assignable(team, "rep-anna")
    check_assignable(team, "rep-cy")  # away: passed over by the rules, but a manager may still hand them a lead
    with pytest.raises(UnknownUser) as unknown:
        check_assignable(team, "rep-zed", "owner")
    assert (unknown.value.field, unknown.value.kind) == ("owner", "unknown_user")
    with pytest.raises(InactiveUser) as inactive:
        check_assignable(team, "rep-ben", "owner")
    assert (inactive.value.field, inactive.value.kind) == ("owner", "inactive_user")
