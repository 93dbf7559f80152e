"""The revenue forecast: per calendar month, what the open pipeline is expected to bring, in the
forecast categories closed, commit, best case and pipeline, plus the new business.

By default (`model` "hazard_win") each open lead brings its expected deal value x its chance of
converting in the month, learned from past snapshots of the pipeline (`projections.forecast_hazard`)
and moved by what the learned win probability knows of the lead (`projections.forecast_win`);
"hazard" is the same without the learned win probability.
The stage model ("stage") takes open pipeline x win probability, in the month of the expected close.
Its win probabilities and times to close (reported with every forecast) are learned from the
leads closed by the forecast date when there are enough of them, else the configured defaults
apply. Everything is computed as of a business time, so a forecast can be recomputed as of a past
date and compared with what actually closed (`forecast_accuracy`). Months are calendar months in
UTC; money is integer minor units per currency.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from domain.time import parse_time, utc
from domain.values import Stage
from projections.forecast_hazard import (
    DEFAULT_DAYS_TO_CLOSE,
    ConversionHazard,
    PipelineHistory,
    learn_hazard,
    learn_value_lines,
    window_end,
    window_start,
)
from projections.forecast_hazard import new_business as hazard_new_business
from projections.forecast_model import DealHistory, WinProbability, close_curve, stage_and_age_win_probability
from projections.forecast_win import LeadJournal, LearnedWin, learned_win, reweigh
from projections.pipeline import LEADS
from projections.pipeline_queries import (
    CLOSED_STAGES,
    DEFAULT_WIN_PROBABILITIES,
    OPEN_STAGE_ORDER,
    LeadVersion,
    StageInterval,
    days_between,
    lead_versions_at,
    stage_intervals_until,
    stages_reached,
)
from projections.row_changes import Reader
from projections.win_model import NoModel, WinModel

COMMIT_THRESHOLD = 0.7
"""An open lead whose win probability is at least this is `commit`."""

BEST_CASE_THRESHOLD = 0.4
"""An open lead whose win probability is at least this is `best_case` (which includes commit)."""

DEFAULT_MIN_SAMPLE = 20
"""Fewest closed (for win probabilities) or converted (for times to close) leads of a stage from
which its value is learned rather than taken from the defaults."""

OVERDUE_CLOSE_DAYS = 7.0
"""An open lead already past its expected close is expected to close this many days after the
forecast date."""

Category = Literal["commit", "best_case", "pipeline"]

ForecastModel = Literal["hazard_win", "hazard", "stage", "stage_and_age"]
"""`hazard_win` (the default): the hazard model's chances moved by the learned win probability's
likelihood ratio of what the hazard does not see (`projections.forecast_win`); `hazard`: monthly
conversion hazards by stage and age alone (`projections.forecast_hazard`);
`stage`: each lead's stage win probability at its expected close; `stage_and_age`: P(win | stage,
age) spread by a close curve (`projections.forecast_model`)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- win probabilities ------------------------------------------------------------------------


class StageProbability(_Frozen):
    """Win probability of an open stage: learned from `sample_size` closed leads, or the default."""

    stage: str
    probability: float
    sample_size: int
    """Leads that reached the stage and were closed (converted or disqualified) by `as_of`."""
    converted: int
    learned: bool


class WinProbabilities(_Frozen):
    as_of: datetime
    min_sample: int
    stages: list[StageProbability]
    """One per open stage, in pipeline order."""

    @property
    def probabilities(self) -> dict[str, float]:
        return {s.stage: s.probability for s in self.stages}

    def stage(self, name: str) -> StageProbability:
        return next(s for s in self.stages if s.stage == name)


_CLOSED = frozenset(CLOSED_STAGES)


def learn_win_probabilities(
    reader: Reader,
    as_of: datetime,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    defaults: Mapping[str, float] = DEFAULT_WIN_PROBABILITIES,
) -> WinProbabilities:
    """Per open stage, the share converted among the leads that entered the stage and were closed,
    both on or before `as_of`; the default when fewer than `min_sample` such leads closed."""
    as_of = utc(as_of)
    reached = stages_reached(stage_intervals_until(reader, as_of))
    stages = []
    for stage in OPEN_STAGE_ORDER:
        closed = [seen for seen in reached.values() if stage in seen and seen & _CLOSED]
        won = sum(1 for seen in closed if Stage.CONVERTED.value in seen)
        learned = len(closed) >= min_sample and len(closed) > 0
        stages.append(
            StageProbability(
                stage=stage,
                probability=won / len(closed) if learned else defaults[stage],
                sample_size=len(closed),
                converted=won,
                learned=learned,
            )
        )
    return WinProbabilities(as_of=as_of, min_sample=min_sample, stages=stages)


