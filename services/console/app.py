"""The console's routes at /app: sign-in with an API token (a server-side session and its CSRF
token), "My day", a lead's page with its live facts and timeline and its commands (converting it
among them), and search by name or email; it installs the contact pages (`contact_page`).

Every page asks the same things of the request as an API route does: the principal behind the
session's token (asked of the token store on every request), permitted one action by
`services.auth.policy`, reading and acting through the application in the caller's owner scope,
and, for an analyst, seeing what `services.auth.masking` masks. A form is validated by the same
command model as the API's body (`services.app.commands`); its errors are the API's 422 field
errors, shown next to their fields, and nothing is stored."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import PathLike
from starlette.types import Scope

from domain.errors import DomainError, InvalidField
from domain.values import InteractionKind, Stage
from services.api.problems import PROBLEMS, problem_type_of
from services.api.read_models import ReadModelGate
from services.api.schemas import LeadPublic
from services.app.application import CrmApplication
from services.app.commands import AddTask, ChangeStage, ConvertLead, DisqualifyLead, LogInteraction
from services.app.errors import ApplicationError, NotFound
from services.app.queries import ReadModelQueries
from services.auth.access import Caller
from services.auth.policy import Action, Authenticator, Forbidden, Principal
from services.console.analytics import install_analytics
from services.console.contact_page import contact_routes, contact_url

# What the page modules share lives in services.console.pages (so that this module can install
# them without an import cycle).
from services.console.pages import (
    POLL_SECONDS,
    PREFIX,
    SECURITY_HEADERS,
    STATIC,
    CsrfRefused,
    Errors,
    Form,
    SignInRequired,
    caller_of,
    check_csrf,
    crm_of,
    form_of,
    integer_field,
    queries_of,
    redirect,
    refusal,
    refused,
    render,
    session_of,
    sessions_of,
    shown_name,
    shown_text,
    static_version,
    timeline_of,
    validated,
    when,
)
from services.console.sessions import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGN_IN_COOKIE,
    Session,
    SessionStore,
    same_token,
)

OPEN_STAGES = [s.value for s in Stage if s.is_open]
INTERACTION_KINDS = [k.value for k in InteractionKind]

STATIC_MAX_AGE = 365 * 24 * 3600
"""How long a browser keeps an asset fetched at its versioned URL (`static_url`): a year."""
_STATIC_HEADERS = {"X-Content-Type-Options": "nosniff"}


class StaticAssets(StaticFiles):
    """The console's scripts, stylesheet and icon: at their versioned URL cached for a year as
    immutable; at any other URL (an old version, or none) revalidated on every use."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        """The file, with its cache header (and `nosniff`), also on a 304."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[-1]
        name = Path(full_path).resolve().relative_to(STATIC).as_posix()
        current = asked == static_version(name)
        cache = f"public, max-age={STATIC_MAX_AGE}, immutable" if current else "no-cache"
        response.headers.update({**_STATIC_HEADERS, "Cache-Control": cache})
        return response


def install_console(api: FastAPI, sessions: SessionStore | None = None) -> FastAPI:
    """Mount the console at /app on the API's app (sharing its application, token store, read
    models and access log) and send / there; returns the console's own app."""
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state = api.state
    api.state.console_sessions = sessions or SessionStore()
    # compressed: the assets hold no secret (the pages, which carry the CSRF token next to
    # reflected input, are sent as they are, so that their compressed size tells nothing)
    console.mount("/static", GZipMiddleware(StaticAssets(directory=STATIC)), name="static")
    console.add_exception_handler(SignInRequired, _sign_in_required)
    console.add_exception_handler(CsrfRefused, _csrf_refused)
    console.add_exception_handler(Forbidden, _forbidden)
    console.add_exception_handler(NotFound, _not_found)
    console.add_exception_handler(RequestValidationError, _not_found)  # /app/leads/not-an-id
    for error_class, _ in PROBLEMS:  # the database down, a business rule: as the API maps them
        if error_class not in console.exception_handlers:
            console.add_exception_handler(error_class, _problem_page)
    _routes(console)
    install_analytics(console)

    @api.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    api.mount(PREFIX, console, name="console")
    return console


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _reason(breakdown: Mapping[str, float]) -> str:
    """What the score is made of, largest part first: `engagement 37 · fit.title 20`."""
    parts = sorted(breakdown.items(), key=lambda item: (-item[1], item[0]))[:3]
    return " · ".join(f"{name} {round(value)}" for name, value in parts if round(value)) or "no scoring signals yet"


