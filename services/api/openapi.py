"""The OpenAPI document of the HTTP API, made to generate good clients from.

FastAPI writes the document from the routes; `finish` then makes it true of what the app does
in places FastAPI cannot see: every problem is `application/problem+json`; the problems an
operation can meet follow from what it takes (401/403 and a 503 of the database where a bearer
token is checked, 404 where a path names something, 400/413/415 where a body is sent, 422
everywhere, since an unknown query parameter is one); every response carries `X-Request-ID`,
every 503 `Retry-After`, every 401 `WWW-Authenticate`. Operation ids are the route functions'
names in camelCase (`capture_lead` -> `captureLead`), the tags are described here.

`crm openapi [--output FILE]` writes the document (docs/openapi.json by default)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from services.api.problems import (
    PROBLEM_JSON,
    PROBLEM_RESPONSES,
    READ_MODEL_RESPONSES,
    WORKSPACE_RESPONSES,
    problem_json_only,
)

DOCUMENT = Path("docs/openapi.json")
"""Where the document is checked in, for readers and for the linter."""

TAGS: list[dict[str, Any]] = [
    {"name": "leads", "description": "People who showed interest: capture, read, and the commands of a lead."},
    {
        "name": "contacts",
        "description": "Customers (converted leads or created directly): read, change, purchases, reactivation.",
    },
    {
        "name": "inbound",
        "description": "For form and email tools: a lead deduplicated by email and phone, an email opened or clicked.",
    },
    {"name": "tasks", "description": "Follow-up tasks on leads and contacts: add, list, complete, reschedule."},
    {
        "name": "read models",
        "description": "The pipeline, the forecast and the segments, as of a business time, from the read models.",
    },
    {
        "name": "scoring",
        "description": "The learned win probability (naive Bayes) judged against the rule score on past leads.",
    },
    {
        "name": "nurture sequences",
        "description": "Automated follow-up sequences: define them, see how they do, enrol a lead by hand.",
    },
    {"name": "privacy", "description": "Erase a person (GDPR Art. 17) and export everything about them (Art. 15)."},
    {"name": "audit", "description": "The access log: who read which person's data."},
    {"name": "users", "description": "The team: the users who own leads and do tasks."},
    {"name": "assignment rules", "description": "Which rep a new lead goes to."},
    {
        "name": "webhooks",
        "description": "Subscriptions of tools to the CRM's events (Standard Webhooks): subscribe, change, "
        "rotate the signing secret, see the delivery attempts, send history again.",
    },
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics, outside /v1."},
]
TAGS += [
    {"name": "campaigns", "description": "What was spent on each marketing campaign, as events in business time."},
    {
        "name": "analytics",
        "description": "Campaign return on spend and rep performance, as of a business time, from the read models.",
    },
]
"""Every tag an operation may carry, with what it groups (a new tag needs a line here)."""

CONTACT = {"name": "CRM maintainers"}
LICENSE = {"name": "MIT", "url": "https://opensource.org/licenses/MIT"}
SERVERS = [{"url": "/", "description": "the server that serves this document"}]

_STRING = {"type": "string"}
REQUEST_ID_HEADER = {
    "description": "the request's id: the caller's `X-Request-ID` when sane, else a new one; "
    "also the correlation id of the events the request appended",
    "schema": _STRING,
}
RETRY_AFTER_HEADER = {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
WWW_AUTHENTICATE_HEADER = {"description": 'how to authenticate: `Bearer realm="crm"`', "schema": _STRING}

_GENERIC = {status: response["description"] for status, response in PROBLEM_RESPONSES.items()}


def _shared_descriptions() -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for shared in (PROBLEM_RESPONSES, READ_MODEL_RESPONSES, WORKSPACE_RESPONSES):
        for status, response in shared.items():
            found.setdefault(int(status), set()).add(response["description"])
    return found


_SHARED = _shared_descriptions()
"""The descriptions of the problem responses routers declare for all their routes: where one
cannot happen (e.g. a 404 without an id in the path), it is left out of that operation."""
_EXTRA = {
    400: "Malformed JSON (or nested more than 32 levels deep) or a malformed header",
    401: _GENERIC[401],
    403: _GENERIC[403],
    404: "Nothing of that id (or not one of yours)",
    413: _GENERIC[413],
    415: "The body was not sent as `application/json`",
    503: _GENERIC[503],
}
_NO_INPUTS_422 = "A query parameter was sent; this operation takes none"


def operation_id(route: APIRoute) -> str:
    """The route function's name in camelCase: `capture_lead` -> `captureLead`."""
    head, *rest = route.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def finish(schema: dict[str, Any], routes: Iterable[BaseRoute] = ()) -> dict[str, Any]:
    """Make FastAPI's document say what the app does (see the module's docstring); `routes` are
    the routes of the document, whose request examples are put back as they were written."""
    problem_json_only(schema)
    _request_examples(schema, routes)
    for method_operations in schema.get("paths", {}).values():
        for method, operation in method_operations.items():
            _problems(method, operation)
            for status, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = REQUEST_ID_HEADER
                if status == "503":
                    headers["Retry-After"] = RETRY_AFTER_HEADER
                if status == "401":
                    headers["WWW-Authenticate"] = WWW_AUTHENTICATE_HEADER
    _drop_unused_schemas(schema)
    _restore_nulls(schema)
    return schema


