"""The console's manager and analyst pages: the pipeline board as of a date (a time slider), with
its funnel; the forecast against what actually closed; segment sizes over time; the rep and
campaign tables.

Each page is permitted the action its API route is (`/v1/pipeline`: `read_pipeline`, a rep seeing
their own leads only; `/v1/forecast` and `/v1/segments`: `read_insights`, which a rep has not),
reads the read models in process through `ReadModelQueries` and the pure
queries of `projections/`, masks names for an analyst and logs the names it shows. Charts are SVG
drawn on the server (no script, no inline style: the console's CSP allows neither), each with a
title, a description and a table of its numbers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from projections import analytics_queries, campaign_queries, segment_queries
from projections.forecast import ForecastAccuracy, add_months, month_start
from projections.pipeline_queries import (
    STAGE_ORDER,
    SUMMARY_STAGES,
    PipelineSummary,
    lead_versions_at,
    pipeline_summary,
)
from services.api.read_models import ReadModelGate
from services.app.queries import ReadModelQueries
from services.auth.access import Caller
from services.auth.masking import mask_name
from services.auth.policy import Action, Principal
from services.console.pages import SECURITY_HEADERS, caller_of, refusal, render, templates

BOARD_POLL_SECONDS = 1
"""How often the board showing "now" asks whether the pipeline changed (a change shows within 2 s)."""
LEADS_PER_COLUMN = 25
"""The most leads a board column lists (the largest first); its count and value cover them all."""
_LINKS: tuple[tuple[str, str, Action], ...] = (
    ("/pipeline", "Pipeline", Action.READ_PIPELINE),
    ("/forecast", "Forecast", Action.READ_INSIGHTS),
    ("/segments", "Segments", Action.READ_INSIGHTS),
    ("/analytics", "Reps & campaigns", Action.READ_PIPELINE),
)
MAX_MONTHS = 24
"""The most months the forecast and segments pages show (the API's forecast horizon allows as many)."""


def console_links(principal: Principal) -> list[dict[str, str]]:
    """The navigation links to these pages that the principal's role may open."""
    return [{"path": path, "label": label} for path, label, action in _LINKS if principal.may(action)]


class BadInput(Exception):
    """A query parameter that is not what the page takes: a 422 page naming it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# --- dates and money -------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def _parse_day(field: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(field, "must be a date, YYYY-MM-DD") from None


def as_of_of(day: date, now: datetime | None = None) -> datetime:
    """The business time a page shows for a day: the end of that day (UTC), or now for today."""
    now = now or datetime.now(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC) - timedelta(microseconds=1)
    return min(end, now)


def chosen_day(first: date, *, on: str = "", day: str = "", was: str = "", trigger: str = "") -> date:
    """The day the board is asked for. The slider (`day`: days after `first`) and the date field
    (`on`) travel in one form; the date field wins when it was the one changed: htmx says so
    (`trigger`), and without script it differs from the day shown before (`was`)."""
    today = _today()
    chosen = today
    use_date = bool(on.strip()) and (trigger == "on" or (trigger != "day" and (not day.strip() or on != was)))
    if use_date:
        chosen = _parse_day("on", on)
    elif day.strip():
        try:
            offset = int(day)
        except ValueError:
            raise BadInput("day", "must be a whole number of days") from None
        if not 0 <= offset <= (today - first).days:
            raise BadInput("day", f"must be between 0 and {(today - first).days}")
        chosen = first + timedelta(days=offset)
    if chosen > today:
        raise BadInput("on", "must not be in the future")
    if chosen.year < 1900:
        raise BadInput("on", "must be in 1900 or later")
    return chosen


def _months(text: str, default: int) -> int:
    if not text.strip():
        return default
    try:
        months = int(text)
    except ValueError:
        raise BadInput("months", "must be a whole number") from None
    if not 1 <= months <= MAX_MONTHS:
        raise BadInput("months", f"must be between 1 and {MAX_MONTHS}")
    return months


def _day_or_today(field: str, text: str) -> date:
    chosen = _parse_day(field, text) if text.strip() else _today()
    if chosen > _today():
        raise BadInput(field, "must not be in the future")
    if chosen.year < 1900:
        raise BadInput(field, "must be in 1900 or later")
    return chosen


def money(amounts: Mapping[str, int]) -> str:
    """Minor units per currency as text, e.g. `12,000.00 EUR · 300.00 USD` (two decimals)."""
    return " · ".join(f"{amount / 100:,.2f} {currency}" for currency, amount in sorted(amounts.items())) or "—"


def percent(rate: float | None) -> str:
    """A rate as a whole percent (`—` when there is none)."""
    return "—" if rate is None else f"{rate * 100:.0f}%"


# --- what the pages show ---------------------------------------------------------------------


def board_of(queries: ReadModelQueries, who: Caller, as_of: datetime) -> dict[str, Any]:
    """The board as of `as_of`: one column per stage (count, value per currency, its leads, the
    largest first, names masked for an analyst) and the funnel, from `pipeline_summary` and
    `lead_versions_at` in the caller's owner scope."""
    owner = who.owner_scope
    # default win probabilities: the board shows no weighted value, so learning them is not needed
    summary = pipeline_summary(queries.store, as_of, owner)
    versions = lead_versions_at(queries.store, as_of, owner)
    by_stage: dict[str, list[Any]] = {stage: [] for stage in SUMMARY_STAGES}
    for v in versions:
        by_stage[v.stage].append(v)
    shown: dict[str, list[Any]] = {}
    for stage, leads in by_stage.items():
        leads.sort(key=lambda v: (-(v.value or 0), v.lead_id))
        shown[stage] = leads[:LEADS_PER_COLUMN]
    names = analytics_queries.lead_names(queries.store, {v.lead_id for leads in shown.values() for v in leads})
    columns = []
    for totals in summary.stages:
        columns.append(
            {
                "stage": totals.stage,
                "count": totals.count,
                "value": money(totals.value),
                "more": totals.count - len(shown[totals.stage]),
                "leads": [
                    {
                        "lead_id": v.lead_id,
                        "name": shown_name(who, names.get(v.lead_id)),
                        "value": money({v.currency: v.value} if v.value is not None and v.currency else {}),
                        "owner": v.owner or "nobody",
                    }
                    for v in shown[totals.stage]
                ],
            }
        )
    who.read(v.lead_id for leads in shown.values() for v in leads)
    return {"columns": columns, "funnel": funnel_of(summary), "summary": summary}


FUNNEL_WIDTH, FUNNEL_ROW, FUNNEL_LABEL = 640, 34, 130
"""The funnel's drawing: its width, the height of a stage's row and the room for stage names."""


def funnel_of(summary: PipelineSummary) -> dict[str, Any]:
    """The funnel as of the summary's date: how many leads reached each stage of the pipeline
    order (converted last) and how many of those went on to a later one, with the bars drawn."""
    reached = {c.stage: c.entered for c in summary.conversions}
    reached[STAGE_ORDER[-1]] = summary.converted
    rates = {c.stage: c for c in summary.conversions}
    widest = max(reached.values(), default=0) or 1
    room = FUNNEL_WIDTH - FUNNEL_LABEL - 150
    rows = []
    for index, stage in enumerate(STAGE_ORDER):
        conversion = rates.get(stage)
        count = reached[stage]
        rows.append(
            {
                "stage": stage,
                "reached": count,
                "advanced": conversion.advanced if conversion else None,
                "rate": percent(conversion.rate) if conversion and conversion.rate is not None else "",
                "y": index * FUNNEL_ROW,
                "width": round(room * count / widest, 1),
            }
        )
    return {
        "rows": rows,
        "width": FUNNEL_WIDTH,
        "height": FUNNEL_ROW * len(rows),
        "row": FUNNEL_ROW,
        "label": FUNNEL_LABEL,
    }


def _version(queries: ReadModelQueries) -> int:
    """What the board's poll compares: the log position the pipeline read model has applied."""
    return queries.store.position("pipeline")


def slider_of(queries: ReadModelQueries, shown: date) -> dict[str, Any]:
    """The time slider's range (days from the first lead's capture to today) and position (a day
    before the first lead's sits at the start: the range never moves, so a slider value always
    means the same day to the server)."""
    today = _today()
    first_at = analytics_queries.first_lead_at(queries.store)
    first = min(first_at.date(), today) if first_at is not None else today
    return {"first": first, "today": today, "max": (today - first).days, "value": max((shown - first).days, 0)}


# --- charts (SVG drawn here; the templates only place what is computed) ---------------------

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 640, 260, 80, 28, 12
"""The drawing of the forecast and segments charts: size, room for the axis labels, top margin."""


def _ticks(top: float, count: int = 4) -> list[float]:
    """`count` + 1 round values from 0 to at least `top` for an axis."""
    if top <= 0:
        return [float(i) for i in range(count + 1)]
    step = top / count
    magnitude = 10 ** (len(str(int(step))) - 1) if step >= 1 else 1
    nice = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step)
    return [nice * i for i in range(count + 1)]


