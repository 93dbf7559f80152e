"""The console's routes at /app: sign-in with an API token (a server-side session and its CSRF
token), "My day", a lead's page with its live timeline and its commands, and search by name.

Every page asks the same things of the request as an API route does: the principal behind the
session's token (asked of the token store on every request), permitted one action by
`services.auth.policy`, reading and acting through the application in the caller's owner scope,
and, for an analyst, seeing what `services.auth.masking` masks. A form is validated by the same
command model as the API's body (`services.app.commands`); its errors are the API's 422 field
errors, shown next to their fields, and nothing is stored."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import PathLike
from starlette.types import Scope

from domain.errors import DomainError, InvalidField
from domain.lead import Lead
from domain.values import InteractionKind, Stage
from services.api.problems import PROBLEMS, field_errors, problem_type_of
from services.api.read_models import ReadModelGate
from services.api.schemas import AuditTrail, LeadPublic
from services.app.application import CrmApplication
from services.app.commands import AddTask, ChangeStage, DisqualifyLead, LogInteraction
from services.app.errors import ApplicationError, NotFound
from services.app.queries import ReadModelQueries
from services.auth.access import AccessRecorder, Caller, log_denial
from services.auth.masking import mask_free_text, mask_name
from services.auth.policy import Action, Authenticator, Forbidden, Principal
from services.console.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    SIGN_IN_COOKIE,
    Session,
    SessionStore,
    same_token,
)

PREFIX = "/app"
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
OPEN_STAGES = [s.value for s in Stage if s.is_open]
INTERACTION_KINDS = [k.value for k in InteractionKind]
POLL_SECONDS = 1
"""How often a lead's page asks for its timeline (the timeline shows a change within 2 s)."""
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATIC_MAX_AGE = 365 * 24 * 3600
"""How long a browser keeps an asset fetched at its versioned URL (`static_url`): a year."""
_STATIC_HEADERS = {"X-Content-Type-Options": "nosniff"}

Form = dict[str, str]
Errors = dict[str, str]
"""A form's errors: field -> message (the key "" for the form as a whole)."""
C = TypeVar("C", bound=BaseModel)


class SignInRequired(Exception):
    """No live session, or its token no longer holds."""

    def __init__(self, message: str = "") -> None:
        self.message = message
        super().__init__(message)


class CsrfRefused(Exception):
    """A POST without its session's CSRF token."""


@lru_cache(maxsize=64)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def static_version(name: str) -> str:
    """A short digest of a static asset's content (a changed file is read again)."""
    path = STATIC / name
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def static_url(name: str) -> str:
    """The URL of a static asset with its version: cached for good, as a new one is a new URL."""
    return f"{PREFIX}/static/{name}?v={static_version(name)}"


templates.env.globals["static_url"] = static_url


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

    @api.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    api.mount(PREFIX, console, name="console")
    return console


# --- what a page reads from the request ------------------------------------------------------


def _sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.console_sessions
    return sessions


def _crm(request: Request) -> CrmApplication:
    crm: CrmApplication = request.app.state.crm
    return crm


def _queries(request: Request) -> ReadModelQueries | None:
    """The read models, or None when this server does not serve them (the page says so)."""
    gate: ReadModelGate = request.app.state.read_models
    return gate.read_models


def _session(request: Request) -> Session:
    """The request's live session; SignInRequired when there is none."""
    session = _sessions(request).find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired()
    return session


def _caller(request: Request, action: Action = Action.READ) -> tuple[Caller, Session]:
    """The signed-in caller, permitted `action`, and their session: the token is resolved by the
    token store on every request, so an expired or revoked one ends the session here."""
    session = _session(request)
    tokens: Authenticator = request.app.state.tokens
    principal = tokens.resolve(session.token)
    request_id = str(getattr(request.state, "request_id", "") or uuid.uuid4().hex)
    if not isinstance(principal, Principal):
        log_denial(principal.value, method=request.method, path=request.url.path, request_id=request_id)
        _sessions(request).close(session.session_id)
        raise SignInRequired("Your session ended: its token is no longer valid. Sign in again.")
    access_log: AccessRecorder = request.app.state.access_log
    route = str(getattr(request.scope.get("route"), "path", ""))
    caller = Caller(
        principal, request_id, request.method, request.url.path, route=PREFIX + route, access_log=access_log
    )
    permitted = caller.permit(action)
    request.state.caller = permitted  # read when a withheld record is answered (the denial log)
    return permitted, session


async def _form(request: Request) -> Form:
    """The urlencoded body of a form post (the last value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _check_csrf(request: Request, form: Form, session: Session) -> None:
    """Every POST carries its session's CSRF token, in the form or (htmx) in a header."""
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not same_token(session.csrf_token, given):
        log_denial("csrf_token", method=request.method, path=request.url.path)
        raise CsrfRefused()


