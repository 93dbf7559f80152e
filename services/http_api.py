"""The HTTP API under /v1: thin routes from request bodies (the command models) through the
application to response DTOs. Authentication, the role and object rules live in
`services.auth`; the error -> status mapping in `services.http_problems`.

Conventions:
- single lead/contact responses carry `ETag: "<version>"`; a change may send it back as
  `If-Match` and gets 409 when the aggregate moved on;
- creates honour an `Idempotency-Key` header (a retry answers 200 with the same id);
- every response echoes `X-Request-ID` (the caller's, or a new one), which is also the
  correlation id of the events the request appended;
- errors are `application/problem+json`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import MutableHeaders
from starlette.routing import Match

from domain.contact import Contact
from domain.lead import Lead
from services.application import AuditEntry, CommandResult, CrmApplication
from services.auth import Access, Action, Caller, TokenStore, Unauthenticated, log_denial
from services.commands import (
    AssignLead,
    CaptureLead,
    ChangeConsent,
    ChangeStage,
    ConvertLead,
    CreateContact,
    DisqualifyLead,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    RescoreLead,
    UpdateContactDetails,
)
from services.errors import ContactNotFound, LeadNotFound, NotFound
from services.http_dtos import (
    AuditTrail,
    CommandAccepted,
    ContactPublic,
    ContactReactivated,
    Health,
    LeadConverted,
    LeadPublic,
)
from services.http_problems import (
    INTERNAL,
    PROBLEM_RESPONSES,
    BodyTooLarge,
    MalformedHeader,
    StoreUnavailable,
    install_problem_handlers,
    problem_response,
    problem_type_of,
)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted; larger ones get 413 before any parsing."""

log = logging.getLogger("crm.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
C = TypeVar("C", CaptureLead, CreateContact, ReactivateContact)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


# --- metrics -------------------------------------------------------------------------------


class Metrics:
    """Request counts and latency sums per method, route and status, in Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            entry = self._requests.setdefault((method, route, str(status)), [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def render(self, head_position: int) -> str:
        with self._lock:
            rows = sorted(self._requests.items())
        lines = [
            "# HELP crm_events_appended_total Events appended to the event log (its head position).",
            "# TYPE crm_events_appended_total counter",
            f"crm_events_appended_total {head_position}",
            "# HELP crm_http_requests_total HTTP requests answered, by method, route and status.",
            "# TYPE crm_http_requests_total counter",
        ]
        lines += [f"crm_http_requests_total{{{_labels(key)}}} {int(count)}" for key, (count, _) in rows]
        lines += [
            "# HELP crm_http_request_duration_seconds Time spent answering HTTP requests.",
            "# TYPE crm_http_request_duration_seconds summary",
        ]
        for key, (count, seconds) in rows:
            lines.append(f"crm_http_request_duration_seconds_sum{{{_labels(key)}}} {seconds:.6f}")
            lines.append(f"crm_http_request_duration_seconds_count{{{_labels(key)}}} {int(count)}")
        return "\n".join(lines) + "\n"


def _labels(key: tuple[str, str, str]) -> str:
    method, route, status = key

    def esc(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return f'method="{esc(method)}",route="{esc(route)}",status="{esc(status)}"'


# --- the edge: request id, body limit, metrics, last-resort 500 ----------------------------


class Edge:
    """Pure ASGI middleware around the whole app.

    Gives each request an id (the caller's `X-Request-ID` when it is sane), refuses bodies over
    the limit with 413 before anything parses them, counts and times every request, and turns
    an unexpected exception into a problem+json 500 carrying the request id."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, fastapi_app: FastAPI) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            body = await self._read_body(scope, receive, headers)
            if body is None:
                return  # the client went away
            if isinstance(body, BodyTooLarge):
                response = problem_response(
                    problem_type_of(body), str(body), instance=scope.get("path"), request_id=request_id
                )
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, _replay(body, receive), send_with_id)
        except Exception:
            if status["started"]:
                raise
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            response = problem_response(INTERNAL, None, instance=scope.get("path"), request_id=request_id)
            await response(scope, receive, send_with_id)
        finally:
            self.metrics.observe(
                scope.get("method", ""), self._route_of(scope), int(status["code"]), time.perf_counter() - started
            )

    async def _read_body(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> bytes | BodyTooLarge | None:
        limit = self.max_body_bytes
        too_large = BodyTooLarge(f"the request body is over the limit of {limit} bytes")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _route_of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            # not routed (e.g. refused at the edge): find the route it was meant for
            for candidate in self.fastapi_app.router.routes:
                if candidate.matches(scope)[0] is Match.FULL:
                    route = candidate
                    break
        return str(getattr(route, "path", None) or "unmatched")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- small functions -------------------------------------------------------------------------


def parse_if_match(value: str | None) -> int | None:
    """`"7"`, `W/"7"` or `7` -> 7; absent or `*` -> None (no version expected)."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise MalformedHeader(f'If-Match must be the quoted version from an ETag, e.g. "7"; got {value!r}')
    return int(match.group(1))


def etag(version: int) -> str:
    return f'"{version}"'


def _utc(moment: datetime | None) -> datetime | None:
    """Query times without an offset are read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _with_key(cmd: C, key: str | None) -> C:
    """The `Idempotency-Key` header becomes the command's idempotency key."""
    if key is None:
        return cmd
    if cmd.idempotency_key not in (None, key):
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("header", "Idempotency-Key"),
                    "msg": "differs from the body's idempotency_key",
                    "input": key,
                }
            ]
        )
    return cmd.model_copy(update={"idempotency_key": key})


