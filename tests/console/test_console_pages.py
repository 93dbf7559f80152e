"""The console's pages as a browser without JavaScript sees them: sign-in and its cookie, the
pages for each role, masking, form errors, CSRF, sign-out and revocation."""

from __future__ import annotations

import re

import pytest
from eventsourcing.persistence import OperationalError

from services.app.commands import LogInteraction
from tests.console.conftest import ALICE, Console, MakeConsole, csrf_of, sign_in


def events_of(console: Console, lead_id: object) -> list[str]:
    return [e.event_type for e in console.crm.history(lead_id)]  # type: ignore[arg-type]


def test_the_root_and_the_console_without_a_session_lead_to_the_sign_in_form(console: Console) -> None:
    client = console.client()
    assert client.get("/").headers["location"] == "/app/"
    response = client.get("/app/")
    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in"
    form = client.get("/app/sign-in")
    assert '<label for="token">API token</label>' in form.text


def test_signing_in_sets_an_http_only_strict_session_cookie_that_is_not_the_token(console: Console) -> None:
    client = console.client()
    token = console.tokens.issue("alice", "rep")
    sign_in(client, token)
    cookie = next(c for c in client.cookies.jar if c.name == "crm_console")
    assert token not in cookie.value
    assert not cookie.secure  # plain http: a Secure cookie would not come back
    page = client.get("/app/")
    assert page.status_code == 200 and "My day" in page.text


def test_over_https_the_session_cookie_is_secure(console: Console) -> None:
    client = console.client(https=True)
    form = client.get("/app/sign-in")
    response = client.post(
        "/app/sign-in", data={"token": console.tokens.issue("alice", "rep"), "csrf_token": csrf_of(form.text)}
    )
    header = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and "crm_console=" in v)
    flags = [part.strip().lower() for part in header.split(";")]
    assert {"httponly", "secure", "samesite=strict", "path=/app"} <= set(flags)


def test_a_wrong_token_is_refused_next_to_its_field(console: Console) -> None:
    client = console.client()
    form = client.get("/app/sign-in")
    response = client.post("/app/sign-in", data={"token": "not-a-token", "csrf_token": csrf_of(form.text)})
    assert response.status_code == 401
    assert re.search(r'id="token"[^>]*aria-invalid="true"', response.text)
    assert 'id="token-error"' in response.text
    assert "crm_console=" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("rep", ["Tasks due today", "Hot leads", "Nurture steps waiting", "Ada Lovelace"], ["Grace Hopper"]),
        ("manager", ["Hot leads", "Ada Lovelace", "Grace Hopper"], []),
        ("admin", ["Hot leads", "Ada Lovelace", "Grace Hopper"], []),
        ("analyst", ["Hot leads", "A*** L***", "G*** H***"], ["Ada Lovelace", "Grace Hopper"]),
        ("privacy", ["My day"], ["Hot leads", "Tasks due today"]),
    ],
)
def test_my_day_shows_each_role_what_the_api_lets_it_read(
    console: Console, role: str, shown: list[str], hidden: list[str]
) -> None:
    client, _ = console.signed_in("alice" if role == "rep" else f"a-{role}", role)
    page = client.get("/app/")
    assert page.status_code == 200
    for text in shown:
        assert text in page.text, text
    for text in hidden:
        assert text not in page.text, text


def test_a_service_token_signs_in_but_may_read_no_page(console: Console) -> None:
    client, _ = console.signed_in("billing", "service")
    page = client.get("/app/")
    assert page.status_code == 403
    assert "Not allowed for your role" in page.text


def test_a_reps_day_lists_their_overdue_task_and_why_their_lead_is_hot(console: Console) -> None:
    client, _ = console.signed_in()
    page = client.get("/app/").text
    assert "send the proposal to ada@acme.example" in page and "Overdue" in page
    assert re.search(r"engagement \d+", page)


def test_a_rep_does_not_see_another_reps_lead(console: Console) -> None:
    client, _ = console.signed_in()
    assert client.get(f"/app/leads/{console.bobs_lead}").status_code == 404
    assert client.get(f"/app/leads/{console.alices_lead}").status_code == 200


