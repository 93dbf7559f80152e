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

import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from starlette.datastructures import MutableHeaders
from starlette.routing import Match

from domain.contact import Contact
from domain.lead import Lead
from domain.values import LeadSource, Stage
from projections.forecast import Forecast, ForecastAccuracy
from projections.pipeline_queries import PipelineSummary, list_leads
from projections.segments import ContactFeatures, list_contacts
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
    ContactPage,
    ContactPublic,
    ContactReactivated,
    ContactSummary,
    Health,
    LeadConverted,
    LeadPage,
    LeadPublic,
    LeadSummary,
    SegmentList,
    SegmentMemberPublic,
    SegmentMembersPage,
)
from services.http_problems import (
    INTERNAL,
    PROBLEM_RESPONSES,
    READ_MODEL_RESPONSES,
    UNAVAILABLE_RESPONSES,
    VALIDATION,
    BodyTooLarge,
    FieldError,
    InvalidQuery,
    MalformedHeader,
    ReadModelBehind,
    ReadModelsUnavailable,
    StoreUnavailable,
    install_problem_handlers,
    problem_json_only,
    problem_response,
    problem_type_of,
)
from services.read_queries import ReadModelQueries

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted; larger ones get 413 before any parsing."""

READ_WAIT_SECONDS = 2.0
"""How long a read-model route waits for the projections to reach `min_position` before 503."""

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

EARLIEST_YEAR, LATEST_YEAR = 1900, 2999
"""Business times a read-model query may be asked about."""

_BEHIND: dict[int | str, dict[str, Any]] = {503: READ_MODEL_RESPONSES[503]}

WaitFor = Callable[[int, float], bool]
"""(position, timeout in seconds) -> True once every projection applied the position."""

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

    def render(self, head_position: int, projection_positions: dict[str, int] | None = None) -> str:
        with self._lock:
            rows = sorted(self._requests.items())
        lines = [
            "# HELP crm_events_appended_total Events appended to the event log (its head position).",
            "# TYPE crm_events_appended_total counter",
            f"crm_events_appended_total {head_position}",
        ]
        if projection_positions is not None:
            positions = sorted(projection_positions.items())
            lines += [
                "# HELP crm_projection_position Log position each read model has applied up to.",
                "# TYPE crm_projection_position gauge",
            ]
            lines += [f'crm_projection_position{{projection="{name}"}} {position}' for name, position in positions]
            lines += [
                "# HELP crm_projection_lag Events appended but not yet applied, per read model.",
                "# TYPE crm_projection_lag gauge",
            ]
            lines += [
                f'crm_projection_lag{{projection="{name}"}} {max(head_position - position, 0)}'
                for name, position in positions
            ]
        lines += [
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
            nul = nul_characters(scope.get("query_string", b""), body)
            if nul:
                response = problem_response(
                    VALIDATION,
                    f"{len(nul)} invalid input(s): {', '.join(sorted({e.field or 'body' for e in nul}))}",
                    instance=scope.get("path"),
                    request_id=request_id,
                    errors=nul,
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


def nul_characters(query_string: bytes, body: bytes) -> list[FieldError]:
    """The query parameters and JSON body fields whose text holds a NUL character.

    No text the CRM stores may hold one: PostgreSQL refuses it in text columns, so it would fail
    the request that reads with it and stop the read models at the event that carries it."""
    errors = []
    if b"%00" in query_string:
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                errors.append(FieldError(field=name.replace("\x00", ""), message=_NUL_MESSAGE, type="string_nul"))
    if b"\\u0000" in body:
        try:
            document = json.loads(body)
        except ValueError:
            return errors  # malformed JSON gets its own answer
        errors += [
            FieldError(field=path or None, message=_NUL_MESSAGE, type="string_nul") for path in _nul_paths(document, "")
        ]
    return errors


_NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield child
            else:
                yield from _nul_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}.{index}" if path else str(index))


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


def encode_cursor(last_id: str) -> str:
    """The opaque cursor of the page after the one that ended with `last_id`: its base64."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id a cursor stands for; 422 naming `cursor` when it is not one of ours."""
    if cursor is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return str(UUID(decoded))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidQuery("cursor", "not a cursor this API gave out; start again without one", "cursor") from None


def _next_cursor(ids: list[str], limit: int) -> str | None:
    """A cursor when more than `limit` ids were found (one more than a page is always asked for)."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None


def _business_time(value: datetime | None) -> datetime | None:
    """A query's business time in UTC (UTC if it has no offset), within the years served."""
    if value is None:
        return None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)


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

The read models (pipeline, leads list, forecast, segments, contacts list, contact features) follow the log
shortly after each command. To read your own write, pass the `position` the command answered with as
`min_position`: the read waits up to 2 s for the read models to apply it, else answers 503 with `Retry-After`.
Lists page with an opaque `cursor` (the previous page's `next_cursor`). Reps see their own pipeline and leads;
analysts, managers and admins see all of it; service tokens none.
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
AtVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="the state at this version")]
ReadAsOf = Annotated[
    datetime | None,
    Query(description="answer as of this business time (ISO 8601; UTC if no offset); now by default"),
    AfterValidator(_business_time),
]
MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**63 - 1,
        description="read your writes: wait (up to 2 s) until the read models have applied this log position, "
        "e.g. the `position` a command answered with; 503 with `Retry-After` if they do not",
    ),
]
Cursor = Annotated[str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")]
OwnerFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@:-]+$", description="only this owner's leads"),
]
Months = Annotated[int, Query(ge=1, le=24, description="months in the horizon, starting with the current one")]