# --- expected close dates ---------------------------------------------------------------------


class StageDaysToClose(_Frozen):
    """Median days from entering an open stage to conversion, learned or the default."""

    stage: str
    days: float
    sample_size: int
    """Leads converted by `as_of` that had entered the stage before converting."""
    learned: bool


class DaysToClose(_Frozen):
    as_of: datetime
    min_sample: int
    stages: list[StageDaysToClose]
    """One per open stage, in pipeline order."""

    @property
    def days(self) -> dict[str, float]:
        return {s.stage: s.days for s in self.stages}

    def stage(self, name: str) -> StageDaysToClose:
        return next(s for s in self.stages if s.stage == name)


def learn_days_to_close(
    reader: Reader,
    as_of: datetime,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    defaults: Mapping[str, float] = DEFAULT_DAYS_TO_CLOSE,
) -> DaysToClose:
    """Per open stage, the median days from a lead's (last) entry into the stage to its conversion,
    over the leads converted on or before `as_of`; the default below `min_sample` of them."""
    as_of = utc(as_of)
    by_lead: dict[str, list[StageInterval]] = defaultdict(list)
    for interval in stage_intervals_until(reader, as_of):
        by_lead[interval.lead_id].append(interval)
    samples: dict[str, list[float]] = defaultdict(list)
    for intervals in by_lead.values():
        won_at = next((i.entered_at for i in intervals if i.stage == Stage.CONVERTED.value), None)
        if won_at is None:
            continue
        last_entry: dict[str, datetime] = {}
        for i in intervals:  # ordered by entry time
            if i.stage in OPEN_STAGE_ORDER and i.entered_at <= won_at:
                last_entry[i.stage] = i.entered_at
        for stage, entered_at in last_entry.items():
            samples[stage].append(days_between(entered_at, won_at))
    stages = []
    for stage in OPEN_STAGE_ORDER:
        observed = samples[stage]
        learned = len(observed) >= min_sample and len(observed) > 0
        stages.append(
            StageDaysToClose(
                stage=stage,
                days=statistics.median(observed) if learned else defaults[stage],
                sample_size=len(observed),
                learned=learned,
            )
        )
    return DaysToClose(as_of=as_of, min_sample=min_sample, stages=stages)


def expected_close(stage_entered_at: datetime, days_to_close: float, as_of: datetime) -> datetime:
    """When a lead that entered its stage at `stage_entered_at` is expected to convert, seen from
    `as_of`: entry + days to close, or `as_of` + OVERDUE_CLOSE_DAYS if that is already past."""
    expected = utc(stage_entered_at) + timedelta(days=days_to_close)
    as_of = utc(as_of)
    return expected if expected >= as_of else as_of + timedelta(days=OVERDUE_CLOSE_DAYS)


# --- the forecast -----------------------------------------------------------------------------


def category_of(probability: float) -> Category:
    """The forecast category of an open lead with this win probability."""
    if probability >= COMMIT_THRESHOLD:
        return "commit"
    if probability >= BEST_CASE_THRESHOLD:
        return "best_case"
    return "pipeline"


class OpenDeal(_Frozen):
    """An open lead at the forecast date, with its chance and expected close."""

    lead_id: str
    stage: str
    owner: str | None
    value: int | None
    currency: str | None
    probability: float
    expected_value: float
    """value x probability, unrounded (0 without a value)."""
    stage_entered_at: datetime
    expected_close: datetime
    category: Category


