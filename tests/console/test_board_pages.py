"""The pipeline board and its funnel at /app/pipeline, without a browser: as of a date (the
slider's day or the date field), each role's scope and masking, refusals, bad input, and the
live poll's 204 while nothing changed."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from services.app.commands import ChangeStage
from services.auth.masking import mask_name
from services.console.analytics import as_of_of
from tests.console.conftest import ALICE, Console
from tests.console.history import History, seed_board_history


@pytest.fixture
def history(console: Console) -> History:
    """The board's hand-built history, caught up by the read models."""
    written = seed_board_history(console.crm)
    assert console.app.state.read_models.read_models.wait(console.crm.head_position(), 10)
    return written


def counts(html: str) -> dict[str, int]:
    """Each board column's count, by stage."""
    found = re.findall(r'id="col-(\w+)">\w+ <span class="count" data-count="(\d+)"', html)
    return {stage: int(count) for stage, count in found}


def funnel(html: str) -> dict[str, tuple[str, str, str]]:
    """The funnel table's rows: stage -> (reached, went on, conversion)."""
    rows = re.findall(
        r'<tr data-stage="(\w+)"><th scope="row">\w+</th><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td>', html
    )
    return {stage: (reached, on, rate) for stage, reached, on, rate in rows}


def today() -> date:
    """Today in UTC, the console's day."""
    return datetime.now(UTC).date()


def day_of(history: History, days_ago: int) -> int:
    """The slider's value for the day `days_ago` days before today."""
    return (today() - timedelta(days=days_ago) - history.first).days


NOTHING = dict.fromkeys(
    ("new", "contacted", "nurturing", "qualified", "proposal", "negotiation", "converted", "disqualified"), 0
)


def test_a_manager_sees_every_stage_with_the_counts_and_values_of_now(console: Console, history: History) -> None:
    client, _ = console.signed_in("mia", "manager")
    page = client.get("/app/pipeline")
    assert page.status_code == 200
    assert counts(page.text) == {**NOTHING, "new": 2, "qualified": 1, "converted": 1, "disqualified": 1}
    summary = console.app.state.read_models.read_models.pipeline(as_of_of(today()))
    assert counts(page.text) == {s.stage: s.count for s in summary.stages}
    assert "5,000.00 EUR" in page.text and "1,000.00 EUR" in page.text
    assert f'href="/app/leads/{history.lin}">Lin Board</a>' in page.text
    assert 'hx-get="/app/pipeline/board?since=' in page.text  # "now" follows changes live
    assert 'href="/app/pipeline">Pipeline</a>' in page.text


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [
        (22, {"new": 2}),
        (12, {"new": 2, "contacted": 1}),
        (4, {"new": 1, "qualified": 1, "converted": 1}),
    ],
)
def test_the_board_as_of_a_past_day_counts_the_leads_as_they_stood_then(
    console: Console, history: History, days_ago: int, expected: dict[str, int]
) -> None:
    client, _ = console.signed_in("mia", "manager")
    by_slider = client.get(f"/app/pipeline?day={day_of(history, days_ago)}&was={today()}&on={today()}")
    shown = today() - timedelta(days=days_ago)
    by_date = client.get(f"/app/pipeline?on={shown}&was={today()}&day=0")
    for page in (by_slider, by_date):
        assert page.status_code == 200
        assert counts(page.text) == {**NOTHING, **expected}
        assert f'<time datetime="{shown}">' in page.text
        assert 'hx-trigger="every' not in page.text  # a past day does not change
    summary = console.app.state.read_models.read_models.pipeline(as_of_of(shown))
    assert counts(by_date.text) == {s.stage: s.count for s in summary.stages}


def test_the_funnel_shows_the_stages_reached_and_the_conversion_of_the_summary(
    console: Console, history: History
) -> None:
    client, _ = console.signed_in("mia", "manager")
    page = client.get(f"/app/pipeline?on={today() - timedelta(days=4)}")
    rows = funnel(page.text)
    # by then: Lin new -> contacted -> qualified, Max new -> converted, Noa new
    assert rows["new"] == ("3", "2", "67%")
    assert rows["contacted"] == ("1", "1", "100%")
    assert rows["qualified"] == ("1", "0", "0%")
    assert rows["proposal"] == ("0", "0", "—")
    assert rows["converted"] == ("1", "—", "—")
    summary = console.app.state.read_models.read_models.pipeline(as_of_of(today() - timedelta(days=4)))
    assert {s: int(r[0]) for s, r in rows.items() if s != "converted"} == {
        c.stage: c.entered for c in summary.conversions
    }
    assert '<svg class="chart"' in page.text and '<title id="funnel-title">' in page.text
    assert "style=" not in page.text  # the CSP allows no inline style