def _accepted(response: Response, result: CommandResult) -> CommandAccepted:
    response.headers["ETag"] = etag(result.version)
    return CommandAccepted.of(result)


def _created(response: Response, result: CommandResult, location: str) -> None:
    """201 with Location for a new aggregate; 200 for a retry that appended nothing."""
    response.headers["Location"] = location
    if result.position is None:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"


def _exact_version(found: Lead | Contact, version: int | None, as_of: datetime | None, missing: NotFound) -> None:
    if version is not None and as_of is None and found.version != version:
        raise missing


def _trail(crm: CrmApplication, aggregate_id: UUID, kind: str, who: Caller) -> AuditTrail:
    entries: list[AuditEntry] = crm.history(aggregate_id)
    if entries[0].event_type.split(".")[0] != kind:
        raise (LeadNotFound if kind == "lead" else ContactNotFound)(aggregate_id)
    return AuditTrail.of(aggregate_id, entries, masked=who.principal.masks_personal_data)


# --- the app -------------------------------------------------------------------------------

_DESCRIPTION = """\
Event-sourced CRM: leads and contacts as append-only event streams.

Authenticate with `Authorization: Bearer <token>` (issue one with `crm token issue --user NAME --role ROLE`).
Roles: **admin** and **manager** may do everything; a **rep** works on their own leads (and the contacts
those leads became); an **analyst** reads, with names, emails and phone numbers masked; a **service**
may log interactions, record purchases and create contacts.

Every single-aggregate response carries `ETag: "<version>"`; send it back as `If-Match` to make a change
conditional (409 when someone else changed it first). Creates accept an `Idempotency-Key` header.
Errors are RFC 9457 `application/problem+json`.
"""

_CAPTURE_EXAMPLES = {
    "web form": {
        "summary": "a lead from the web form",
        "value": {
            "name": "Ada Lovelace",
            "email": "ada@acme.example",
            "company": "Acme",
            "title": "CTO",
            "source": "web_form",
            "campaign": "spring-launch",
            "estimated_value": 1200000,
            "currency": "USD",
        },
    }
}


# --- dependencies --------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a token issued by `crm token issue`")


def authenticate(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The caller behind the bearer token (401 without one, or with one the store does not know)."""
    tokens: TokenStore = request.app.state.tokens
    request_id = str(getattr(request.state, "request_id", "") or uuid.uuid4().hex)
    where = {"method": request.method, "path": request.url.path, "request_id": request_id}
    if credentials is None:
        log_denial("missing_token", **where)
        raise Unauthenticated("send an `Authorization: Bearer <token>` header")
    principal = tokens.authenticate(credentials.credentials)
    if principal is None:
        log_denial("unknown_token", **where)
        raise Unauthenticated("the bearer token is not valid")
    return Caller(principal, request_id, request.method, request.url.path)


def allowed(action: Action) -> Any:
    """A route dependency: 403 unless the caller's role may do `action`; checked before the body."""

    def role_allows(who: Annotated[Caller, Depends(authenticate)]) -> None:
        who.require(action)

    role_allows.__name__ = f"role_may_{action.value}"
    return Depends(role_allows)


def if_match(
    value: Annotated[str | None, Header(alias="If-Match", description='the ETag you last saw, e.g. "7"')] = None,
) -> int | None:
    return parse_if_match(value)


Who = Annotated[Caller, Depends(authenticate)]
IfMatch = Annotated[int | None, Depends(if_match)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, description="retry-safe create: same key, same id"),
]
AsOf = Annotated[
    datetime | None, Query(description="the state as it stood at this business time (ISO 8601; UTC if no offset)")
]
AtVersion = Annotated[int | None, Query(ge=1, description="the state at this version")]


