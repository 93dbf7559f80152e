"""The forecast backtest: month by month, the forecast as it would have been made before the month
against the deal value actually converted in it, next to two naive baselines.

For each target month the forecast is made at the first instant of the month `months - 1` months
earlier (`months` = 1: at the target month's own first instant), from what was known then only.
The baselines use only the months closed by that instant: `last_month` is the value converted in
the month before it, `mean_three` the mean of the three months before it. Per currency, the mean
absolute error (MAE) of each over the range, and the forecast's MAE over the best baseline's.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from projections.forecast import (
    DEFAULT_MIN_SAMPLE,
    ForecastModel,
    _at_midnight,
    add_months,
    converted_deals,
    forecast,
    hazard_rows,
    month_start,
)
from projections.forecast_hazard import PipelineHistory
from projections.forecast_win import LeadJournal, LearnedWin, learned_win
from projections.row_changes import Reader

MAX_BACKTEST_MONTHS = 120
"""The most target months one backtest covers (each one recomputes a forecast)."""

Baseline = Literal["last_month", "mean_three"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class BacktestMonth(_Frozen):
    """One target month in one currency: the forecast, the baselines and what converted."""

    month: date
    currency: str
    made_as_of: date
    """The forecast (and the baselines) as of this date's first instant (UTC)."""
    forecast: int
    """The forecast's expected total for the month: already converted by then + expected value."""
    last_month: int
    """Deal value converted in the month before `made_as_of`."""
    mean_three: int
    """Mean deal value converted per month in the three months before `made_as_of` (rounded)."""
    actual: int
    """Deal value converted in the month, as recorded now."""
    win_model: str | None = None
    """The version of the learned win probability the forecast used (None: none, see `Forecast.win_model`)."""


class BacktestSummary(_Frozen):
    """The mean absolute errors over the range, in one currency."""

    currency: str
    months: int
    forecast_mae: float
    last_month_mae: float
    mean_three_mae: float
    best_baseline: Baseline
    """The baseline with the lower MAE (`last_month` on a tie)."""
    ratio: float | None
    """forecast_mae / the best baseline's MAE; None when that MAE is 0."""


class Backtest(_Frozen):
    from_month: date
    to_month: date
    horizon_months: int
    rows: list[BacktestMonth]
    """By month, then currency."""
    summaries: list[BacktestSummary]
    """One per currency seen, by currency."""

    def summary(self, currency: str) -> BacktestSummary:
        """The summary of one currency."""
        return next(s for s in self.summaries if s.currency == currency)


def monthly_converted(reader: Reader, first: date, last: date) -> dict[tuple[date, str], int]:
    """Deal value converted per (month, currency) in the months first..last (by closed_at)."""
    totals: dict[tuple[date, str], int] = defaultdict(int)
    start, end = _at_midnight(first), _at_midnight(add_months(last, 1))
    for d in converted_deals(reader, start, end, inclusive=False):
        totals[month_start(d["closed_at"]), d["currency"]] += d["deal_value"]
    return totals


def _mae(errors: list[int]) -> float:
    return sum(abs(e) for e in errors) / len(errors) if errors else 0.0


def backtest(
    reader: Reader,
    from_month: date,
    to_month: date,
    months: int = 1,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    by_age: bool = False,
    model: ForecastModel = "hazard_win",
) -> Backtest:
    """The forecast made `months` month starts before each month in [from_month, to_month] (both
    taken as their calendar month) against what converted in it, with the naive baselines;
    `model`: which forecast model (`by_age`: the stage-and-age one). The hazard models read the
    pipeline tables (and "hazard_win" the lead journal) once for the whole range, and "hazard_win"
    trains its win model as of each forecast's instant."""
    first, last = month_start_of(from_month), month_start_of(to_month)
    if first > last:
        raise ValueError("the range ends before it starts")
    if months < 1:
        raise ValueError("a forecast covers at least one month")
    targets = []
    month = first
    while month <= last:
        targets.append(month)
        month = add_months(month, 1)
    if len(targets) > MAX_BACKTEST_MONTHS:
        raise ValueError(f"a backtest covers at most {MAX_BACKTEST_MONTHS} months")
    lead = months - 1
    closed = monthly_converted(reader, add_months(first, -lead - 3), last)
    model = "stage_and_age" if by_age else model
    history = PipelineHistory.load(reader) if model in ("hazard", "hazard_win") else None
    journal = LeadJournal.load(reader) if model == "hazard_win" else None

    rows: list[BacktestMonth] = []
    for target in targets:
        made = add_months(target, -lead)
        learned = learned_win(journal, _at_midnight(made)) if journal is not None else None
        win = learned if isinstance(learned, LearnedWin) else None
        if history is not None:
            predicted_rows = hazard_rows(history, _at_midnight(made), months, win=win)
        else:
            predicted_rows = forecast(reader, _at_midnight(made), months, min_sample, model=model).rows
        expected = {r.currency: r.expected_total for r in predicted_rows if r.month == target}
        before = [add_months(made, -n) for n in (1, 2, 3)]
        currencies = sorted(set(expected) | {c for (m, c) in closed if m == target or m in before})
        for currency in currencies:
            rows.append(
                BacktestMonth(
                    month=target,
                    currency=currency,
                    made_as_of=made,
                    forecast=expected.get(currency, 0),
                    last_month=closed.get((before[0], currency), 0),
                    mean_three=round(sum(closed.get((m, currency), 0) for m in before) / 3),
                    actual=closed.get((target, currency), 0),
                    win_model=win.model.version if win is not None else None,
                )
            )
    summaries = []
    for currency in sorted({r.currency for r in rows}):
        mine = [r for r in rows if r.currency == currency]
        forecast_mae = _mae([r.actual - r.forecast for r in mine])
        last_mae = _mae([r.actual - r.last_month for r in mine])
        three_mae = _mae([r.actual - r.mean_three for r in mine])
        best: Baseline = "last_month" if last_mae <= three_mae else "mean_three"
        best_mae = min(last_mae, three_mae)
        summaries.append(
            BacktestSummary(
                currency=currency,
                months=len(mine),
                forecast_mae=forecast_mae,
                last_month_mae=last_mae,
                mean_three_mae=three_mae,
                best_baseline=best,
                ratio=forecast_mae / best_mae if best_mae else None,
            )
        )
    return Backtest(from_month=first, to_month=last, horizon_months=months, rows=rows, summaries=summaries)


def month_start_of(day: date) -> date:
    """The first day of the calendar month of `day`."""
    return date(day.year, day.month, 1)
