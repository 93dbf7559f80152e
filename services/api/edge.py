"""The edge of the HTTP API: pure ASGI middleware around the whole app that gives each request
an id, refuses oversized bodies, JSON nested too deeply and NUL characters before anything
parses them, counts and times every request, and turns an unexpected exception into a
problem+json 500."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.routing import Match

from domain.events import traced
from domain.trace_context import valid_traceparent
from services.api.metrics import Metrics
from services.api.problems import (
    INTERNAL,
    MALFORMED_JSON,
    VALIDATION,
    BodyTooLarge,
    FieldError,
    problem_response,
    problem_type_of,
)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted; larger ones get 413 before any parsing."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects a body may have (a command is one object deep); deeper
ones get 400 before any parsing: a parser that recurses per level would run out of stack."""


log = logging.getLogger("crm.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


def _traceparent(scope: Scope) -> str | None:
    """The request's `traceparent` when it sent exactly one and it is valid (the spec ignores
    a repeated one), else None."""
    given = [v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"traceparent"]
    return valid_traceparent(given[0]) if len(given) == 1 else None


class Edge:
    """Pure ASGI middleware around the whole app.

    Gives each request an id (the caller's `X-Request-ID` when it is sane), keeps the caller's
    W3C `traceparent` when it is well-formed (one header, valid) on every event the request
    appends, for the relay to pass on to Kafka (an invalid one is ignored), refuses bodies over
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
        traceparent = _traceparent(scope)
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
            if nested_too_deeply(body):
                response = problem_response(
                    MALFORMED_JSON,
                    f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
                    instance=scope.get("path"),
                    request_id=request_id,
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
            with traced(traceparent):  # the route's worker thread inherits it with the context
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
        except (ValueError, RecursionError):
            return errors  # malformed JSON gets its own answer
        errors += [
            FieldError(field=path or None, message=_NUL_MESSAGE, type="string_nul") for path in _nul_paths(document, "")
        ]
    return errors


_NUL_MESSAGE = "must not contain NUL (\\u0000) characters"

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def nested_too_deeply(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the arrays and objects of a JSON text nest more than `limit` levels deep,
    found without parsing it (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # too few brackets to nest that deep
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b'""', body)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


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