def _axis(ticks: list[float], label: Callable[[float], str]) -> list[dict[str, Any]]:
    plot = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    return [{"y": round(CHART_TOP + plot - plot * t / ticks[-1], 1), "label": label(t)} for t in ticks]


def _scale(value: float, ticks: list[float]) -> float:
    """The height of `value` on an axis going up to the last tick."""
    return round((CHART_HEIGHT - CHART_BOTTOM - CHART_TOP) * value / ticks[-1], 1)


def _short_money(minor: float) -> str:
    units = minor / 100
    if units >= 1_000_000:
        return f"{units / 1_000_000:g}M"
    return f"{units / 1000:g}k" if units >= 1000 else f"{units:g}"


def forecast_chart(accuracy: ForecastAccuracy, currency: str) -> dict[str, Any]:
    """Two bars per month for one currency: what the forecast predicted (closed by then plus its
    expected pipeline) and what actually converted."""
    months = [m for m in accuracy.months if m.currency == currency]
    ticks = _ticks(max([m.predicted_total for m in months] + [m.actual for m in months] + [1]))
    plot_width = CHART_WIDTH - CHART_LEFT - 10
    slot = plot_width / max(len(months), 1)
    bar = min(slot * 0.35, 48)
    base = CHART_HEIGHT - CHART_BOTTOM
    groups = []
    for index, m in enumerate(months):
        x = CHART_LEFT + slot * index + slot / 2
        predicted, actual = _scale(m.predicted_total, ticks), _scale(m.actual, ticks)
        groups.append(
            {
                "label": m.month.strftime("%b %Y"),
                "x": round(x, 1),
                "predicted": {"x": round(x - bar - 1, 1), "y": round(base - predicted, 1), "height": predicted},
                "actual": {"x": round(x + 1, 1), "y": round(base - actual, 1), "height": actual},
                "bar": round(bar, 1),
                "month": m,
            }
        )
    return {"currency": currency, "axis": _axis(ticks, _short_money), "groups": groups, "base": base}


def forecast_view(queries: ReadModelQueries, made: date, months: int) -> dict[str, Any]:
    """The forecast made at the start of `made` (UTC) for `months` months, against what actually
    converted in each (the API's `/v1/forecast/accuracy`), one chart per currency."""
    made_as_of = datetime.combine(made, time(0), tzinfo=UTC)
    accuracy = queries.forecast_accuracy(made_as_of, months)
    currencies = sorted({m.currency for m in accuracy.months})
    return {"accuracy": accuracy, "charts": [forecast_chart(accuracy, c) for c in currencies]}


def month_starts(today: date, months: int) -> list[date]:
    """The first days of the last `months` months, this one included, oldest first."""
    this_month = date(today.year, today.month, 1)
    return [add_months(this_month, -back) for back in range(months - 1, -1, -1)]


def segments_view(queries: ReadModelQueries, months: int) -> dict[str, Any]:
    """Every segment's size at the start of each of the last `months` months (what
    `segment_summaries` answers as of each, read in one pass by `segment_sizes_at`), as lines on
    one chart and as a table."""
    starts = month_starts(_today(), months)
    moments = [datetime.combine(start, time(0), tzinfo=UTC) for start in starts]
    sizes = segment_queries.segment_sizes_at(queries.store, queries.rules, moments)
    descriptions = {rule.name: rule.description for rule in queries.rules}
    ticks = _ticks(max([n for counts in sizes.values() for n in counts] + [1]))
    plot_width = CHART_WIDTH - CHART_LEFT - 20
    step = plot_width / max(len(starts) - 1, 1)
    base = CHART_HEIGHT - CHART_BOTTOM
    xs = [round(CHART_LEFT + 10 + step * i, 1) for i in range(len(starts))]
    lines = []
    for index, (name, counts) in enumerate(sizes.items()):
        points = [(x, round(base - _scale(n, ticks), 1)) for x, n in zip(xs, counts, strict=True)]
        lines.append(
            {
                "name": name,
                "description": descriptions[name],
                "counts": counts,
                "colour": f"s{index % 8}",
                "points": " ".join(f"{x},{y}" for x, y in points),
                "dots": points,
            }
        )
    labels = [{"x": x, "label": start.strftime("%b %y")} for x, start in zip(xs, starts, strict=True)]
    return {
        "starts": starts,
        "lines": lines,
        "axis": _axis(ticks, lambda t: f"{t:g}"),
        "labels": labels[:: max(1, len(labels) // 6)] if len(labels) > 8 else labels,
        "base": base,
    }


def tables_view(queries: ReadModelQueries, who: Caller, as_of: datetime) -> dict[str, Any]:
    """The rep table and the campaign table as of `as_of`, in the caller's owner scope; the
    campaigns' cost and ROI for a caller who sees every lead (a campaign's spend is not a rep's)."""
    owner = who.owner_scope
    costs = campaign_queries.costs_as_of(queries.store, as_of) if owner is None else None
    return {
        "reps": analytics_queries.rep_table(queries.store, as_of, owner),
        "campaigns": analytics_queries.campaign_table(queries.store, as_of, owner, costs),
        "with_costs": costs is not None,
    }


# --- the routes ------------------------------------------------------------------------------


def shown_name(who: Caller, name: str | None) -> str:
    """A lead's name as the caller may see it (masked for an analyst), `(erased)` once erased."""
    shown = mask_name(name) if who.principal.masks_personal_data else name
    return shown or "(erased)"


def _read_models(request: Request) -> ReadModelQueries:
    gate: ReadModelGate = request.app.state.read_models
    if gate.read_models is None:
        raise _NoReadModels()
    return gate.read_models


class _NoReadModels(Exception):
    """This server does not serve the read models."""


def install_analytics(console: FastAPI) -> None:
    """Register the manager and analyst pages on the console's app and their navigation links."""
    templates.env.globals.update(console_links=console_links, money=money, percent=percent)
    _caller, _page = caller_of, render

    async def bad_input(request: Request, error: Exception) -> Response:
        detail = f"{error.field}: {error.message}" if isinstance(error, BadInput) else str(error)
        return refusal(request, 422, "That is not a value this page takes", detail)

    async def no_read_models(request: Request, error: Exception) -> Response:
        return refusal(request, 503, "No read models here", "This server does not serve the read models.")

    console.add_exception_handler(BadInput, bad_input)
    console.add_exception_handler(_NoReadModels, no_read_models)

    @console.get("/pipeline", response_class=HTMLResponse, name="pipeline")
    def pipeline_page(request: Request, on: str = "", day: str = "", was: str = "") -> Response:
        who, session = _caller(request, Action.READ_PIPELINE)
        queries = _read_models(request)
        first = slider_of(queries, _today())["first"]
        trigger = request.headers.get("HX-Trigger", "") if request.headers.get("HX-Request") else ""
        shown = chosen_day(first, on=on, day=day, was=was, trigger=trigger)
        context = _board_context(queries, who, shown)
        if request.headers.get("HX-Target") == "board":
            # the slider or the date field asked: the board, and the other control moved to match
            context["oob"] = "on" if trigger == "day" else "day" if trigger == "on" else ""
            return _page(request, "_board.html", context)
        return _page(request, "board.html", {**context, "who": who.principal, "csrf": session.csrf_token})

    @console.get("/pipeline/board", response_class=HTMLResponse, name="pipeline_board")
    def board_poll(request: Request, since: int | None = None) -> Response:
        who, _ = _caller(request, Action.READ_PIPELINE)
        queries = _read_models(request)
        if since is not None and _version(queries) == since:
            # the poll's answer while nothing changed: no swap, nothing shown, no read logged
            return Response(status_code=204, headers=dict(SECURITY_HEADERS))
        return _page(request, "_board.html", {**_board_context(queries, who, _today()), "oob": ""})

    @console.get("/forecast", response_class=HTMLResponse, name="forecast")
    def forecast_page(request: Request, made: str = "", months: str = "") -> Response:
        who, session = _caller(request, Action.READ_INSIGHTS)
        queries = _read_models(request)
        default_made = add_months(month_start(datetime.now(UTC)), -3)
        made_day = _day_or_today("made", made) if made.strip() else default_made
        horizon = _months(months, 4)
        context = {
            **forecast_view(queries, made_day, horizon),
            "made": made_day.isoformat(),
            "months": horizon,
            "max_months": MAX_MONTHS,
            "today": _today().isoformat(),
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": CHART_LEFT},
        }
        return _page(request, "analytics_forecast.html", {**context, "who": who.principal, "csrf": session.csrf_token})

    @console.get("/segments", response_class=HTMLResponse, name="segments")
    def segments_page(request: Request, months: str = "") -> Response:
        who, session = _caller(request, Action.READ_INSIGHTS)
        queries = _read_models(request)
        count = _months(months, 12)
        context = {
            "view": segments_view(queries, count),
            "months": count,
            "max_months": MAX_MONTHS,
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": CHART_LEFT},
        }
        return _page(request, "analytics_segments.html", {**context, "who": who.principal, "csrf": session.csrf_token})

    @console.get("/analytics", response_class=HTMLResponse, name="analytics")
    def tables_page(request: Request, on: str = "") -> Response:
        who, session = _caller(request, Action.READ_PIPELINE)
        queries = _read_models(request)
        shown = _day_or_today("on", on)
        context = {
            **tables_view(queries, who, as_of_of(shown)),
            "shown": shown.isoformat(),
            "today": _today().isoformat(),
            "scoped": who.owner_scope is not None,
        }
        return _page(request, "analytics_tables.html", {**context, "who": who.principal, "csrf": session.csrf_token})


def _board_context(queries: ReadModelQueries, who: Caller, shown: date) -> dict[str, Any]:
    live = shown == _today()
    version = _version(queries)  # read before the board, so a change while it renders shows next poll
    as_of = as_of_of(shown)
    return {
        "board": board_of(queries, who, as_of),
        "slider": slider_of(queries, shown),
        "shown": shown.isoformat(),
        "as_of": as_of,
        "live": live,
        "version": version,
        "poll": BOARD_POLL_SECONDS,
    }
