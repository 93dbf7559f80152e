"""Nurture sequences: a named series of steps that keeps a lead warm until they are ready to talk
("send the welcome email, two business days later the case study, then have the rep call").

A sequence is configuration, validated here: a slug `name`, a `description`, a non-empty list of
`steps`, and optionally `enrol_when`, the rule that enrols a matching lead by itself. Each step
waits `wait_days` business days (after the enrolment for the first step, after the step before for
the others) and then does exactly one action:

- `email` with a `template`: asks the email tool to send that template (the CRM sends nothing;
  it records `lead.nurture_email_requested`, which subscribers get on Kafka). It needs the lead's
  email consent; without it the step is skipped and the sequence goes on;
- `task` with a `title` (and `due_in_days`, business days after the step): a task for the lead's
  owner;
- `score_check` with a `min_score`: the sequence goes on when the lead's score is at least that,
  and ends otherwise (`below: exit`, reason `score_below_threshold`).

Sequences are defined in the workspace (`workspace.sequence_defined`), once per name. A lead's
enrolment keeps a copy of the steps (`NurtureEnrolled.steps`), so replaying the log, or a later
sequence, never changes what an enrolment already under way does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.text import printable, single_line
from domain.values import LeadSource

MAX_STEPS = 50
MAX_WAIT_DAYS = 365

SequenceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$"),
    Field(description="a slug: lower-case letters and digits in words joined by single hyphens", examples=["welcome"]),
]
"""How a sequence is named in routes, events and timers: `welcome`, `trial-follow-up`."""

Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(single_line)
]
"""A single line of configuration text: a template's name, a task's title, a campaign."""


class NurtureExitReason(StrEnum):
    """Why an enrolment ended before its last step."""

    REPLY = "reply"
    """The person replied to an email."""
    MEETING = "meeting"
    DEMO = "demo"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    SCORE_BELOW_THRESHOLD = "score_below_threshold"
    MANUAL = "manual"


class StepSkipReason(StrEnum):
    """Why a step was passed over (the sequence goes on)."""

    NO_CONSENT = "no_consent"
    """An email step, and the person's email consent was never stated or was withdrawn."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmailAction(_Config):
    """Ask the email tool to send a template to the lead."""

    template: Label


class TaskAction(_Config):
    """Give the lead's owner something to do, due `due_in_days` business days after the step."""

    title: Label
    due_in_days: int | None = Field(default=None, ge=0, le=MAX_WAIT_DAYS)


class ScoreCheckAction(_Config):
    """Go on when the lead's score is at least `min_score`; `below` says what happens otherwise."""

    min_score: int = Field(ge=0, le=100)
    below: Literal["exit"] = "exit"


ACTIONS = ("email", "task", "score_check")


class NurtureStep(_Config):
    """One step: a wait in business days, then exactly one action."""

    wait_days: int = Field(ge=0, le=MAX_WAIT_DAYS, description="business days to wait before the action")
    email: EmailAction | None = None
    task: TaskAction | None = None
    score_check: ScoreCheckAction | None = None

    @model_validator(mode="after")
    def _exactly_one_action(self) -> NurtureStep:
        given = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {' and '.join(given)}" if given else "found none"
            raise ValueError(f"a step has exactly one action of {', '.join(ACTIONS)}; {found}")
        return self

    @property
    def action(self) -> str:
        """`email`, `task` or `score_check`."""
        return next(name for name in ACTIONS if getattr(self, name) is not None)

    def snapshot(self) -> dict[str, Any]:
        """The step as an enrolment records it (every field, null where unset)."""
        return self.model_dump(mode="json")


class EnrolWhen(_Config):
    """Which leads a sequence takes by itself: those matching every criterion given."""

    sources: list[LeadSource] | None = Field(default=None, min_length=1)
    campaigns: list[Label] | None = Field(default=None, min_length=1)
    min_score: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _says_something(self) -> EnrolWhen:
        if self.sources is None and self.campaigns is None and self.min_score is None:
            raise ValueError("enrol_when needs at least one of sources, campaigns, min_score (or leave it out)")
        return self

    def matches(self, source: str, campaign: str | None, score: int) -> bool:
        """True when a lead with this source, campaign and score meets every criterion."""
        if self.sources is not None and source not in self.sources:
            return False
        if self.campaigns is not None and campaign not in self.campaigns:
            return False
        return self.min_score is None or score >= self.min_score


class NurtureSequence(_Config):
    """A sequence's definition, as a manager writes it."""

    name: SequenceName
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(printable)
    ] = ""
    steps: list[NurtureStep] = Field(min_length=1, max_length=MAX_STEPS)
    enrol_when: EnrolWhen | None = None

    def step_snapshots(self) -> list[dict[str, Any]]:
        """The steps as an enrolment records them."""
        return [step.snapshot() for step in self.steps]


@dataclass(frozen=True)
class DefinedSequence:
    """A sequence as the workspace keeps it: the definition, who defined it and when."""

    definition: NurtureSequence
    defined_by: str
    defined_at: datetime

    @property
    def name(self) -> str:
        """The sequence's name."""
        return self.definition.name


def steps_of(snapshots: Sequence[Mapping[str, Any]]) -> tuple[NurtureStep, ...]:
    """The steps an enrolment recorded, as steps again."""
    return tuple(NurtureStep.model_validate(dict(snapshot)) for snapshot in snapshots)