def test_a_rep_sees_their_own_leads_only(console: Console, history: History) -> None:
    client, _ = console.signed_in("bob", "rep")
    page = client.get("/app/pipeline")
    assert page.status_code == 200
    assert counts(page.text) == {**NOTHING, "new": 1, "converted": 1}  # Grace, Max
    assert "Lin Board" not in page.text and "Max Board" in page.text


def test_an_analyst_sees_the_names_masked(console: Console, history: History) -> None:
    client, _ = console.signed_in("ann", "analyst")
    page = client.get("/app/pipeline")
    assert page.status_code == 200
    assert mask_name("Lin Board") in page.text and "Lin Board" not in page.text
    assert counts(page.text)["new"] == 2


def test_a_role_that_may_not_read_the_pipeline_is_refused_with_a_403_page(console: Console, history: History) -> None:
    client, _ = console.signed_in("pat", "privacy")
    page = client.get("/app/pipeline")
    assert page.status_code == 403
    assert "Not allowed for your role" in page.text
    assert 'href="/app/pipeline"' not in page.text  # nor offered in the navigation
    assert client.get("/app/pipeline/board?since=0").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [("on=yesterday", "on"), ("day=x&on=", "day"), ("day=99999", "day"), ("on=2999-01-01", "on")],
)
def test_a_bad_date_or_day_is_a_422_page_naming_the_field(
    console: Console, history: History, query: str, field: str
) -> None:
    client, _ = console.signed_in("mia", "manager")
    page = client.get(f"/app/pipeline?{query}")
    assert page.status_code == 422
    assert f"{field}: must" in page.text


def test_the_slider_asks_for_the_board_alone_and_gets_the_date_field_moved_to_match(
    console: Console, history: History
) -> None:
    client, _ = console.signed_in("mia", "manager")
    headers = {"HX-Request": "true", "HX-Target": "board", "HX-Trigger": "day"}
    shown = today() - timedelta(days=12)
    fragment = client.get(f"/app/pipeline?day={day_of(history, 12)}&on={today()}&was={today()}", headers=headers)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="board"')
    assert counts(fragment.text) == {**NOTHING, "new": 2, "contacted": 1}
    assert re.search(rf'id="on" name="on" type="date"[^>]*value="{shown}"[^>]*hx-swap-oob="true"', fragment.text)
    assert 'id="day"' not in fragment.text  # the slider being dragged is not replaced
    by_date = client.get(f"/app/pipeline?day=0&on={shown}&was={today()}", headers={**headers, "HX-Trigger": "on"})
    assert re.search(rf'id="day"[^>]*value="{day_of(history, 12)}"[^>]*hx-swap-oob="true"', by_date.text)


def test_the_live_boards_poll_answers_204_until_the_pipeline_changes(console: Console, history: History) -> None:
    client, _ = console.signed_in("mia", "manager")
    page = client.get("/app/pipeline")
    since = int(re.search(r"board\?since=(\d+)", page.text).group(1))  # type: ignore[union-attr]
    unchanged = client.get(f"/app/pipeline/board?since={since}")
    assert unchanged.status_code == 204 and unchanged.content == b""
    console.crm.change_stage(console.alices_lead, ChangeStage(stage="proposal"), ALICE)
    reads = console.app.state.read_models.read_models
    assert reads.wait(console.crm.head_position(), 10)
    changed = client.get(f"/app/pipeline/board?since={since}")
    assert changed.status_code == 200
    assert counts(changed.text)["proposal"] == 1 and counts(changed.text)["new"] == 1
    assert f"since={reads.store.position('pipeline')}" in changed.text


def test_the_board_without_read_models_says_so(console: Console) -> None:
    client: TestClient
    client, _ = console.signed_in("mia", "manager")
    gate = console.app.state.read_models
    saved, gate.read_models = gate.read_models, None
    try:
        page = client.get("/app/pipeline")
    finally:
        gate.read_models = saved
    assert page.status_code == 503
    assert "does not serve the read models" in page.text


def test_a_day_before_the_first_lead_shows_an_empty_board_with_the_slider_at_its_start(
    console: Console, history: History
) -> None:
    client, _ = console.signed_in("mia", "manager")
    before = history.first - timedelta(days=40)
    page = client.get(f"/app/pipeline?on={before}&was={today()}&day=5")
    assert page.status_code == 200
    assert counts(page.text) == NOTHING
    assert re.search(rf'id="day"[^>]*max="{(today() - history.first).days}"[^>]*value="0"', page.text)
