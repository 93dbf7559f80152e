"""What the team and assignment-rule routes answer with, and the examples of their requests.
Request bodies are the command models (`AddUser`, `UpdateUser`, `ReplaceAssignmentRules`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.assignment import AssignmentRule
from domain.team import User
from services.app.application import AssignmentRuleList

_ANNA: dict[str, Any] = {
    "id": "rep-anna",
    "name": "Anna Berg",
    "role": "rep",
    "active": True,
    "away": False,
    "daily_capacity": 20,
    "time_zone": "Europe/Berlin",
}

ADD_USER_EXAMPLES: dict[str, Any] = {
    "rep": {"summary": "a rep in Berlin who takes up to 20 new leads a day", "value": _ANNA},
    "manager": {
        "summary": "a manager, with the defaults (active, no limit, the store's time zone)",
        "value": {"id": "maria", "name": "Maria Lopez", "role": "manager"},
    },
}

UPDATE_USER_EXAMPLES: dict[str, Any] = {
    "away": {"summary": "away on holiday: assignment rules pass her over", "value": {"away": True}},
    "left": {"summary": "left the company: owns her leads still, takes no new ones", "value": {"active": False}},
    "no limit": {
        "summary": "no daily limit, the store's time zone",
        "value": {"daily_capacity": None, "time_zone": None},
    },
}

_RULES: list[dict[str, Any]] = [
    {
        "name": "dach-webinars",
        "when": {"sources": ["webinar"], "countries": ["DE", "AT", "CH"], "min_score": 30},
        "strategy": "round_robin",
        "reps": ["rep-anna", "rep-ben"],
    },
    {
        "name": "big-campaign",
        "when": {"campaigns": ["spring-launch"]},
        "strategy": "weighted",
        "reps": ["rep-anna", "rep-cy"],
        "weights": {"rep-anna": 1, "rep-cy": 3},
    },
    {"name": "everyone-else", "strategy": "least_loaded", "reps": ["rep-ben", "rep-cy", "rep-dora"]},
]

REPLACE_RULES_EXAMPLES: dict[str, Any] = {
    "three rules": {
        "summary": "by source and country, by campaign (weighted), and a catch-all; tried in this order",
        "value": {"rules": _RULES},
    },
    "none": {"summary": "no rules: nothing is assigned automatically", "value": {"rules": []}},
}


class UserPublic(BaseModel):
    """A user of the team."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ANNA]})

    id: str = Field(description="the id a lead's `owner` names")
    name: str
    role: str = Field(description="rep, manager, admin or analyst")
    active: bool = Field(description="false for someone who left: they keep their leads but take no new ones")
    away: bool = Field(description="away for now: assignment rules pass them over")
    daily_capacity: int | None = Field(description="the most leads assignment rules give them a day; null: no limit")
    time_zone: str | None = Field(description="the IANA time zone of their day; null: the store's default (UTC)")

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(**user.model_dump(mode="json"))


class UserList(BaseModel):
    """Every user of the team, in id order (a team is small: the list is whole, not paged)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ANNA]}]})

    items: list[UserPublic]

    @classmethod
    def of(cls, users: list[User]) -> UserList:
        return cls(items=[UserPublic.of(user) for user in users])


class RuleConditionsPublic(BaseModel):
    """Which leads a rule takes: every condition must hold; an empty list accepts any value."""

    sources: list[str]
    campaigns: list[str]
    countries: list[str] = Field(description="ISO 3166-1 alpha-2 codes")
    min_score: int | None


class AssignmentRulePublic(BaseModel):
    """One assignment rule."""

    name: str
    when: RuleConditionsPublic
    strategy: str = Field(description="round_robin, weighted or least_loaded")
    reps: list[str]
    weights: dict[str, int] | None = Field(description="for the weighted strategy: the weight of each rep")

    @classmethod
    def of(cls, rule: AssignmentRule) -> AssignmentRulePublic:
        return cls.model_validate(rule.model_dump(mode="json"))


class AssignmentRules(BaseModel):
    """The ordered assignment rules: the first whose conditions a lead meets, and that has a rep
    available, takes it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": 12,
                    # the rules as they are answered: every condition and `weights` spelled out
                    "rules": [AssignmentRule.model_validate(rule).model_dump(mode="json") for rule in _RULES],
                }
            ]
        }
    )

    version: int = Field(description="the workspace's version they were read at; send it back as `If-Match`")
    rules: list[AssignmentRulePublic]

    @classmethod
    def of(cls, found: AssignmentRuleList) -> AssignmentRules:
        return cls(version=found.version, rules=[AssignmentRulePublic.of(rule) for rule in found.rules])
