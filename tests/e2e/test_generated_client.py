"""A client generated from the OpenAPI document works: openapi-python-client writes a typed
client package into a temporary folder (offline), and one flow runs through it against a real
server - capture a lead (and retry it), log an interaction, change its stage, read it, list
leads - with the generated models on both sides."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from uuid import UUID

import pytest

from services.api.openapi import render
from services.cli.openapi import document
from tests.e2e.conftest import LiveServer

pytest.importorskip("openapi_python_client", reason="openapi-python-client is in the dev extras")

PACKAGE = "crm_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated client package, imported from a temporary folder."""
    folder = tmp_path_factory.mktemp("generated-client")
    spec = folder / "openapi.json"
    spec.write_text(render(document()), encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\nproject_name_override: {PACKAGE}\n")
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec), "--meta", "none"]
        + ["--output-path", str(folder / PACKAGE), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_a_generated_client_captures_changes_reads_and_lists_a_lead(generated: ModuleType, live: LiveServer) -> None:
    leads = importlib.import_module(f"{PACKAGE}.api.leads")
    models = importlib.import_module(f"{PACKAGE}.models")
    for operation in ("capture_lead", "log_lead_interaction", "change_stage", "get_lead", "list_leads"):
        importlib.import_module(f"{PACKAGE}.api.leads.{operation}")
    client = generated.AuthenticatedClient(base_url=live.base_url, token=live.tokens.issue("maria", "manager"))

    lead = models.CaptureLead(
        name="Ada Lovelace", email="ada@acme.example", source=models.LeadSource.WEB_FORM, estimated_value=1_200_000
    )
    created = leads.capture_lead.sync_detailed(client=client, body=lead, idempotency_key="form-7f3a")
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, models.CommandAccepted)
    lead_id = created.parsed.id
    assert isinstance(lead_id, UUID)
    assert created.headers["Location"] == f"/v1/leads/{lead_id}"
    assert created.headers["ETag"] == f'"{created.parsed.version}"'
    assert created.headers["X-Request-ID"]

    retried = leads.capture_lead.sync_detailed(client=client, body=lead, idempotency_key="form-7f3a")
    assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
    assert retried.parsed.id == lead_id

    logged = leads.log_lead_interaction.sync_detailed(
        lead_id,
        client=client,
        body=models.LogInteraction(kind=models.InteractionKind.DEMO),
        if_match=created.headers["ETag"],
    )
    assert logged.status_code == 200, logged.content
    assert logged.headers["ETag"] == f'"{logged.parsed.version}"'

    moved = leads.change_stage.sync(
        lead_id, client=client, body=models.ChangeStage(stage=models.Stage.QUALIFIED), if_match=logged.headers["ETag"]
    )
    assert isinstance(moved, models.CommandAccepted) and moved.version == logged.parsed.version + 1

    stale = leads.change_stage.sync_detailed(
        lead_id,
        client=client,
        body=models.ChangeStage(stage=models.Stage.PROPOSAL),
        if_match=created.headers["ETag"],
    )
    assert stale.status_code == 409 and isinstance(stale.parsed, models.Problem)
    assert stale.parsed.type_ == "/problems/version-conflict"

    read = leads.get_lead.sync_detailed(lead_id, client=client)
    assert read.status_code == 200 and read.headers["ETag"] == f'"{moved.version}"'
    assert isinstance(read.parsed, models.LeadPublic)
    assert read.parsed.stage == "qualified" and read.parsed.name == "Ada Lovelace"

    page = leads.list_leads.sync(client=client, stage=models.Stage.QUALIFIED, min_position=moved.position)
    assert isinstance(page, models.LeadPage)
    assert [item.id for item in page.items] == [lead_id]

    missing = leads.get_lead.sync(UUID(int=7), client=client)
    assert isinstance(missing, models.Problem) and missing.status == 404
