"""The scoring routes under /v1/scoring: how the learned win probability does against the rule
score, judged by what happened to the leads open at a past date."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from services.api.deps import MinPosition, Permit, ReadModelsDep, past_business_time
from services.api.problems import READ_MODEL_RESPONSES
from services.api.schemas_scoring import ScoringBacktestPublic
from services.auth.policy import Action

router = APIRouter(
    prefix="/v1/scoring",
    tags=["scoring"],
    responses={status: r for status, r in READ_MODEL_RESPONSES.items() if status != 404},
)

BacktestAsOf = Annotated[
    datetime,
    Query(
        description="the date the model is trained and the leads are scored as of (ISO 8601; UTC if no offset; "
        "not in the future)"
    ),
    AfterValidator(past_business_time),
]


@router.get(
    "/backtest",
    summary="The learned win probability against the rule score, by AUC",
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
)
def get_scoring_backtest(
    reads: ReadModelsDep, as_of: BacktestAsOf, min_position: MinPosition = None
) -> ScoringBacktestPublic:
    """The naive Bayes model trained as of `as_of` (from the leads closed by then) and the rule
    score as of `as_of`, each scoring the leads open at `as_of` that have closed since; each one's
    AUC (Mann-Whitney, ties half) against how they closed, with the counts and the model version
    (null, with the reason, below enough closed leads to learn from)."""
    return ScoringBacktestPublic.of(reads.caught_up(min_position).scoring_backtest(as_of))
