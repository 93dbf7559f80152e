"""Everything a route reads from the request, in one module: the application and the read
models of the app (`request.app.state`), the caller a route's permission lets through,
`If-Match`, `Idempotency-Key`, business times, read-your-writes positions, filters and pages.

Every dependency here is a coroutine function: FastAPI runs a plain `def` dependency in the
thread pool, one hop per dependency per request, and none of these does blocking I/O (the
token store's lookup, which may, is sent to the thread pool by `Permit` itself, when a cache of
lookups does not know the token). A route's body, which does the store's I/O, is then the
request's one hop."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool

from domain.team import UNASSIGNED, UserId
from domain.time import utc
from domain.values import LeadSource, Stage
from projections.task_queries import StatusFilter, parse_page_key
from services.api.metrics import Metrics
from services.api.pagination import MAX_PAGE_SIZE, PAGE_SIZE, PageRequest, decode_cursor
from services.api.problems import MalformedHeader, WebhooksUnavailable
from services.api.read_models import ReadModelGate
from services.api.readiness import Readiness
from services.app.application import CrmApplication
from services.app.commands import EARLIEST_YEAR, LATEST_YEAR
from services.app.inbound import InboundCapture
from services.auth.access import AccessRecorder, Caller, log_denial
from services.auth.policy import Action, Authenticator, Refusal, Unauthenticated
from services.auth.principals import cached_caller, caller_behind
from services.webhooks.subscriptions import WebhookDesk

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


# --- the app's parts -------------------------------------------------------------------------


async def _crm(request: Request) -> CrmApplication:
    crm: CrmApplication = request.app.state.crm
    return crm


async def _read_models(request: Request) -> ReadModelGate:
    gate: ReadModelGate = request.app.state.read_models
    return gate


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def _readiness(request: Request) -> Readiness:
    readiness: Readiness = request.app.state.readiness
    return readiness


AfterErasureHook = Callable[[int | None], None]
"""What runs after an erasure appended its events, given the position of the last one."""


async def _after_erasure(request: Request) -> AfterErasureHook:
    hook: AfterErasureHook = request.app.state.after_erasure
    return hook


async def _inbound(request: Request) -> InboundCapture:
    crm: CrmApplication = request.app.state.crm
    gate: ReadModelGate = request.app.state.read_models
    return InboundCapture(
        crm, lambda: gate.caught_up(crm.head_position()), request.app.state.identity_locks, gate.applied
    )


CrmDep = Annotated[CrmApplication, Depends(_crm)]
InboundDep = Annotated[InboundCapture, Depends(_inbound)]
"""Inbound capture, looking people up in the identity index once it applied the head of the log."""
AfterErasure = Annotated[AfterErasureHook, Depends(_after_erasure)]
ReadModelsDep = Annotated[ReadModelGate, Depends(_read_models)]
"""The read models, reached through `.caught_up(min_position)` (503 when not served here)."""
MetricsDep = Annotated[Metrics, Depends(_metrics)]


async def _access_log(request: Request) -> AccessRecorder:
    access_log: AccessRecorder = request.app.state.access_log
    return access_log


async def _webhooks(request: Request) -> WebhookDesk:
    desk: WebhookDesk | None = getattr(request.app.state, "webhooks", None)
    if desk is None:
        raise WebhooksUnavailable("webhook subscriptions are not managed by this process")
    return desk


WebhooksDep = Annotated[WebhookDesk, Depends(_webhooks)]
"""The webhook subscriptions (`services.webhooks.subscriptions`); 503 when not served here."""
AccessLogDep = Annotated[AccessRecorder, Depends(_access_log)]
"""Who read which person's data (`services.storage.access_log`)."""
ReadinessDep = Annotated[Readiness, Depends(_readiness)]


# --- the caller ------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="a token issued by `crm token issue`")

_REFUSED = {
    Refusal.UNKNOWN: "the bearer token is not valid",
    Refusal.EXPIRED: "the bearer token has expired",
    Refusal.REVOKED: "the bearer token was revoked",
}