def _request_examples(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """The request examples as the routes give them: FastAPI leaves out every null of the
    document, which turns an example that clears a field (`{"time_zone": null}`) into `{}`."""
    operations = {
        operation.get("operationId"): operation
        for methods in schema.get("paths", {}).values()
        for operation in methods.values()
    }
    for route in routes:
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        examples = getattr(route.body_field.field_info, "openapi_examples", None)
        media = (
            operations.get(operation_id(route), {}).get("requestBody", {}).get("content", {}).get("application/json")
        )
        if examples and media is not None:
            media["examples"] = jsonable_encoder(examples)


def _restore_nulls(schema: dict[str, Any]) -> None:
    """Put back the nulls of the examples: FastAPI leaves out every null of the document, so an
    example's required nullable field (e.g. `next_cursor: null` of a last page) went missing."""
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    for name, component in components.items():
        for example in component.get("examples", []):
            _fill(example, {"$ref": f"#/components/schemas/{name}"}, components)
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            contents = [operation.get("requestBody", {}).get("content", {})]
            contents += [response.get("content", {}) for response in operation["responses"].values()]
            for content in contents:
                for media in content.values():
                    if "example" in media:
                        _fill(media["example"], media.get("schema", {}), components)
                    for example in media.get("examples", {}).values():
                        _fill(example.get("value"), media.get("schema", {}), components)


def _fill(example: Any, schema: dict[str, Any], components: dict[str, Any]) -> None:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = components.get(ref.rsplit("/", 1)[1], {})
    for branch in schema.get("anyOf", []) + schema.get("allOf", []):
        if branch.get("type") != "null":
            _fill(example, branch, components)
    if isinstance(example, dict) and "properties" in schema:
        for name in schema.get("required", []):
            if name not in example and _nullable(schema["properties"].get(name, {})):
                example[name] = None
        for name, value in example.items():
            _fill(value, schema["properties"].get(name, {}), components)
    elif isinstance(example, list) and isinstance(schema.get("items"), dict):
        for item in example:
            _fill(item, schema["items"], components)


def _nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(branch.get("type") == "null" for branch in schema.get("anyOf", []))


def _problems(method: str, operation: dict[str, Any]) -> None:
    """Keep the shared problem responses an operation can meet, and add those it must declare."""
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    path_id = any(p["in"] == "path" for p in parameters)
    if_match = any(p["in"] == "header" and p["name"].lower() == "if-match" for p in parameters)
    authenticated = bool(operation.get("security"))
    implied = {
        400: body or if_match,
        401: authenticated,
        403: authenticated,
        404: path_id,
        413: body,
        415: body,
        503: authenticated,
    }
    responses: dict[str, Any] = operation["responses"]
    if method == "get":
        responses.pop("409", None)  # a read changes nothing, so it conflicts with nothing
    for status, can in implied.items():
        key = str(status)
        shared = key in responses and responses[key].get("description") in _SHARED.get(status, ())
        if shared and not can:
            del responses[key]
        elif can and key not in responses:
            responses[key] = _problem(_EXTRA[status])
    if parameters or body:
        if responses.get("422", {}).get("content", {}).get(PROBLEM_JSON) is None:
            responses["422"] = _problem(_GENERIC[422])
    else:
        responses["422"] = _problem(_NO_INPUTS_422)
    operation["responses"] = dict(sorted(responses.items()))


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _drop_unused_schemas(schema: dict[str, Any]) -> None:
    """Drop the component schemas nothing refers to any more (FastAPI's own validation error)."""
    schemas: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    while True:
        text = json.dumps({k: v for k, v in schema.items() if k != "components"}) + json.dumps(
            {k: v for k, v in schema.get("components", {}).items() if k != "schemas"}
        )
        refs = {name for name in schemas if f'"#/components/schemas/{name}"' in text}
        pending = list(refs)
        while pending:
            found = json.dumps(schemas[pending.pop()])
            for name in schemas:
                if name not in refs and f'"#/components/schemas/{name}"' in found:
                    refs.add(name)
                    pending.append(name)
        unused = set(schemas) - refs
        if not unused:
            return
        for name in unused:
            del schemas[name]


def render(schema: dict[str, Any]) -> str:
    """The document as the checked-in file holds it: indented JSON, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
