"""`crm token issue | list | revoke`, run as an operator runs them: a subprocess with
CRM_DATABASE_URL, checked against the store the API authenticates with."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.auth.policy import Principal, Refusal, Role
from services.bootstrap import open_token_store
from services.settings import Settings
from services.storage.tokens import hash_token
from tests.integration.conftest import BACKENDS
from tests.integration.test_cli import crm

pytestmark = pytest.mark.parametrize("database_url", [p for p in BACKENDS if p.values[0] != "memory"], indirect=True)

_ISSUED = re.compile(r"crm: token (tok_[0-9a-f]{12}) for (\S+) \((\w+)\) expires (\S+)\n")


def issue(database_url: str, user: str, role: str, *more: str) -> tuple[str, str]:
    """Issue a token through the CLI; returns (token, id)."""
    issued = crm(database_url, "token", "issue", "--user", user, "--role", role, *more)
    assert issued.returncode == 0, issued.stderr
    match = _ISSUED.fullmatch(issued.stderr)
    assert match, issued.stderr
    return issued.stdout.strip(), match.group(1)


def listed(database_url: str) -> list[dict[str, Any]]:
    shown = crm(database_url, "token", "list", "--json")
    assert shown.returncode == 0, shown.stderr
    return [json.loads(line) for line in shown.stdout.splitlines()]


def resolve(database_url: str, token: str) -> Principal | Refusal:
    tokens = open_token_store(Settings(database_url=database_url))
    try:
        return tokens.resolve(token)
    finally:
        tokens.close()


def test_issue_prints_the_token_alone_on_stdout_and_its_id_and_expiry_on_stderr(database_url: str) -> None:
    issued = crm(database_url, "token", "issue", "--user", "alice", "--role", "rep")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert issued.stdout == token + "\n" and token.startswith("crm_")
    match = _ISSUED.fullmatch(issued.stderr)
    assert match and match.group(2, 3) == ("alice", "rep")
    assert token not in issued.stderr
    assert resolve(database_url, token) == Principal("alice", Role.REP)
    [record] = listed(database_url)
    assert record["id"] == match.group(1)
    created, expires = datetime.fromisoformat(record["created_at"]), datetime.fromisoformat(record["expires_at"])
    assert expires - created == timedelta(days=90)
    assert datetime.fromisoformat(match.group(4)) == expires.replace(microsecond=0)


def test_issue_takes_a_lifetime_in_days_hours_or_minutes_and_refuses_anything_else(database_url: str) -> None:
    issue(database_url, "alice", "rep", "--expires-in", "12h")
    issue(database_url, "bob", "analyst", "--expires-in", "30m")
    issue(database_url, "carol", "admin", "--expires-in", "7d")
    lifetimes = {
        r["user"]: datetime.fromisoformat(r["expires_at"]) - datetime.fromisoformat(r["created_at"])
        for r in listed(database_url)
    }
    assert lifetimes == {"alice": timedelta(hours=12), "bob": timedelta(minutes=30), "carol": timedelta(days=7)}

    bad = crm(database_url, "token", "issue", "--user", "dan", "--role", "rep", "--expires-in", "forever")
    assert bad.returncode == 2 and not bad.stdout
    assert "argument --expires-in: not a lifetime such as 90d, 12h or 30m: 'forever'" in bad.stderr
    assert [r["user"] for r in listed(database_url)] == ["alice", "bob", "carol"]


def test_list_shows_each_token_on_one_line_and_never_the_token_or_its_hash(database_url: str) -> None:
    alice, alice_id = issue(database_url, "alice", "rep")
    bob, bob_id = issue(database_url, "bob", "manager", "--expires-in", "1d")
    assert resolve(database_url, bob) == Principal("bob", Role.MANAGER)  # a use

    shown = crm(database_url, "token", "list")
    as_json = crm(database_url, "token", "list", "--json")

    assert shown.returncode == 0 and as_json.returncode == 0
    lines = shown.stdout.splitlines()
    assert len(lines) == 2
    assert re.match(rf"{alice_id}\s+alice\s+rep\s+created \S+\s+expires \S+\s+last used never$", lines[0]), lines
    assert re.match(rf"{bob_id}\s+bob\s+manager\s+created \S+\s+expires \S+\s+last used 20\d\d-\S+$", lines[1]), lines
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["id"], r["user"], r["role"], r["revoked_at"]) for r in records] == [
        (alice_id, "alice", "rep", None),
        (bob_id, "bob", "manager", None),
    ]
    assert set(records[0]) == {"id", "user", "role", "created_at", "expires_at", "last_used_at", "revoked_at"}
    assert records[0]["last_used_at"] is None and records[1]["last_used_at"] is not None
    everything = shown.stdout + shown.stderr + as_json.stdout + as_json.stderr
    for secret in (alice, bob, hash_token(alice), hash_token(bob)):
        assert secret not in everything


def test_revoke_refuses_one_token_at_once_and_list_shows_when(database_url: str) -> None:
    token, token_id = issue(database_url, "alice", "rep")
    other, _ = issue(database_url, "alice", "manager")

    revoked = crm(database_url, "token", "revoke", token_id)

    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == f"{token_id}\n" and revoked.stderr == f"crm: revoked {token_id} (alice, rep)\n"
    assert resolve(database_url, token) is Refusal.REVOKED
    assert resolve(database_url, other) == Principal("alice", Role.MANAGER)
    line = next(line for line in crm(database_url, "token", "list").stdout.splitlines() if line.startswith(token_id))
    assert re.search(r"  revoked 20\d\d-\S+$", line), line


def test_revoke_by_user_refuses_every_token_of_that_user_only(database_url: str) -> None:
    first, first_id = issue(database_url, "alice", "rep")
    second, second_id = issue(database_url, "alice", "admin")
    bobs, _ = issue(database_url, "bob", "rep")

    revoked = crm(database_url, "token", "revoke", "--user", "alice")

    assert revoked.returncode == 0, revoked.stderr
    assert sorted(revoked.stdout.split()) == sorted([first_id, second_id])
    assert revoked.stderr == "crm: revoked 2 token(s) of alice\n"
    assert resolve(database_url, first) is Refusal.REVOKED and resolve(database_url, second) is Refusal.REVOKED
    assert resolve(database_url, bobs) == Principal("bob", Role.REP)


def test_revoking_an_unknown_id_is_one_line_and_exit_1(database_url: str) -> None:
    token, _ = issue(database_url, "alice", "rep")

    unknown = crm(database_url, "token", "revoke", "tok_000000000000")
    nobody = crm(database_url, "token", "revoke", "--user", "nobody")
    neither = crm(database_url, "token", "revoke")

    assert (unknown.returncode, unknown.stdout, unknown.stderr) == (
        1,
        "",
        "crm: no token has the id 'tok_000000000000'\n",
    )
    assert (nobody.returncode, nobody.stderr) == (1, "crm: user 'nobody' has no tokens\n")
    assert neither.returncode == 2 and "one of the arguments ID --user is required" in neither.stderr
    assert resolve(database_url, token) == Principal("alice", Role.REP)
