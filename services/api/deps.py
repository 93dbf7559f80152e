"""What a route reads from the request, shared by every router: the caller behind the bearer
token and the role check, `If-Match`, `Idempotency-Key`, business times, read-your-writes
positions and page cursors."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from services.api.problems import InvalidQuery, MalformedHeader
from services.auth.policy import Action, Caller, TokenStore, Unauthenticated, log_denial

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

EARLIEST_YEAR, LATEST_YEAR = 1900, 2999
"""Business times a read-model query may be asked about."""

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')


def parse_if_match(value: str | None) -> int | None:
    """`"7"`, `W/"7"` or `7` -> 7; absent or `*` -> None (no version expected)."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise MalformedHeader(f'If-Match must be the quoted version from an ETag, e.g. "7"; got {value!r}')
    return int(match.group(1))


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


def next_cursor(ids: list[str], limit: int) -> str | None:
    """A cursor when more than `limit` ids were found (one more than a page is always asked for)."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None


def business_time(value: datetime | None) -> datetime | None:
    """A query's business time in UTC (UTC if it has no offset), within the years served."""
    if value is None:
        return None
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).astimezone(UTC)


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
    AfterValidator(business_time),
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
