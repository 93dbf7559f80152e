"""End to end on each durable backend: seed, follow the log, then replay and verify from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers.in_process_runner import InProcessRunner
from projections.pipeline_queries import pipeline_summary
from services.bootstrap import bootstrap, open_read_models
from services.jobs.rebuild import rebuild
from services.jobs.seed import seed_history
from services.settings import Settings
from tests.integration.conftest import BACKENDS

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
END = datetime(2026, 6, 1, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"


def crm(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_live_read_models_equal_a_fresh_replay_after_seeding(database_url: str) -> None:
    # given a seeded history followed live by the in-process runner, in small batches
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    live = open_read_models(settings)
    runner = InProcessRunner(app, live, batch_size=37)
    seed_history(app, leads=60, seed=11, end=END)
    runner.catch_up()
    live.close()
    app.close()
    # when verify compares them with a fresh replay
    verified = crm(database_url, "verify")
    # then every table is identical
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "identical" in verified.stdout and "DIFF" not in verified.stdout
    status = crm(database_url, "status")
    assert "lag 0" in status.stdout


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_verify_reports_a_tampered_read_model(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    seed_history(app, leads=10, seed=5, end=END)
    live = open_read_models(settings)
    InProcessRunner(app, live).catch_up()
    with live.recorder.datastore.transaction(commit=True) as c:
        c.execute("UPDATE pipeline_leads SET score = score + 1")
    live.close()
    app.close()
    verified = crm(database_url, "verify")
    assert verified.returncode == 1
    assert "DIFF pipeline_leads" in verified.stdout


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_pipeline_as_of_a_past_date_equals_a_replay_that_stops_at_that_date(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    seed_history(app, leads=60, seed=3, end=END)
    live = open_read_models(settings)
    InProcessRunner(app, live).catch_up()
    for as_of in (datetime(2025, 9, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)):
        stopped, _ = rebuild(app, settings, "asof_", ["pipeline"], until_date=as_of)
        assert pipeline_summary(live, as_of) == pipeline_summary(stopped, as_of)
        stopped.close()
    live.close()
    app.close()


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_importing_cdnow_purchases_twice_appends_nothing_the_second_time(database_url: str) -> None:
    first = crm(database_url, "import", "purchases", str(SAMPLE))
    again = crm(database_url, "import", "purchases", str(SAMPLE))
    assert first.returncode == 0, first.stderr
    assert "2357 customers, 6919 purchases" in first.stdout
    assert " 0 events appended" in again.stdout
    replayed = crm(database_url, "replay", "--swap")
    assert replayed.returncode == 0 and "swapped into live" in replayed.stdout


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_a_replay_in_two_processes_equals_one_in_one_process(database_url: str) -> None:
    # given a seeded history
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    seed_history(app, leads=40, seed=13, end=END)
    # when the read models are rebuilt in one process, and again with the projections shared
    # out among two
    seen: list[tuple[int, int]] = []
    alone, _ = rebuild(app, settings, "alone_")
    shared, _ = rebuild(app, settings, "shared_", jobs=2, progress=lambda at, head: seen.append((at, head)))
    # then both hold the same rows and positions, and the progress reached the head
    head = app.head_position()
    assert shared.checksums() == alone.checksums()
    assert {name: shared.position(name) for name in shared.projections} == dict.fromkeys(alone.projections, head)
    assert seen[-1] == (head, head)
    for store in (alone, shared):
        store.drop()
        store.close()
    app.close()


def test_a_replay_from_the_cli_shares_its_projections_out_and_refuses_to_where_processes_cannot_share(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'crm.db'}"
    app = bootstrap(Settings(database_url=database_url))
    seed_history(app, leads=5, seed=2, end=END)
    head = app.head_position()
    app.close()
    shared = crm(database_url, "replay", "--jobs", "2")
    assert shared.returncode == 0, shared.stderr
    assert f"replayed {head} events" in shared.stdout
    refused = crm("memory://", "replay", "--jobs", "2")
    assert refused.returncode == 2 and "needs a database they share" in refused.stderr
    assert crm(database_url, "replay", "--jobs", "0").returncode == 2
