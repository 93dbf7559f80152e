"""Segment definitions as data: a rules file, validated strictly by pydantic.

A rules file is JSON:

    {"segments": [
        {"name": "repeat_buyers",
         "description": "Bought on at least two different days",
         "unit": "days",
         "conditions": [{"feature": "frequency", "op": ">=", "value": 1}]}
    ]}

A contact is a member of a segment when ALL its conditions hold on the contact's features as of
the moment considered. A condition on a feature the contact does not have (e.g. days since the
last purchase of someone who never bought) never holds, whatever the operator.

`unit` (default "days") is the time unit of the RFM features `recency` and `T` when the segment
is evaluated; the `days_since_*` features are always in days. Money features (`total_value`,
`average_value`, `monetary`) are in minor units of the contact's main currency (see
`projections.contact_features.ContactFeatures`); thresholds are not converted between currencies.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from domain.values import ConsentChannel

Unit = Literal["days", "weeks"]

LIFECYCLE_STAGES: tuple[str, ...] = ("prospect", "new", "active", "at_risk", "lapsed")
"""The values of the `lifecycle` feature (defined in projections.contact_features)."""

FeatureKind = Literal["number", "text", "bool", "lifecycle"]

FEATURES: dict[str, FeatureKind] = {
    "purchase_count": "number",
    "total_value": "number",
    "average_value": "number",
    "frequency": "number",
    "recency": "number",
    "T": "number",
    "monetary": "number",
    "days_since_created": "number",
    "days_since_first_purchase": "number",
    "days_since_last_purchase": "number",
    "days_since_last_interaction": "number",
    "reactivations": "number",
    "currency": "text",
    "lifecycle": "lifecycle",
    **{f"consent_{channel.value}": "bool" for channel in ConsentChannel},
}
"""Every feature a condition may name, with the kind of value it compares against."""

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

_EQUALITY_ONLY = ("==", "!=")


class FeatureSource(Protocol):
    """Anything that gives a feature's value by name (None when the contact lacks it)."""

    def value(self, feature: str) -> Any: ...


class Condition(BaseModel):
    """`feature op value`, e.g. `days_since_last_purchase >= 90`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: str
    op: str
    value: StrictBool | StrictInt | StrictFloat | StrictStr

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, feature: str) -> str:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; known features: {', '.join(FEATURES)}")
        return feature

    @field_validator("op")
    @classmethod
    def _known_op(cls, op: str) -> str:
        if op not in OPERATORS:
            raise ValueError(f"unknown op {op!r}; use one of {' '.join(OPERATORS)}")
        return op

    @model_validator(mode="after")
    def _value_fits_feature(self) -> Condition:
        kind = FEATURES[self.feature]
        value = self.value
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"feature {self.feature!r} is a number; {value!r} is not")
        else:
            if self.op not in _EQUALITY_ONLY:
                raise ValueError(f"feature {self.feature!r} can only be compared with == or !=, not {self.op!r}")
            if kind == "bool" and not isinstance(value, bool):
                raise ValueError(f"feature {self.feature!r} is true or false; {value!r} is not")
            if kind in ("text", "lifecycle") and not isinstance(value, str):
                raise ValueError(f"feature {self.feature!r} is text; {value!r} is not")
            if kind == "lifecycle" and value not in LIFECYCLE_STAGES:
                raise ValueError(f"feature 'lifecycle' has no stage {value!r}; stages: {', '.join(LIFECYCLE_STAGES)}")
        return self

    def holds(self, actual: Any) -> bool:
        """Whether the condition holds for the feature's actual value (never for a missing one)."""
        if actual is None:
            return False
        return OPERATORS[self.op](actual, self.value)


class SegmentRule(BaseModel):
    """One segment: a name, a description and conditions that must all hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    description: str
    unit: Unit = "days"
    conditions: tuple[Condition, ...] = Field(min_length=1)

    def matches(self, features: FeatureSource) -> bool:
        """Whether every condition holds for these features."""
        return all(c.holds(features.value(c.feature)) for c in self.conditions)


class RuleSet(BaseModel):
    """The content of a rules file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segments: tuple[SegmentRule, ...]

    @field_validator("segments")
    @classmethod
    def _unique_names(cls, segments: tuple[SegmentRule, ...]) -> tuple[SegmentRule, ...]:
        seen: set[str] = set()
        for rule in segments:
            if rule.name in seen:
                raise ValueError(f"segment {rule.name!r} is defined twice")
            seen.add(rule.name)
        return segments


class UnknownSegment(LookupError):
    """No segment of that name in the rules."""


DEFAULT_RULES_FILE = "default_segments.json"


def load_rules(text: str) -> list[SegmentRule]:
    """The segments of a JSON rules file; raises pydantic.ValidationError naming what is wrong."""
    return list(RuleSet.model_validate_json(text).segments)


def default_rules() -> list[SegmentRule]:
    """The segments shipped with the package (projections/default_segments.json)."""
    text = resources.files("projections").joinpath(DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    return load_rules(text)


def rule_named(rules: Iterable[SegmentRule], name: str) -> SegmentRule:
    """The rule called `name`; UnknownSegment otherwise."""
    rules = list(rules)
    for rule in rules:
        if rule.name == name:
            return rule
    raise UnknownSegment(f"no segment {name!r}; segments: {', '.join(r.name for r in rules)}")
