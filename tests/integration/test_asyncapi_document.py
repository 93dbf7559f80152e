"""The AsyncAPI document is valid AsyncAPI 3.0.0 by the specification's own JSON Schema
(bindings included), not only by the structure the unit tests look at."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import yaml

from consumers.envelope_schema import ROOT
from tests.support.asyncapi_specs import AsyncApiSpecsUnavailable, asyncapi_schema


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    try:
        schema = asyncapi_schema("3.0.0")
    except AsyncApiSpecsUnavailable as exc:  # a missing tool fails the test, as a missing server does
        pytest.fail(f"the AsyncAPI schema is needed to check the document: {exc}", pytrace=False)
    return jsonschema.Draft7Validator(schema)


def published() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())
    return document


def test_the_published_asyncapi_document_is_valid_asyncapi_3(validator: jsonschema.Draft7Validator) -> None:
    problems = [f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in validator.iter_errors(published())]
    assert problems == []


@pytest.mark.parametrize(
    "where",
    ["an operation's action", "a topic's partitions", "the webhook's HTTP method"],
)
def test_the_validator_refuses_a_broken_document(validator: jsonschema.Draft7Validator, where: str) -> None:
    document = copy.deepcopy(published())
    if where == "an operation's action":
        document["operations"]["sendWebhook"]["action"] = "publish"  # AsyncAPI 2 wording
    elif where == "a topic's partitions":
        document["channels"]["leadEvents"]["bindings"]["kafka"]["partitions"] = "six"
    else:
        document["operations"]["sendWebhook"]["bindings"]["http"]["method"] = "FETCH"
    assert not validator.is_valid(document)