class ForecastMonth(_Frozen):
    """One calendar month of the forecast in one currency (minor units).

    closed: deals converted in the month, on or before the forecast date (their deal values).
    commit / best_case / pipeline: expected (probability-weighted) value of the open leads expected
    to close in the month whose win probability is >= COMMIT_THRESHOLD / >= BEST_CASE_THRESHOLD /
    any; the categories nest: commit <= best_case <= pipeline."""

    month: date
    currency: str
    closed: int
    commit: int
    best_case: int
    pipeline: int
    new_business: int = 0
    """Expected value from leads not yet captured (or not open) at the forecast date: the mean, over
    the three months before it, of the value converted in a month from leads captured in or after
    the month as far before it as this month is after the forecast's first month."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expected_total(self) -> int:
        """What the month is expected to bring in: closed + pipeline + new business."""
        return self.closed + self.pipeline + self.new_business


class Forecast(_Frozen):
    as_of: datetime
    months: list[date]
    """First day of each forecast month, starting with the month of `as_of`."""
    rows: list[ForecastMonth]
    """Per month and currency, for every currency seen in the horizon; by month, then currency."""
    beyond_horizon: dict[str, int]
    """Expected value of open leads expected to close after the last month, per currency."""
    deals: list[OpenDeal]
    win_probabilities: WinProbabilities
    days_to_close: DaysToClose
    commit_threshold: float = COMMIT_THRESHOLD
    best_case_threshold: float = BEST_CASE_THRESHOLD
    model: ForecastModel = "hazard_win"
    """The model the forecast was made with."""
    win_model: str | None = None
    """The version of the learned win probability that moved the deals' chances (`nb-1:<trained as
    of>:<leads>`); None when none did: another model, or too little closed to learn from."""
    win_model_reason: str | None = None
    """Why the `hazard_win` forecast has no learned win probability, when it has none."""

    def row(self, month: date, currency: str) -> ForecastMonth:
        return next(r for r in self.rows if r.month == month and r.currency == currency)

    def deal(self, lead_id: str) -> OpenDeal:
        return next(d for d in self.deals if d.lead_id == lead_id)


def month_start(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def _at_midnight(day: date) -> datetime:
    return utc(datetime(day.year, day.month, day.day))


def converted_deals(
    reader: Reader, closed_from: datetime, closed_until: datetime, inclusive: bool
) -> list[dict[str, Any]]:
    """Converted leads with closed_at in [closed_from, closed_until] (or [.., ..) if not inclusive):
    lead_id, closed_at (datetime), deal_value, currency."""
    rows = reader.fetch(
        f"SELECT lead_id, closed_at, deal_value, currency FROM {LEADS.name}"
        f" WHERE stage = ? AND closed_at >= ? AND closed_at {'<=' if inclusive else '<'} ?"
        " ORDER BY closed_at, lead_id",
        [Stage.CONVERTED.value, utc(closed_from), utc(closed_until)],
    )
    return [{**r, "closed_at": parse_time(r["closed_at"]), "deal_value": int(r["deal_value"] or 0)} for r in rows]


def open_deals(
    reader: Reader, as_of: datetime, probabilities: Mapping[str, float], days_to_close: Mapping[str, float]
) -> list[OpenDeal]:
    """The leads open at `as_of` with their probability, expected value and expected close."""
    as_of = utc(as_of)
    entered = {i.lead_id: i.entered_at for i in stage_intervals_until(reader, as_of) if i.left_at is None}
    deals = []
    for v in lead_versions_at(reader, as_of):
        if v.stage not in probabilities:
            continue
        entered_at = entered.get(v.lead_id, as_of)  # always found unless business times run backwards
        close = expected_close(entered_at, days_to_close[v.stage], as_of)
        deals.append(_open_deal(v, probabilities[v.stage], entered_at, close))
    return deals


def _open_deal(v: LeadVersion, p: float, entered_at: datetime, close: datetime) -> OpenDeal:
    """An open lead as the forecast counts it: win probability `p`, expected close `close`."""
    return OpenDeal(
        lead_id=v.lead_id,
        stage=v.stage,
        owner=v.owner,
        value=v.value,
        currency=v.currency,
        probability=p,
        expected_value=(v.value or 0) * p,
        stage_entered_at=entered_at,
        expected_close=close,
        category=category_of(p),
    )


def scored_deals(
    reader: Reader,
    as_of: datetime,
    month_list: list[date],
    min_sample: int,
    days_to_close: Mapping[str, float],
    win_probability: WinProbability | None = None,
) -> list[tuple[OpenDeal, list[float]]]:
    """The leads open at `as_of`, each with P(win | stage, age in stage) (`win_probability`, by
    default `stage_and_age_win_probability`) and, per forecast month, P(close in the month | won,
    alive at its age) from its close curve; what the shares leave is beyond the horizon."""
    as_of = utc(as_of)
    intervals = stage_intervals_until(reader, as_of)
    history = DealHistory.of(intervals, as_of)
    p_win = win_probability or stage_and_age_win_probability(DEFAULT_WIN_PROBABILITIES, min_sample)
    entered = {i.lead_id: i.entered_at for i in intervals if i.left_at is None}
    bounds = [days_between(as_of, _at_midnight(m)) for m in [*month_list, add_months(month_list[-1], 1)]]
    scored = []
    for v in lead_versions_at(reader, as_of):
        if v.stage not in days_to_close:
            continue
        entered_at = entered.get(v.lead_id, as_of)  # always found unless business times run backwards
        age = days_between(entered_at, as_of)
        p = p_win(v.stage, age, history)
        curve = close_curve(v.stage, age, history, min_sample, days_to_close[v.stage], OVERDUE_CLOSE_DAYS)
        shares = [curve.share_between(bounds[n], bounds[n + 1]) for n in range(len(month_list))]
        deal = _open_deal(v, p, entered_at, as_of + timedelta(days=curve.median()))
        scored.append((deal, shares))
    return scored


def new_business(reader: Reader, as_of: datetime, months: int) -> dict[tuple[int, str], float]:
    """Per (months after the forecast's first month, currency): the mean over the three months
    before it of the value converted in a month from leads captured on or after the first day of
    the month that many months before (what the open pipeline at the forecast date cannot hold)."""
    first = month_start(utc(as_of))
    start = _at_midnight(add_months(first, -3))
    rows = reader.fetch(
        f"SELECT closed_at, captured_at, deal_value, currency FROM {LEADS.name}"
        " WHERE stage = ? AND closed_at >= ? AND closed_at < ?",
        [Stage.CONVERTED.value, start, _at_midnight(first)],
    )
    totals: dict[tuple[int, str], float] = defaultdict(float)
    for r in rows:
        closed_month = month_start(parse_time(r["closed_at"]))
        captured = parse_time(r["captured_at"])
        for offset in range(months):
            if captured >= _at_midnight(add_months(closed_month, -offset)):
                totals[offset, r["currency"]] += int(r["deal_value"] or 0) / 3
    return dict(totals)


def hazard_deals(
    history: PipelineHistory,
    as_of: datetime,
    months: int,
    hazard: ConversionHazard | None = None,
    win: LearnedWin | None = None,
) -> tuple[list[tuple[OpenDeal, list[float]]], dict[tuple[int, str], float]]:
    """The hazard model's open leads at `as_of`, each with its expected deal value x P(converts in
    the horizon) and, per forecast month, its share of that; and the expected new business per
    (month index, currency). With `win`, each P moved by the learned win probability
    (`projections.forecast_win.reweigh`); the shares per month stay the hazard's."""
    table = hazard or learn_hazard(history, as_of, months)
    lines = learn_value_lines(history, as_of)
    opened = history.open_at(as_of)
    per_month = [[table(lead, k) for k in range(months)] for lead in opened]
    hazard_p = [min(sum(chances), 1.0) for chances in per_month]
    horizon = hazard_p
    if win is not None:
        deals = list(zip(opened, hazard_p, strict=True))
        horizon = reweigh(deals, [win.log_likelihood_ratio(lead) for lead in opened])
    scored = []
    for lead, chances, base, p in zip(opened, per_month, hazard_p, horizon, strict=True):
        line = lines.get(lead.currency or "")
        value = line.expected(lead.value) if line is not None else float(lead.value or 0)
        likeliest = max(range(months), key=lambda k: chances[k])
        start, end = window_start(as_of, likeliest), window_end(as_of, likeliest)
        deal = OpenDeal(
            lead_id=lead.lead_id,
            stage=lead.stage,
            owner=lead.owner,
            value=lead.value,
            currency=lead.currency,
            probability=p,
            expected_value=value * p,
            stage_entered_at=lead.stage_entered_at,
            expected_close=start + (end - start) / 2,
            category=category_of(p),
        )
        scored.append((deal, [c / base if base else 0.0 for c in chances]))
    return scored, hazard_new_business(history, as_of, months)


def forecast(
    reader: Reader,
    as_of: datetime,
    months: int = 3,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    win_probability: WinProbability | None = None,
    by_age: bool = False,
    model: ForecastModel = "hazard_win",
    hazard: ConversionHazard | None = None,
    history: PipelineHistory | None = None,
    journal: LeadJournal | None = None,
    win_model: WinModel | NoModel | None = None,
) -> Forecast:
    """The forecast as of `as_of` for `months` calendar months starting with the month of `as_of`.

    "hazard": each open lead brings its expected deal value x P(converts in the month | stage, age
    in stage), learned from past month-start snapshots (or given as `hazard`), and each month adds
    the expected new business (`projections.forecast_hazard`; `history`: the pipeline tables read
    once, shared by a backtest). "hazard_win" (the default): the same with each P moved by the
    learned win probability (`projections.forecast_win`), the model trained as of the start of
    `as_of`'s day (`win_model` when the caller has it; `journal`: the lead journal read once).
    "stage": each open lead's win probability is
    its stage's and it closes at its expected close; "stage_and_age" (or `by_age`, or a
    `win_probability`): P(win | stage, age in stage), spread over the months by its close curve
    (`projections.forecast_model`)."""
    if months < 1:
        raise ValueError("a forecast covers at least one month")
    as_of = utc(as_of)
    if by_age or win_probability is not None:
        model = "stage_and_age"
    probabilities = learn_win_probabilities(reader, as_of, min_sample)
    days = learn_days_to_close(reader, as_of, min_sample)
    month_list = [add_months(month_start(as_of), n) for n in range(months)]
    fresh: dict[tuple[int, str], float] = {}
    learned: LearnedWin | NoModel | None = None
    if model in ("hazard", "hazard_win"):
        loaded = history or PipelineHistory.load(reader)
        if model == "hazard_win":
            if journal is None:
                # a model trained already needs the journal only for the open deals' features
                needed = None if win_model is None else [lead.lead_id for lead in loaded.open_at(as_of)]
                journal = LeadJournal.load(reader, needed)
            learned = learned_win(journal, as_of, win_model)
        win = learned if isinstance(learned, LearnedWin) else None
        scored, fresh = hazard_deals(loaded, as_of, months, hazard, win)
    elif model == "stage_and_age":
        scored = scored_deals(reader, as_of, month_list, min_sample, days.days, win_probability)
    else:
        scored = [
            (deal, [1.0 if month_start(deal.expected_close) == m else 0.0 for m in month_list])
            for deal in open_deals(reader, as_of, probabilities.probabilities, days.days)
        ]
    if model == "stage_and_age":
        fresh = new_business(reader, as_of, months)
    closed: dict[tuple[date, str], int] = defaultdict(int)
    for d in converted_deals(reader, _at_midnight(month_list[0]), as_of, inclusive=True):
        closed[month_start(d["closed_at"]), d["currency"]] += d["deal_value"]
    rows, beyond = month_rows(month_list, closed, scored, fresh)
    return Forecast(
        as_of=as_of,
        months=month_list,
        rows=rows,
        beyond_horizon=beyond,
        deals=[deal for deal, _ in scored],
        win_probabilities=probabilities,
        days_to_close=days,
        model=model,
        win_model=learned.model.version if isinstance(learned, LearnedWin) else None,
        win_model_reason=learned.reason if isinstance(learned, NoModel) else None,
    )


def month_rows(
    month_list: list[date],
    closed: Mapping[tuple[date, str], int],
    scored: list[tuple[OpenDeal, list[float]]],
    fresh: Mapping[tuple[int, str], float],
) -> tuple[list[ForecastMonth], dict[str, int]]:
    """The forecast's rows (by month, then currency) from what closed, the open deals with their
    shares per month and the new business; and the expected value beyond the horizon per currency."""
    expected: dict[tuple[date, str, Category], float] = defaultdict(float)
    beyond: dict[str, float] = defaultdict(float)
    for deal, shares in scored:
        if deal.currency is None:
            continue
        for month, share in zip(month_list, shares, strict=True):
            expected[month, deal.currency, deal.category] += deal.expected_value * share
        if sum(shares) < 1.0:
            beyond[deal.currency] += deal.expected_value * (1 - sum(shares))
    currencies = sorted({c for _, c in closed} | {c for _, c, _ in expected} | {c for _, c in fresh})
    rows = []
    for index, month in enumerate(month_list):
        for currency in currencies:
            commit = expected[month, currency, "commit"]
            best = commit + expected[month, currency, "best_case"]
            rows.append(
                ForecastMonth(
                    month=month,
                    currency=currency,
                    closed=closed.get((month, currency), 0),
                    commit=round(commit),
                    best_case=round(best),
                    pipeline=round(best + expected[month, currency, "pipeline"]),
                    new_business=round(fresh.get((index, currency), 0.0)),
                )
            )
    return rows, {c: round(v) for c, v in sorted(beyond.items())}


def hazard_rows(
    history: PipelineHistory,
    as_of: datetime,
    months: int,
    hazard: ConversionHazard | None = None,
    win: LearnedWin | None = None,
) -> list[ForecastMonth]:
    """The rows `forecast` gives with the hazard model (with `win`: "hazard_win"), from the
    pipeline tables read once (`history`) only: what a backtest needs, without a query per month."""
    as_of = utc(as_of)
    month_list = [add_months(month_start(as_of), n) for n in range(months)]
    closed: dict[tuple[date, str], int] = defaultdict(int)
    for c in history.converted_between(_at_midnight(month_list[0]), as_of + timedelta(microseconds=1)):
        if c.currency is not None:
            closed[month_start(c.closed_at), c.currency] += c.deal_value
    scored, fresh = hazard_deals(history, as_of, months, hazard, win)
    return month_rows(month_list, closed, scored, fresh)[0]


# --- accuracy ---------------------------------------------------------------------------------


class AccuracyMonth(_Frozen):
    """What the forecast predicted for one month and currency, and what actually closed."""

    month: date
    currency: str
    closed_at_forecast: int
    """Already converted in the month when the forecast was made."""
    predicted_commit: int
    predicted_best_case: int
    predicted_pipeline: int
    predicted_total: int
    """closed_at_forecast + predicted_pipeline + predicted_new_business."""
    actual: int
    """Deal value converted in the month (up to `actual_as_of`)."""
    actual_from_forecast_deals: int
    """The part of `actual` from leads that were open when the forecast was made."""
    error: int
    """actual - predicted_total."""
    predicted_new_business: int = 0
    """Expected value from leads not open at the forecast date (0 with the stage model)."""


class ForecastAccuracy(_Frozen):
    made_as_of: datetime
    horizon_months: int
    actual_as_of: datetime | None
    """Conversions counted up to this time; None: everything recorded so far."""
    months: list[AccuracyMonth]
    """By month, then currency."""
    forecast: Forecast

    def month(self, month: date, currency: str) -> AccuracyMonth:
        return next(m for m in self.months if m.month == month and m.currency == currency)


def forecast_accuracy(
    reader: Reader,
    made_as_of: datetime,
    horizon_months: int,
    min_sample: int = DEFAULT_MIN_SAMPLE,
    actual_as_of: datetime | None = None,
    model: ForecastModel = "hazard_win",
    win_model: WinModel | NoModel | None = None,
) -> ForecastAccuracy:
    """The forecast as it would have been made at `made_as_of`, month by month against the deal
    value actually converted in those months (by closed_at)."""
    made_as_of = utc(made_as_of)
    predicted = forecast(reader, made_as_of, horizon_months, min_sample, model=model, win_model=win_model)
    start = _at_midnight(predicted.months[0])
    end = _at_midnight(add_months(predicted.months[-1], 1))
    cutoff = utc(actual_as_of) if actual_as_of is not None else None
    inclusive = cutoff is not None and cutoff < end
    until = cutoff if cutoff is not None and inclusive else end
    forecast_leads = {d.lead_id for d in predicted.deals}

    actual: dict[tuple[date, str], int] = defaultdict(int)
    from_deals: dict[tuple[date, str], int] = defaultdict(int)
    for d in converted_deals(reader, start, until, inclusive):
        key = (month_start(d["closed_at"]), d["currency"])
        actual[key] += d["deal_value"]
        if d["lead_id"] in forecast_leads:
            from_deals[key] += d["deal_value"]

    currencies = sorted({r.currency for r in predicted.rows} | {c for _, c in actual})
    months = []
    for month in predicted.months:
        for currency in currencies:
            row = next((r for r in predicted.rows if r.month == month and r.currency == currency), None)
            closed = row.closed if row else 0
            pipeline = row.pipeline if row else 0
            fresh = row.new_business if row else 0
            total = closed + pipeline + fresh
            months.append(
                AccuracyMonth(
                    month=month,
                    currency=currency,
                    closed_at_forecast=closed,
                    predicted_commit=row.commit if row else 0,
                    predicted_best_case=row.best_case if row else 0,
                    predicted_pipeline=pipeline,
                    predicted_total=total,
                    actual=actual[month, currency],
                    actual_from_forecast_deals=from_deals[month, currency],
                    error=actual[month, currency] - total,
                    predicted_new_business=fresh,
                )
            )
    return ForecastAccuracy(
        made_as_of=made_as_of,
        horizon_months=horizon_months,
        actual_as_of=cutoff,
        months=months,
        forecast=predicted,
    )
