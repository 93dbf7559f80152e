"""The forecast's default model: monthly conversion hazards learned from past snapshots of the
pipeline, the line from open value to deal value, and the new business (on the forecast tests'
history, see tests/unit/test_forecast.py, and small histories of their own)."""

from __future__ import annotations

from datetime import date

import pytest

from projections.forecast import forecast
from projections.forecast_hazard import (
    MIN_VALUE_SAMPLE,
    PipelineHistory,
    default_hazard,
    learn_hazard,
    learn_value_lines,
    months_back,
    new_business,
)
from tests.unit.test_forecast import history, key
from tests.unit.test_pipeline_projection import LeadLog, on, store_of

MARCH = on(3, 1)


def test_the_open_pipeline_at_an_instant_has_each_leads_stage_and_age_in_it() -> None:
    pipeline = PipelineHistory.load(store_of(history().records))
    leads = {lead.lead_id: (lead.stage, lead.age_days) for lead in pipeline.open_at(on(2, 1))}
    # won1 proposal since 01-20, won2 proposal from 02-01, lost1 qualified since 01-20, open2 new
    # from 02-01, open3 proposal since 01-25; lost2 was disqualified 01-30
    assert leads == {
        key("won1"): ("proposal", 12.0),
        key("won2"): ("proposal", 0.0),
        key("lost1"): ("qualified", 12.0),
        key("open2"): ("new", 0.0),
        key("open3"): ("proposal", 7.0),
    }


def test_a_stage_and_age_whose_past_leads_converted_the_next_month_is_given_a_higher_chance() -> None:
    pipeline = PipelineHistory.load(store_of(history().records))
    table = learn_hazard(pipeline, MARCH, months=1)
    # on 02-01 the proposals aged 7..14 days were won1 (won 02-10) and open3 (not won in February);
    # the one aged under 7 days, won2, converted only on 03-03
    older = next(lead for lead in pipeline.open_at(on(2, 1)) if lead.lead_id == key("won1"))
    younger = next(lead for lead in pipeline.open_at(on(2, 1)) if lead.lead_id == key("won2"))
    assert table(older, 0) > table(younger, 0)
    assert table.observations["proposal"] == 3


def test_what_is_learned_uses_only_months_that_had_ended_by_the_forecast_date() -> None:
    full = PipelineHistory.load(store_of(history().records))
    cut = PipelineHistory.load(store_of(history().until(on(3, 1))))
    learned, replayed = learn_hazard(full, MARCH, 2), learn_hazard(cut, MARCH, 2)
    assert (learned.by_bucket, learned.by_stage, learned.season) == (
        replayed.by_bucket,
        replayed.by_stage,
        replayed.season,
    )


def test_a_stage_never_seen_open_before_gets_the_defaults_for_the_leads_own_age() -> None:
    pipeline = PipelineHistory.load(store_of(history().records))
    table = learn_hazard(pipeline, MARCH, months=3)
    # no lead was in negotiation at any earlier snapshot; open4 enters it on 03-14
    [open4] = [lead for lead in pipeline.open_at(on(3, 15)) if lead.lead_id == key("open4")]
    assert [table(open4, k) for k in range(3)] == [
        default_hazard("negotiation", open4.age_days, MARCH, k) for k in range(3)
    ]
    assert default_hazard("negotiation", 1.0, MARCH, 0) == 0.70  # closes 03-14: in March
    assert default_hazard("negotiation", 1.0, MARCH, 1) == 0.0


def test_the_expected_deal_value_follows_a_line_learned_from_the_conversions() -> None:
    log = LeadLog()
    for n in range(MIN_VALUE_SAMPLE):
        log.capture(f"lead{n}", on(1, 1 + n), value=10_000 + 1_000 * n)
        log.convert(f"lead{n}", on(2, 1 + n), 2 * (10_000 + 1_000 * n) + 500)
    pipeline = PipelineHistory.load(store_of(log.records))
    line = learn_value_lines(pipeline, on(3, 1))["USD"]
    assert (line.intercept, line.slope, line.learned) == (pytest.approx(500), pytest.approx(2.0), True)
    assert line.expected(1_000) == pytest.approx(2_500)
    # one conversion fewer: a deal is expected at its open value
    early = learn_value_lines(pipeline, on(2, MIN_VALUE_SAMPLE - 1))["USD"]
    assert (early.slope, early.intercept, early.learned, early.sample_size) == (1.0, 0.0, False, MIN_VALUE_SAMPLE - 1)


def test_new_business_is_the_mean_value_converted_from_leads_captured_after_each_snapshot() -> None:
    log = LeadLog()
    log.capture("old", on(1, 2), value=5_000)
    log.capture("jan", on(1, 10), value=4_000)
    log.convert("jan", on(1, 20), 4_000)  # captured after the 01-01 snapshot, won in its month
    log.capture("feb", on(2, 3), value=9_000)
    log.convert("feb", on(2, 25), 9_000)
    log.convert("old", on(2, 26), 6_000)  # open at the 02-01 snapshot: not new business
    fresh = new_business(PipelineHistory.load(store_of(log.records)), MARCH, months=1)
    # snapshots 02-01 (9_000) and 01-01 (4_000); December is before the history
    assert fresh == {(0, "USD"): pytest.approx((9_000 + 4_000) / 2)}
    assert months_back(on(3, 31), 1) == on(2, 28)


def test_the_default_forecast_gives_each_month_the_pipelines_expected_value_and_the_new_business() -> None:
    store = store_of(history().records)
    result = forecast(store, on(3, 15), months=3, min_sample=2)
    march = result.row(date(2026, 3, 1), "USD")
    assert march.closed == 60_000  # won2, 03-03
    assert march.expected_total == march.closed + march.pipeline + march.new_business
    assert {d.lead_id for d in result.deals} == {key(n) for n in ("open1", "open2", "open4", "open5", "open6", "open3")}
    for deal in result.deals:
        assert 0.0 <= deal.probability <= 1.0
    # too few leads closed for the learned win probability: the hazard's chances, and it says why
    hazard = forecast(store, on(3, 15), months=3, min_sample=2, model="hazard")
    assert (result.model, result.win_model, hazard.model) == ("hazard_win", None, "hazard")
    assert result.win_model_reason is not None and "too few closed leads" in result.win_model_reason
    assert (result.rows, result.deals) == (hazard.rows, hazard.deals)
