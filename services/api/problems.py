"""Errors as RFC 9457 problem details (`application/problem+json`).

This module is the one place where error types are mapped onto HTTP statuses: `PROBLEMS`
below. Everything the API answers with a 4xx or 5xx goes through `problem_response`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    ConsentWithdrawn,
    DomainError,
    InvalidField,
    RecordMerged,
    SequenceAlreadyDefined,
    TimelineConflict,
    UnknownTask,
    UserAlreadyExists,
)
from projections.segment_rules import UnknownSegment
from services.app.errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    IdentityBusy,
    NotFound,
    ReactivationInProgress,
    SequenceNotFound,
    UnknownEmail,
    UserNotFound,
)
from services.auth.access import Caller
from services.auth.policy import Forbidden, Unauthenticated

PROBLEM_JSON = "application/problem+json"

STORE_RETRY_AFTER_SECONDS = 2
"""`Retry-After` of a 503 while the database does not answer (the pools try again meanwhile)."""

log = logging.getLogger("crm.http")


class MalformedHeader(ValueError):
    """A request header has a value the API cannot read (e.g. `If-Match: soon`)."""


class BodyTooLarge(Exception):
    """The request body is over the size limit."""


class UnsupportedMediaType(ValueError):
    """A request body sent with a Content-Type other than JSON (or without one)."""


class StoreUnavailable(Exception):
    """The event store does not answer."""


class NotReady(Exception):
    """A readiness check failed; `checks` names each check's outcome: ok, failed or skipped."""

    def __init__(self, failed: str, reason: str, checks: dict[str, str], retry_after: int) -> None:
        super().__init__(f"{failed}: {reason}")
        self.checks = checks
        self.retry_after = retry_after


class InvalidQuery(ValueError):
    """A query parameter that is well-formed but cannot be answered (e.g. a position past the
    head of the log); answered like any other invalid input, naming the parameter."""

    def __init__(self, field: str, message: str, kind: str = "value_error") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.kind = kind


class ReadModelBehind(Exception):
    """The read models did not reach the position the caller asked for in time."""

    def __init__(self, min_position: int, positions: dict[str, int], retry_after: int = 1) -> None:
        behind = ", ".join(f"{name} at {position}" for name, position in sorted(positions.items()))
        super().__init__(f"the read models have not reached position {min_position} yet ({behind}); retry shortly")
        self.min_position = min_position
        self.positions = positions
        self.retry_after = retry_after


class ReadModelsUnavailable(Exception):
    """This process does not serve the read models."""


