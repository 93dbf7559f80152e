"""The forecast backtest on the forecast tests' history: per month the forecast made at its start
(from what was known then), the naive baselines from the months before, and the MAEs."""

from __future__ import annotations

from datetime import date

import pytest

from projections.forecast import forecast
from projections.forecast_backtest import backtest
from tests.unit.test_forecast import history
from tests.unit.test_pipeline_projection import on, store_of

FEB, MAR, APR, MAY = date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)


def test_each_month_has_the_forecast_made_at_its_start_the_baselines_and_what_converted() -> None:
    store = store_of(history().records)
    result = backtest(store, date(2026, 2, 14), date(2026, 5, 31), months=1, min_sample=2)
    usd = [r for r in result.rows if r.currency == "USD"]
    assert [(r.month, r.made_as_of) for r in usd] == [(m, m) for m in (FEB, MAR, APR, MAY)]
    assert [r.actual for r in usd] == [100_000, 160_000, 95_000, 10_000]
    assert [r.last_month for r in usd] == [0, 100_000, 160_000, 95_000]
    assert [r.mean_three for r in usd] == [0, 33_333, 86_667, 118_333]
    made_in_march = forecast(store, on(3, 1), 1, min_sample=2).row(MAR, "USD").expected_total
    assert usd[1].forecast == made_in_march


def test_the_summary_gives_each_mae_and_the_ratio_to_the_best_baseline() -> None:
    result = backtest(store_of(history().records), FEB, MAY, months=1, min_sample=2)
    summary = result.summary("USD")
    assert summary.months == 4
    assert summary.last_month_mae == pytest.approx(310_000 / 4)
    assert summary.mean_three_mae == pytest.approx(343_333 / 4)
    assert summary.best_baseline == "last_month"
    forecast_mae = sum(abs(r.actual - r.forecast) for r in result.rows if r.currency == "USD") / 4
    assert summary.ratio == pytest.approx(forecast_mae / (310_000 / 4))


def test_a_longer_horizon_makes_each_forecast_that_many_month_starts_earlier() -> None:
    result = backtest(store_of(history().records), APR, MAY, months=2, min_sample=2)
    assert [r.made_as_of for r in result.rows if r.currency == "USD"] == [MAR, APR]


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError):
        backtest(store_of(history().records), MAY, FEB)
