"""The console in a real browser on a phone-sized screen (390 x 844): headless Chromium against
the console served by uvicorn over a seeded SQLite store. Screenshots go to build/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.app.commands import LogInteraction
from tests.console.conftest import ALICE, Console
from tests.e2e.conftest import running
from tests.support.browser import BrowserUnavailable, chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
WITHIN = 2_000
"""Milliseconds a change may take to show on a page that follows it live."""

expect: Any
try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the dev dependencies include playwright
    expect = None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium context (no cookies, a new profile)."""
    if expect is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    try:
        with chromium() as context:
            context.set_default_timeout(10_000)
            yield context
    except BrowserUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture
def base_url(console: Console) -> Iterator[str]:
    """The console's app served on a free loopback port."""
    with running(console.app) as url:
        yield url


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def sign_in(page: Any, base_url: str, token: str) -> None:
    page.goto(f"{base_url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My day")).to_be_visible()


def interactions_of(console: Console) -> int:
    return [e.event_type for e in console.crm.history(console.alices_lead)].count("lead.interaction_logged")


def test_a_rep_signs_in_on_a_phone_logs_an_interaction_in_two_taps_and_sees_changes_live(
    console: Console, browser: Any, base_url: str
) -> None:
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    shot(page, "my-day")
    page.get_by_role("link", name="Ada Lovelace").first.click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    timeline = page.locator("#timeline")

    page.get_by_label("Note (optional)").first.fill("asked for the price list")  # tap 1 (the note is optional)
    page.get_by_role("button", name="call", exact=True).click()  # tap 2
    expect(timeline).to_contain_text("asked for the price list")
    assert interactions_of(console) == 2
    shot(page, "lead")

    # a change made elsewhere (another device, the API) shows up without reloading the page
    console.crm.log_lead_interaction(console.alices_lead, LogInteraction(kind="webinar", detail="joined live"), ALICE)
    expect(timeline).to_contain_text("joined live", timeout=WITHIN)
    expect(timeline.locator("li").first).to_contain_text("webinar")

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at 390 px ({width} px wide)"
    for button in page.get_by_role("button").all():
        box = button.bounding_box()
        if box is not None:
            assert box["height"] >= 44 and box["width"] >= 44, (button.inner_text(), box)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "console-phone")

    page.set_viewport_size({"width": 360, "height": 780})  # the narrowest phone the console is for
    for path in (f"/app/leads/{console.alices_lead}", "/app/", "/app/search?q=ada"):
        page.goto(f"{base_url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways at 360 px ({width} px wide)"


def test_every_page_has_its_landmarks_one_heading_and_a_label_for_every_field(
    console: Console, browser: Any, base_url: str
) -> None:
    page = browser.new_page()
    page.goto(f"{base_url}/app/sign-in")
    pages = ["/app/sign-in"]
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    pages += ["/app/", f"/app/leads/{console.alices_lead}", "/app/search?q=ada"]
    for path in pages:
        page.goto(f"{base_url}{path}")
        assert page.locator("main").count() == 1, path
        assert page.locator("h1").count() == 1, path
        assert page.evaluate("document.documentElement.lang") == "en", path
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(el => el.labels.length === 0).map(el => el.name)"""
        )
        assert unlabelled == [], (path, unlabelled)
        if path != "/app/sign-in":
            assert page.get_by_role("navigation").count() == 1, path


def test_a_form_error_shows_next_to_its_field_and_stores_nothing(console: Console, browser: Any, base_url: str) -> None:
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    page.goto(f"{base_url}/app/leads/{console.alices_lead}")
    before = console.crm.history(console.alices_lead)
    page.get_by_label("What to do").fill("   ")  # blank once stripped, as the API strips it
    page.get_by_role("button", name="Add task").click()
    error = page.locator("#task-title-error")
    expect(error).to_have_text("String should have at least 1 character")
    expect(page.locator("#task-due_at-error")).to_have_text("Field required")
    expect(page.get_by_label("What to do")).to_have_attribute("aria-invalid", "true")
    error.scroll_into_view_if_needed()
    shot(page, "form-error")
    assert console.crm.history(console.alices_lead) == before


def test_an_analyst_sees_names_and_emails_masked_where_the_api_masks_them(
    console: Console, browser: Any, base_url: str
) -> None:
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("ann", "analyst"))
    expect(page.get_by_role("link", name="A*** L***")).to_be_visible()
    page.goto(f"{base_url}/app/leads/{console.alices_lead}")
    expect(page.get_by_role("heading", name="A*** L***")).to_be_visible()
    body = page.locator("main").inner_text()
    assert "a***@acme.example" in body
    assert "Ada Lovelace" not in body and "ada@acme.example" not in body
    assert page.get_by_role("button", name="call", exact=True).count() == 0
    shot(page, "analyst-lead")


def test_signing_out_ends_the_session(console: Console, browser: Any, base_url: str) -> None:
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{base_url}/app/leads/{console.alices_lead}")
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def _elsewhere(url: str, base_url: str) -> bool:
    return not url.startswith((base_url, "data:", "blob:"))


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".swagger-ui .info"), ("/redoc", ".api-content")])
def test_the_api_docs_render_in_the_browser_fetching_nothing_from_elsewhere(
    browser: Any, base_url: str, path: str, rendered: str
) -> None:
    page = browser.new_page()
    fetched: list[str] = []
    failed: list[tuple[str, str]] = []
    page.on("requestfinished", lambda r: fetched.append(r.url) if _elsewhere(r.url, base_url) else None)
    page.on("requestfailed", lambda r: failed.append((r.url, r.failure or "")) if _elsewhere(r.url, base_url) else None)
    page.goto(f"{base_url}{path}")
    expect(page.locator(rendered)).to_be_visible(timeout=20_000)
    expect(page.get_by_text("CRM API").first).to_be_visible()
    assert not fetched, fetched
    # what a bundle names elsewhere (ReDoc's footer logo) the page's policy stops in the browser
    assert all(failure in ("csp", "net::ERR_BLOCKED_BY_CSP") for _, failure in failed), failed
    shot(page, path.strip("/"))
