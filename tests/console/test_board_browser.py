"""The pipeline board in a real browser: moving the time slider changes the stage counts to those
of the day it points at, the date field follows it, and the board showing "now" follows a stage
change made elsewhere live. Screenshots go to build/screenshots/ (desktop and 360 px)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.app.commands import ChangeStage
from tests.console.conftest import ALICE, Console
from tests.console.history import History, seed_board_history
from tests.console.test_console_browser import WITHIN, base_url, browser, expect, shot, sign_in

__all__ = ["base_url", "browser"]  # the fixtures this module's tests use


def seeded(console: Console) -> History:
    written = seed_board_history(console.crm)
    assert console.app.state.read_models.read_models.wait(console.crm.head_position(), 10)
    return written


def count_of(page: Any, stage: str) -> Any:
    return page.locator(f'#board [data-stage="{stage}"] .count')


def expect_counts(page: Any, expected: dict[str, int]) -> None:
    for stage in ("new", "contacted", "qualified", "converted", "disqualified"):
        expect(count_of(page, stage)).to_have_text(str(expected.get(stage, 0)))


def test_moving_the_slider_changes_the_counts(console: Console, browser: Any, base_url: str) -> None:
    history = seeded(console)
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base_url, console.tokens.issue("mia", "manager"))
    page.get_by_role("link", name="Pipeline").click()
    expect(page.get_by_role("heading", name="Pipeline", exact=True)).to_be_visible()
    expect_counts(page, {"new": 2, "qualified": 1, "converted": 1, "disqualified": 1})

    today = datetime.now(UTC).date()
    slider = page.get_by_label("As of (drag through time)")
    slider.focus()
    slider.press("Home")  # the first lead's day: Lin, just captured
    expect(page.locator("#board h2 time")).to_have_text(history.first.isoformat())
    expect_counts(page, {"new": 1})
    for _ in range(18):  # to 12 days ago: Lin contacted, Max and Noa new
        slider.press("ArrowRight")
    shown = (today - timedelta(days=12)).isoformat()
    expect(page.locator("#board h2 time")).to_have_text(shown)
    expect_counts(page, {"new": 2, "contacted": 1})
    expect(page.get_by_label("Or pick a date")).to_have_value(shown)
    shot(page, "board-desktop")

    page.get_by_label("Or pick a date").fill((today - timedelta(days=4)).isoformat())
    expect_counts(page, {"new": 1, "qualified": 1, "converted": 1})
    expect(slider).to_have_value(str((today - timedelta(days=4) - history.first).days))

    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(f"{base_url}/app/pipeline")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the board scrolls sideways at 360 px ({width} px wide)"
    shot(page, "board-phone")


def test_the_board_showing_now_follows_a_stage_change_made_elsewhere(
    console: Console, browser: Any, base_url: str
) -> None:
    seeded(console)
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base_url, console.tokens.issue("mia", "manager"))
    page.goto(f"{base_url}/app/pipeline")
    expect(count_of(page, "proposal")).to_have_text("0")
    console.crm.change_stage(console.alices_lead, ChangeStage(stage="proposal"), ALICE)
    expect(count_of(page, "proposal")).to_have_text("1", timeout=WITHIN)
    expect(count_of(page, "new")).to_have_text("1")
    expect(page.locator('#board section.column[data-stage="proposal"]')).to_contain_text("Ada Lovelace")


def test_the_manager_pages_have_one_heading_labelled_fields_and_fit_a_phone(
    console: Console, browser: Any, base_url: str
) -> None:
    seeded(console)
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("mia", "manager"))
    for path, name in (
        ("/app/pipeline", "board"),
        ("/app/forecast", "forecast"),
        ("/app/segments", "segments"),
        ("/app/analytics", "analytics"),
    ):
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{base_url}{path}")
            assert page.locator("main").count() == 1 and page.locator("h1").count() == 1, path
            unlabelled = page.evaluate(
                """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter(el => el.labels.length === 0).map(el => el.name)"""
            )
            assert unlabelled == [], (path, unlabelled)
            scrolled = page.evaluate("document.documentElement.scrollWidth")
            assert scrolled <= width, f"{path} scrolls sideways at {width} px ({scrolled} px wide)"
            if width == 1280 and name != "board":
                shot(page, f"{name}-desktop")
