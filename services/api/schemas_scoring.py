"""What the API says of the learned win probability: a lead's, with its explanation, and the
backtest of it against the rule score."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from projections.win_model_queries import LeadWinProbability, ScoringBacktest

_MODEL = "nb-1:2026-03-02T00:00:00Z:412"
_TRAINED = "2026-03-02T00:00:00Z"
WIN_PROBABILITY_EXAMPLE: dict[str, Any] = {
    "value": 0.41,
    "reason": None,
    "model_version": _MODEL,
    "trained_as_of": _TRAINED,
    "base_log_odds": -0.52,
    "explanation": [
        {"feature": "stage", "value": "qualified", "contribution": 0.61},
        {"feature": "engagement", "value": "3-5", "contribution": 0.24},
        {"feature": "age", "value": "7-30d", "contribution": -0.18},
        {"feature": "source", "value": "web_form", "contribution": 0.07},
        {"feature": "owner", "value": "alice", "contribution": -0.05},
        {"feature": "campaign", "value": "spring-launch", "contribution": 0.03},
        {"feature": "company", "value": "other", "contribution": -0.02},
    ],
}
"""A lead's learned win probability, as GET /v1/leads/{id} shows it."""


class ContributionPublic(BaseModel):
    """One feature's part of a lead's log-odds of being won."""

    model_config = ConfigDict(from_attributes=True)

    feature: str
    value: str = Field(description="the lead's value of the feature as the model reads it (a bucket, or `other`)")
    contribution: float = Field(description="log P(value | won) - log P(value | lost)")


class WinProbabilityPublic(BaseModel):
    """A lead's learned P(won) at the time asked, with its explanation, or null and why not."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [WIN_PROBABILITY_EXAMPLE]})

    value: float | None = Field(description="P(won) from 0 to 1; null when there is no model or the lead is closed")
    reason: str | None = Field(description="why `value` is null; null otherwise")
    model_version: str | None = Field(description="`nb-1:<trained as of>:<closed leads learned from>`")
    trained_as_of: datetime | None = Field(description="the model learned from the leads closed by then")
    base_log_odds: float | None = Field(description="the won share's log-odds; plus the contributions: logit(value)")
    explanation: list[ContributionPublic] = Field(description="per feature, the largest contribution in size first")

    @classmethod
    def of(cls, found: LeadWinProbability) -> WinProbabilityPublic:
        """The public view of a lead's learned win probability."""
        return cls.model_validate(found)

    @classmethod
    def unavailable(cls, reason: str) -> WinProbabilityPublic:
        """No learned probability, and why (e.g. this server does not serve the read models)."""
        return cls(
            value=None, reason=reason, model_version=None, trained_as_of=None, base_log_odds=None, explanation=[]
        )


class ScoringBacktestPublic(BaseModel):
    """The learned win probability and the rule score as of a date, each judged by the AUC over
    the leads open then that have closed since."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "as_of": _TRAINED,
                    "model_version": _MODEL,
                    "reason": None,
                    "trained_leads": 412,
                    "leads": 85,
                    "won": 43,
                    "lost": 42,
                    "learned_auc": 0.62,
                    "rule_auc": 0.58,
                }
            ]
        },
    )

    as_of: datetime
    model_version: str | None = Field(description="the model trained as of `as_of`; null when none could be")
    reason: str | None = Field(description="why there is no learned model as of `as_of`; null otherwise")
    trained_leads: int = Field(description="closed leads the model learned from")
    leads: int = Field(description="leads open at `as_of` that have closed since")
    won: int
    lost: int
    learned_auc: float | None = Field(
        description="P(a won lead had a higher learned probability than a lost one), ties half; null without both"
    )
    rule_auc: float | None = Field(description="the same for the rule score at `as_of`")

    @classmethod
    def of(cls, result: ScoringBacktest) -> ScoringBacktestPublic:
        """The public view of a scoring backtest."""
        return cls.model_validate(result)
