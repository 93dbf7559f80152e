"""The read-model routes under /v1: the pipeline, the forecast and its accuracy, and segments
with their members, each as of a business time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from projections.forecast_backtest import MAX_BACKTEST_MONTHS
from services.api.deps import (
    BacktestFrom,
    BacktestMonths,
    BacktestTo,
    KnownAt,
    MadeAsOf,
    MinPosition,
    Months,
    OwnerFilter,
    PageQuery,
    Permit,
    ReadAsOf,
    ReadModelsDep,
    SegmentName,
    SourceAsOfFilter,
)
from services.api.pagination import keyset_page
from services.api.problems import READ_MODEL_RESPONSES, InvalidQuery, documented_problem
from services.api.schemas_read_models import (
    BacktestPublic,
    ForecastAccuracyPublic,
    ForecastPublic,
    PipelineSummaryPublic,
    SegmentList,
    SegmentMemberPublic,
    SegmentMembersPage,
)
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1", tags=["read models"], responses=READ_MODEL_RESPONSES)


@router.get("/pipeline", summary="The sales pipeline as of a time")
def get_pipeline(
    who: Annotated[Caller, Depends(Permit(Action.READ_PIPELINE))],
    reads: ReadModelsDep,
    as_of: ReadAsOf = None,
    owner: OwnerFilter = None,
    source: SourceAsOfFilter = None,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> PipelineSummaryPublic:
    """Count, value and weighted value per stage, conversion rates, win rate and time in
    stage. A rep sees their own pipeline only. With `known_at`, as the store knew it then."""
    owner = who.owner_filter(owner)
    with reads.caught_up(min_position).as_known_at(known_at) as queries:
        return PipelineSummaryPublic.of(queries.pipeline(as_of, owner, source.value if source else None))


@router.get("/forecast", summary="Expected revenue per month", dependencies=[Depends(Permit(Action.READ_INSIGHTS))])
def get_forecast(
    reads: ReadModelsDep,
    as_of: ReadAsOf = None,
    months: Months = 3,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> ForecastPublic:
    """Open pipeline x each deal's chance of closing by month of expected close (the hazard
    model's chance by stage and age in stage, moved by the learned win probability: `model`,
    `win_model`), in the categories closed, commit, best case and pipeline, per currency. With
    `known_at`, from what the store knew then."""
    with reads.caught_up(min_position).as_known_at(known_at) as queries:
        return ForecastPublic.of(queries.forecast(as_of, months))


@router.get(
    "/forecast/accuracy",
    summary="A past forecast against what actually closed",
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
)
def get_forecast_accuracy(
    reads: ReadModelsDep, made_as_of: MadeAsOf, months: Months = 3, min_position: MinPosition = None
) -> ForecastAccuracyPublic:
    """The forecast as made at `made_as_of`, month by month against the deal value converted."""
    return ForecastAccuracyPublic.of(reads.caught_up(min_position).forecast_accuracy(made_as_of, months))


@router.get(
    "/forecast/backtest",
    summary="The forecast against naive baselines, month by month",
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
)
def get_forecast_backtest(
    reads: ReadModelsDep,
    from_month: BacktestFrom,
    to_month: BacktestTo,
    months: BacktestMonths = 1,
    min_position: MinPosition = None,
) -> BacktestPublic:
    """Per calendar month from `from` to `to`, the forecast made before it (from what was known
    then) against the deal value converted in it, next to last month's and the mean of the last
    three months' converted value, with each one's mean absolute error per currency."""
    if from_month > to_month:
        raise InvalidQuery("from", f"{from_month.isoformat()} is after `to` ({to_month.isoformat()})", "range")
    if (to_month.year - from_month.year) * 12 + to_month.month - from_month.month >= MAX_BACKTEST_MONTHS:
        raise InvalidQuery("to", f"a backtest covers at most {MAX_BACKTEST_MONTHS} months", "range")
    queries = reads.caught_up(min_position)
    return BacktestPublic.of(queries.forecast_backtest(from_month, to_month, months))


@router.get(
    "/segments",
    summary="Every segment and its size as of a time",
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
)
def list_segments(
    reads: ReadModelsDep, as_of: ReadAsOf = None, known_at: KnownAt = None, min_position: MinPosition = None
) -> SegmentList:
    """Every segment the rules define, with how many contacts were in it at `as_of` (now by
    default). With `known_at`, from the events recorded by then."""
    queries = reads.caught_up(min_position)
    when = as_of or datetime.now(UTC)
    return SegmentList.of(when, queries.segments(when, known_at))


@router.get(
    "/segments/{name}/members",
    summary="A segment's members as of a time",
    responses={404: documented_problem("No such segment")},
)
def list_segment_members(
    name: SegmentName,
    who: Annotated[Caller, Depends(Permit(Action.READ_INSIGHTS))],
    reads: ReadModelsDep,
    page: PageQuery,
    as_of: ReadAsOf = None,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> SegmentMembersPage:
    """The members with when they entered, in contact id order; names masked for an analyst.
    With `known_at`, from the events recorded by then (names are the contacts' current ones)."""
    queries = reads.caught_up(min_position)
    when = as_of or datetime.now(UTC)
    members = sorted(queries.segment_members(name, when, known_at), key=lambda m: m.contact_id)
    rows, cursor = keyset_page(
        lambda after, limit: [m for m in members if after is None or m.contact_id > after][:limit],
        page,
        key=lambda member: member.contact_id,
    )
    who.read(member.contact_id for member in rows)
    masked = who.principal.masks_personal_data
    return SegmentMembersPage(
        segment=name,
        as_of=when,
        total=len(members),
        items=[SegmentMemberPublic.of(m, masked=masked) for m in rows],
        next_cursor=cursor,
    )