def create_app(
    crm: CrmApplication,
    tokens: TokenStore,
    *,
    read_models: ReadModelQueries | None = None,
    wait_for: WaitFor | None = None,
    read_wait_seconds: float = READ_WAIT_SECONDS,
    max_body_bytes: int = MAX_BODY_BYTES,
    title: str = "CRM API",
) -> FastAPI:
    """The FastAPI app serving `crm` to holders of tokens from `tokens`.

    `read_models` answers the pipeline, forecast, segment and list routes (without it they
    answer 503); `wait_for(position, timeout)` tells when the projections feeding them have
    applied a position (by default: the read-model store's own positions)."""
    access = Access(crm)
    metrics = Metrics()

    app = FastAPI(title=title, version="1.0.0", description=_DESCRIPTION)
    app.state.crm = crm
    app.state.tokens = tokens
    app.state.metrics = metrics
    app.state.read_models = read_models
    install_problem_handlers(app)
    app.add_middleware(Edge, metrics=metrics, max_body_bytes=max_body_bytes, fastapi_app=app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_json_only(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    leads = APIRouter(prefix="/v1/leads", tags=["leads"], responses=PROBLEM_RESPONSES)
    contacts = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses=PROBLEM_RESPONSES)
    insights = APIRouter(prefix="/v1", tags=["read models"], responses=READ_MODEL_RESPONSES)

    def queries() -> ReadModelQueries:
        if read_models is None:
            raise ReadModelsUnavailable("this server does not serve the read models")
        return read_models

    def positions() -> dict[str, int]:
        store = queries().store
        return {name: store.position(name) for name in store.projections}

    def caught_up(min_position: int | None) -> None:
        """Read your writes: return once the read models applied `min_position`; 422 for a
        position the log has not reached, 503 when the projections do not get there in time."""
        models = queries()
        if not min_position:
            return
        head = crm.head_position()
        if min_position > head:
            raise InvalidQuery("min_position", f"{min_position} is past the head of the log ({head})", "past_head")
        wait = wait_for or models.store.wait
        if not wait(min_position, read_wait_seconds):
            raise ReadModelBehind(min_position, positions())

    # --- leads ---------------------------------------------------------------------------

    @leads.get(
        "",
        summary="List leads (filter, page through)",
        dependencies=[allowed(Action.READ_PIPELINE)],
        responses=_BEHIND,
    )
    def list_leads_page(
        who: Who,
        stage: Annotated[Stage | None, Query(description="only leads in this stage now")] = None,
        owner: OwnerFilter = None,
        source: Annotated[LeadSource | None, Query(description="only leads from this source")] = None,
        min_score: Annotated[int | None, Query(ge=0, le=100, description="only leads scoring at least this")] = None,
        cursor: Cursor = None,
        limit: Limit = PAGE_SIZE,
        min_position: MinPosition = None,
    ) -> LeadPage:
        """Leads as they stand now, in lead id order, from the pipeline read model. A rep sees
        their own leads only; an analyst sees names masked."""
        owner = access.owner_filter(who, owner, Action.READ_PIPELINE)
        after = decode_cursor(cursor)
        caught_up(min_position)
        rows = list_leads(
            queries().store,
            stage=stage.value if stage else None,
            owner=owner,
            source=source.value if source else None,
            min_score=min_score,
            after=after,
            limit=limit + 1,
        )
        masked = who.principal.masks_personal_data
        return LeadPage(
            items=[LeadSummary.of(row, masked=masked) for row in rows[:limit]],
            next_cursor=_next_cursor([row.lead_id for row in rows], limit),
        )

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

    @contacts.get(
        "",
        summary="List contacts (filter by segment or external id, page through)",
        dependencies=[allowed(Action.READ_INSIGHTS)],
        responses={**_BEHIND, 404: READ_MODEL_RESPONSES[404]},
    )
    def list_contacts_page(
        who: Who,
        segment: Annotated[
            str | None, Query(min_length=1, max_length=100, description="only the segment's members as of now")
        ] = None,
        external_id: Annotated[
            str | None, Query(min_length=1, max_length=200, description="only the contact with this id elsewhere")
        ] = None,
        cursor: Cursor = None,
        limit: Limit = PAGE_SIZE,
        min_position: MinPosition = None,
    ) -> ContactPage:
        """Contacts with their current details, in contact id order, from the segments read
        model; an analyst sees names, emails and phones masked."""
        after = decode_cursor(cursor)
        caught_up(min_position)
        models = queries()
        among = None if segment is None else [m.contact_id for m in models.segment_members(segment)]
        rows = list_contacts(models.store, external_id=external_id, among=among, after=after, limit=limit + 1)
        masked = who.principal.masks_personal_data
        return ContactPage(
            items=[ContactSummary.of(row, masked=masked) for row in rows[:limit]],
            next_cursor=_next_cursor([row.contact_id for row in rows], limit),
        )

    @contacts.get(
        "/{contact_id}/features",
        summary="A contact's features and RFM as of a time",
        dependencies=[allowed(Action.READ_INSIGHTS)],
        responses=_BEHIND,
    )
    def contact_features(
        contact_id: UUID,
        as_of: ReadAsOf = None,
        unit: Annotated[Literal["days", "weeks"], Query(description="unit of recency and T")] = "days",
        min_position: MinPosition = None,
    ) -> ContactFeatures:
        """Purchases, value, consent, reactivations, lifecycle and RFM (Fader-Hardie) of one
        contact as of a business time."""
        caught_up(min_position)
        return queries().contact_features(contact_id, as_of, unit)

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

    # --- read models -------------------------------------------------------------------

    @insights.get("/pipeline", summary="The sales pipeline as of a time", dependencies=[allowed(Action.READ_PIPELINE)])
    def pipeline(
        who: Who,
        as_of: ReadAsOf = None,
        owner: OwnerFilter = None,
        source: Annotated[LeadSource | None, Query(description="only leads from this source (as of then)")] = None,
        min_position: MinPosition = None,
    ) -> PipelineSummary:
        """Count, value and weighted value per stage, conversion rates, win rate and time in
        stage. A rep sees their own pipeline only."""
        owner = access.owner_filter(who, owner, Action.READ_PIPELINE)
        caught_up(min_position)
        return queries().pipeline(as_of, owner, source.value if source else None)

    @insights.get("/forecast", summary="Expected revenue per month", dependencies=[allowed(Action.READ_INSIGHTS)])
    def forecast(as_of: ReadAsOf = None, months: Months = 3, min_position: MinPosition = None) -> Forecast:
        """Open pipeline x win probability by month of expected close, in the categories closed,
        commit, best case and pipeline, per currency."""
        caught_up(min_position)
        return queries().forecast(as_of, months)

    @insights.get(
        "/forecast/accuracy",
        summary="A past forecast against what actually closed",
        dependencies=[allowed(Action.READ_INSIGHTS)],
    )
    def forecast_accuracy(
        made_as_of: Annotated[
            datetime,
            Query(description="when the forecast would have been made (ISO 8601; UTC if no offset)"),
            AfterValidator(_business_time),
        ],
        months: Months = 3,
        min_position: MinPosition = None,
    ) -> ForecastAccuracy:
        """The forecast as made at `made_as_of`, month by month against the deal value converted."""
        caught_up(min_position)
        return queries().forecast_accuracy(made_as_of, months)

    @insights.get(
        "/segments", summary="Every segment and its size as of a time", dependencies=[allowed(Action.READ_INSIGHTS)]
    )
    def segments(as_of: ReadAsOf = None, min_position: MinPosition = None) -> SegmentList:
        caught_up(min_position)
        when = as_of or datetime.now(UTC)
        return SegmentList(as_of=when, segments=queries().segments(when))

    @insights.get(
        "/segments/{name}/members",
        summary="A segment's members as of a time",
        dependencies=[allowed(Action.READ_INSIGHTS)],
    )
    def segment_members(
        name: Annotated[str, Path(min_length=1, max_length=100, description="the segment, e.g. repeat_buyers")],
        who: Who,
        as_of: ReadAsOf = None,
        cursor: Cursor = None,
        limit: Limit = PAGE_SIZE,
        min_position: MinPosition = None,
    ) -> SegmentMembersPage:
        """The members with when they entered, in contact id order; names masked for an analyst."""
        after = decode_cursor(cursor)
        caught_up(min_position)
        when = as_of or datetime.now(UTC)
        members = sorted(queries().segment_members(name, when), key=lambda m: m.contact_id)
        following = [m for m in members if after is None or m.contact_id > after]
        masked = who.principal.masks_personal_data
        return SegmentMembersPage(
            segment=name,
            as_of=when,
            total=len(members),
            items=[SegmentMemberPublic.of(m, masked=masked) for m in following[:limit]],
            next_cursor=_next_cursor([m.contact_id for m in following[: limit + 1]], limit),
        )

    # --- operations ----------------------------------------------------------------------

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="The service and its event store answer",
        responses=UNAVAILABLE_RESPONSES,
    )
    def healthz() -> Health:
        try:
            head = crm.head_position()
        except Exception as error:
            raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
        return Health(status="ok", head_position=head)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses=UNAVAILABLE_RESPONSES,
    )
    def prometheus_metrics() -> PlainTextResponse:
        try:
            head = crm.head_position()
            projection_positions = positions() if read_models is not None else None
        except Exception as error:
            raise StoreUnavailable(f"the event store does not answer: {type(error).__name__}") from error
        return PlainTextResponse(
            metrics.render(head, projection_positions), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    app.include_router(leads)
    app.include_router(contacts)
    app.include_router(insights)
    return app
