"""The form of a request, checked once for every route: an app-wide dependency that refuses a
query parameter the matched route does not declare (422 naming it and the ones it takes) and a
body sent as anything but JSON (415).

Both checks read the route Starlette matched (`scope["route"]`) and the parameters FastAPI found
in its signature and dependencies, so a route added later is checked the same way without
doing anything. They run before the route's own dependencies, authentication included: what
they tell (the parameters a route takes, that it takes JSON) is in the OpenAPI document anyway."""

from __future__ import annotations

import email.message

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from services.api.problems import UnsupportedMediaType

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""The methods whose routes may take a JSON body."""

JSON = "application/json"


def declared_query_parameters(dependant: Dependant) -> list[str]:
    """The names of the query parameters a route takes, its dependencies' included, sorted."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        pending.extend(current.dependencies)
    return sorted(names)


_DECLARED = "crm_declared_query_parameters"
"""The route attribute that keeps its declared query parameters, walked once per route rather
than once per request (a route is unhashable, so it carries them itself)."""


def _declared(route: APIRoute) -> frozenset[str]:
    declared: frozenset[str] | None = getattr(route, _DECLARED, None)
    if declared is None:
        declared = frozenset(declared_query_parameters(route.dependant))
        setattr(route, _DECLARED, declared)
    return declared


def takes_body(route: APIRoute) -> bool:
    """True when the route reads a JSON body."""
    return route.body_field is not None and bool((route.methods or set()) & BODY_METHODS)


def is_json(content_type: str) -> bool:
    """`application/json` or `application/*+json`, with any parameters (e.g. a charset)."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application" or content_type.strip().startswith(("*", ";")):
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def check_request_form(request: Request) -> None:
    """Refuse a body that is not JSON (415) and query parameters the route does not take (422)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    if takes_body(route):
        content_type = request.headers.get("content-type")
        if content_type is None:
            if await request.body():
                raise UnsupportedMediaType(f"send the body as `{JSON}` (with a `Content-Type: {JSON}` header)")
        elif not is_json(content_type):
            raise UnsupportedMediaType(f"send the body as `{JSON}`, not `{content_type}`")
    if not request.query_params:
        return
    declared = _declared(route)
    unknown = sorted({name for name in request.query_params if name not in declared})
    if unknown:
        takes = f"this route takes: {', '.join(sorted(declared))}" if declared else "this route takes none"
        raise RequestValidationError(
            [
                {
                    "type": "unknown_query_parameter",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; {takes}",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )
