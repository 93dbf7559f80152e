"""The forecast, segments and rep/campaign pages, without a browser: each role's refusal or
scope, the figures on the page equal to their queries', masking, bad input, no inline style."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

import pytest

from projections.analytics_queries import campaign_table, rep_table
from services.app.application import Context
from services.app.commands import RecordCampaignCost
from services.console.analytics import as_of_of, money, month_starts
from services.console.pages import static_url
from tests.console.conftest import Console
from tests.console.history import History, days_ago, seed_board_history


@pytest.fixture
def history(console: Console) -> History:
    """The board's hand-built history, caught up by the read models."""
    written = seed_board_history(console.crm)
    assert console.app.state.read_models.read_models.wait(console.crm.head_position(), 10)
    return written


def today() -> date:
    return datetime.now(UTC).date()


def cells(html: str, table: str) -> list[list[str]]:
    """The body rows of a table on the page, each as its cells' text."""
    body = html.split(f'id="{table}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)
    return [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows
    ]


@pytest.mark.parametrize("path", ["/app/forecast", "/app/segments"])
def test_a_rep_may_not_see_the_forecast_or_the_segments(console: Console, history: History, path: str) -> None:
    client, _ = console.signed_in("alice", "rep")
    page = client.get(path)
    assert page.status_code == 403
    assert "Not allowed for your role" in page.text
    home = client.get("/app/")
    assert 'href="/app/pipeline"' in home.text and 'href="/app/analytics"' in home.text
    assert 'href="/app/forecast"' not in home.text and 'href="/app/segments"' not in home.text


@pytest.mark.parametrize("path", ["/app/forecast", "/app/segments", "/app/analytics"])
def test_the_privacy_officer_is_refused_every_analytics_page(console: Console, history: History, path: str) -> None:
    client, _ = console.signed_in("pat", "privacy")
    assert client.get(path).status_code == 403


def test_the_forecast_page_shows_the_accuracy_querys_figures_with_a_chart_per_currency(
    console: Console, history: History
) -> None:
    client, _ = console.signed_in("ann", "analyst")
    made = days_ago(40).date()
    page = client.get(f"/app/forecast?made={made}&months=3")
    assert page.status_code == 200
    reads = console.app.state.read_models.read_models
    accuracy = reads.forecast_accuracy(datetime.combine(made, time(0), tzinfo=UTC), 3)
    rows = cells(page.text, "forecast-table")
    assert len(rows) == len(accuracy.months) > 0
    for row, month in zip(rows, accuracy.months, strict=True):
        assert row[1] == month.currency
        assert row[6] == money({month.currency: month.predicted_total})
        assert row[7] == money({month.currency: month.actual})
    assert any(r[7] == "5,000.00 EUR" for r in rows)  # Max converted 5 days ago, in one of the months
    assert '<svg class="chart"' in page.text and '<title id="chart-EUR-title">' in page.text
    assert "style=" not in page.text


def test_the_segments_page_shows_each_segments_size_at_each_months_start(console: Console, history: History) -> None:
    client, _ = console.signed_in("mia", "manager")
    page = client.get("/app/segments?months=3")
    assert page.status_code == 200
    reads = console.app.state.read_models.read_models
    starts = month_starts(today(), 3)
    expected = {s.name: [] for s in reads.segments(datetime.combine(starts[0], time(0), tzinfo=UTC))}
    for start in starts:
        for summary in reads.segments(datetime.combine(start, time(0), tzinfo=UTC)):
            expected[summary.name].append(str(summary.members))
    rows = cells(page.text, "segments-table")
    assert {r[0]: r[1:] for r in rows} == expected
    assert page.text.count("<polyline") == len(expected)
    assert "style=" not in page.text


def test_the_rep_and_campaign_tables_equal_their_queries_as_of_the_day(console: Console, history: History) -> None:
    client, _ = console.signed_in("mia", "manager")
    shown = days_ago(4).date()
    spend = RecordCampaignCost(amount=2_000_00, currency="EUR", occurred_at=days_ago(6))
    console.crm.record_campaign_cost("spring", spend, Context(actor="mia"))
    later = RecordCampaignCost(amount=9_000_00, currency="EUR", occurred_at=days_ago(1))  # after the day shown
    console.crm.record_campaign_cost("spring", later, Context(actor="mia"))
    assert console.app.state.read_models.read_models.wait(console.crm.head_position(), 10)
    page = client.get(f"/app/analytics?on={shown}")
    assert page.status_code == 200
    reps = cells(page.text, "reps-table")
    # as of 4 days ago: alice owns Lin (qualified, worked) and Noa (new); bob owns Max (won)
    assert reps == [
        ["alice", "2", "1", "0", "0", "—", "—"],
        ["bob", "0", "1", "1", "0", "100%", "5,000.00 EUR"],
    ]
    store = console.app.state.read_models.read_models.store
    assert len(reps) == len(rep_table(store, as_of_of(shown)))
    campaigns = cells(page.text, "campaigns-table")
    # spring cost 2,000.00 EUR by then and won 5,000.00 EUR: ROI (5000 - 2000) / 2000 = 150%
    assert campaigns == [
        ["referral", "none", "2", "0", "0%", "—", "—", "—"],
        ["webinar", "spring", "1", "1", "100%", "5,000.00 EUR", "2,000.00 EUR", "150%"],
    ]
    assert len(campaigns) == len(campaign_table(store, as_of_of(shown)))
    assert "ROI = (won value − cost) / cost" in page.text


def test_a_rep_sees_the_tables_of_their_own_leads(console: Console, history: History) -> None:
    client, _ = console.signed_in("bob", "rep")
    page = client.get("/app/analytics")
    assert page.status_code == 200
    assert [r[0] for r in cells(page.text, "reps-table")] == ["bob"]
    assert [r[0] for r in cells(page.text, "campaigns-table")] == ["referral", "webinar"]  # Grace, Max
    assert all(r[-2:] == ["—", "—"] for r in cells(page.text, "campaigns-table"))
    assert "a campaign's spend is not one rep's" in page.text


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/app/forecast?made=soon", "made"),
        ("/app/forecast?months=0", "months"),
        ("/app/segments?months=25", "months"),
        ("/app/segments?months=twelve", "months"),
        ("/app/analytics?on=2999-01-01", "on"),
    ],
)
def test_bad_input_is_a_422_page_naming_the_field(console: Console, history: History, path: str, field: str) -> None:
    client, _ = console.signed_in("mia", "manager")
    page = client.get(path)
    assert page.status_code == 422
    assert f"{field}: must" in page.text


def test_only_the_board_and_analytics_pages_link_the_analytics_stylesheet(console: Console) -> None:
    client, _ = console.signed_in("carol", "manager")
    stylesheet = static_url("analytics.css")
    for path in ("/app/pipeline", "/app/analytics", "/app/forecast", "/app/segments"):
        page = client.get(path)
        assert page.status_code == 200 and stylesheet in page.text, path
    for path in ("/app/", f"/app/leads/{console.bobs_lead}", "/app/search?q=Grace"):
        page = client.get(path)
        assert page.status_code == 200 and static_url("console.css") in page.text, path
        assert "analytics.css" not in page.text, path
