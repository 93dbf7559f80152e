"""The console over a fresh SQLite store with the API's app, read models followed in the
background as `crm serve` follows them: alice and bob are reps of the team, each owning leads."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.app.application import Context, CrmApplication
from services.app.commands import AddTask, LogInteraction
from services.bootstrap import bootstrap, following_read_models, open_access_log, open_token_store
from services.console.app import install_console
from services.settings import Settings
from services.storage.tokens import TokenStore
from tests.integration.factories import TEAM, capture, hire

ALICE = Context(actor="alice", correlation_id="seed-alice")
BOB = Context(actor="bob", correlation_id="seed-bob")


@dataclass
class Console:
    """The app serving the console, its application and token store, and seeded leads."""

    app: FastAPI
    crm: CrmApplication
    tokens: TokenStore
    alices_lead: UUID
    bobs_lead: UUID

    def client(self, https: bool = False) -> TestClient:
        """A browser-like client that follows no redirects by itself."""
        base = "https://testserver" if https else "http://testserver"
        return TestClient(self.app, base_url=base, follow_redirects=False)

    def signed_in(self, user: str = "alice", role: str = "rep") -> tuple[TestClient, str]:
        """A client signed in as `user` with `role`, and the token it signed in with."""
        client = self.client()
        token = self.tokens.issue(user, role)
        sign_in(client, token)
        return client, token


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, token: str) -> None:
    """Sign in through the form, as a browser does."""
    form = client.get("/app/sign-in")
    assert form.status_code == 200
    response = client.post("/app/sign-in", data={"token": token, "csrf_token": csrf_of(form.text)})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/app/"


def seed(crm: CrmApplication) -> tuple[UUID, UUID]:
    """A lead of alice's with an interaction and a task due now, and one of bob's."""
    alices = crm.capture_lead(capture(name="Ada Lovelace", email="ada@acme.example", owner="alice"), ALICE).id
    crm.log_lead_interaction(alices, LogInteraction(kind="demo", detail="call ada@acme.example back"), ALICE)
    crm.add_lead_task(
        alices, AddTask(title="send the proposal to ada@acme.example", due_at="2026-01-01T09:00:00Z"), ALICE
    )
    bobs = crm.capture_lead(capture(name="Grace Hopper", email="grace@navy.example", owner="bob"), BOB).id
    return alices, bobs


MakeConsole = Callable[..., Console]
"""`make_console(read_models=True)`: the console of one test (called once per test)."""


@pytest.fixture
def make_console(tmp_path: Path) -> Iterator[MakeConsole]:
    """The API's app with the console installed, over a fresh SQLite store: with the read models
    followed in the background (caught up with the seeded leads), or, with `read_models=False`,
    served without them."""
    with ExitStack() as stack:

        def make(read_models: bool = True) -> Console:
            """The console, with or without the read models."""
            settings = Settings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}")
            crm = bootstrap(settings)
            stack.callback(crm.close)
            hire(crm, *TEAM)
            tokens = open_token_store(settings)
            stack.callback(tokens.close)
            access_log = open_access_log(settings)
            stack.callback(access_log.close)
            alices, bobs = seed(crm)
            if not read_models:
                app = create_app(crm, tokens, access_log=access_log)
            else:
                read_side = stack.enter_context(following_read_models(crm, settings))
                app = create_app(
                    crm, tokens, read_models=read_side.queries, wait_for=read_side.wait_for, access_log=access_log
                )
            install_console(app)
            if read_models:
                assert read_side.wait_for(crm.head_position(), 10)
            return Console(app, crm, tokens, alices, bobs)

        yield make


@pytest.fixture
def console(make_console: MakeConsole) -> Console:
    """The API's app with the console installed, over a fresh SQLite store, read models followed."""
    return make_console()