class Permit:
    """A route's one authorization dependency, `Annotated[Caller, Depends(Permit(action))]`:
    the caller behind the bearer token (401 without a token the store knows, and for one that
    expired or was revoked: every request asks the store, so a revocation holds from the very
    next request; or, under `crm serve`, its `TokenCache`, which a revocation elsewhere reaches
    within `CRM_TOKEN_CACHE_SECONDS`), permitted the route's action by their role (403 otherwise). Dependencies are
    solved before the body is validated, so a forbidden request is refused before its body is
    looked at.

    Which leads and contacts a rep may touch is not checked here: the caller's context carries
    their owner scope, and the application checks it on the aggregate it loads.

    With `or_else`, a caller whose role may not do `action` but may do `or_else` is let through
    doing `or_else` (the route then holds them to what that allows: `Caller.action` says which)."""

    def __init__(self, action: Action, or_else: Action | None = None) -> None:
        self.action = action
        self.or_else = or_else

    async def __call__(
        self, request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Caller:
        tokens: Authenticator = request.app.state.tokens
        request_id = str(getattr(request.state, "request_id", "") or uuid.uuid4().hex)
        where = {"method": request.method, "path": request.url.path, "request_id": request_id}
        if credentials is None:
            log_denial("missing_token", **where)
            raise Unauthenticated("send an `Authorization: Bearer <token>` header")
        route = str(getattr(request.scope.get("route"), "path", ""))
        access_log: AccessRecorder = request.app.state.access_log
        token = credentials.credentials
        found: Caller | Refusal | None = cached_caller(tokens, token, **where, route=route, access_log=access_log)
        if found is None:
            # the store's lookup may block on its database: it takes the thread pool, not the loop
            found = await run_in_threadpool(
                partial(caller_behind, tokens, token, **where, route=route, access_log=access_log)
            )
        if isinstance(found, Refusal):
            raise Unauthenticated(_REFUSED[found])
        action = self.action
        if self.or_else is not None and not found.principal.may(action) and found.principal.may(self.or_else):
            action = self.or_else
        caller = found.permit(action)
        request.state.caller = caller  # read when a withheld aggregate is answered (the denial log)
        return caller


# --- headers ---------------------------------------------------------------------------------


def parse_if_match(value: str | None) -> int | None:
    """`"7"`, `W/"7"` or `7` -> 7; absent or `*` -> None (no version expected)."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise MalformedHeader(f'If-Match must be the quoted version from an ETag, e.g. "7"; got {value!r}')
    return int(match.group(1))


async def _if_match(
    value: Annotated[str | None, Header(alias="If-Match", description='the ETag you last saw, e.g. "7"')] = None,
) -> int | None:
    return parse_if_match(value)


IfMatch = Annotated[int | None, Depends(_if_match)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, description="retry-safe create: same key, same id"),
]


# --- times and positions ---------------------------------------------------------------------


def business_time(value: datetime | None) -> datetime | None:
    """A query's business time in UTC (UTC if it has no offset), within the years served."""
    if value is None:
        return None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return utc(value)


AsOf = Annotated[
    datetime | None,
    Query(
        description="business time: the state as it stood then, the fold of the events with occurred_at "
        "up to it in occurred_at order (ties by version), whatever order they were recorded in "
        "(ISO 8601; UTC if no offset)"
    ),
    AfterValidator(business_time),
]


def recording_time(value: datetime | None) -> datetime | None:
    """A query's transaction time in UTC: like a business time, and not in the future (what the
    store will have recorded by then is not known yet)."""
    moment = business_time(value)
    if moment is not None and moment > datetime.now(UTC):
        raise ValueError("must not be in the future")
    return moment


KnownAt = Annotated[
    datetime | None,
    Query(
        description="transaction time: only the events recorded by then count (ISO 8601; UTC if no offset; "
        "not in the future); now by default. Combines with `as_of` (business time) and `version`"
    ),
    AfterValidator(recording_time),
]
AtVersion = Annotated[int | None, Query(ge=1, le=2**31 - 1, description="the state at this version")]
ReadAsOf = Annotated[
    datetime | None,
    Query(description="answer as of this business time (ISO 8601; UTC if no offset); now by default"),
    AfterValidator(business_time),
]


def past_business_time(value: datetime) -> datetime:
    """A business time in the years served and not in the future (a forecast "made" later than now
    has no actuals to be compared with)."""
    moment = business_time(value)
    assert moment is not None
    if moment > datetime.now(UTC):
        raise ValueError("must not be in the future")
    return moment


MadeAsOf = Annotated[
    datetime,
    Query(description="when the forecast would have been made (ISO 8601; UTC if no offset; not in the future)"),
    AfterValidator(past_business_time),
]


def business_date(value: date) -> date:
    """A query's calendar date, within the years served."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


BacktestFrom = Annotated[
    date,
    Query(alias="from", description="first month of the backtest (a date; its calendar month counts)"),
    AfterValidator(business_date),
]
BacktestTo = Annotated[
    date,
    Query(alias="to", description="last month of the backtest (a date; its calendar month counts)"),
    AfterValidator(business_date),
]
BacktestMonths = Annotated[
    int,
    Query(
        ge=1,
        le=24,
        description="forecast horizon: each month is forecast at the first instant of the month "
        "`months - 1` months before it (1: at the month's own start)",
    ),
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
Months = Annotated[int, Query(ge=1, le=24, description="months in the horizon, starting with the current one")]


# --- filters and pages -----------------------------------------------------------------------

OwnerFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@:-]+$", description="only this owner's leads"),
]
LeadOwnerFilter = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.@:-]+$",
        description=f"only this owner's leads; `{UNASSIGNED}`: only the leads nobody owns",
        examples=["rep-anna", UNASSIGNED],
    ),
]
StageFilter = Annotated[Stage | None, Query(description="only leads in this stage now")]
SourceFilter = Annotated[LeadSource | None, Query(description="only leads from this source")]
SourceAsOfFilter = Annotated[LeadSource | None, Query(description="only leads from this source (as of then)")]
MinScore = Annotated[int | None, Query(ge=0, le=100, description="only leads scoring at least this")]
SegmentFilter = Annotated[
    str | None, Query(min_length=1, max_length=100, description="only the segment's members as of now")
]
EmailFilter = Annotated[
    str | None,
    Query(
        min_length=3,
        max_length=320,
        pattern=r"^\s*[^@\s]+@[^@\s]+\s*$",
        description="only those with this email address (case and surrounding spaces do not count; "
        "a plus-address is its own address)",
        examples=["ada@acme.example"],
    ),
]
ExternalIdFilter = Annotated[
    str | None, Query(min_length=1, max_length=200, description="only the contact with this id elsewhere")
]
SequencePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
        description="the nurture sequence's name, e.g. trial-follow-up",
    ),
]
SegmentName = Annotated[str, Path(min_length=1, max_length=100, description="the segment, e.g. repeat_buyers")]
TimeUnit = Annotated[Literal["days", "weeks"], Query(description="unit of recency and T")]
UserPath = Annotated[UserId, Path(description="the user's id, e.g. rep-anna")]
AccessSubjectFilter = Annotated[uuid.UUID | None, Query(description="only reads of this lead or contact")]
AccessUserFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@:-]+$", description="only reads by this user"),
]


async def _page(
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = PAGE_SIZE,
) -> PageRequest:
    return PageRequest(after=decode_cursor(cursor), limit=limit)


PageQuery = Annotated[PageRequest, Depends(_page)]
"""`cursor` and `limit`: which page of a list (422 naming `cursor` for one this API did not give)."""


def _a_task_page_key(key: str) -> str:
    parse_page_key(key)
    return key


async def _task_page(
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = PAGE_SIZE,
) -> PageRequest:
    return PageRequest(after=decode_cursor(cursor, read=_a_task_page_key), limit=limit)


def _a_candidate_key(key: str) -> str:
    confidence, first, second = key.split(":")
    float(confidence)
    uuid.UUID(first), uuid.UUID(second)
    return key


async def _candidate_page(
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = PAGE_SIZE,
) -> PageRequest:
    return PageRequest(after=decode_cursor(cursor, read=_a_candidate_key), limit=limit)


CandidatePageQuery = Annotated[PageRequest, Depends(_candidate_page)]
"""`cursor` and `limit` of the duplicate candidates, whose pages are in order of confidence (the
cursor names the last pair's place: its confidence and both ids)."""
TaskPageQuery = Annotated[PageRequest, Depends(_task_page)]
"""`cursor` and `limit` of the task list, whose pages are in due order (the cursor names the last
task's due time and id)."""
TaskOwnerFilter = Annotated[
    str | None,
    Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@:-]+$", description="only this owner's tasks"),
]
TaskStatusQuery = Annotated[
    StatusFilter | None,
    Query(description="`open` (overdue ones included), `done`, or `overdue`: open and due before now"),
]
DueBefore = Annotated[
    datetime | None,
    Query(description="only tasks due before this time (ISO 8601; UTC if no offset)"),
    AfterValidator(business_time),
]


def _an_attempt_id(key: str) -> str:
    if not key.isdigit():
        raise ValueError("not an attempt id")
    return key


async def _attempt_page(
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = PAGE_SIZE,
) -> PageRequest:
    return PageRequest(after=decode_cursor(cursor, read=_an_attempt_id), limit=limit)


AttemptPageQuery = Annotated[PageRequest, Depends(_attempt_page)]
"""`cursor` and `limit` of a webhook's delivery attempts, in the order they were made."""
WebhookPath = Annotated[UUID, Path(description="the subscription's id")]