def my_day(crm: CrmApplication, queries: ReadModelQueries | None, who: Caller) -> dict[str, Any]:
    """What "My day" shows the caller: their tasks due by the end of today (overdue ones marked),
    the hottest open leads with what their score is made of, and nurture steps waiting."""
    now = datetime.now(UTC)
    principal = who.principal
    day: dict[str, Any] = {"tasks": None, "hot": None, "nurture": None, "read_models": queries is not None}
    if queries is None:
        return day
    scope = who.owner_scope
    if principal.may(Action.READ_TASKS):
        end_of_day = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
        rows = queries.tasks(now=now, owner=principal.user, status="open", due_before=end_of_day, limit=50)
        day["tasks"] = [
            {
                "title": shown_text(who, row.title) or "(erased)",
                "due": when(row.due_at),
                "overdue": row.is_overdue(now),
                "lead_id": row.aggregate_id if row.aggregate_type == "lead" else None,
            }
            for row in rows
        ]
    if principal.may(Action.READ_PIPELINE):
        hot = []
        for hit in queries.hot_leads(owner=scope, limit=10):
            lead = crm.get_lead(uuid.UUID(hit.lead_id), owner_scope=scope)
            hot.append(
                {
                    "lead_id": hit.lead_id,
                    "name": shown_name(who, hit.name),
                    "stage": hit.stage,
                    "score": hit.score,
                    "reason": _reason(lead.score_breakdown),
                }
            )
        day["hot"] = hot
        waiting = []
        for step in queries.waiting_steps(owner=scope, limit=10):
            lead = crm.get_lead(uuid.UUID(step.lead_id), owner_scope=scope)
            waiting.append(
                {
                    "lead_id": step.lead_id,
                    "name": shown_name(who, lead.name),
                    "sequence": step.sequence,
                    "next_step": step.next_step,
                    "since": when(step.enrolled_at),
                }
            )
        day["nurture"] = waiting
        who.read([str(h["lead_id"]) for h in hot] + [str(w["lead_id"]) for w in waiting])
    return day


def looks_like_email(text: str) -> bool:
    """Whether a search is for an email address (one `@` with something either side, no spaces)."""
    local, at, domain = text.partition("@")
    return bool(at and local and domain) and "@" not in domain and not any(c.isspace() for c in text)


