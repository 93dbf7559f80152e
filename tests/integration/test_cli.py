"""The `crm` command line, run as a user runs it: a subprocess with CRM_DATABASE_URL."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.bootstrap import bootstrap
from services.settings import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.factories import TEAM, hire
from tests.support.processes import free_loopback_port

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]


def crm(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_seed_writes_a_reproducible_history_and_a_rerun_appends_nothing(database_url: str) -> None:
    # when
    first = crm(database_url, "seed", "--leads", "40", "--seed", "7", "--end", "2026-06-01")
    again = crm(database_url, "seed", "--leads", "40", "--seed", "7", "--end", "2026-06-01")
    # then
    assert first.returncode == 0, first.stderr
    written = int(re.search(r"(\d+) events in", first.stdout).group(1))  # type: ignore[union-attr]
    assert written > 40 * 3
    assert "events/s" in first.stdout
    assert " 0 events in" in again.stdout
    app = bootstrap(Settings(database_url=database_url))
    try:
        assert app.head_position() == written
        types = {n.topic.rsplit(".", 1)[-1] for n in app.recorder.select_notifications(start=1, limit=written)}
        assert {"Captured", "Assigned", "StageChanged", "Converted", "Disqualified", "PurchaseRecorded"} <= types
    finally:
        app.close()


def test_the_same_seed_gives_the_same_history(tmp_path: Path) -> None:
    histories = []
    for run in ("a", "b"):
        url = f"sqlite:///{tmp_path / run}.sqlite"
        assert crm(url, "seed", "--leads", "15", "--seed", "3", "--end", "2026-06-01").returncode == 0
        app = bootstrap(Settings(database_url=url))
        try:
            histories.append(
                [(n.originator_id, n.originator_version, n.topic) for n in app.recorder.select_notifications(1, 10**6)]
            )
        finally:
            app.close()
    assert histories[0] == histories[1] and histories[0]


def test_seed_with_the_quarterly_profile_writes_its_own_reproducible_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    args = ("seed", "--profile", "quarterly", "--leads", "20", "--seed", "7", "--end", "2026-06-01")
    first, again = crm(url, *args), crm(url, *args)
    assert first.returncode == 0, first.stderr
    assert int(re.search(r"(\d+) events in", first.stdout).group(1)) > 20 * 3  # type: ignore[union-attr]
    assert " 0 events in" in again.stdout
    app = bootstrap(Settings(database_url=url))
    try:
        captured = app.recorder.select_notifications(1, 10**6, topics=["domain.lead:Lead.Captured"])
        assert len(captured) == 20
    finally:
        app.close()
    assert crm(url, "seed", "--profile", "no-such").returncode != 0


def test_history_prints_the_audit_trail_and_fails_for_an_unknown_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    crm(url, "seed", "--leads", "3", "--end", "2026-06-01")
    app = bootstrap(Settings(database_url=url))
    try:
        captured = app.recorder.select_notifications(1, 1, topics=["domain.lead:Lead.Captured"])
        lead_id = next(iter(captured)).originator_id
    finally:
        app.close()
    shown = crm(url, "history", str(lead_id))
    assert shown.returncode == 0 and "lead.captured" in shown.stdout and "lead.scored" in shown.stdout
    missing = crm(url, "history", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "not found" in missing.stderr
    bad = crm(url, "history", "not-a-uuid")
    assert bad.returncode == 2 and "not a UUID" in bad.stderr


def crm_with(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "command", [["status"], ["seed", "--leads", "1"], ["replay"], ["token", "issue", "--user", "a", "--role", "rep"]]
)
def test_a_command_that_cannot_reach_postgresql_says_so_in_one_line_with_the_password_hidden(
    command: list[str],
) -> None:
    url = f"postgresql://crm:s3cret-pw@127.0.0.1:{free_loopback_port()}/crm"  # nothing listens there
    # the timeout is the promise: one line and exit 1 within 10 s, never a retry loop
    failed = crm_with({"CRM_DATABASE_URL": url}, *command, timeout=10)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("crm: cannot reach the database ")
    assert f"postgresql://crm:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in failed.stderr
    assert "s3cret-pw" not in failed.stderr + failed.stdout and "Traceback" not in failed.stderr


def test_an_embedded_store_that_cannot_be_opened_is_one_line_too(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("x")
    failed = crm_with({"CRM_DATABASE_URL": f"sqlite:///{not_a_folder}/crm.sqlite"}, "status", timeout=10)
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert failed.stderr.startswith("crm: cannot reach the database sqlite:///") and "Traceback" not in failed.stderr


def test_a_bad_setting_names_the_variable_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    failed = crm_with({"CRM_DATABASE_URL": url, "CRM_KAFKA_PARTITIONS": "none"}, "seed", "--leads", "1")
    assert failed.returncode == 2 and failed.stderr.startswith("crm: CRM_KAFKA_PARTITIONS: ")
    assert not (tmp_path / "crm.sqlite").exists()


def test_the_version_and_a_summary_of_every_sub_command() -> None:
    version = crm_with({}, "--version")
    assert version.returncode == 0 and re.fullmatch(r"crm \d+\.\d+\.\d+\S*\n", version.stdout)
    shown = crm_with({}, "--help").stdout
    commands = [
        "serve",
        "seed",
        "import",
        "history",
        "replay",
        "verify",
        "status",
        "relay",
        "consume",
        "token",
        "openapi",
    ]
    for name in commands:
        assert re.search(rf"^\s+{name}\s+\w+", shown, re.MULTILINE), f"no summary for {name}:\n{shown}"


def test_read_models_an_older_version_built_stop_every_command_with_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    assert crm(url, "status").returncode == 0  # creates the read-model tables with their fingerprints
    with sqlite3.connect(tmp_path / "crm.sqlite") as db:  # as an older version would have left it
        db.execute("UPDATE crm_read_model_schema SET fingerprint = 'older' WHERE table_name = 'pipeline_leads'")
    expected = 'crm: read model "pipeline" was built by an older version; run crm replay --swap\n'
    for args in (["status"], ["serve", "--port", str(free_loopback_port())]):
        stopped = crm_with({"CRM_DATABASE_URL": url}, *args, timeout=60)
        assert (stopped.returncode, stopped.stderr.splitlines()[-1:]) == (1, [expected.strip()]), stopped.stderr
        assert "Traceback" not in stopped.stderr
    # the way out the line names works: a replay swapped in rebuilds the table with this version's definition
    assert crm(url, "replay", "--swap").returncode == 0
    assert crm(url, "status").returncode == 0


def test_automate_simulate_reports_what_other_rules_would_have_done_and_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    assert crm(url, "seed", "--leads", "20", "--seed", "5", "--end", "2026-06-01").returncode == 0
    head = bootstrap(Settings(database_url=url))
    before = head.head_position()
    head.close()
    rules = tmp_path / "rules.yaml"
    rules.write_text("assignment_rules:\n  - name: all to alice\n    strategy: round_robin\n    reps: [alice]\n")

    ran = crm(
        url, "automate", "simulate", "--rules", str(rules), "--from", "2025-01-01", "--to", "2026-06-01", "--json"
    )

    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["actual"]["assignments"] == {}, "the seed's leads were assigned by hand"
    assert set(report["simulated"]["assignments"]) <= {"alice"}
    assert report["replayed_events"] > 20 and report["divergences"] >= 0
    after = bootstrap(Settings(database_url=url))
    assert after.head_position() == before, "the simulation wrote nothing"
    after.close()


def test_automate_simulate_names_the_bad_field_of_the_rules_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    rules = tmp_path / "rules.yaml"
    rules.write_text("assignment_rules:\n  - name: x\n    strategy: sideways\n    reps: [alice]\n")

    ran = crm(url, "automate", "simulate", "--rules", str(rules), "--from", "2025-01-01", "--to", "2026-06-01")

    assert ran.returncode == 1
    assert "assignment_rules.0.strategy" in ran.stderr and "Traceback" not in ran.stderr


def test_import_leads_exits_1_naming_each_row_not_imported_and_0_when_every_row_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    sample, mapping = "tests/data/salesforce_opportunities.csv", "services/jobs/mappings/salesforce_opportunities.json"
    errors = tmp_path / "errors.csv"
    app = bootstrap(Settings(database_url=url))
    try:
        hire(app, *TEAM)  # the export's owners are users of the team
    finally:
        app.close()

    # a file with bad rows: the good ones are imported, each bad one named, and the exit code is 1
    first = crm(url, "import", "leads", sample, "--map", mapping, "--errors", str(errors))
    assert first.returncode == 1, first.stderr
    assert "imported 3 of 7 rows (0 imported before, 4 failed)" in first.stdout
    assert re.findall(r"row (\d+): (\w+):", first.stderr) == [
        ("5", "stage"),
        ("6", "close_date"),
        ("7", "amount"),
        ("8", "created"),
    ]
    assert errors.read_text().splitlines()[0] == "row,field,reason" and len(errors.read_text().splitlines()) == 5

    # the good rows alone: nothing new to append, and nothing failed
    good = tmp_path / "good.csv"
    lines = Path(sample).read_text().splitlines()
    good.write_text("\n".join(lines[:4]) + "\n")
    again = crm(url, "import", "leads", str(good), "--map", mapping)
    assert again.returncode == 0, again.stderr
    assert "imported 0 of 3 rows (3 imported before, 0 failed): 0 events appended" in again.stdout

    # a command that cannot run at all is exit code 2, in one line
    unmapped = crm(url, "import", "leads", sample)
    assert unmapped.returncode == 2 and "needs --map" in unmapped.stderr
    bad_map = tmp_path / "bad.json"
    bad_map.write_text('{"source_system": "x", "columns": {"external_id": "Id", "created": "C", "colour": "Z"}}')
    refused = crm(url, "import", "leads", sample, "--map", str(bad_map))
    assert refused.returncode == 2 and "unknown fields in columns: colour" in refused.stderr
