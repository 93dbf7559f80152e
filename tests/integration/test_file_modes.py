"""The files of an embedded store hold personal data and secrets: the SQLite file, its -wal and
-shm files and the demo admin token are readable and writable by their owner only (0600),
whatever the umask of the process that made them."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from services.bootstrap import bootstrap, open_token_store
from services.jobs.demo import DEMO_ADMIN, demo_token_file, prepare_demo
from services.settings import Settings
from tests.integration.factories import capture

OWNER_ONLY = 0o600


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def crm(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`crm` as a user with the common umask 022 runs it (files made by default: 0644)."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env={**os.environ, "CRM_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        umask=0o022,
    )


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def test_crm_seed_on_a_fresh_path_makes_a_store_only_its_owner_can_read(tmp_path: Path) -> None:
    database = tmp_path / "var" / "crm.sqlite"
    # when
    seeded = crm(f"sqlite:///{database}", "seed", "--leads", "3", "--end", "2026-06-01")
    # then
    assert seeded.returncode == 0, seeded.stderr
    assert mode(database) == OWNER_ONLY
    with umask(0o022), closing(sqlite3.connect(database)) as db:
        # a reader opens the write-ahead log and its index, as the server does
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(path.exists() for path in companions)
        assert {path.name: mode(path) for path in companions} == {
            "crm.sqlite-wal": OWNER_ONLY,
            "crm.sqlite-shm": OWNER_ONLY,
        }


def test_issuing_a_token_on_a_fresh_path_makes_the_store_owner_only_too(tmp_path: Path) -> None:
    database = tmp_path / "crm.sqlite"
    issued = crm(f"sqlite:///{database}", "token", "issue", "--user", "alice", "--role", "rep")
    assert issued.returncode == 0, issued.stderr
    assert mode(database) == OWNER_ONLY


def test_an_existing_store_keeps_the_mode_its_operator_gave_it(tmp_path: Path) -> None:
    database = tmp_path / "crm.sqlite"
    assert crm(f"sqlite:///{database}", "status").returncode == 0
    database.chmod(0o640)  # e.g. readable by a backup group, on purpose
    assert crm(f"sqlite:///{database}", "status").returncode == 0
    assert mode(database) == 0o640


def test_the_demo_admin_token_file_is_its_owners_only(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'var' / 'crm.sqlite'}")
    crm_app = bootstrap(settings)
    tokens = open_token_store(settings)
    try:
        crm_app.capture_lead(capture())  # not an empty store: nothing to seed
        path = demo_token_file(settings)
        assert path is not None
        # made by a process whose umask would leave it readable by everyone
        with umask(0o000):
            token = prepare_demo(crm_app, tokens, settings)
        assert mode(path) == OWNER_ONLY and path.read_text().strip() == token
        # a kept file an older version left readable by others is made private when it is used
        path.chmod(0o644)
        assert prepare_demo(crm_app, tokens, settings) == token
        assert mode(path) == OWNER_ONLY
        assert tokens.authenticate(token) is not None and tokens.list_tokens()[0].user == DEMO_ADMIN
    finally:
        tokens.close()
        crm_app.close()