def create_app(
    crm: CrmApplication,
    tokens: TokenStore,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    title: str = "CRM API",
) -> FastAPI:
    """The FastAPI app serving `crm` to holders of tokens from `tokens`."""
    access = Access(crm)
    metrics = Metrics()

    app = FastAPI(title=title, version="1.0.0", description=_DESCRIPTION)
    app.state.crm = crm
    app.state.tokens = tokens
    app.state.metrics = metrics
    install_problem_handlers(app)
    app.add_middleware(Edge, metrics=metrics, max_body_bytes=max_body_bytes, fastapi_app=app)

    leads = APIRouter(prefix="/v1/leads", tags=["leads"], responses=PROBLEM_RESPONSES)
    contacts = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses=PROBLEM_RESPONSES)

    # --- leads ---------------------------------------------------------------------------

    @leads.post("", status_code=201, summary="Capture a lead", dependencies=[allowed(Action.CAPTURE_LEAD)])
    def capture_lead(
        body: Annotated[CaptureLead, Body(openapi_examples=_CAPTURE_EXAMPLES)],
        who: Who,
        response: Response,
        key: IdempotencyKeyHeader = None,
    ) -> CommandAccepted:
        result = crm.capture_lead(access.capture(who, _with_key(body, key)), who.context())
        _created(response, result, f"/v1/leads/{result.id}")
        return _accepted(response, result)

    @leads.get("/{lead_id}", summary="A lead now, at a version, or as of a time", dependencies=[allowed(Action.READ)])
    def get_lead(
        lead_id: UUID, who: Who, response: Response, as_of: AsOf = None, version: AtVersion = None
    ) -> LeadPublic:
        access.lead(who, lead_id, Action.READ)
        lead = crm.get_lead(lead_id, version=version, as_of=_utc(as_of))
        _exact_version(lead, version, as_of, LeadNotFound(lead_id, f" at version {version}"))
        response.headers["ETag"] = etag(lead.version)
        return LeadPublic.of(lead, masked=who.principal.masks_personal_data)

    @leads.get("/{lead_id}/history", summary="A lead's audit trail", dependencies=[allowed(Action.READ)])
    def lead_history(lead_id: UUID, who: Who) -> AuditTrail:
        access.lead(who, lead_id, Action.READ)
        return _trail(crm, lead_id, "lead", who)

    @leads.post(
        "/{lead_id}/interactions",
        summary="Log an interaction (and rescore)",
        dependencies=[allowed(Action.LOG_INTERACTION)],
    )
    def log_lead_interaction(
        lead_id: UUID, body: LogInteraction, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.LOG_INTERACTION, expected)
        return _accepted(response, crm.log_lead_interaction(lead_id, body, who.context(), expected_version=version))

    @leads.post(
        "/{lead_id}/stage", summary="Move a lead to another open stage", dependencies=[allowed(Action.CHANGE_STAGE)]
    )
    def change_stage(
        lead_id: UUID, body: ChangeStage, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.CHANGE_STAGE, expected)
        return _accepted(response, crm.change_stage(lead_id, body, who.context(), expected_version=version))

    @leads.post("/{lead_id}/assign", summary="Give a lead to a sales rep", dependencies=[allowed(Action.ASSIGN_LEAD)])
    def assign_lead(
        lead_id: UUID, body: AssignLead, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.ASSIGN_LEAD, expected)
        return _accepted(response, crm.assign_lead(lead_id, body, who.context(), expected_version=version))

    @leads.post("/{lead_id}/disqualify", summary="Close a lead as lost", dependencies=[allowed(Action.DISQUALIFY_LEAD)])
    def disqualify_lead(
        lead_id: UUID, body: DisqualifyLead, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.DISQUALIFY_LEAD, expected)
        return _accepted(response, crm.disqualify_lead(lead_id, body, who.context(), expected_version=version))

    @leads.post(
        "/{lead_id}/convert",
        summary="Close a lead as won; it becomes a contact",
        dependencies=[allowed(Action.CONVERT_LEAD)],
    )
    def convert_lead(
        lead_id: UUID, body: ConvertLead, who: Who, expected: IfMatch, response: Response
    ) -> LeadConverted:
        version = access.lead(who, lead_id, Action.CONVERT_LEAD, expected)
        result = crm.convert_lead(lead_id, body, who.context(), expected_version=version)
        response.headers["ETag"] = etag(result.version)
        return LeadConverted.of(result)

    @leads.post(
        "/{lead_id}/rescore", summary="Apply score decay as of now", dependencies=[allowed(Action.RESCORE_LEAD)]
    )
    def rescore_lead(
        lead_id: UUID,
        who: Who,
        expected: IfMatch,
        response: Response,
        body: RescoreLead | None = None,
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.RESCORE_LEAD, expected)
        cmd = body or RescoreLead()
        return _accepted(response, crm.rescore_lead(lead_id, cmd, who.context(), expected_version=version))

    # --- contacts ------------------------------------------------------------------------

    @contacts.post("", status_code=201, summary="Create a contact", dependencies=[allowed(Action.CREATE_CONTACT)])
    def create_contact(
        body: CreateContact, who: Who, response: Response, key: IdempotencyKeyHeader = None
    ) -> CommandAccepted:
        result = crm.create_contact(_with_key(body, key), who.context())
        _created(response, result, f"/v1/contacts/{result.id}")
        return _accepted(response, result)

    @contacts.get(
        "/{contact_id}", summary="A contact now, at a version, or as of a time", dependencies=[allowed(Action.READ)]
    )
    def get_contact(
        contact_id: UUID, who: Who, response: Response, as_of: AsOf = None, version: AtVersion = None
    ) -> ContactPublic:
        access.contact(who, contact_id, Action.READ)
        contact = crm.get_contact(contact_id, version=version, as_of=_utc(as_of))
        _exact_version(contact, version, as_of, ContactNotFound(contact_id, f" at version {version}"))
        response.headers["ETag"] = etag(contact.version)
        return ContactPublic.of(contact, masked=who.principal.masks_personal_data)

    @contacts.patch(
        "/{contact_id}", summary="Change some of a contact's details", dependencies=[allowed(Action.UPDATE_CONTACT)]
    )
    def update_contact(
        contact_id: UUID,
        body: UpdateContactDetails,
        who: Who,
        expected: IfMatch,
        response: Response,
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.UPDATE_CONTACT, expected)
        return _accepted(
            response, crm.update_contact_details(contact_id, body, who.context(), expected_version=version)
        )

    @contacts.get("/{contact_id}/history", summary="A contact's audit trail", dependencies=[allowed(Action.READ)])
    def contact_history(contact_id: UUID, who: Who) -> AuditTrail:
        access.contact(who, contact_id, Action.READ)
        return _trail(crm, contact_id, "contact", who)

    @contacts.post(
        "/{contact_id}/interactions",
        summary="Log an interaction with a contact",
        dependencies=[allowed(Action.LOG_INTERACTION)],
    )
    def log_contact_interaction(
        contact_id: UUID, body: LogInteraction, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.LOG_INTERACTION, expected)
        return _accepted(
            response, crm.log_contact_interaction(contact_id, body, who.context(), expected_version=version)
        )

    @contacts.post(
        "/{contact_id}/purchases", summary="Record a purchase", dependencies=[allowed(Action.RECORD_PURCHASE)]
    )
    def record_purchase(
        contact_id: UUID, body: RecordPurchase, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.RECORD_PURCHASE, expected)
        return _accepted(response, crm.record_purchase(contact_id, body, who.context(), expected_version=version))

    @contacts.post(
        "/{contact_id}/consent",
        summary="Grant or withdraw consent for a channel",
        dependencies=[allowed(Action.CHANGE_CONSENT)],
    )
    def change_consent(
        contact_id: UUID, body: ChangeConsent, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.contact(who, contact_id, Action.CHANGE_CONSENT, expected)
        return _accepted(response, crm.change_consent(contact_id, body, who.context(), expected_version=version))

    @contacts.post(
        "/{contact_id}/reactivate",
        status_code=201,
        summary="Open a new lead for a contact's new interest",
        dependencies=[allowed(Action.REACTIVATE_CONTACT)],
    )
    def reactivate_contact(
        contact_id: UUID,
        body: ReactivateContact,
        who: Who,
        expected: IfMatch,
        response: Response,
        key: IdempotencyKeyHeader = None,
    ) -> ContactReactivated:
        version = access.contact(who, contact_id, Action.REACTIVATE_CONTACT, expected)
        cmd = access.reactivation(who, _with_key(body, key))
        result = crm.reactivate_contact(contact_id, cmd, who.context(), expected_version=version)
        _created(response, result, f"/v1/leads/{result.related_id}")
        response.headers["ETag"] = etag(result.version)
        return ContactReactivated.of(result)

    # --- operations ----------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], summary="The service and its event store answer")
    def healthz() -> Health:
        try:
            head = crm.head_position()
        except Exception as error:
            raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
        return Health(status="ok", head_position=head)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus_metrics() -> PlainTextResponse:
        try:
            head = crm.head_position()
        except Exception as error:
            raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
        return PlainTextResponse(metrics.render(head), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(leads)
    app.include_router(contacts)
    return app