class WebhooksUnavailable(Exception):
    """This process does not manage webhook subscriptions."""


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: its status, the last segment of its type URI, and its title."""

    status: int
    slug: str
    title: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


VALIDATION = ProblemType(422, "validation", "Invalid request")
MALFORMED_JSON = ProblemType(400, "malformed-json", "Malformed JSON")
STORE_UNAVAILABLE = ProblemType(503, "store-unavailable", "Database unavailable")
NOT_READY = ProblemType(503, "not-ready", "Not ready")
READ_MODEL_BEHIND = ProblemType(503, "read-model-behind", "Read models not caught up")
INTERNAL = ProblemType(500, "internal", "Internal server error")

PROBLEMS: tuple[tuple[type[Exception], ProblemType], ...] = (
    (MalformedHeader, ProblemType(400, "malformed-header", "Malformed header")),
    (Unauthenticated, ProblemType(401, "unauthenticated", "Authentication required")),
    (Forbidden, ProblemType(403, "forbidden", "Not allowed for your role")),
    (NotFound, ProblemType(404, "not-found", "Not found")),
    (UserNotFound, ProblemType(404, "not-found", "Not found")),
    (UnknownSegment, ProblemType(404, "unknown-segment", "No such segment")),
    (UnknownEmail, ProblemType(404, "unknown-email", "Nobody has this email address")),
    (SequenceNotFound, ProblemType(404, "unknown-sequence", "No such nurture sequence")),
    (SequenceAlreadyDefined, ProblemType(409, "sequence-exists", "Nurture sequence exists")),
    (ConcurrencyConflict, ProblemType(409, "version-conflict", "Version conflict")),
    (TimelineConflict, ProblemType(409, "timeline-conflict", "A later event would no longer be allowed")),
    (IdempotencyKeyReused, ProblemType(409, "idempotency-key-reused", "Idempotency key reused")),
    (ReactivationInProgress, ProblemType(409, "reactivation-in-progress", "Reactivation in progress")),
    (ConsentWithdrawn, ProblemType(409, "consent-withdrawn", "Consent withdrawn")),
    (RecordMerged, ProblemType(409, "merged", "Record merged into another")),
    (UnknownTask, ProblemType(404, "not-found", "Not found")),
    (UserAlreadyExists, ProblemType(409, "user-exists", "User already exists")),
    (InvalidField, VALIDATION),
    (DomainError, ProblemType(409, "business-rule", "Business rule violated")),
    (BodyTooLarge, ProblemType(413, "body-too-large", "Request body too large")),
    (UnsupportedMediaType, ProblemType(415, "unsupported-media-type", "Unsupported media type")),
    (ValidationError, VALIDATION),
    (RequestValidationError, VALIDATION),
    (InvalidQuery, VALIDATION),
    # the database does not answer: eventsourcing's errors (its pool timing out is an
    # OperationalError caused by psycopg_pool's PoolTimeout), and psycopg's own, raised by the
    # token and key stores (PoolTimeout, PoolClosed and TooManyRequests are OperationalErrors)
    (OperationalError, STORE_UNAVAILABLE),
    (InterfaceError, STORE_UNAVAILABLE),
    (PoolTimeout, STORE_UNAVAILABLE),
    (psycopg.OperationalError, STORE_UNAVAILABLE),
    (StoreUnavailable, STORE_UNAVAILABLE),
    (NotReady, NOT_READY),
    (ReadModelBehind, READ_MODEL_BEHIND),
    (IdentityBusy, ProblemType(503, "identity-busy", "Another submission for this person is in progress")),
    (ReadModelsUnavailable, ProblemType(503, "read-models-unavailable", "Read models unavailable")),
    (WebhooksUnavailable, ProblemType(503, "webhooks-unavailable", "Webhooks unavailable")),
)
"""Error type -> problem, most specific first; the first match wins."""


def problem_type_of(error: BaseException) -> ProblemType:
    """The problem an error is answered with."""
    for cls, problem in PROBLEMS:
        if isinstance(error, cls):
            return problem
    return INTERNAL


class FieldError(BaseModel):
    """One invalid input."""

    field: str | None = Field(description="dotted path of the field; null when the body as a whole is wrong")
    message: str
    type: str = Field(description="machine-readable kind of error, e.g. missing, string_too_long")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["/problems/version-conflict"])
    title: str = Field(examples=["Version conflict"])
    status: int = Field(examples=[409])
    detail: str | None = Field(default=None, examples=["3f0c... is at version 7, not the expected 6"])
    instance: str | None = Field(default=None, examples=["/v1/leads/3f0c.../stage"])
    request_id: str | None = None
    errors: list[FieldError] | None = None


class NotReadyProblem(Problem):
    """The problem `/readyz` answers with: which check failed, which passed, which were skipped."""

    checks: dict[str, str] = Field(
        description="each check (event_store, read_models) and how it went: ok, failed or skipped",
        examples=[{"event_store": "failed", "read_models": "skipped"}],
    )


def problem_response(
    problem: ProblemType,
    detail: str | None = None,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    type_uri: str | None = None,
    title: str | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": type_uri or problem.uri,
        "title": title or problem.title,
        "status": problem.status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if errors is not None:
        body["errors"] = [e.model_dump() for e in errors]
    body.update(extensions)
    return JSONResponse(body, status_code=problem.status, headers=headers, media_type=PROBLEM_JSON)


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    """Pydantic error dicts as `{field, message, type}` with dotted field paths."""
    result = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:]
        message = str(error.get("msg", "invalid"))
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        kind = str(error.get("type", "invalid"))
        if not loc and kind == "missing":
            message = "a JSON body is required"
        result.append(FieldError(field=".".join(str(p) for p in loc) or None, message=message, type=kind))
    return result


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _for_error(request: Request, error: BaseException) -> JSONResponse:
    problem = problem_type_of(error)
    if isinstance(error, NotFound) and error.withheld:
        _log_withheld(request, error)
    extensions: dict[str, Any] = {}
    headers: dict[str, str] | None = None
    if isinstance(error, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="crm"'}
    if isinstance(error, ConcurrencyConflict) and error.expected is not None:
        extensions = {"expected_version": error.expected, "current_version": error.actual}
    if isinstance(error, TimelineConflict):
        extensions = {"conflicting_event": error.described}
    if isinstance(error, IdempotencyKeyReused) and error.aggregate_id is not None:
        extensions = {"differing_fields": error.fields, "existing_id": str(error.aggregate_id)}
    errors: list[FieldError] | None = None
    if isinstance(error, InvalidQuery):
        errors = [FieldError(field=error.field, message=error.message, type=error.kind)]
    if isinstance(error, InvalidField):
        errors = [FieldError(field=error.field, message=error.message, type=error.kind)]
    if isinstance(error, ReadModelBehind):
        headers = {"Retry-After": str(error.retry_after)}
        extensions = {"min_position": error.min_position, "positions": error.positions}
        detail = str(error)
    elif isinstance(error, (ReadModelsUnavailable, WebhooksUnavailable)):
        detail = str(error)
    elif isinstance(error, NotReady):
        headers = {"Retry-After": str(error.retry_after)}
        extensions = {"checks": error.checks}
        detail = str(error)
    elif problem is STORE_UNAVAILABLE:
        # an outage answers every request so: one line each, not a traceback each
        log.warning("%s %s: the database does not answer: %s", request.method, request.url.path, _first_line(error))
        headers = {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)}
        detail = f"the database does not answer; retry in {STORE_RETRY_AFTER_SECONDS} s"
    elif problem.status >= 500:
        log.error("request failed: %s", error, exc_info=error)
        detail = None
    elif isinstance(error, InvalidField):
        detail = f"1 invalid input(s): {error.field}"  # as a malformed field is answered
    else:
        detail = str(error)
    return problem_response(
        problem,
        detail,
        instance=request.url.path,
        request_id=_request_id(request),
        headers=headers,
        errors=errors,
        **extensions,
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return f"{type(error).__name__}: {text.splitlines()[0]}"


def _log_withheld(request: Request, error: NotFound) -> None:
    """An aggregate outside the caller's owner scope is answered as not found, and the denial
    logged for the caller the route's permission let through."""
    caller = getattr(request.state, "caller", None)
    if isinstance(caller, Caller):
        caller.withheld(error)


