"""`crm serve`: the HTTP API on uvicorn, with the read models followed in the background and an
optional demo (seeded data and an admin token that stays the same across restarts)."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Final, TextIO

from services.cli.common import CommandFailed, add_command, positive

if TYPE_CHECKING:
    from fastapi import FastAPI

    from services.app.application import CrmApplication
    from services.auth.policy import Authenticator
    from services.settings import Settings
    from services.storage.tokens import TokenStore


def register(commands: Any) -> None:
    """`crm serve`."""
    serve = add_command(
        commands, "serve", run, "serve the HTTP API (docs at /docs, the console at /app) and keep the read models"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--demo", action="store_true", help="seed demo data into an empty store; print an admin token")
    serve.add_argument(
        "--workers",
        type=positive,
        default=1,
        help="worker processes answering requests (PostgreSQL only; one of them keeps the read models)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted."""
    if args.workers > 1:
        return serve_workers(args.host, args.port, args.workers, demo=args.demo, settings=settings)
    return serve(args.host, args.port, demo=args.demo, settings=settings)


def _configure_logging() -> None:
    """The crm.* loggers (auth denials are JSON lines) write plain messages to stderr."""
    logger = logging.getLogger("crm")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


HTTP_PARSER: Final = "httptools"
"""uvicorn's HTTP parser for the API: httptools, in C (uvicorn's h11 is pure Python)."""
EVENT_LOOP: Final = "uvloop"
"""uvicorn's event loop for the API: uvloop, in C (docs/performance.md has what both save)."""


def request_tokens(tokens: TokenStore, settings: Settings) -> Authenticator:
    """What the API resolves bearer tokens with: the store behind a `TokenCache` of its lookups
    for `CRM_TOKEN_CACHE_SECONDS` (revocations through `tokens` empty it at once), or the store
    itself when that is 0."""
    from services.auth.token_cache import TokenCache

    return TokenCache(tokens, settings.token_cache_seconds) if settings.token_cache_seconds > 0 else tokens


def serve(host: str, port: int, demo: bool, settings: Settings, out: TextIO = sys.stdout) -> int:
    """Run the API until interrupted; returns the exit code."""
    from services.bootstrap import bootstrap

    _configure_logging()
    with ExitStack() as opened:
        crm = bootstrap(settings)
        opened.callback(crm.close)
        # seed first, so that the read models catch up with the demo data before serving
        banner_text = _demo_banner(crm, settings, host, port) if demo else None
        app = _api(crm, settings, opened)
        if banner_text is not None:
            print(banner_text, file=out, flush=True)
        _run_uvicorn(app, host, port)
    return 0


def serve_workers(host: str, port: int, workers: int, demo: bool, settings: Settings, out: TextIO = sys.stdout) -> int:
    """Run the API in `workers` processes on one port until interrupted (uvicorn's supervisor
    starts them and replaces one that dies). Each is a whole server (`worker_app`); the read
    models, automation and webhook deliveries are kept by one of them at a time, the holder of
    each one's leader lock on the store, and any worker waits for a write's position in the
    shared read models, so a client reads its writes whichever worker answers."""
    from services.bootstrap import bootstrap, following_read_models

    if settings.database.backend != "postgres":
        raise CommandFailed(
            "crm serve --workers needs PostgreSQL (CRM_DATABASE_URL=postgresql://...): the embedded "
            "store is one process's",
            exit_code=2,
        )
    _configure_logging()
    if demo:
        crm = bootstrap(settings)
        try:
            banner_text = _demo_banner(crm, settings, host, port)
            # the read models catch up with the demo data before the workers serve
            with following_read_models(crm, settings, log=sys.stderr):
                pass
            print(banner_text, file=out, flush=True)
        finally:
            crm.close()
    _run_uvicorn(f"{__name__}:worker_app", host, port, factory=True, workers=workers)
    return 0


def _demo_banner(crm: CrmApplication, settings: Settings, host: str, port: int) -> str:
    """Seed the demo data into an empty store (and its admin token); the banner to print."""
    from services.bootstrap import open_token_store
    from services.jobs.demo import banner, demo_lead_id, prepare_demo

    tokens = open_token_store(settings)
    try:
        token = prepare_demo(crm, tokens, settings)
    finally:
        tokens.close()
    return banner(host, port, token, demo_lead_id(crm))


def _run_uvicorn(app: Any, host: str, port: int, **options: Any) -> None:
    """uvicorn on httptools and uvloop until interrupted (`options`: a factory, workers)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info", http=HTTP_PARSER, loop=EVENT_LOOP, **options)


def worker_app() -> FastAPI:
    """One worker process's API (`crm serve --workers N`), on the settings of its environment;
    what it opened is closed when the worker shuts down."""
    from services.bootstrap import bootstrap
    from services.settings import Settings

    _configure_logging()
    settings = Settings.from_env()
    opened = ExitStack()
    try:
        crm = bootstrap(settings)
        opened.callback(crm.close)
        app = _api(crm, settings, opened)
    except BaseException:
        opened.close()
        raise
    app.router.on_shutdown.append(opened.close)
    return app


def _api(crm: CrmApplication, settings: Settings, opened: ExitStack) -> FastAPI:
    """The API and console over `crm`, with the read models followed, the automation and the
    webhook deliveries running (each where its leader lock says), all closed by `opened`."""
    from services.api.app import create_app
    from services.bootstrap import (
        after_erasure,
        embedded_automation,
        embedded_webhooks,
        following_read_models,
        open_access_log,
        open_identity_locks,
        open_token_store,
        webhook_desk,
    )
    from services.console.app import install_console

    tokens = open_token_store(settings)
    opened.callback(tokens.close)
    access_log = open_access_log(settings)
    opened.callback(access_log.close)  # writes the reads still buffered
    read_side = opened.enter_context(following_read_models(crm, settings, log=sys.stderr))
    opened.enter_context(embedded_automation(crm, settings))
    webhooks = opened.enter_context(webhook_desk(crm, settings))
    opened.enter_context(embedded_webhooks(crm, webhooks, settings))
    app = create_app(
        crm,
        request_tokens(tokens, settings),
        read_models=read_side.queries,
        wait_for=read_side.wait_for,
        follows_read_models=read_side.runner is not None,
        access_log=access_log,
        after_erasure=after_erasure(settings, read_side.wait_for),
        identity_locks=open_identity_locks(settings),
        webhooks=webhooks,
    )
    install_console(app)  # the web console at /app (and / sends there)
    return app
