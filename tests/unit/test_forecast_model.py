"""The forecast's deal model: P(win) by stage and age in stage, and the close curve from that age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from projections.forecast_model import DealHistory, close_curve, stage_and_age_win_probability
from projections.pipeline_queries import DEFAULT_WIN_PROBABILITIES, StageInterval

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
START = datetime(2025, 6, 1, tzinfo=UTC)


def history() -> DealHistory:
    """40 leads in `qualified`: 20 won 10 days after entering it, 20 left there for good."""
    intervals = []
    for n in range(40):
        entered = START + timedelta(days=n)
        if n % 2:
            won = entered + timedelta(days=10)
            intervals += [
                StageInterval(f"won{n}", "qualified", entered, won),
                StageInterval(f"won{n}", "converted", won, None),
            ]
        else:
            intervals.append(StageInterval(f"stale{n}", "qualified", entered, None))
    return DealHistory.of(intervals, AS_OF)


def test_a_deal_older_in_its_stage_than_the_won_ones_ever_were_wins_less() -> None:
    p = stage_and_age_win_probability(DEFAULT_WIN_PROBABILITIES, min_sample=20)
    fresh, stale = p("qualified", 0.0, history()), p("qualified", 60.0, history())
    assert fresh > 0.45
    assert stale < 0.1


def test_the_close_curve_counts_the_days_from_the_deal_s_age_to_conversion() -> None:
    curve = close_curve("qualified", 4.0, history(), min_sample=20, default_days=45.0, overdue_days=7.0)
    assert curve.learned and curve.median() == 6.0
    assert curve.share_between(0.0, 7.0) == 1.0 and curve.share_between(7.0, 31.0) == 0.0


def test_below_the_minimum_sample_the_close_falls_back_to_the_stage_default() -> None:
    curve = close_curve("proposal", 10.0, history(), min_sample=20, default_days=30.0, overdue_days=7.0)
    assert not curve.learned and curve.days == [20.0]