def test_an_analyst_sees_a_lead_masked_and_no_command_forms(console: Console) -> None:
    client, _ = console.signed_in("ann", "analyst")
    page = client.get(f"/app/leads/{console.alices_lead}").text
    assert "A*** L***" in page and "a***@acme.example" in page
    assert "Ada Lovelace" not in page and "ada@acme.example" not in page
    assert "Log an interaction" not in page and "Disqualify" not in page


def test_an_analyst_sees_on_the_lead_page_exactly_what_the_api_masks(console: Console) -> None:
    token = console.tokens.issue("ann", "analyst")
    api = console.client().get(f"/v1/leads/{console.alices_lead}", headers={"Authorization": f"Bearer {token}"}).json()
    client = console.client()
    sign_in(client, token)
    page = client.get(f"/app/leads/{console.alices_lead}").text
    for field in ("name", "email", "company"):
        assert api[field] in page, field
    assert api["name"] == "A*** L***" and api["email"] == "a***@acme.example"


def test_an_analyst_is_refused_a_command_as_the_api_refuses_it(console: Console) -> None:
    client, _ = console.signed_in("ann", "analyst")
    csrf = csrf_of(client.get("/app/").text)
    response = client.post(f"/app/leads/{console.alices_lead}/interactions", data={"kind": "call", "csrf_token": csrf})
    assert response.status_code == 403
    assert events_of(console, console.alices_lead).count("lead.interaction_logged") == 1