async def _known_error(request: Request, error: Exception) -> JSONResponse:
    return _for_error(request, error)


async def _request_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = list(error.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        context = errors[0].get("ctx") or {}
        return problem_response(
            MALFORMED_JSON,
            f"the body is not valid JSON: {context.get('error', 'decode error')}",
            instance=request.url.path,
            request_id=_request_id(request),
        )
    return _validation(request, errors)


async def _pydantic_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ValidationError)
    return _validation(request, list(error.errors()))


def _validation(request: Request, errors: list[Any]) -> JSONResponse:
    fields = field_errors(errors)
    names = sorted({f.field or "body" for f in fields})
    return problem_response(
        VALIDATION,
        f"{len(fields)} invalid input(s): {', '.join(names)}",
        instance=request.url.path,
        request_id=_request_id(request),
        errors=fields,
    )


async def _http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = HTTPStatus(error.status_code)
    detail = error.detail if isinstance(error.detail, str) and error.detail != status.phrase else None
    return problem_response(
        ProblemType(status.value, "", status.phrase),
        detail,
        instance=request.url.path,
        request_id=_request_id(request),
        headers=dict(error.headers or {}),
        type_uri="about:blank",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every known error, validation failure and HTTP error with problem+json."""
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    for cls, _ in PROBLEMS:
        if cls not in (RequestValidationError, ValidationError):
            app.add_exception_handler(cls, _known_error)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in (
        (400, "Malformed JSON (or nested more than 32 levels deep) or header"),
        (401, "Missing or unknown bearer token"),
        (403, "The role may not do this"),
        (404, "No such lead, contact or task (or not one of yours)"),
        (409, "Version conflict, reused idempotency key, or a business rule"),
        (413, "Body over 64 KiB"),
        (422, "Invalid input; `errors` names each field"),
        (503, "The database does not answer; try again after `Retry-After` seconds"),
    )
}
"""The problem responses every /v1 operation may give, for the OpenAPI document."""


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}


def documented_problem(description: str) -> dict[str, Any]:
    """An operation's problem response for the OpenAPI document, described in its own words."""
    return _problem(description)


READ_MODEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{status: response for status, response in PROBLEM_RESPONSES.items() if status not in (409, 413)},
    404: _problem("No such contact or segment"),
    503: _problem(
        "The read models did not reach `min_position` within the wait, or the database does not answer "
        "(see `Retry-After`)"
    ),
}
"""The problem responses of the read-model routes (GET only: no body, no versions)."""

WORKSPACE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{status: response for status, response in PROBLEM_RESPONSES.items() if status != 404},
    404: _problem("No such user"),
    409: _problem("A user of that id exists already, or the rules changed since the version sent as If-Match"),
}
"""The problem responses of the team and assignment-rule routes."""

NOT_READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "model": NotReadyProblem,
        "content": {PROBLEM_JSON: {}},
        "description": "A check failed (`checks` says which); try again after `Retry-After` seconds",
    }
}
"""What `/readyz` answers when the store or the read models are not ready."""


def problem_json_only(schema: dict[str, Any]) -> dict[str, Any]:
    """Fix an OpenAPI document so that every problem response is declared as what it is:
    `application/problem+json` with the Problem schema (FastAPI puts a response model's schema
    under the route's own media type, e.g. `application/json`)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON not in content:
                    continue
                others = [media for media in content if media != PROBLEM_JSON]
                described = next((content[media] for media in others if "schema" in content[media]), None)
                for media in others:
                    del content[media]
                if described is not None:
                    content[PROBLEM_JSON] = described
    return schema