def _validated(model: type[C], values: Mapping[str, Any]) -> tuple[C | None, Errors]:
    """The command a form asks for, or its field errors exactly as the API's 422 gives them."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v not in ("", None)}), {}
    except ValidationError as error:
        return None, {e.field or "": e.message for e in field_errors(error.errors())}


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {"prefix": PREFIX, **context}, status_code=status)
    response.headers.update(_SECURITY_HEADERS)
    return response


def _redirect(request: Request, url: str) -> Response:
    """After a change: see the page again (htmx follows the 303 itself)."""
    response = RedirectResponse(url, status_code=303)
    response.headers.update(_SECURITY_HEADERS)
    return response


def _cookie_secure(request: Request) -> bool:
    return request.url.scheme == "https"


# --- what is shown ---------------------------------------------------------------------------


def _name(who: Caller, name: str | None) -> str:
    shown = mask_name(name) if who.principal.masks_personal_data else name
    return shown or "(erased)"


def _text(who: Caller, text: str | None) -> str | None:
    return mask_free_text(text) if who.principal.masks_personal_data else text


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _reason(breakdown: Mapping[str, float]) -> str:
    """What the score is made of, largest part first: `engagement 37 · fit.title 20`."""
    parts = sorted(breakdown.items(), key=lambda item: (-item[1], item[0]))[:3]
    return " · ".join(f"{name} {round(value)}" for name, value in parts if round(value)) or "no scoring signals yet"


_SUMMARY_FIELDS = ("kind", "detail", "stage", "previous_stage", "score", "reason", "owner", "title", "due_at", "note")


def _summary(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The parts of an event's data worth a line on the timeline."""
    return [(k, str(data[k])) for k in _SUMMARY_FIELDS if data.get(k) not in (None, "", {})][:4]


def timeline_of(crm: CrmApplication, who: Caller, lead_id: uuid.UUID) -> list[dict[str, Any]]:
    """The lead's events, newest first, as the API's audit trail gives them (masked for an analyst)."""
    entries = crm.history(lead_id, of=Lead, owner_scope=who.owner_scope)
    trail = AuditTrail.of(lead_id, entries, masked=who.principal.masks_personal_data)
    return [
        {
            "version": e.version,
            "event": e.event_type.removeprefix("lead."),
            "business": _when(e.occurred_at),
            "business_iso": e.occurred_at.isoformat(),
            "recorded": _when(e.recorded_at),
            "recorded_iso": e.recorded_at.isoformat(),
            "actor": e.actor,
            "summary": _summary(e.data),
        }
        for e in reversed(trail.entries)
    ]


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
                "title": _text(who, row.title) or "(erased)",
                "due": _when(row.due_at),
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
                    "name": _name(who, hit.name),
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
                    "name": _name(who, lead.name),
                    "sequence": step.sequence,
                    "next_step": step.next_step,
                    "since": _when(step.enrolled_at),
                }
            )
        day["nurture"] = waiting
        who.read([str(h["lead_id"]) for h in hot] + [str(w["lead_id"]) for w in waiting])
    return day


def lead_view(crm: CrmApplication, who: Caller, lead_id: uuid.UUID) -> dict[str, Any]:
    """A lead as its page shows it (the API's `LeadPublic`, masked for an analyst), its timeline,
    and which of its commands the caller may give."""
    lead = crm.get_lead(lead_id, owner_scope=who.owner_scope)
    public = LeadPublic.of(lead, masked=who.principal.masks_personal_data)
    timeline = timeline_of(crm, who, lead_id)
    who.read([lead_id])
    principal = who.principal
    is_open = Stage(public.stage).is_open
    return {
        "lead": public,
        "reason": _reason(public.score_breakdown),
        "timeline": timeline,
        "captured": _when(public.captured_at),
        "may": {
            "interact": is_open and principal.may(Action.LOG_INTERACTION),
            "stage": is_open and principal.may(Action.CHANGE_STAGE),
            "disqualify": is_open and principal.may(Action.DISQUALIFY_LEAD),
            "task": is_open and principal.may(Action.ADD_TASK),
        },
    }


# --- the routes ------------------------------------------------------------------------------


