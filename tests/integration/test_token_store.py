"""The token store on each backend: issue, list, revoke, expiry, the throttled last use, and a
table an older version made, migrated in place."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from services.auth.policy import Principal, Refusal, Role
from services.bootstrap import open_token_store
from services.settings import Settings, parse_database_url
from services.storage.tokens import DEFAULT_LIFETIME, TOKEN_PREFIX, TokenStore, UnknownToken, hash_token
from tests.integration.conftest import BACKENDS

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(database_url: str, clock: Clock) -> Iterator[TokenStore]:
    store = open_token_store(Settings(database_url=database_url), clock=clock)
    yield store
    store.close()


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
class TestTheTokenLifecycle:
    def test_an_issued_token_has_an_id_and_a_90_day_expiry_and_is_stored_only_hashed(
        self, tokens: TokenStore, database_url: str
    ) -> None:
        issued = tokens.issue_token("alice", "rep")
        assert issued.token.startswith(TOKEN_PREFIX)
        record = issued.record
        assert record.id.startswith("tok_") and len(record.id) == 16 and record.id[4:].isalnum()
        assert (record.user, record.role, record.created_at) == ("alice", Role.REP, START)
        assert record.expires_at == START + DEFAULT_LIFETIME == START + timedelta(days=90)
        assert (record.revoked_at, record.last_used_at) == (None, None)
        assert tokens.resolve(issued.token) == Principal("alice", Role.REP)
        assert issued.token not in stored_text(database_url)

    def test_tokens_are_listed_oldest_first_without_the_token_or_its_hash(
        self, tokens: TokenStore, clock: Clock
    ) -> None:
        alice = tokens.issue_token("alice", "rep", expires_in=timedelta(hours=12))
        clock.advance(minutes=1)
        bob = tokens.issue_token("bob", "analyst")
        listed = tokens.list_tokens()
        assert [(r.id, r.user, r.role) for r in listed] == [
            (alice.record.id, "alice", Role.REP),
            (bob.record.id, "bob", Role.ANALYST),
        ]
        assert listed[0].expires_at == START + timedelta(hours=12)
        assert [r.id for r in tokens.list_tokens("bob")] == [bob.record.id]
        shown = repr(listed) + str([r.as_json() for r in listed])
        assert alice.token not in shown and hash_token(alice.token) not in shown

    def test_a_token_is_refused_from_its_expiry_on(self, tokens: TokenStore, clock: Clock) -> None:
        token = tokens.issue("alice", "rep", expires_in=timedelta(hours=1))
        already = tokens.issue("alice", "rep", expires_at=START - timedelta(seconds=1))
        clock.advance(minutes=59)
        assert tokens.resolve(token) == Principal("alice", Role.REP)
        assert tokens.resolve(already) is Refusal.EXPIRED
        clock.advance(minutes=1)
        assert tokens.resolve(token) is Refusal.EXPIRED
        assert tokens.authenticate(token) is None

    def test_a_revoked_token_is_refused_at_once_and_its_owners_other_tokens_are_not(
        self, tokens: TokenStore, clock: Clock
    ) -> None:
        first = tokens.issue_token("alice", "rep")
        second = tokens.issue_token("alice", "manager")
        assert tokens.resolve(first.token) == Principal("alice", Role.REP)
        clock.advance(seconds=5)
        revoked = tokens.revoke(first.record.id)
        assert revoked.id == first.record.id and revoked.revoked_at == START + timedelta(seconds=5)
        assert tokens.resolve(first.token) is Refusal.REVOKED
        assert tokens.resolve(second.token) == Principal("alice", Role.MANAGER)
        # revoking again keeps the first revocation time
        clock.advance(hours=1)
        assert tokens.revoke(first.record.id).revoked_at == START + timedelta(seconds=5)

    def test_revoking_a_user_revokes_all_their_tokens_and_no_one_elses(self, tokens: TokenStore, clock: Clock) -> None:
        one, two = tokens.issue_token("alice", "rep"), tokens.issue_token("alice", "admin")
        bobs = tokens.issue("bob", "rep")
        tokens.revoke(one.record.id)
        clock.advance(minutes=3)
        revoked = tokens.revoke_user("alice")
        assert [r.id for r in revoked] == [two.record.id]  # the one revoked before is not counted again
        assert {r.id: r.revoked_at for r in tokens.list_tokens("alice")} == {
            one.record.id: START,
            two.record.id: START + timedelta(minutes=3),
        }
        assert tokens.resolve(two.token) is Refusal.REVOKED
        assert tokens.resolve(bobs) == Principal("bob", Role.REP)
        assert tokens.revoke_user("alice") == []

    def test_an_unknown_id_or_a_user_without_tokens_is_refused(self, tokens: TokenStore) -> None:
        tokens.issue("alice", "rep")
        with pytest.raises(UnknownToken, match="no token has the id 'tok_000000000000'"):
            tokens.revoke("tok_000000000000")
        with pytest.raises(UnknownToken, match="user 'bob' has no tokens"):
            tokens.revoke_user("bob")
        assert all(r.revoked_at is None for r in tokens.list_tokens())

    def test_the_last_use_is_written_at_most_once_a_minute(self, tokens: TokenStore, clock: Clock) -> None:
        issued = tokens.issue_token("alice", "rep")
        assert last_used(tokens, issued.record.id) is None
        tokens.resolve(issued.token)
        assert last_used(tokens, issued.record.id) == START
        # a burst within the minute leaves the stored time alone
        for _ in range(20):
            clock.advance(seconds=2.5)
            assert tokens.resolve(issued.token) == Principal("alice", Role.REP)
            assert last_used(tokens, issued.record.id) == START
        clock.advance(seconds=10)  # a minute after the stored use
        tokens.resolve(issued.token)
        assert last_used(tokens, issued.record.id) == START + timedelta(minutes=1)
        # refused uses are not uses
        tokens.revoke(issued.record.id)
        clock.advance(hours=1)
        tokens.resolve(issued.token)
        assert last_used(tokens, issued.record.id) == START + timedelta(minutes=1)

    def test_an_unknown_or_forged_token_is_refused_as_unknown(self, tokens: TokenStore) -> None:
        tokens.issue("alice", "rep")
        for forged in ("", "crm_forged", "x" * 600):
            assert tokens.resolve(forged) is Refusal.UNKNOWN


def last_used(tokens: TokenStore, token_id: str) -> datetime | None:
    return next(r.last_used_at for r in tokens.list_tokens() if r.id == token_id)


def stored_text(database_url: str) -> str:
    """Everything the token table holds, as text."""
    database = parse_database_url(database_url)
    if database.backend == "memory":
        return ""
    if database.backend == "sqlite":
        with sqlite3.connect(database.path) as db:
            return repr(db.execute("SELECT * FROM crm_tokens").fetchall())
    with psycopg.connect(database_url) as db:
        return repr(db.execute("SELECT * FROM crm_tokens").fetchall())


DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_another_store_on_the_same_database_sees_a_revocation_at_once(
    tokens: TokenStore, database_url: str, clock: Clock
) -> None:
    # given a token in use by another process's store (the server, while the CLI revokes it)
    token = tokens.issue_token("alice", "rep")
    server = open_token_store(Settings(database_url=database_url), clock=clock)
    try:
        assert server.resolve(token.token) == Principal("alice", Role.REP)
        # when
        tokens.revoke(token.record.id)
        # then the very next lookup refuses it: nothing is cached
        assert server.resolve(token.token) is Refusal.REVOKED
    finally:
        server.close()


# --- a table an older version made -------------------------------------------------------------

OLD_TOKEN = "crm_issued-by-the-previous-version"
OLD_ISSUED = datetime(2026, 1, 10, 8, 30, tzinfo=UTC)

_OLD_TABLE = (
    "CREATE TABLE crm_tokens (token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, "
    "role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'rep', 'analyst', 'service')), issued_at {time} NOT NULL)"
)
"""The token table as the version before token ids made it."""


def make_old_table(database_url: str) -> None:
    database = parse_database_url(database_url)
    rows = [(hash_token(OLD_TOKEN), "olga", "manager"), (hash_token(OLD_TOKEN + "-2"), "olga", "rep")]
    if database.backend == "sqlite":
        Path(database.path).parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(database.path) as db:
            db.execute(_OLD_TABLE.format(time="TEXT"))
            db.executemany("INSERT INTO crm_tokens VALUES (?, ?, ?, ?)", [(*r, OLD_ISSUED.isoformat()) for r in rows])
        return
    with psycopg.connect(database_url) as db:
        db.execute(_OLD_TABLE.format(time="TIMESTAMPTZ"))
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO crm_tokens VALUES (%s, %s, %s, %s)", [(*r, OLD_ISSUED) for r in rows])


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_a_table_an_older_version_made_is_migrated_in_place_and_its_tokens_keep_working(
    database_url: str, clock: Clock
) -> None:
    # given the token table of the previous version, with a token it issued
    make_old_table(database_url)
    # when this version opens it (twice: the second finds nothing to do)
    tokens = open_token_store(Settings(database_url=database_url), clock=clock)
    open_token_store(Settings(database_url=database_url)).close()
    try:
        # then the old token still works, has an id, and expires 90 days after it was issued
        assert tokens.resolve(OLD_TOKEN) == Principal("olga", Role.MANAGER)
        listed = tokens.list_tokens()
        assert {(r.user, r.role, r.created_at, r.expires_at) for r in listed} == {
            ("olga", Role.MANAGER, OLD_ISSUED, OLD_ISSUED + timedelta(days=90)),
            ("olga", Role.REP, OLD_ISSUED, OLD_ISSUED + timedelta(days=90)),
        }
        ids = [r.id for r in listed]
        assert all(i.startswith("tok_") for i in ids) and len(set(ids)) == 2
        assert next(r for r in listed if r.role is Role.MANAGER).last_used_at == START
        # and the new lifecycle works on the migrated table
        new = tokens.issue_token("nina", "rep")
        tokens.revoke_user("olga")
        assert tokens.resolve(OLD_TOKEN) is Refusal.REVOKED
        assert tokens.resolve(new.token) == Principal("nina", Role.REP)
        clock.advance(days=91)
        assert tokens.resolve(new.token) is Refusal.EXPIRED
    finally:
        tokens.close()


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_an_old_token_past_its_90_days_is_refused_after_the_migration(database_url: str) -> None:
    make_old_table(database_url)
    later = Clock(OLD_ISSUED + timedelta(days=90))
    tokens = open_token_store(Settings(database_url=database_url), clock=later)
    try:
        assert tokens.resolve(OLD_TOKEN) is Refusal.EXPIRED
    finally:
        tokens.close()
