"""The rep pages in a real browser on a phone-sized screen (390 x 844), as the console's other
browser tests run them: converting a lead and landing on its contact's page, an analyst's masked
contact, search by email, and a lead's score following a change live."""

from __future__ import annotations

import re
from typing import Any

from services.app.commands import ChangeConsent, ConvertLead, LogInteraction
from tests.console import test_console_browser as shared
from tests.console.conftest import ALICE, Console
from tests.console.test_console_browser import WITHIN, expect, shot, sign_in

browser = shared.browser  # the headless Chromium and the served console, as the other browser tests have them
base_url = shared.base_url


def usable_on_a_phone(page: Any, width: int) -> None:
    """No sideways scrolling at `width`, and every button and form field at least 44 px tall."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways at {width} px ({scroll} px wide)"
    for target in page.locator("main button, main input:not([type=hidden]), main select").all():
        box = target.bounding_box()
        if box is not None:
            assert box["height"] >= 44 and box["width"] >= 44, (page.url, target.get_attribute("name"), box)


def well_formed(page: Any) -> None:
    """One `main`, one `h1`, the navigation, and a label for every field, as every console page has."""
    assert page.locator("main").count() == 1 and page.locator("h1").count() == 1, page.url
    assert page.get_by_role("navigation").count() == 1, page.url
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(el => el.labels.length === 0).map(el => el.name)"""
    )
    assert unlabelled == [], (page.url, unlabelled)


def converted(console: Console) -> str:
    result = console.crm.convert_lead(console.alices_lead, ConvertLead(deal_value=5000), ALICE)
    return str(result.related_id)


def test_a_rep_converts_a_lead_and_lands_on_the_contact_page_showing_its_consent_and_segments(
    console: Console, browser: Any, base_url: str
) -> None:
    console.crm.change_lead_consent(console.alices_lead, ChangeConsent(channel="email", granted=True), ALICE)
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    page.goto(f"{base_url}/app/leads/{console.alices_lead}")
    page.get_by_label("Deal value (minor units, e.g. cents)").fill("250000")
    page.get_by_role("button", name="Convert to a contact").click()

    expect(page.get_by_role("heading", name="Segments now")).to_be_visible()
    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/app/contacts/[0-9a-f-]{36}"))
    consent = page.locator("#consent")
    expect(consent.locator("div", has_text="email")).to_contain_text("granted")
    expect(consent.locator("div", has_text="sms")).to_contain_text("not asked")
    expect(page.locator("#segments")).to_contain_text("prospects")
    expect(page.locator("#contact-facts")).to_contain_text("alice")
    expect(page.locator("#timeline li").last).to_contain_text("created")  # newest first
    assert [e.event_type for e in console.crm.history(console.alices_lead)][-1] == "lead.converted"
    usable_on_a_phone(page, 390)
    well_formed(page)
    shot(page, "contact")

    page.set_viewport_size({"width": 360, "height": 780})  # the narrowest phone the console is for
    page.reload()
    expect(page.get_by_role("heading", name="Record a purchase")).to_be_visible()
    usable_on_a_phone(page, 360)


def test_an_analyst_sees_the_contact_masked(console: Console, browser: Any, base_url: str) -> None:
    contact = converted(console)
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("ann", "analyst"))
    page.goto(f"{base_url}/app/contacts/{contact}")
    expect(page.get_by_role("heading", name="A*** L***", level=1)).to_be_visible()
    body = page.locator("main").inner_text()
    assert "a***@acme.example" in body
    assert "Ada Lovelace" not in body and "ada@acme.example" not in body
    assert page.get_by_role("button", name="Record purchase").count() == 0
    shot(page, "analyst-contact")


def test_a_rep_finds_a_contact_by_email_and_opens_it(console: Console, browser: Any, base_url: str) -> None:
    contact = converted(console)
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Name or email").fill("Ada@ACME.example")
    page.get_by_role("button", name="Search").click()
    link = page.locator(f'a[href="/app/contacts/{contact}"]')
    expect(link).to_have_text("Ada Lovelace")
    usable_on_a_phone(page, 390)
    well_formed(page)
    link.click()
    expect(page.get_by_role("heading", name="Segments now")).to_be_visible()
    expect(page).to_have_url(re.compile(f"/app/contacts/{contact}$"))


def test_the_lead_header_score_follows_a_score_change_made_elsewhere_live(
    console: Console, browser: Any, base_url: str
) -> None:
    page = browser.new_page()
    sign_in(page, base_url, console.tokens.issue("alice", "rep"))
    page.goto(f"{base_url}/app/leads/{console.alices_lead}")
    score = page.locator("#lead-facts .score")
    before = console.crm.get_lead(console.alices_lead).score
    expect(score).to_have_text(str(before))

    console.crm.log_lead_interaction(console.alices_lead, LogInteraction(kind="demo", detail="second demo"), ALICE)
    after = console.crm.get_lead(console.alices_lead).score
    assert after != before
    expect(score).to_have_text(str(after), timeout=WITHIN)
    expect(page.locator("#timeline")).to_contain_text("second demo")
    assert page.locator("#lead-facts").count() == 1  # swapped in place, not added