def _routes(console: FastAPI) -> None:
    @console.get("/", response_class=HTMLResponse, name="my_day")
    def my_day_page(request: Request) -> HTMLResponse:
        who, session = _caller(request)
        day = my_day(_crm(request), _queries(request), who)
        return _page(request, "my_day.html", {"who": who.principal, "csrf": session.csrf_token, "day": day})

    @console.get("/sign-in", response_class=HTMLResponse, name="sign_in")
    def sign_in_page(request: Request, ended: str = "") -> HTMLResponse:
        return _sign_in_form(request, notice=_ENDED.get(ended, ""))

    @console.post("/sign-in", name="sign_in_post")
    async def sign_in(request: Request) -> Response:
        form = await _form(request)
        if not same_token(request.cookies.get(SIGN_IN_COOKIE), form.get(CSRF_FIELD)):
            raise CsrfRefused()
        token = form.get("token", "").strip()
        tokens: Authenticator = request.app.state.tokens
        principal = await run_in_threadpool(tokens.resolve, token) if token else None
        if not isinstance(principal, Principal):
            message = "Paste your API token." if not token else "That token is not valid (unknown, expired or revoked)."
            return _sign_in_form(request, errors={"token": message}, status=401)
        _sessions(request).close(request.cookies.get(SESSION_COOKIE))  # a sign-in never reuses a session
        session = _sessions(request).open(token)
        response = _redirect(request, f"{PREFIX}/")
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
        session = _session(request)
        _check_csrf(request, await _form(request), session)
        _sessions(request).close(session.session_id)
        response = _redirect(request, f"{PREFIX}/sign-in?ended=signed-out")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return response

    @console.get("/search", response_class=HTMLResponse, name="search")
    def search_page(request: Request, q: str = "") -> HTMLResponse:
        who, session = _caller(request, Action.READ_PIPELINE)
        text = q.strip()[:100]
        hits, notice = [], ""
        queries = _queries(request)
        if text and who.principal.masks_personal_data:
            notice = "Search by name is not offered to a role that sees names masked."
        elif text and queries is None:
            notice = "This server does not serve the read models."
        elif text and queries is not None:
            found = queries.leads_named(text, owner=who.owner_scope, limit=20)
            who.read(h.lead_id for h in found)
            hits = [
                {"lead_id": h.lead_id, "name": _name(who, h.name), "stage": h.stage, "score": h.score} for h in found
            ]
        context = {"who": who.principal, "csrf": session.csrf_token, "q": text, "hits": hits, "notice": notice}
        return _page(request, "search.html", context)

    @console.get("/leads/{lead_id}", response_class=HTMLResponse, name="lead")
    def lead_page(request: Request, lead_id: uuid.UUID) -> HTMLResponse:
        who, session = _caller(request)
        return _lead_page(request, who, session, lead_id)

    @console.get("/leads/{lead_id}/timeline", response_class=HTMLResponse, name="timeline")
    def timeline_fragment(request: Request, lead_id: uuid.UUID, since: int | None = None) -> Response:
        who, _ = _caller(request)
        timeline = timeline_of(_crm(request), who, lead_id)
        if since is not None and timeline and timeline[0]["version"] == since:
            # the poll's answer when nothing happened: no swap, and nothing shown, so no read logged
            return Response(status_code=204, headers=_SECURITY_HEADERS)
        who.read([lead_id])
        return _page(request, "_timeline.html", {"lead_id": lead_id, "timeline": timeline, "poll": POLL_SECONDS})

    def command_route(path: str, action: Action, form_name: str, build: Callable[[Form], Mapping[str, Any]]) -> None:
        async def post(request: Request, lead_id: uuid.UUID) -> Response:
            who, session = _caller(request, action)
            form = await _form(request)
            _check_csrf(request, form, session)
            values = build(form)
            errors, status = await run_in_threadpool(_give, _crm(request), who, lead_id, action, values)
            if errors:
                return await run_in_threadpool(
                    _lead_page, request, who, session, lead_id, {form_name: errors}, {form_name: form}, status
                )
            return _redirect(request, f"{PREFIX}/leads/{lead_id}")

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
    cmd, errors = _validated(_COMMANDS[action], values)
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


def _lead_page(
    request: Request,
    who: Caller,
    session: Session,
    lead_id: uuid.UUID,
    errors: dict[str, Errors] | None = None,
    values: dict[str, Form] | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = lead_view(_crm(request), who, lead_id)
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
    return _page(request, "lead.html", context, status)


def _sign_in_form(
    request: Request, *, errors: Errors | None = None, notice: str = "", status: int = 200
) -> HTMLResponse:
    csrf = request.cookies.get(SIGN_IN_COOKIE) or uuid.uuid4().hex + uuid.uuid4().hex
    response = _page(request, "sign_in.html", {"csrf": csrf, "errors": errors or {}, "notice": notice}, status)
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
    return _refusal(
        request, 403, "Refused", "This form was not sent with its security token. Reload the page and try again."
    )


async def _forbidden(request: Request, error: Exception) -> Response:
    return _refusal(request, 403, "Not allowed for your role", str(error))


async def _not_found(request: Request, error: Exception) -> Response:
    caller = getattr(request.state, "caller", None)
    if isinstance(error, NotFound) and error.withheld and isinstance(caller, Caller):
        caller.withheld(error)
    return _refusal(request, 404, "Not found", "There is no such record, or it is not yours.")


async def _problem_page(request: Request, error: Exception) -> Response:
    """An error the API maps to a problem, as a page with the API's status and title (503 with
    `Retry-After` while the database does not answer, its detail kept back)."""
    problem = problem_type_of(error)
    detail = "Try again in a moment." if problem.status >= 500 else str(error)
    page = _refusal(request, problem.status, problem.title, detail)
    if problem.status == 503:
        page.headers["Retry-After"] = "1"
    return page


def _refusal(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return _page(request, "refusal.html", {"title": title, "detail": detail, "home": quote(f"{PREFIX}/")}, status)
