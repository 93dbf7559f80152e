"""`crm serve`: the HTTP API on uvicorn, with the read models followed in the background and an
optional demo bootstrap (seeded data and an admin token that stays the same across restarts).

This is a composition root: it alone wires the in-process runner (consumers) to the API."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from consumers.in_process_runner import InProcessRunner
from services.api.app import WaitFor, create_app
from services.app.application import CrmApplication, derived_id
from services.app.errors import NotFound
from services.app.queries import ReadModelQueries
from services.auth.policy import Role, TokenStore, open_token_store
from services.bootstrap import bootstrap
from services.settings import Settings
from services.storage.read_models import open_read_models

DEMO_LEADS = 200
DEMO_SEED = 42
DEMO_ADMIN = "demo-admin"


def demo_token_file(settings: Settings) -> Path | None:
    """Where the demo admin token is kept so that a restart prints the same one: next to the
    SQLite file, or in var/ for PostgreSQL; nowhere for an in-memory store."""
    env = settings.eventsourcing_env()
    if settings.backend == "sqlite" and env["SQLITE_DBNAME"] != ":memory:":
        return Path(env["SQLITE_DBNAME"]).parent / "demo-admin-token"
    if settings.backend == "postgres":
        return Path("var") / f"demo-admin-token.{env['POSTGRES_HOST']}-{env['POSTGRES_PORT']}-{env['POSTGRES_DBNAME']}"
    return None


def prepare_demo(crm: CrmApplication, tokens: TokenStore, settings: Settings, log: TextIO = sys.stderr) -> str:
    """Seed demo data into an empty store, and return the demo admin token (the kept one if it
    still works, else a new one, which is kept)."""
    if crm.head_position() == 0:
        print(f"crm: empty store, seeding {DEMO_LEADS} demo leads (seed {DEMO_SEED})...", file=log, flush=True)
        from services.jobs.seed import seed_history

        report = seed_history(crm, leads=DEMO_LEADS, seed=DEMO_SEED)
        print(f"crm: seeded {report.events} events in {report.seconds:.1f} s", file=log, flush=True)
    path = demo_token_file(settings)
    if path is not None and path.exists():
        kept = path.read_text().strip()
        principal = tokens.authenticate(kept)
        if principal is not None and principal.role is Role.ADMIN:
            return kept
    token = tokens.issue(DEMO_ADMIN, Role.ADMIN)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(token + "\n")
    return token


def demo_lead_id(crm: CrmApplication) -> str | None:
    """The first seeded demo lead, if it is in the store."""
    lead_id = derived_id("lead", f"seed:{DEMO_SEED}:0")
    try:
        crm.get_lead(lead_id)
    except NotFound:
        return None
    return str(lead_id)


def banner(host: str, port: int, token: str, lead_id: str | None) -> str:
    """What `crm serve --demo` prints before it starts serving."""
    base = f"http://{host}:{port}"
    target = f"{base}/v1/leads/{lead_id}" if lead_id else f"{base}/v1/leads/<lead id>"
    return "\n".join(
        [
            "CRM demo",
            f"  Interactive docs: {base}/docs",
            f"  Admin token:      {token}",
            f"  Try:              curl -H 'Authorization: Bearer {token}' {target}",
            "",
        ]
    )


@dataclass(frozen=True)
class ReadSide:
    """The read models of a running server: their queries, and how to wait for a position."""

    queries: ReadModelQueries
    wait_for: WaitFor
    runner: InProcessRunner | None
    """None when Kafka consumers keep the read models (CRM_READ_MODELS=kafka)."""


@contextmanager
def following_read_models(
    crm: CrmApplication, settings: Settings, log: TextIO | None = None, poll_interval: float = 0.05
) -> Iterator[ReadSide]:
    """The read models beside the settings' event store, caught up with the log first and then
    kept following it by a background thread until the block ends."""
    store = open_read_models(settings)
    if settings.read_models == "kafka":
        # crm consume keeps the tables; a runner here would apply every event a second time
        from consumers.kafka_consumer import read_your_writes
        from consumers.topics import Topics

        waiter = read_your_writes(crm, store, settings.kafka_partitions, Topics(settings.kafka_topic_prefix))
        try:
            yield ReadSide(queries=ReadModelQueries(store), wait_for=waiter, runner=None)
        finally:
            store.close()
        return
    runner = InProcessRunner(crm, store, poll_interval=poll_interval)
    try:
        started = time.monotonic()
        applied = runner.catch_up()
        if log is not None:
            print(
                f"crm: read models caught up with {applied} events in {time.monotonic() - started:.1f} s",
                file=log,
                flush=True,
            )
        runner.start()
        try:
            yield ReadSide(queries=ReadModelQueries(store), wait_for=runner.wait, runner=runner)
        finally:
            runner.stop()
    finally:
        store.close()


def app_with_read_models(crm: CrmApplication, tokens: TokenStore, read_side: ReadSide) -> FastAPI:
    """The API over `crm`, answering read-model routes from `read_side`."""
    return create_app(crm, tokens, read_models=read_side.queries, wait_for=read_side.wait_for)


def _configure_logging() -> None:
    """The crm.* loggers (auth denials are JSON lines) write plain messages to stderr."""
    logger = logging.getLogger("crm")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def serve(host: str, port: int, demo: bool = False, settings: Settings | None = None, out: TextIO = sys.stdout) -> int:
    """Run the API until interrupted; returns the exit code."""
    settings = settings or Settings.from_env()
    _configure_logging()
    crm = bootstrap(settings)
    tokens = open_token_store(settings)
    try:
        banner_text = None
        if demo:
            # seed first, so that the read models catch up with the demo data before serving
            token = prepare_demo(crm, tokens, settings)
            banner_text = banner(host, port, token, demo_lead_id(crm))
        with following_read_models(crm, settings, log=sys.stderr) as read_side:
            if banner_text is not None:
                print(banner_text, file=out, flush=True)
            uvicorn.run(app_with_read_models(crm, tokens, read_side), host=host, port=port, log_level="info")
    finally:
        tokens.close()
        crm.close()
    return 0
