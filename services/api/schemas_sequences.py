"""What the nurture sequence routes answer with: a sequence's definition with who defined it and
when, the list of them, and a sequence's statistics. Request bodies are the command models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.nurture import DefinedSequence, EnrolWhen, NurtureStep
from projections.nurture import SequenceStats

SEQUENCE_EXAMPLE: dict[str, Any] = {
    "name": "trial-follow-up",
    "description": "Keep trial users warm until they talk to sales",
    "steps": [
        {"wait_days": 0, "email": {"template": "trial-welcome"}},
        {"wait_days": 2, "email": {"template": "trial-case-study"}},
        {"wait_days": 3, "task": {"title": "Call about the trial", "due_in_days": 1}},
        {"wait_days": 5, "score_check": {"min_score": 40, "below": "exit"}},
    ],
    "enrol_when": {"sources": ["web_form"], "campaigns": ["free-trial"], "min_score": 10},
}
"""A sequence as a manager defines it (the OpenAPI examples use it)."""


class SequencePublic(BaseModel):
    """A nurture sequence's definition, who defined it and when."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**SEQUENCE_EXAMPLE, "defined_by": "maria", "defined_at": "2026-03-02T14:05:00Z"}]
        }
    )

    name: str
    description: str
    steps: list[NurtureStep]
    enrol_when: EnrolWhen | None
    defined_by: str = Field(description="the user who defined it")
    defined_at: datetime

    @classmethod
    def of(cls, stored: DefinedSequence) -> SequencePublic:
        definition = stored.definition
        return cls(
            name=definition.name,
            description=definition.description,
            steps=list(definition.steps),
            enrol_when=definition.enrol_when,
            defined_by=stored.defined_by,
            defined_at=stored.defined_at,
        )


class SequenceList(BaseModel):
    """Every nurture sequence, by name."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [{**SEQUENCE_EXAMPLE, "defined_by": "maria", "defined_at": "2026-03-02T14:05:00Z"}]}]
        }
    )

    items: list[SequencePublic]


class SequenceStatsPublic(BaseModel):
    """How a nurture sequence has done, from the nurture read model."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sequence": "trial-follow-up",
                    "enrolled": 120,
                    "active": 31,
                    "completed": 52,
                    "exited": {"reply": 21, "meeting": 9, "converted": 4, "score_below_threshold": 3},
                    "converted": 17,
                }
            ]
        }
    )

    sequence: str
    enrolled: int = Field(description="enrolments ever made (a lead enrolled twice counts twice)")
    active: int = Field(description="enrolments under way")
    completed: int = Field(description="enrolments that did their last step")
    exited: dict[str, int] = Field(description="enrolments that ended early, by reason")
    converted: int = Field(description="leads converted after being enrolled (each lead once)")

    @classmethod
    def of(cls, stats: SequenceStats) -> SequenceStatsPublic:
        return cls.model_validate(stats.model_dump())
