"""Nurture sequence definitions: what a valid one is, and errors that name the field of an
invalid one."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from domain.nurture import NurtureSequence, steps_of


def definition(**overrides: Any) -> dict[str, Any]:
    """A valid definition with one step of each action, as a manager would send it."""
    fields: dict[str, Any] = {
        "name": "trial-follow-up",
        "description": "Keep trial users warm until they talk to sales",
        "steps": [
            {"wait_days": 0, "email": {"template": "trial-welcome"}},
            {"wait_days": 2, "task": {"title": "Call about the trial", "due_in_days": 1}},
            {"wait_days": 1, "score_check": {"min_score": 40}},
        ],
        "enrol_when": {"sources": ["web_form"], "min_score": 10},
    }
    fields.update(overrides)
    return fields


def errors_of(fields: dict[str, Any]) -> dict[str, str]:
    """Dotted field path -> message, for a definition that must be invalid."""
    with pytest.raises(ValidationError) as caught:
        NurtureSequence.model_validate(fields)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def test_a_valid_definition_keeps_its_steps_in_order_with_one_action_each() -> None:
    sequence = NurtureSequence.model_validate(definition())

    assert [step.action for step in sequence.steps] == ["email", "task", "score_check"]
    assert sequence.steps[2].score_check is not None and sequence.steps[2].score_check.below == "exit"
    assert sequence.enrol_when is not None and sequence.enrol_when.matches("web_form", None, 10)


def test_the_snapshot_of_the_steps_gives_the_same_steps_back() -> None:
    sequence = NurtureSequence.model_validate(definition())

    snapshots = sequence.step_snapshots()

    assert steps_of(snapshots) == tuple(sequence.steps)
    assert snapshots[0] == {"wait_days": 0, "email": {"template": "trial-welcome"}, "task": None, "score_check": None}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"wait_days": -1, "email": {"template": "x"}}]}, "steps.0.wait_days"),
        ({"steps": [{"wait_days": 0, "sms": {"text": "hi"}}]}, "steps.0.sms"),
        ({"steps": [{"wait_days": 0, "email": {"template": ""}}]}, "steps.0.email.template"),
        ({"steps": [{"wait_days": 0, "task": {"title": "call", "due_in_days": -2}}]}, "steps.0.task.due_in_days"),
        ({"steps": [{"wait_days": 0, "score_check": {"min_score": 101}}]}, "steps.0.score_check.min_score"),
        ({"steps": [{"wait_days": 0, "score_check": {"min_score": 5, "below": "wait"}}]}, "steps.0.score_check.below"),
        ({"name": "Trial Follow Up"}, "name"),
        ({"name": ""}, "name"),
        ({"enrol_when": {"sources": ["carrier_pigeon"]}}, "enrol_when.sources.0"),
        ({"enrol_when": {"min_score": -1}}, "enrol_when.min_score"),
        ({"colour": "blue"}, "colour"),
        ({"steps": [{"wait_days": 0, "email": {"template": "welcome\u202e1"}}]}, "steps.0.email.template"),
        ({"steps": [{"wait_days": 0, "task": {"title": "call\nback"}}]}, "steps.0.task.title"),
        ({"description": "nul\x00here"}, "description"),
        ({"enrol_when": {"campaigns": ["spring\u2028sale"]}}, "enrol_when.campaigns.0"),
    ],
)
def test_an_invalid_definition_names_the_field(fields: dict[str, Any], field: str) -> None:
    assert field in errors_of(definition(**fields))


def test_a_step_without_an_action_or_with_two_is_invalid() -> None:
    none = errors_of(definition(steps=[{"wait_days": 1}]))
    two = errors_of(definition(steps=[{"wait_days": 1, "email": {"template": "a"}, "task": {"title": "b"}}]))

    assert "exactly one action" in none["steps.0"] and "found none" in none["steps.0"]
    assert "found email and task" in two["steps.0"]


def test_an_empty_enrolment_rule_is_refused_rather_than_enrolling_everyone() -> None:
    assert "at least one of" in errors_of(definition(enrol_when={}))["enrol_when"]


def test_an_enrolment_rule_matches_only_when_every_criterion_holds() -> None:
    rule = NurtureSequence.model_validate(
        definition(enrol_when={"sources": ["webinar"], "campaigns": ["spring"], "min_score": 30})
    ).enrol_when
    assert rule is not None

    assert rule.matches("webinar", "spring", 30)
    assert not rule.matches("webinar", "spring", 29)
    assert not rule.matches("web_form", "spring", 90)
    assert not rule.matches("webinar", None, 90)
