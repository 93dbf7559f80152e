"""The OpenAPI document is good enough to generate clients from and to read: every operation has a
readable operation id, a summary, a description, a tag described in the document, examples of
its body and of its answer, and declares the responses it can give, no more, with the headers
they carry. A route added later must meet the same bar: each failure says what to add."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.api.openapi import DOCUMENT, TAGS, render
from services.api.problems import INTERNAL, MALFORMED_JSON, PROBLEM_JSON, PROBLEMS, VALIDATION
from services.cli.openapi import document

ROOT = Path(__file__).resolve().parents[2]
OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
COMMON = "(see services/api/openapi.py, which adds the shared problem responses and headers)"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The document the app serves."""
    return document()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(label "METHOD /path", method, operation) for every operation."""
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", method, operation


def resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `$ref` followed (one level)."""
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        found: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return found
    return schema


def has_example(spec: dict[str, Any], media: dict[str, Any]) -> bool:
    """A media type object with an example of its own or of its schema."""
    if media.get("example") is not None or media.get("examples"):
        return True
    return bool(resolved(spec, media.get("schema", {})).get("examples"))


def success(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The 2xx responses of an operation."""
    return {status: response for status, response in operation["responses"].items() if status.startswith("2")}


def test_the_document_names_its_license_contact_and_servers_and_describes_every_tag(spec: dict[str, Any]) -> None:
    assert spec["info"]["license"]["name"] == "MIT" and spec["info"]["license"]["url"]
    assert spec["info"]["contact"]["name"]
    assert spec["servers"] and all(server["url"] for server in spec["servers"])
    assert all(tag["description"] for tag in spec["tags"]), (
        "every tag in services/api/openapi.py TAGS needs a description"
    )


def test_every_operation_has_a_readable_unique_operation_id(spec: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for label, _, operation in operations(spec):
        given = operation.get("operationId", "")
        assert OPERATION_ID.match(given), (
            f"{label}: operationId {given!r} is not camelCase; name the route function in snake_case "
            "(it becomes the operationId: capture_lead -> captureLead)"
        )
        assert given not in seen, f"{label}: operationId {given!r} is taken by {seen[given]}; rename the function"
        seen[given] = label


def test_every_operation_has_a_summary_a_description_and_a_described_tag(spec: dict[str, Any]) -> None:
    described = {tag["name"] for tag in TAGS}
    missing = []
    for label, _, operation in operations(spec):
        if not operation.get("summary", "").strip():
            missing.append(f"{label}: no summary; give the route decorator summary=...")
        if not operation.get("description", "").strip():
            missing.append(f"{label}: no description; give the route function a docstring")
        if not operation.get("tags"):
            missing.append(f"{label}: no tag; give its APIRouter tags=[...]")
        missing += [
            f"{label}: tag {tag!r} is not described; add it to TAGS in services/api/openapi.py"
            for tag in operation.get("tags", [])
            if tag not in described
        ]
    assert not missing, "\n".join(missing)


def test_every_body_and_every_answer_has_an_example(spec: dict[str, Any]) -> None:
    missing = []
    for label, _, operation in operations(spec):
        body = operation.get("requestBody")
        if body is not None:
            media = body.get("content", {}).get("application/json")
            if media is None or not has_example(spec, media):
                missing.append(
                    f"{label}: the request body has no example; declare it as "
                    "Annotated[Model, Body(openapi_examples={...})]"
                )
        for status, response in success(operation).items():
            for media_type, media in response.get("content", {}).items():
                if not has_example(spec, media):
                    missing.append(
                        f"{label}: the {status} {media_type} answer has no example; give its model "
                        'model_config = ConfigDict(json_schema_extra={"examples": [...]}) or the route '
                        f'responses={{{status}: {{"content": {{"{media_type}": {{"example": ...}}}}}}}}'
                    )
    assert not missing, "\n".join(missing)


def examples_of(spec: dict[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, example, schema) for every example in the document."""
    for name, schema in spec["components"]["schemas"].items():
        for index, example in enumerate(schema.get("examples", [])):
            yield f"components.schemas.{name}.examples[{index}]", example, {"$ref": f"#/components/schemas/{name}"}
    for label, _, operation in operations(spec):
        media_types = [("request body", operation.get("requestBody", {}).get("content", {}))] + [
            (f"{status} answer", response.get("content", {})) for status, response in operation["responses"].items()
        ]
        for what, content in media_types:
            for media_type, media in content.items():
                schema = media.get("schema", {})
                if "example" in media:
                    yield f"{label} {what} {media_type}", media["example"], schema
                for name, example in media.get("examples", {}).items():
                    yield f"{label} {what} {media_type} example {name!r}", example["value"], schema


def test_every_example_is_valid_against_its_schema(spec: dict[str, Any]) -> None:
    invalid = []
    for where, example, schema in examples_of(spec):
        # the document's components beside the schema, so that its `#/components/...` refs resolve
        rooted = {"components": spec["components"], "allOf": [schema]}
        for error in Draft202012Validator(rooted).iter_errors(example):
            invalid.append(f"{where}: {'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}")
    assert not invalid, "\n".join(invalid)


def test_every_response_declares_the_headers_the_app_sends_with_it(spec: dict[str, Any]) -> None:
    missing = []
    for label, _, operation in operations(spec):
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            if "X-Request-ID" not in headers:
                missing.append(f"{label} {status}: no X-Request-ID header {COMMON}")
            if status == "503" and "Retry-After" not in headers:
                missing.append(f"{label} {status}: no Retry-After header {COMMON}")
            if status == "401" and "WWW-Authenticate" not in headers:
                missing.append(f"{label} {status}: no WWW-Authenticate header {COMMON}")
    assert not missing, "\n".join(missing)


def test_a_create_with_an_idempotency_key_declares_its_retry_and_its_location(spec: dict[str, Any]) -> None:
    creates = 0
    for label, _, operation in operations(spec):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "Idempotency-Key" not in headers:
            continue
        creates += 1
        responses = operation["responses"]
        advice = "declare responses=created_or_replayed(Model, ...) from services.api.responses"
        assert {"200", "201"} <= set(responses), f"{label}: no 200 for a retry next to its 201; {advice}"
        assert {"Location", "ETag"} <= set(responses["201"].get("headers", {})), f"{label}: 201 headers; {advice}"
        assert "Idempotent-Replayed" in responses["200"].get("headers", {}), f"{label}: 200 headers; {advice}"
        assert responses["200"].get("content"), f"{label}: the 200 of a retry has no body; {advice}"
    assert creates >= 5


def test_every_operation_declares_the_problems_its_inputs_and_its_authentication_can_meet(
    spec: dict[str, Any],
) -> None:
    wrong = []
    for label, method, operation in operations(spec):
        declared = set(operation["responses"])
        parameters = operation.get("parameters", [])
        body = "requestBody" in operation
        authenticated = bool(operation.get("security"))
        path_id = any(p["in"] == "path" for p in parameters)
        filters = any(p["in"] == "query" for p in parameters)
        expected = {
            "400": body or any(p["in"] == "header" and p["name"] == "If-Match" for p in parameters),
            "401": authenticated,
            "403": authenticated,
            "413": body,
            "415": body,
            "422": True,  # an unknown query parameter, on any route
        }
        for status, due in expected.items():
            if due and status not in declared:
                wrong.append(f"{label}: {status} not declared {COMMON}")
            if not due and status in declared:
                wrong.append(f"{label}: {status} declared, but the operation cannot answer it")
        if path_id and "404" not in declared:
            wrong.append(f"{label}: 404 not declared for its path id {COMMON}")
        if "404" in declared and not (path_id or filters):
            wrong.append(f"{label}: 404 declared without anything in the path or query to be missing")
        if method == "get" and "409" in declared:
            wrong.append(f"{label}: 409 declared on a read")
        if not authenticated and "503" in declared and "Retry-After" not in operation["responses"]["503"]["headers"]:
            wrong.append(f"{label}: 503 without Retry-After")
    assert not wrong, "\n".join(wrong)


def test_the_declared_problem_statuses_are_those_the_problem_mapping_can_answer(spec: dict[str, Any]) -> None:
    mapped = {problem.status for _, problem in PROBLEMS} | {VALIDATION.status, MALFORMED_JSON.status}
    declared: set[int] = set()
    for label, _, operation in operations(spec):
        for status, response in operation["responses"].items():
            code = int(status)
            if code < 400:
                continue
            declared.add(code)
            assert code in mapped, (
                f"{label}: declares {code}, which no error of services/api/problems.py PROBLEMS is answered with"
            )
            content = response.get("content", {})
            assert list(content) == [PROBLEM_JSON], f"{label} {code}: a problem is {PROBLEM_JSON} only"
            schema = resolved(spec, content[PROBLEM_JSON]["schema"])
            assert {"type", "title", "status"} <= set(schema["properties"]), f"{label} {code}: not the Problem schema"
    unanswered = mapped - declared - {INTERNAL.status}
    assert not unanswered, f"no operation declares {sorted(unanswered)}, which PROBLEMS can answer with"
    assert 429 not in declared, "the app never answers 429"


def test_the_checked_in_document_is_the_one_the_code_generates(spec: dict[str, Any]) -> None:
    checked_in = (ROOT / DOCUMENT).read_text(encoding="utf-8")
    assert checked_in == render(spec), f"{DOCUMENT} is stale: run `make openapi` (crm openapi)"