def test_logging_an_interaction_appends_it_and_shows_it_on_the_timeline(console: Console) -> None:
    client, _ = console.signed_in()
    page = client.get(f"/app/leads/{console.alices_lead}").text
    response = client.post(
        f"/app/leads/{console.alices_lead}/interactions",
        data={"kind": "meeting", "detail": "met at the fair", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303
    timeline = client.get(f"/app/leads/{console.alices_lead}/timeline").text
    assert "met at the fair" in timeline and "happened" in timeline and "recorded" in timeline


def test_a_form_error_shows_next_to_its_field_with_the_apis_message_and_stores_nothing(console: Console) -> None:
    client, _ = console.signed_in()
    before = events_of(console, console.alices_lead)
    page = client.get(f"/app/leads/{console.alices_lead}").text
    response = client.post(
        f"/app/leads/{console.alices_lead}/tasks",
        data={"title": "x" * 201, "due_at": "", "note": "", "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 422
    assert re.search(r'id="task-title"[^>]*aria-invalid="true"', response.text)
    assert 'id="task-title-error">String should have at most 200 characters' in response.text
    assert 'id="task-due_at-error">Field required' in response.text
    assert events_of(console, console.alices_lead) == before


def test_changing_the_stage_disqualifying_and_adding_a_task_append_their_events(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    csrf = csrf_of(client.get(f"/app/leads/{lead}").text)
    assert client.post(f"/app/leads/{lead}/stage", data={"stage": "qualified", "csrf_token": csrf}).status_code == 303
    added = client.post(
        f"/app/leads/{lead}/tasks", data={"title": "call back", "due_at": "2026-12-24T10:00", "csrf_token": csrf}
    )
    assert added.status_code == 303
    assert (
        client.post(f"/app/leads/{lead}/disqualify", data={"reason": "no budget", "csrf_token": csrf}).status_code
        == 303
    )
    events = events_of(console, lead)
    assert events[-3:] == ["lead.stage_changed", "lead.task_created", "lead.disqualified"]
    closed = client.get(f"/app/leads/{lead}").text
    assert "no budget" in closed and "Log an interaction" not in closed


def test_a_command_the_lead_refuses_is_shown_on_the_page_and_stores_nothing(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    csrf = csrf_of(client.get(f"/app/leads/{lead}").text)
    before = events_of(console, lead)
    response = client.post(f"/app/leads/{lead}/stage", data={"stage": "new", "csrf_token": csrf})
    assert response.status_code == 409  # as the API answers a broken business rule
    assert 'id="stage--error"' in response.text
    assert events_of(console, lead) == before


@pytest.mark.parametrize("csrf", [None, "wrong"])
def test_a_post_without_its_sessions_csrf_token_is_refused_and_stores_nothing(
    console: Console, csrf: str | None
) -> None:
    client, _ = console.signed_in()
    before = events_of(console, console.alices_lead)
    data = {"kind": "call"} | ({"csrf_token": csrf} if csrf else {})
    response = client.post(f"/app/leads/{console.alices_lead}/interactions", data=data)
    assert response.status_code == 403
    assert events_of(console, console.alices_lead) == before


def test_the_csrf_token_may_come_as_the_header_htmx_sends(console: Console) -> None:
    client, _ = console.signed_in()
    csrf = csrf_of(client.get("/app/").text)
    response = client.post(
        f"/app/leads/{console.alices_lead}/interactions", data={"kind": "call"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 303


def test_signing_in_needs_the_sign_in_forms_csrf_token(console: Console) -> None:
    client = console.client()
    client.get("/app/sign-in")
    response = client.post("/app/sign-in", data={"token": console.tokens.issue("alice", "rep")})
    assert response.status_code == 403


def test_signing_out_ends_the_session(console: Console) -> None:
    client, _ = console.signed_in()
    old_cookie = client.cookies.get("crm_console")
    response = client.post("/app/sign-out", data={"csrf_token": csrf_of(client.get("/app/").text)})
    assert response.status_code == 303
    client.cookies.set("crm_console", old_cookie or "", path="/app")  # even a kept cookie no longer works
    assert client.get("/app/").headers["location"] == "/app/sign-in"


def test_a_revoked_token_ends_the_session_on_the_next_request(console: Console) -> None:
    client, token = console.signed_in()
    assert client.get("/app/").status_code == 200
    console.tokens.revoke_user("alice")
    response = client.get("/app/")
    assert response.status_code == 303 and response.headers["location"] == "/app/sign-in?ended=expired"
    polled = client.get(f"/app/leads/{console.alices_lead}/timeline", headers={"HX-Request": "true"})
    assert polled.headers["HX-Redirect"].startswith("/app/sign-in")


def test_search_finds_a_reps_own_leads_by_name_and_refuses_names_to_an_analyst(console: Console) -> None:
    client, _ = console.signed_in()
    found = client.get("/app/search", params={"q": "lovelace"}).text
    assert "Ada Lovelace" in found
    assert "Grace Hopper" not in client.get("/app/search", params={"q": "hopper"}).text
    analyst, _ = console.signed_in("ann", "analyst")
    assert "not offered" in analyst.get("/app/search", params={"q": "lovelace"}).text


def test_every_console_page_sends_a_content_security_policy_of_its_own_origin(console: Console) -> None:
    client, _ = console.signed_in()
    for path in ("/app/", f"/app/leads/{console.alices_lead}", "/app/search", "/app/sign-in"):
        policy = client.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in policy, path


def test_the_timeline_poll_answers_204_until_the_lead_changes_and_then_the_new_event(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    page = client.get(f"/app/leads/{lead}").text
    since = re.search(r"/timeline\?since=(\d+)", page)
    assert since, page
    path = f"/app/leads/{lead}/timeline?since={since.group(1)}"
    assert client.get(path).status_code == 204
    console.crm.log_lead_interaction(lead, LogInteraction(kind="webinar", detail="joined live"), ALICE)
    changed = client.get(path)
    assert changed.status_code == 200 and "joined live" in changed.text
    assert f"since={int(since.group(1)) + 2}" in changed.text  # the interaction and its new score


def test_a_lead_path_that_is_not_an_id_is_a_not_found_page(console: Console) -> None:
    client, _ = console.signed_in()
    response = client.get("/app/leads/not-an-id")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_while_the_database_does_not_answer_a_page_is_a_503_page_with_retry_after(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = console.signed_in()

    def down(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(console.crm, "get_lead", down)
    response = client.get(f"/app/leads/{console.alices_lead}")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "Database unavailable" in response.text and "connection refused" not in response.text


def test_without_read_models_my_day_says_so_and_a_lead_page_still_reads_the_log(make_console: MakeConsole) -> None:
    console = make_console(read_models=False)
    client, _ = console.signed_in()
    assert "does not serve the read models" in client.get("/app/").text
    assert "Ada Lovelace" in client.get(f"/app/leads/{console.alices_lead}").text
