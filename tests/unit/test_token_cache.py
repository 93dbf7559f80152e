"""`crm serve`'s short cache of token lookups: a valid token is answered without asking the
store for `CRM_TOKEN_CACHE_SECONDS`; a revocation through the same store is refused at once (the
API's very next request is a 401), one by another process once the entry is that old; an entry
never outlives its token's expiry; refused tokens are never kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.auth.policy import Principal, Refusal, Role
from services.auth.token_cache import TokenCache
from services.bootstrap import bootstrap
from services.cli.serve import request_tokens
from services.settings import Settings
from services.storage.access_log import MemoryAccessLog
from services.storage.tokens import MemoryTokenStore, SqliteTokenStore, TokenRecord

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEAD = {"name": "Ada Lovelace", "email": "ada@acme.example", "source": "web_form"}


class Clocks:
    """The store's clock (token expiry) and the cache's monotonic one, moved on by the tests."""

    def __init__(self) -> None:
        self.now = START
        self.seconds = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds


class CountingStore(MemoryTokenStore):
    """A memory store that counts how often it was asked for a token."""

    def __init__(self, clock: Clocks) -> None:
        super().__init__(clock.wall)
        self.finds = 0

    def _find(self, token_hash: str) -> TokenRecord | None:
        self.finds += 1
        return super()._find(token_hash)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def store(clocks: Clocks) -> CountingStore:
    return CountingStore(clocks)


def cache_of(store: CountingStore | SqliteTokenStore, clocks: Clocks, seconds: float = 1.0) -> TokenCache:
    return TokenCache(store, seconds, monotonic=clocks.monotonic)


def test_a_valid_token_is_answered_from_the_cache_without_asking_the_store_again(
    store: CountingStore, clocks: Clocks
) -> None:
    cache = cache_of(store, clocks)
    token = store.issue("alice", "rep")
    assert cache.cached(token) is None  # not looked up yet
    assert cache.resolve(token) == Principal("alice", Role.REP)
    assert cache.resolve(token) == cache.cached(token) == Principal("alice", Role.REP)
    assert store.finds == 1
    clocks.advance(1.0)  # the entry is as old as the cache keeps them: the store is asked again
    assert cache.cached(token) is None
    assert cache.resolve(token) == Principal("alice", Role.REP) and store.finds == 2


def test_a_token_revoked_through_the_same_store_is_refused_at_once(store: CountingStore, clocks: Clocks) -> None:
    cache = cache_of(store, clocks, seconds=60)
    issued, other = store.issue_token("alice", "rep"), store.issue_token("bob", "manager")
    assert cache.resolve(issued.token) == Principal("alice", Role.REP)
    assert cache.resolve(other.token) == Principal("bob", Role.MANAGER)
    store.revoke(issued.record.id)
    assert cache.cached(issued.token) is None
    assert cache.resolve(issued.token) is Refusal.REVOKED
    assert cache.resolve(other.token) == Principal("bob", Role.MANAGER)  # asked again, still valid
    store.revoke_user("bob")
    assert cache.resolve(other.token) is Refusal.REVOKED


def test_a_revocation_by_another_process_is_seen_once_the_entry_is_as_old_as_the_cache_keeps_them(
    tmp_path: Path, clocks: Clocks
) -> None:
    path = str(tmp_path / "crm.db")
    server, operator = SqliteTokenStore(path, clock=clocks.wall), SqliteTokenStore(path, clock=clocks.wall)
    cache = TokenCache(server, 2.0, monotonic=clocks.monotonic)
    issued = operator.issue_token("alice", "rep")
    assert cache.resolve(issued.token) == Principal("alice", Role.REP)
    operator.revoke(issued.record.id)  # `crm token revoke`, another process
    clocks.advance(1.9)
    assert cache.resolve(issued.token) == Principal("alice", Role.REP)  # within the bound
    clocks.advance(0.1)
    assert cache.resolve(issued.token) is Refusal.REVOKED


def test_an_entry_never_outlives_its_tokens_expiry(store: CountingStore, clocks: Clocks) -> None:
    cache = cache_of(store, clocks, seconds=60)
    token = store.issue("alice", "rep", expires_in=timedelta(seconds=10))
    assert cache.resolve(token) == Principal("alice", Role.REP)
    store.clock = lambda: START + timedelta(seconds=10)  # the wall clock alone moves past the expiry
    assert cache.cached(token) is None
    assert cache.resolve(token) is Refusal.EXPIRED


def test_refused_tokens_are_never_kept_and_the_least_recently_used_go_first(
    store: CountingStore, clocks: Clocks
) -> None:
    cache = TokenCache(store, 60, max_entries=2, monotonic=clocks.monotonic)
    assert cache.resolve("crm_made-up") is Refusal.UNKNOWN
    assert cache.resolve("crm_made-up") is Refusal.UNKNOWN and store.finds == 2
    first, second, third = (store.issue(user, "rep") for user in ("ann", "ben", "cat"))
    for token in (first, second, first, third):  # `second` is the least recently used when `third` comes
        cache.resolve(token)
    assert cache.cached(second) is None
    assert cache.cached(first) == Principal("ann", Role.REP) and cache.cached(third) == Principal("cat", Role.REP)


def test_crm_serve_caches_lookups_for_the_configured_seconds_and_not_at_all_for_0(store: CountingStore) -> None:
    cached = request_tokens(store, Settings(database_url="memory://"))
    assert isinstance(cached, TokenCache) and cached.seconds == 1.0
    assert request_tokens(store, Settings(database_url="memory://", token_cache_seconds=0)) is store


@pytest.fixture
def api(store: CountingStore, clocks: Clocks) -> Iterator[TestClient]:
    """The API resolving tokens through a cache of `store`'s lookups."""
    crm = bootstrap(Settings(database_url="memory://"))
    app = create_app(crm, cache_of(store, clocks, seconds=60), access_log=MemoryAccessLog())
    try:
        with TestClient(app) as client:
            yield client
    finally:
        crm.close()


def test_the_apis_very_next_request_after_a_revocation_through_its_store_is_a_401(
    api: TestClient, store: CountingStore
) -> None:
    issued = store.issue_token("root", "admin")
    auth = {"Authorization": f"Bearer {issued.token}"}
    lead_id = api.post("/v1/leads", json=LEAD, headers=auth).json()["id"]
    assert api.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted"}, headers=auth).status_code == 200
    assert store.finds == 1  # the second request was answered from the cache
    store.revoke(issued.record.id)
    refused = api.post(f"/v1/leads/{lead_id}/stage", json={"stage": "qualified"}, headers=auth)
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"] == "the bearer token was revoked"
    assert api.get(f"/v1/leads/{lead_id}", headers=auth).status_code == 401
