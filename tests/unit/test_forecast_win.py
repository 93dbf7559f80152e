"""The hazard forecast moved by the learned win probability: each open deal's odds times the naive
Bayes likelihood ratio of what the hazard does not see, scaled per stage back to the hazard's
expected conversions; the model trained as of the start of the forecast's day."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from projections.forecast import forecast
from projections.forecast_backtest import backtest
from projections.forecast_hazard import OpenLead
from projections.forecast_win import UNSEEN_FEATURES, LeadJournal, adjusted, reweigh, trained_at
from projections.win_model import WinModel
from tests.unit.test_pipeline_projection import LeadLog, on
from tests.unit.test_win_model import journaled


def lead(name: str, stage: str = "proposal") -> OpenLead:
    return OpenLead(name, stage, "alice", 1_000, "USD", on(3, 1), 10.0)


def test_a_likelihood_ratio_multiplies_the_odds_of_the_hazards_chance() -> None:
    # p = 0.2: odds 1/4; x 3 = 3/4, which is p = 3/7
    assert adjusted(0.2, math.log(3)) == pytest.approx(3 / 7)
    assert adjusted(0.2, -math.log(3)) == pytest.approx((1 / 12) / (1 + 1 / 12))
    assert adjusted(0.2, 0.0) == pytest.approx(0.2)
    # a certain or impossible chance has no odds to move
    assert (adjusted(0.0, 5.0), adjusted(1.0, -5.0)) == (0.0, 1.0)


def test_reweighing_moves_deals_within_a_stage_and_keeps_each_stages_expected_conversions() -> None:
    deals = [(lead("good"), 0.2), (lead("poor"), 0.2), (lead("alone", "qualified"), 0.1)]
    good, poor, alone = reweigh(deals, [math.log(3), -math.log(3), math.log(3)])
    # moved: 3/7 and 1/13; scaled by 0.4 / (3/7 + 1/13) so the proposals still sum to 0.4
    scale = 0.4 / (3 / 7 + 1 / 13)
    assert (good, poor) == (pytest.approx(3 / 7 * scale), pytest.approx(1 / 13 * scale))
    assert good == pytest.approx(0.33913, abs=1e-5) and poor == pytest.approx(0.06087, abs=1e-5)
    assert good + poor == pytest.approx(0.4)
    # alone in its stage, a deal keeps the hazard's chance whatever its ratio
    assert alone == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one likelihood ratio per deal"):
        reweigh(deals, [0.0])


def test_the_model_is_trained_as_of_the_start_of_the_forecasts_day() -> None:
    assert trained_at(on(4, 1) + timedelta(hours=13, minutes=5)) == on(4, 1)
    assert trained_at(datetime.fromisoformat("2026-04-01T23:30:00-02:00")) == on(4, 2)


def source_history() -> LeadLog:
    """40 leads closed from proposal in January and February: referrals mostly won, web forms
    mostly lost; two leads open in proposal since 03-02, one of each source; one referral won
    on 04-01 in the morning (after the start of the forecast's day)."""
    log = LeadLog()
    for n in range(40):
        name, start = f"lead{n}", on(1, 1) + timedelta(days=n)
        referral = n % 2 == 0
        log.capture(name, start, source="referral" if referral else "web_form")
        log.move(name, "proposal", start + timedelta(days=2))
        closing = start + timedelta(days=15)
        won = n % 10 != 0 if referral else n % 10 == 1
        (log.convert(name, closing, 1_000) if won else log.disqualify(name, closing))
    for name, source in (("ref", "referral"), ("web", "web_form"), ("late", "referral")):
        log.capture(name, on(3, 1), source=source)
        log.move(name, "proposal", on(3, 2))
    log.convert("late", on(4, 1) + timedelta(hours=9), 1_000)
    return log


def test_the_default_forecast_moves_a_referral_up_and_a_web_form_down_and_names_its_model() -> None:
    store = journaled(source_history())
    as_of = on(4, 1) + timedelta(hours=12)
    learned = forecast(store, as_of, months=1)
    hazard = forecast(store, as_of, months=1, model="hazard")
    model = LeadJournal.load(store).model(as_of)
    assert isinstance(model, WinModel)
    # trained as of 04-01 00:00 from the 40 closed in January and February: not from "late"
    assert model.version == "nb-1:2026-04-01T00:00:00Z:40" == learned.win_model
    assert (learned.model, hazard.model, hazard.win_model, learned.win_model_reason) == (
        "hazard_win",
        "hazard",
        None,
        None,
    )
    ref, web = LeadLog.key("ref"), LeadLog.key("web")
    p = hazard.deal(ref).probability
    assert hazard.deal(web).probability == pytest.approx(p) and 0.0 < p < 1.0
    # referrals: 16 won, 4 lost; web forms: 4 won, 16 lost; Laplace-smoothed over the two sources
    # seen, 20 won and 20 lost in all (so the features every lead shares contribute nothing)
    ratio = {"referral": (17 / 22) / (5 / 22), "web_form": (5 / 22) / (17 / 22)}
    odds = p / (1 - p)
    moved = {s: odds * r / (1 + odds * r) for s, r in ratio.items()}
    scale = 2 * p / (moved["referral"] + moved["web_form"])
    assert learned.deal(ref).probability == pytest.approx(moved["referral"] * scale)
    assert learned.deal(web).probability == pytest.approx(moved["web_form"] * scale)
    assert learned.deal(ref).probability > p > learned.deal(web).probability
    # the pipeline's expected value stays the hazard's: both deals are worth the same
    month = learned.months[0]
    assert learned.row(month, "USD").pipeline == pytest.approx(hazard.row(month, "USD").pipeline, abs=1)
    assert set(UNSEEN_FEATURES).isdisjoint({"stage", "age"})


def test_a_backtest_names_the_win_model_each_months_forecast_was_made_with() -> None:
    store = journaled(source_history())
    result = backtest(store, on(3, 1).date(), on(4, 1).date(), months=1)
    by_month = {r.month.isoformat(): r.win_model for r in result.rows}
    # 03-01: 40 closed by then (the last of them on 02-24); 04-01: the same 40, trained anew
    assert by_month == {"2026-03-01": "nb-1:2026-03-01T00:00:00Z:40", "2026-04-01": "nb-1:2026-04-01T00:00:00Z:40"}
    hazard = backtest(store, on(3, 1).date(), on(4, 1).date(), months=1, model="hazard")
    assert {r.win_model for r in hazard.rows} == {None}
