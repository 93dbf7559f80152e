"""The team and the assignment rules in the application, run on every persistence backend:
users and rules persist as workspace events, and leads are given only to active users."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.in_process_runner import InProcessRunner
from domain.assignment import Choice, LeadProfile, RepLoad, Workload, choose_rep
from domain.errors import DuplicateRuleName, InactiveUser, UnknownUser, UserAlreadyExists
from domain.workspace import WORKSPACE_ID
from projections.pipeline import PipelineProjection
from projections.pipeline_queries import assignments_since, open_leads_by_owner
from services.app.application import CrmApplication
from services.app.commands import AddUser, AssignLead, ReactivateContact, ReplaceAssignmentRules, UpdateUser
from services.app.errors import ConcurrencyConflict, UserNotFound
from services.bootstrap import open_read_models
from services.settings import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture, new_contact

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

ROOT = ALICE  # whoever manages the team; the application leaves who may to the API


def restarted(app: CrmApplication, open_app: Callable[[], CrmApplication], database_url: str) -> CrmApplication:
    """Another application on the same store (the in-memory store lives in its application only)."""
    return app if database_url == "memory://" else open_app()


def rules(*rules: dict[str, Any]) -> ReplaceAssignmentRules:
    return ReplaceAssignmentRules.model_validate({"rules": list(rules)})


def a_rule(name: str, *reps: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "strategy": "round_robin", "reps": list(reps), **fields}


class TestTheTeam:
    def test_a_user_added_is_on_the_team_after_a_restart_with_every_field(
        self, app: CrmApplication, open_app: Callable[[], CrmApplication], database_url: str
    ) -> None:
        # when
        added = app.add_user(
            AddUser(id="rep-anna", name="Anna Berg", role="rep", daily_capacity=10, time_zone="Europe/Berlin"), ROOT
        )
        # then
        reopened = restarted(app, open_app, database_url)
        assert reopened.get_user("rep-anna") == added
        assert (added.daily_capacity, added.time_zone, added.active, added.away) == (10, "Europe/Berlin", True, False)
        assert [user.id for user in reopened.users()] == ["alice", "bob", "rep-anna"]
        assert reopened.history(WORKSPACE_ID)[-1].event_type == "workspace.user_added"

    def test_adding_a_user_whose_id_is_taken_is_refused_and_appends_nothing(self, app: CrmApplication) -> None:
        head = app.head_position()
        with pytest.raises(UserAlreadyExists):
            app.add_user(AddUser(id="alice", name="Another Alice", role="manager"), ROOT)
        assert app.head_position() == head
        assert app.get_user("alice").name == "Alice"

    def test_an_update_records_only_what_changes_and_one_that_changes_nothing_appends_nothing(
        self, app: CrmApplication
    ) -> None:
        head = app.head_position()
        updated = app.update_user("bob", UpdateUser(away=True, role="rep"), ROOT)
        assert updated.away and app.head_position() == head + 1
        assert app.history(WORKSPACE_ID)[-1].data == {"user_id": "bob", "changes": {"away": True}}
        again = app.update_user("bob", UpdateUser(away=True), ROOT)
        assert again == updated and app.head_position() == head + 1

    def test_an_unknown_user_is_not_found(self, app: CrmApplication) -> None:
        with pytest.raises(UserNotFound):
            app.get_user("nobody")
        with pytest.raises(UserNotFound):
            app.update_user("nobody", UpdateUser(away=True), ROOT)


class TestOwners:
    def test_a_lead_is_captured_assigned_and_reactivated_only_with_an_active_user_as_owner(
        self, app: CrmApplication
    ) -> None:
        # given carol on the team, then gone
        app.add_user(AddUser(id="carol", name="Carol", role="rep"), ROOT)
        app.update_user("carol", UpdateUser(active=False), ROOT)
        lead_id = app.capture_lead(capture(owner="alice"), ALICE).id
        contact_id = app.create_contact(new_contact(), ALICE).id
        head = app.head_position()
        # when a lead is given to someone not on the team, or to carol
        refusals = {
            "capture": lambda owner: app.capture_lead(capture(owner=owner, email="x@example.com"), ALICE),
            "assign": lambda owner: app.assign_lead(lead_id, AssignLead(owner=owner), ALICE),
            "reactivate": lambda owner: app.reactivate_contact(
                contact_id, ReactivateContact(interest="more", owner=owner), ALICE
            ),
        }
        for name, give in refusals.items():
            with pytest.raises(UnknownUser) as unknown:
                give("zed")
            with pytest.raises(InactiveUser) as inactive:
                give("carol")
            # then it is refused naming the owner, and nothing is appended
            assert unknown.value.field == inactive.value.field == "owner", name
        assert app.head_position() == head
        # while an away user may still be handed a lead
        app.update_user("bob", UpdateUser(away=True), ROOT)
        assert app.assign_lead(lead_id, AssignLead(owner="bob"), ALICE).position

    def test_a_retried_capture_answers_as_before_even_when_its_owner_left_since(self, app: CrmApplication) -> None:
        first = app.capture_lead(capture(owner="bob", idempotency_key="form-1"), ALICE)
        app.update_user("bob", UpdateUser(active=False), ROOT)
        retry = app.capture_lead(capture(owner="bob", idempotency_key="form-1"), ALICE)
        assert (retry.id, retry.position) == (first.id, None)


class TestAssignmentRules:
    def test_the_rules_are_replaced_as_a_whole_and_read_back_after_a_restart(
        self, app: CrmApplication, open_app: Callable[[], CrmApplication], database_url: str
    ) -> None:
        assert app.assignment_rules().rules == ()
        app.replace_assignment_rules(rules(a_rule("first", "alice"), a_rule("second", "bob")), ROOT)
        replaced = app.replace_assignment_rules(
            rules(a_rule("dach", "alice", "bob", when={"countries": ["de", "at"]}), a_rule("rest", "bob")), ROOT
        )
        found = restarted(app, open_app, database_url).assignment_rules()
        assert found == replaced and [rule.name for rule in found.rules] == ["dach", "rest"]
        assert found.rules[0].when.countries == ("DE", "AT")
        assert found.version == app.get_workspace().version  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("given", "refused", "field"),
        [
            ([a_rule("one", "alice", "zed")], UnknownUser, "rules.0.reps.1"),
            ([a_rule("one", "alice"), a_rule("one", "bob")], DuplicateRuleName, "rules.1.name"),
        ],
    )
    def test_rules_that_name_someone_off_the_team_or_a_name_twice_are_refused_and_change_nothing(
        self, app: CrmApplication, given: list[dict[str, Any]], refused: type[Exception], field: str
    ) -> None:
        app.replace_assignment_rules(rules(a_rule("kept", "alice")), ROOT)
        head = app.head_position()
        with pytest.raises(refused) as error:
            app.replace_assignment_rules(rules(*given), ROOT)
        assert error.value.field == field  # type: ignore[attr-defined]
        assert app.head_position() == head
        assert [rule.name for rule in app.assignment_rules().rules] == ["kept"]

    def test_a_replacement_expecting_another_version_is_a_conflict(self, app: CrmApplication) -> None:
        seen = app.assignment_rules().version
        app.update_user("alice", UpdateUser(daily_capacity=5), ROOT)
        head = app.head_position()
        with pytest.raises(ConcurrencyConflict):
            app.replace_assignment_rules(rules(a_rule("one", "alice")), ROOT, expected_version=seen)
        assert app.head_position() == head
        current = app.assignment_rules().version
        assert app.replace_assignment_rules(rules(a_rule("one", "alice")), ROOT, expected_version=current).version


def test_the_choice_of_a_rep_is_filled_from_the_workspace_and_the_pipeline_read_model(
    app: CrmApplication, database_url: str
) -> None:
    # given a rule over alice, bob and carol (carol allows 1 lead a day), and today's leads so far:
    # two for alice, one for carol
    app.add_user(AddUser(id="carol", name="Carol", role="rep", daily_capacity=1, time_zone="Asia/Tokyo"), ROOT)
    app.replace_assignment_rules(rules(a_rule("all", "alice", "bob", "carol", strategy="least_loaded")), ROOT)
    now = datetime.now(UTC)
    for owner, n in (("alice", 2), ("carol", 1)):
        for i in range(n):
            app.capture_lead(capture(owner=owner, email=f"{owner}{i}@example.com", occurred_at=now), ALICE)
    app.capture_lead(capture(owner="bob", email="old@example.com", occurred_at=now - timedelta(days=3)), ALICE)
    store = open_read_models(Settings(database_url=database_url), "", [PipelineProjection()])
    try:
        InProcessRunner(app, store).catch_up()
        # when the workload is read off the pipeline and the choice is made
        workspace = app.get_workspace()
        assert workspace is not None
        team = workspace.users
        open_leads = open_leads_by_owner(store)
        today = assignments_since(store, {user.id: user.day_start(now) for user in team.values()})
        workload = Workload(
            reps={rep: RepLoad(today.get(rep, 0), open_leads.get(rep, 0)) for rep in team},
        )
        choice = choose_rep(workspace.assignment_rules, team, LeadProfile(source="referral", score=30), workload)
    finally:
        store.close()
    # then bob (one open lead, none today) is chosen over alice (two) and carol (at her capacity)
    assert open_leads == {"alice": 2, "bob": 1, "carol": 1}
    assert (today["alice"], today["bob"], today["carol"]) == (2, 0, 1)
    assert choice == Choice("all", "bob")
