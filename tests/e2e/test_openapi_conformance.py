"""The API against its own OpenAPI document.

For every operation in the live server's `/openapi.json`, schemathesis generates requests -
valid ones (positive mode) and invalid ones (negative mode), on a store with a little seeded
history, half of them aimed at leads, contacts and segments that exist - and sends them with an
admin token. Every answer must be no server error (`not_a_server_error`) and must match the
schema documented for its status (`response_schema_conformance`): the success models, and
problem+json for every 4xx and 5xx. Generation is derandomized, so a run is reproducible."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.segment_rules import default_rules
from services.api.app import create_app
from services.bootstrap import bootstrap
from services.jobs.seed import REPS, seed_history
from services.settings import Settings
from services.storage.access_log import MemoryAccessLog
from services.storage.tokens import MemoryTokenStore
from tests.e2e.conftest import LiveServer, live_server
from tests.support.postgres_server import PostgresServer

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the dev extras: pip install -e '.[dev]'")
GenerationMode = schemathesis.GenerationMode
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance]

EXAMPLES_PER_MODE = int(os.environ.get("CRM_CONFORMANCE_EXAMPLES", "12"))
"""Examples per operation and generation mode (positive, negative); raise it for a deeper run."""
SEED_LEADS = 15
SEED = 7


def documented_cases() -> list[Any]:
    """(operation, mode) for every operation the API documents, as "METHOD /path" (read from the
    app itself at collection): positive always, negative where there is an input to get wrong."""
    crm = bootstrap(Settings(database_url="memory://"))
    try:
        paths = create_app(crm, MemoryTokenStore(), access_log=MemoryAccessLog()).openapi()["paths"]
    finally:
        crm.close()
    cases = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            cases.append(pytest.param(label, GenerationMode.POSITIVE, id=f"{label}-positive"))
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append(pytest.param(label, GenerationMode.NEGATIVE, id=f"{label}-negative"))
    return cases


@dataclass
class Target:
    """The live server's schema, and ids that exist in its store."""

    schema: Any
    live: LiveServer
    lead_ids: list[str]
    contact_ids: list[str]


def _target(database_url: str) -> Iterator[Target]:
    with live_server(database_url) as live:
        seed_history(live.crm, leads=SEED_LEADS, seed=SEED)
        assert live.read_side.wait_for(live.crm.head_position(), 30)
        store = live.read_side.queries.store
        lead_ids = [row["lead_id"] for row in store.fetch("SELECT lead_id FROM pipeline_leads ORDER BY lead_id")]
        contact_ids = [
            r["contact_id"] for r in store.fetch("SELECT contact_id FROM segment_contacts ORDER BY contact_id")
        ]
        token = live.tokens.issue("fuzzer", "admin")
        schema = schemathesis.openapi.from_url(f"{live.base_url}/openapi.json")
        schema.config.update(headers={"Authorization": f"Bearer {token}"}, request_timeout=30)
        schema.config.generation.update(deterministic=True, with_security_parameters=False)
        yield Target(schema, live, lead_ids, contact_ids)


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    yield from _target(f"sqlite:///{tmp_path_factory.mktemp('conformance') / 'crm.sqlite'}")


@pytest.fixture(scope="module")
def postgres_target(postgres_server: PostgresServer) -> Iterator[Target]:
    yield from _target(postgres_server.create_database(f"conformance_{uuid.uuid4().hex[:12]}"))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def target(request: pytest.FixtureRequest) -> Target:
    return request.getfixturevalue(f"{request.param}_target")  # type: ignore[no-any-return]


def _existing(target: Target, path: str) -> dict[str, Any]:
    """Path parameters naming things that exist."""
    known: dict[str, Any] = {}
    if "{lead_id}" in path:
        known["lead_id"] = st.sampled_from(target.lead_ids)
    if "{contact_id}" in path and target.contact_ids:
        known["contact_id"] = st.sampled_from(target.contact_ids)
    if "{name}" in path:
        known["name"] = st.sampled_from([rule.name for rule in default_rules()])
    if "{user_id}" in path:
        known["user_id"] = st.sampled_from(list(REPS))
    return known


@pytest.mark.parametrize(("label", "mode"), documented_cases())
def test_the_operation_answers_as_documented_and_never_with_a_server_error(
    target: Target, label: str, mode: GenerationMode
) -> None:
    operation = target.schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the live /openapi.json"
    strategies = [operation.as_strategy(generation_mode=mode)]
    known = _existing(target, label.split(" ", 1)[1])
    if known:
        strategies.append(
            st.fixed_dictionaries(known).flatmap(
                lambda params: operation.as_strategy(generation_mode=mode, path_parameters=params)
            )
        )

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    check()


def test_the_read_models_kept_up_with_everything_the_generated_requests_wrote(target: Target) -> None:
    """Generated text must never reach the log in a shape that stops a projection (e.g. a NUL
    character, which PostgreSQL refuses in text columns): afterwards the read models are at the head."""
    head = target.live.crm.head_position()
    assert target.live.read_side.wait_for(head, 10), f"read models stuck: {target.live.read_side.runner.error!r}"
