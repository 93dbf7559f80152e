"""What the console's pages share: reading the request (the session, its caller permitted one
action, the form and its CSRF token, the application and read models), validating a form as its
command, rendering a page with the console's security headers, and showing what a caller may see
(names masked for an analyst, times in UTC, a lead's or a contact's timeline).

`services.console.app` (sign-in, My day, a lead's page) and the page modules built on it
(`services.console.contact_page`) import these; they import neither of those, so that the page
modules are installed by `app.install_console` without an import cycle."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from domain.contact import Contact
from domain.errors import InvalidField
from domain.lead import Lead
from services.api.problems import field_errors, problem_type_of
from services.api.read_models import ReadModelGate
from services.api.schemas import AuditTrail
from services.app.application import CrmApplication
from services.app.queries import ReadModelQueries
from services.auth.access import AccessRecorder, Caller, log_denial
from services.auth.masking import mask_free_text, mask_name
from services.auth.policy import Action, Authenticator, Refusal
from services.auth.principals import caller_behind
from services.console.sessions import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, SessionStore, same_token

PREFIX = "/app"
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

POLL_SECONDS = 1
"""How often a lead's page asks for its timeline (the timeline shows a change within 2 s)."""
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none';"
    " form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

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


# --- what a page reads from the request ------------------------------------------------------


def sessions_of(request: Request) -> SessionStore:
    """The console's session store."""
    sessions: SessionStore = request.app.state.console_sessions
    return sessions


def crm_of(request: Request) -> CrmApplication:
    """The application the API serves too."""
    crm: CrmApplication = request.app.state.crm
    return crm


def queries_of(request: Request) -> ReadModelQueries | None:
    """The read models, or None when this server does not serve them (the page says so)."""
    gate: ReadModelGate = request.app.state.read_models
    return gate.read_models


def session_of(request: Request) -> Session:
    """The request's live session; SignInRequired when there is none."""
    session = sessions_of(request).find(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired()
    return session


def caller_of(request: Request, action: Action = Action.READ) -> tuple[Caller, Session]:
    """The signed-in caller, permitted `action`, and their session: the token is resolved by the
    token store on every request, so an expired or revoked one ends the session here."""
    session = session_of(request)
    tokens: Authenticator = request.app.state.tokens
    access_log: AccessRecorder = request.app.state.access_log
    request_id = str(getattr(request.state, "request_id", "") or uuid.uuid4().hex)
    route = str(getattr(request.scope.get("route"), "path", ""))
    caller = caller_behind(
        tokens,
        session.token,
        request_id=request_id,
        method=request.method,
        path=request.url.path,
        route=PREFIX + route,
        access_log=access_log,
    )
    if isinstance(caller, Refusal):
        sessions_of(request).close(session.session_id)
        raise SignInRequired("Your session ended: its token is no longer valid. Sign in again.")
    permitted = caller.permit(action)
    request.state.caller = permitted  # read when a withheld record is answered (the denial log)
    return permitted, session


async def form_of(request: Request) -> Form:
    """The urlencoded body of a form post (the last value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def check_csrf(request: Request, form: Form, session: Session) -> None:
    """Every POST carries its session's CSRF token, in the form or (htmx) in a header."""
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not same_token(session.csrf_token, given):
        log_denial("csrf_token", method=request.method, path=request.url.path)
        raise CsrfRefused()


def validated(model: type[C], values: Mapping[str, Any]) -> tuple[C | None, Errors]:
    """The command a form asks for, or its field errors exactly as the API's 422 gives them."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v not in ("", None)}), {}
    except ValidationError as error:
        return None, {e.field or "": e.message for e in field_errors(error.errors())}


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """A template as a page (or a fragment) with the console's security headers."""
    response = templates.TemplateResponse(request, template, {"prefix": PREFIX, **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(request: Request, url: str) -> Response:
    """After a change: see the page again (htmx follows the 303 itself)."""
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


# --- what is shown ---------------------------------------------------------------------------


def shown_name(who: Caller, name: str | None) -> str:
    """A person's name as the caller may see it (masked for an analyst; erased is said so)."""
    shown = mask_name(name) if who.principal.masks_personal_data else name
    return shown or "(erased)"


def shown_text(who: Caller, text: str | None) -> str | None:
    """Free text as the caller may see it (personal data in it masked for an analyst)."""
    return mask_free_text(text) if who.principal.masks_personal_data else text


def when(value: datetime | None) -> str:
    """A time as the pages show it, in UTC to the minute."""
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_SUMMARY_FIELDS = (
    *("kind", "detail", "stage", "previous_stage", "score", "reason", "owner", "title", "due_at", "note"),
    *("order_id", "amount", "currency", "quantity", "channel", "granted", "interest"),  # a contact's events
)


def _summary(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The parts of an event's data worth a line on the timeline."""
    return [(k, str(data[k])) for k in _SUMMARY_FIELDS if data.get(k) not in (None, "", {})][:4]


def timeline_of(
    crm: CrmApplication, who: Caller, record_id: uuid.UUID, of: type[Lead] | type[Contact] = Lead
) -> list[dict[str, Any]]:
    """A lead's (or, with `of`, a contact's) events, newest first, as the API's audit trail gives
    them (masked for an analyst)."""
    entries = crm.history(record_id, of=of, owner_scope=who.owner_scope)
    trail = AuditTrail.of(record_id, entries, masked=who.principal.masks_personal_data)
    kind = "lead." if of is Lead else "contact."
    return [
        {
            "version": e.version,
            "event": e.event_type.removeprefix(kind),
            "business": when(e.occurred_at),
            "business_iso": e.occurred_at.isoformat(),
            "recorded": when(e.recorded_at),
            "recorded_iso": e.recorded_at.isoformat(),
            "actor": e.actor,
            "summary": _summary(e.data),
        }
        for e in reversed(trail.entries)
    ]


def integer_field(value: str) -> int | str:
    """A form's whole number as the API's JSON would carry it; anything else as typed, for the
    command model to refuse with the API's message."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 20 else value


def refused(error: Exception) -> tuple[Errors, int]:
    """A refused command as the form's error: the field's for an invalid one, else the form's
    (with the status the API answers it with)."""
    if isinstance(error, InvalidField):
        return {error.field: error.message}, 422
    problem = problem_type_of(error)
    return {"": f"{problem.title}: {error}"}, problem.status


def refusal(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    """A refusal page with its status: what was refused and why, and the way back home."""
    return render(request, "refusal.html", {"title": title, "detail": detail, "home": quote(f"{PREFIX}/")}, status)


@cache  # the assets ship with the code: a new one comes with a new process
def static_version(name: str) -> str:
    """A short digest of a static asset's content, read once per process."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


def static_url(name: str) -> str:
    """The URL of a static asset with its version: cached for good, as a new one is a new URL."""
    return f"{PREFIX}/static/{name}?v={static_version(name)}"


templates.env.globals["static_url"] = static_url