def people_with_email(
    crm: CrmApplication, queries: ReadModelQueries, who: Caller, email: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The leads and the contacts whose email is this one (the people identity index compares it
    normalised, `domain.identity`), each read through the application in the caller's owner
    scope: one outside it is left out as "not found" is."""
    leads: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    for person in queries.people_with_email("lead", email):
        try:
            lead = crm.get_lead(uuid.UUID(person.person_id), owner_scope=who.owner_scope)
        except NotFound:
            continue
        leads.append(
            {"lead_id": lead.id, "name": shown_name(who, lead.name), "stage": lead.stage.value, "score": lead.score}
        )
    for person in queries.people_with_email("contact", email):
        try:
            contact = crm.get_contact(uuid.UUID(person.person_id), owner_scope=who.owner_scope)
        except NotFound:
            continue
        contacts.append({"contact_id": contact.id, "name": shown_name(who, contact.name), "company": contact.company})
    who.read([*(lead["lead_id"] for lead in leads), *(contact["contact_id"] for contact in contacts)])
    return leads, contacts


def lead_view(
    crm: CrmApplication, who: Caller, lead_id: uuid.UUID, timeline: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A lead as its page shows it (the API's `LeadPublic`, masked for an analyst), its timeline
    (read here unless given), and which of its commands the caller may give."""
    lead = crm.get_lead(lead_id, owner_scope=who.owner_scope)
    public = LeadPublic.of(lead, masked=who.principal.masks_personal_data)
    timeline = timeline if timeline is not None else timeline_of(crm, who, lead_id)
    who.read([lead_id])
    principal = who.principal
    is_open = Stage(public.stage).is_open
    return {
        "lead": public,
        "reason": _reason(public.score_breakdown),
        "timeline": timeline,
        "captured": when(public.captured_at),
        "status": "open" if is_open else ("won" if public.stage == Stage.CONVERTED else "lost"),
        "may": {
            "interact": is_open and principal.may(Action.LOG_INTERACTION),
            "stage": is_open and principal.may(Action.CHANGE_STAGE),
            "disqualify": is_open and principal.may(Action.DISQUALIFY_LEAD),
            "task": is_open and principal.may(Action.ADD_TASK),
            "convert": is_open and principal.may(Action.CONVERT_LEAD),
        },
    }


# --- the routes ------------------------------------------------------------------------------


def _routes(console: FastAPI) -> None:
    @console.get("/", response_class=HTMLResponse, name="my_day")
    def my_day_page(request: Request) -> HTMLResponse:
        who, session = caller_of(request)
        day = my_day(crm_of(request), queries_of(request), who)
        return render(request, "my_day.html", {"who": who.principal, "csrf": session.csrf_token, "day": day})

    @console.get("/sign-in", response_class=HTMLResponse, name="sign_in")
    def sign_in_page(request: Request, ended: str = "") -> HTMLResponse:
        return _sign_in_form(request, notice=_ENDED.get(ended, ""))

    @console.post("/sign-in", name="sign_in_post")
    async def sign_in(request: Request) -> Response:
        form = await form_of(request)
        if not same_token(request.cookies.get(SIGN_IN_COOKIE), form.get(CSRF_FIELD)):
            raise CsrfRefused()
        token = form.get("token", "").strip()
        tokens: Authenticator = request.app.state.tokens
        principal = await run_in_threadpool(tokens.resolve, token) if token else None
        if not isinstance(principal, Principal):
            message = "Paste your API token." if not token else "That token is not valid (unknown, expired or revoked)."
            return _sign_in_form(request, errors={"token": message}, status=401)
        sessions_of(request).close(request.cookies.get(SESSION_COOKIE))  # a sign-in never reuses a session
        session = sessions_of(request).open(token)
        response = redirect(request, f"{PREFIX}/")
        response.set_cookie(
            SESSION_COOKIE,
            session.session_id,
            max_age=SESSION_SECONDS,
            path=PREFIX,
            httponly=True,
            secure=_cookie_secure(request),
            samesite="strict",
        )
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response

    @console.post("/sign-out", name="sign_out")
    async def sign_out(request: Request) -> Response:
        session = session_of(request)
        check_csrf(request, await form_of(request), session)
        sessions_of(request).close(session.session_id)
        response = redirect(request, f"{PREFIX}/sign-in?ended=signed-out")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @console.get("/search", response_class=HTMLResponse, name="search")
    def search_page(request: Request, q: str = "") -> HTMLResponse:
        who, session = caller_of(request, Action.READ_PIPELINE)
        text = q.strip()[:100]
        hits: list[dict[str, Any]] = []
        contacts: list[dict[str, Any]] = []
        notice = ""
        queries = queries_of(request)
        if text and who.principal.masks_personal_data:
            kind = "email" if looks_like_email(text) else "name"
            notice = f"Search by {kind} is not offered to a role that sees {kind}s masked."
        elif text and queries is None:
            notice = "This server does not serve the read models."
        elif text and queries is not None and looks_like_email(text):
            hits, contacts = people_with_email(crm_of(request), queries, who, text)
        elif text and queries is not None:
            found = queries.leads_named(text, owner=who.owner_scope, limit=20)
            who.read(h.lead_id for h in found)
            hits = [
                {"lead_id": h.lead_id, "name": shown_name(who, h.name), "stage": h.stage, "score": h.score}
                for h in found
            ]
        context = {
            "who": who.principal,
            "csrf": session.csrf_token,
            "q": text,
            "hits": hits,
            "contacts": contacts,
            "notice": notice,
        }
        return render(request, "search.html", context)

    @console.get("/leads/{lead_id}", response_class=HTMLResponse, name="lead")
    def lead_page(request: Request, lead_id: uuid.UUID) -> HTMLResponse:
        who, session = caller_of(request)
        return _lead_page(request, who, session, lead_id)

    @console.get("/leads/{lead_id}/timeline", response_class=HTMLResponse, name="timeline")
    def timeline_fragment(request: Request, lead_id: uuid.UUID, since: int | None = None) -> Response:
        who, _ = caller_of(request)
        timeline = timeline_of(crm_of(request), who, lead_id)
        if since is not None and timeline and timeline[0]["version"] == since:
            # the poll's answer when nothing happened: no swap, and nothing shown, so no read logged
            return Response(status_code=204, headers=SECURITY_HEADERS)
        # the lead's facts (score, stage, owner, status) come along, swapped in out of band
        view = lead_view(crm_of(request), who, lead_id, timeline)
        return render(request, "_lead_live.html", {**view, "lead_id": lead_id, "poll": POLL_SECONDS, "oob": True})

    def command_route(path: str, action: Action, form_name: str, build: Callable[[Form], Mapping[str, Any]]) -> None:
        async def post(request: Request, lead_id: uuid.UUID) -> Response:
            who, session = caller_of(request, action)
            form = await form_of(request)
            check_csrf(request, form, session)
            values = build(form)
            errors, status = await run_in_threadpool(_give, crm_of(request), who, lead_id, action, values)
            if errors:
                return await run_in_threadpool(
                    _lead_page, request, who, session, lead_id, {form_name: errors}, {form_name: form}, status
                )
            return redirect(request, f"{PREFIX}/leads/{lead_id}")

        console.add_api_route(f"/leads/{{lead_id}}/{path}", post, methods=["POST"], name=form_name)

    command_route(
        "interactions",
        Action.LOG_INTERACTION,
        "interaction",
        lambda f: {"kind": f.get("kind", ""), "detail": f.get("detail", "")},
    )
    command_route("stage", Action.CHANGE_STAGE, "stage", lambda f: {"stage": f.get("stage", "")})
    command_route("disqualify", Action.DISQUALIFY_LEAD, "disqualify", lambda f: {"reason": f.get("reason", "")})
    command_route(
        "tasks",
        Action.ADD_TASK,
        "task",
        lambda f: {"title": f.get("title", ""), "due_at": _due_at(f.get("due_at", "")), "note": f.get("note", "")},
    )

    @console.post("/leads/{lead_id}/convert", name="convert")
    async def convert(request: Request, lead_id: uuid.UUID) -> Response:
        who, session = caller_of(request, Action.CONVERT_LEAD)
        form = await form_of(request)
        check_csrf(request, form, session)
        values = {"deal_value": integer_field(form.get("deal_value", "")), "currency": form.get("currency", "")}
        gate: ReadModelGate = request.app.state.read_models
        done, errors, status = await run_in_threadpool(_convert, crm_of(request), gate, who, lead_id, values)
        if errors:
            return await run_in_threadpool(
                _lead_page, request, who, session, lead_id, {"convert": errors}, {"convert": form}, status
            )
        return redirect(request, contact_url(*done))

    contact_routes(console)


_ENDED = {
    "signed-out": "You are signed out.",
    "expired": "Your session ended: its token is no longer valid. Sign in again.",
}
_COMMANDS: dict[Action, type[BaseModel]] = {
    Action.LOG_INTERACTION: LogInteraction,
    Action.CHANGE_STAGE: ChangeStage,
    Action.DISQUALIFY_LEAD: DisqualifyLead,
    Action.ADD_TASK: AddTask,
}


def _due_at(value: str) -> str:
    """A `datetime-local` value has no offset: the form says it is UTC."""
    value = value.strip()
    if value and len(value) <= 19 and "T" in value and "+" not in value and not value.endswith("Z"):
        return value + "+00:00"
    return value


def _give(
    crm: CrmApplication, who: Caller, lead_id: uuid.UUID, action: Action, values: Mapping[str, Any]
) -> tuple[Errors, int]:
    """Validate a form as its command and give it: the form's errors (nothing stored) and the
    status the API answers them with (422 for a field, 409 for a business rule), or none."""
    cmd, errors = validated(_COMMANDS[action], values)
    if cmd is None:
        return errors, 422
    ctx = who.context()
    try:
        if isinstance(cmd, LogInteraction):
            crm.log_lead_interaction(lead_id, cmd, ctx)
        elif isinstance(cmd, ChangeStage):
            crm.change_stage(lead_id, cmd, ctx)
        elif isinstance(cmd, DisqualifyLead):
            crm.disqualify_lead(lead_id, cmd, ctx)
        elif isinstance(cmd, AddTask):
            crm.add_lead_task(lead_id, who.as_owner(cmd), ctx)
    except InvalidField as error:
        return {error.field: error.message}, 422
    except NotFound:
        raise
    except (DomainError, ApplicationError) as error:
        problem = problem_type_of(error)
        return {"": f"{problem.title}: {error}"}, problem.status
    return {}, 200


def _convert(
    crm: CrmApplication, gate: ReadModelGate, who: Caller, lead_id: uuid.UUID, values: Mapping[str, Any]
) -> tuple[tuple[uuid.UUID, int | None], Errors, int]:
    """Convert the lead as the API's route does (linked to a contact with its email, if the read
    models know one): the contact and the log position, or the form's errors and status."""
    cmd, errors = validated(ConvertLead, values)
    if cmd is None:
        return (lead_id, None), errors, 422
    try:
        result = crm.convert_lead(lead_id, cmd, who.context(), find_contact=gate.contact_finder())
    except NotFound:
        raise
    except (DomainError, ApplicationError) as error:
        return (lead_id, None), *refused(error)
    assert result.related_id is not None  # a conversion always names its contact
    return (result.related_id, result.position), {}, 200


def _lead_page(
    request: Request,
    who: Caller,
    session: Session,
    lead_id: uuid.UUID,
    errors: dict[str, Errors] | None = None,
    values: dict[str, Form] | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = lead_view(crm_of(request), who, lead_id)
    context = {
        **view,
        "who": who.principal,
        "csrf": session.csrf_token,
        "errors": errors or {},
        "values": values or {},
        "stages": OPEN_STAGES,
        "kinds": INTERACTION_KINDS,
        "poll": POLL_SECONDS,
        "lead_id": lead_id,
    }
    return render(request, "lead.html", context, status)


def _sign_in_form(
    request: Request, *, errors: Errors | None = None, notice: str = "", status: int = 200
) -> HTMLResponse:
    csrf = request.cookies.get(SIGN_IN_COOKIE) or uuid.uuid4().hex + uuid.uuid4().hex
    response = render(request, "sign_in.html", {"csrf": csrf, "errors": errors or {}, "notice": notice}, status)
    response.set_cookie(
        SIGN_IN_COOKIE,
        csrf,
        max_age=3600,
        path=PREFIX,
        httponly=True,
        secure=_cookie_secure(request),
        samesite="strict",
    )
    return response


# --- refusals as pages -----------------------------------------------------------------------


async def _sign_in_required(request: Request, error: Exception) -> Response:
    ended = "?ended=expired" if isinstance(error, SignInRequired) and error.message else ""
    url = f"{PREFIX}/sign-in{ended}"
    if request.headers.get("HX-Request"):
        # an htmx request (the timeline's poll) sends the whole page to the sign-in form
        return Response(status_code=200, headers={"HX-Redirect": url})
    response = RedirectResponse(url, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


async def _csrf_refused(request: Request, error: Exception) -> Response:
    return refusal(
        request, 403, "Refused", "This form was not sent with its security token. Reload the page and try again."
    )


async def _forbidden(request: Request, error: Exception) -> Response:
    return refusal(request, 403, "Not allowed for your role", str(error))


async def _not_found(request: Request, error: Exception) -> Response:
    caller = getattr(request.state, "caller", None)
    if isinstance(error, NotFound) and error.withheld and isinstance(caller, Caller):
        caller.withheld(error)
    return refusal(request, 404, "Not found", "There is no such record, or it is not yours.")


async def _problem_page(request: Request, error: Exception) -> Response:
    """An error the API maps to a problem, as a page with the API's status and title (503 with
    `Retry-After` while the database does not answer, its detail kept back)."""
    problem = problem_type_of(error)
    detail = "Try again in a moment." if problem.status >= 500 else str(error)
    page = refusal(request, problem.status, problem.title, detail)
    if problem.status == 503:
        page.headers["Retry-After"] = "1"
    return page
