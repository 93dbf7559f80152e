"""The Workspace aggregate: the store's configuration, one per store. It holds the team's users,
the ordered assignment rules and the nurture sequences, so that every change to them is an event
with who, when and why, like any other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.assignment import AssignmentRule
from domain.errors import (
    DuplicateRuleName,
    OccurredBeforeCreation,
    SequenceAlreadyDefined,
    UnknownUser,
    UserAlreadyExists,
)
from domain.events import CrmAggregate, CrmEvent
from domain.nurture import DefinedSequence, NurtureSequence
from domain.team import USER_FIELDS, User, check_assignable
from domain.values import Meta

WORKSPACE_ID = UUID("317e09e0-723c-535c-9c66-2c8da5d2863b")
"""The one workspace's id in every store: uuid5(NAMESPACE_URL, "urn:crm-eventlog:workspace"),
written out because it is fixed for ever."""


class Workspace(CrmAggregate):
    """The team and the assignment rules. It is set up by its first change, in the same append."""

    id: UUID

    class Event(CrmEvent):
        """A workspace's event: who did it, in which request, and when it happened (see CrmEvent)."""

    class Created(Event, Aggregate.Created):
        """The workspace was set up (its first change follows in the same append)."""

        class_version = 1

    class UserAdded(Event):
        class_version = 1
        user_id: str
        name: str
        role: str
        active: bool
        away: bool
        daily_capacity: int | None
        time_zone: str | None

    class UserUpdated(Event):
        class_version = 1
        user_id: str
        changes: dict[str, str | bool | int | None]

    class AssignmentRulesReplaced(Event):
        class_version = 1
        rules: list[dict[str, Any]]

    class SequenceDefined(Event):
        """A nurture sequence was defined (`domain.nurture`); its name stays its own."""

        class_version = 1
        name: str
        description: str
        steps: list[dict[str, Any]]
        enrol_when: dict[str, Any] | None

    @event(Created)
    def __init__(self, *, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.created_at = occurred_at
        self.users: dict[str, User] = {}
        self.assignment_rules: tuple[AssignmentRule, ...] = ()
        self.sequences: dict[str, DefinedSequence] = {}

    # --- commands -------------------------------------------------------------------

    @classmethod
    def set_up(cls, meta: Meta) -> Workspace:
        """The store's workspace, new and empty."""
        return cls(id=WORKSPACE_ID, **meta.fields())  # type: ignore[call-arg]

    def add_user(self, user: User, meta: Meta) -> None:
        """Put a new user on the team."""
        self.check_not_before_creation(meta.occurred_at)
        if user.id in self.users:
            raise UserAlreadyExists(f"user {user.id!r} is on the team already")
        self._user_added(
            user_id=user.id,
            name=user.name,
            role=user.role.value,
            active=user.active,
            away=user.away,
            daily_capacity=user.daily_capacity,
            time_zone=user.time_zone,
            **meta.fields(),
        )

    def update_user(self, user_id: str, changes: Mapping[str, Any], meta: Meta) -> bool:
        """Change some of a user's fields; only real changes are recorded. Returns whether anything
        changed (an update that changes nothing records nothing)."""
        self.check_not_before_creation(meta.occurred_at)
        user = self.users.get(user_id)
        if user is None:
            raise UnknownUser("id", f"{user_id!r} is not a user of the team")
        unknown = set(changes) - set(USER_FIELDS)
        if unknown:
            raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
        effective = {name: value for name, value in changes.items() if getattr(user, name) != value}
        if not effective:
            return False
        self._user_updated(user_id=user_id, changes=effective, **meta.fields())
        return True

    def replace_assignment_rules(self, rules: Sequence[AssignmentRule], meta: Meta) -> None:
        """Make `rules` the whole ordered list of assignment rules."""
        self.check_not_before_creation(meta.occurred_at)
        self.check_rule_names_are_unique(rules)
        self.check_reps_are_users(rules)
        self._assignment_rules_replaced(rules=[rule.model_dump(mode="json") for rule in rules], **meta.fields())

    def define_sequence(self, sequence: NurtureSequence, meta: Meta) -> None:
        """Define a nurture sequence; a name is defined once, so that it always means the same."""
        self.check_not_before_creation(meta.occurred_at)
        if sequence.name in self.sequences:
            raise SequenceAlreadyDefined(f"a nurture sequence named {sequence.name!r} exists already")
        self._sequence_defined(
            name=sequence.name,
            description=sequence.description,
            steps=sequence.step_snapshots(),
            enrol_when=None if sequence.enrol_when is None else sequence.enrol_when.model_dump(mode="json"),
            **meta.fields(),
        )

    # --- guards ---------------------------------------------------------------------

    def check_not_before_creation(self, occurred_at: datetime) -> None:
        """Nothing changes in the workspace, in business time, before it was set up."""
        if occurred_at < self.created_at:
            raise OccurredBeforeCreation(
                f"occurred_at {occurred_at.isoformat()} is before the workspace was set up "
                f"({self.created_at.isoformat()})"
            )

    def check_assignable(self, user_id: str, field: str = "owner") -> None:
        """A lead can be given only to an active user of the team."""
        check_assignable(self.users, user_id, field)

    @staticmethod
    def check_rule_names_are_unique(rules: Sequence[AssignmentRule]) -> None:
        """A rule's name names it in what it assigns, so no two rules of the list share one."""
        seen: dict[str, int] = {}
        for index, rule in enumerate(rules):
            if rule.name in seen:
                raise DuplicateRuleName(f"rules.{index}.name", f"rule {seen[rule.name]} is named {rule.name!r} already")
            seen[rule.name] = index

    def check_reps_are_users(self, rules: Sequence[AssignmentRule]) -> None:
        """Every rep of every rule is a user of the team (an inactive one is passed over, not refused)."""
        for index, rule in enumerate(rules):
            for position, rep in enumerate(rule.reps):
                if rep not in self.users:
                    raise UnknownUser(f"rules.{index}.reps.{position}", f"{rep!r} is not a user of the team")

    # --- event application: deterministic, re-run on every load -----------------------

    @event(UserAdded)
    def _user_added(
        self,
        *,
        user_id: str,
        name: str,
        role: str,
        active: bool,
        away: bool,
        daily_capacity: int | None,
        time_zone: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.users[user_id] = User.recorded(
            {
                "id": user_id,
                "name": name,
                "role": role,
                "active": active,
                "away": away,
                "daily_capacity": daily_capacity,
                "time_zone": time_zone,
            }
        )

    @event(UserUpdated)
    def _user_updated(
        self,
        *,
        user_id: str,
        changes: dict[str, str | bool | int | None],
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.users[user_id] = self.users[user_id].changed(changes)

    @event(AssignmentRulesReplaced)
    def _assignment_rules_replaced(
        self, *, rules: list[dict[str, Any]], actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self.assignment_rules = tuple(AssignmentRule.model_validate(rule) for rule in rules)

    @event(SequenceDefined)
    def _sequence_defined(
        self,
        *,
        name: str,
        description: str,
        steps: list[dict[str, Any]],
        enrol_when: dict[str, Any] | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        definition = NurtureSequence.model_validate(
            {"name": name, "description": description, "steps": steps, "enrol_when": enrol_when}
        )
        self.sequences[name] = DefinedSequence(definition, actor, occurred_at)
