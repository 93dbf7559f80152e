"""`crm serve`: the HTTP API on uvicorn, with the read models followed in the background and an
optional demo (seeded data and an admin token that stays the same across restarts)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any, Final, TextIO

from services.cli.common import add_command

if TYPE_CHECKING:
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


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until interrupted."""
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
    import uvicorn

    from services.api.app import create_app
    from services.bootstrap import (
        after_erasure,
        bootstrap,
        embedded_automation,
        embedded_webhooks,
        following_read_models,
        open_access_log,
        open_identity_locks,
        open_token_store,
        webhook_desk,
    )
    from services.console.app import install_console
    from services.jobs.demo import banner, demo_lead_id, prepare_demo

    _configure_logging()
    crm = bootstrap(settings)
    tokens = open_token_store(settings)
    access_log = open_access_log(settings)
    try:
        banner_text = None
        if demo:
            # seed first, so that the read models catch up with the demo data before serving
            token = prepare_demo(crm, tokens, settings)
            banner_text = banner(host, port, token, demo_lead_id(crm))
        with (
            following_read_models(crm, settings, log=sys.stderr) as read_side,
            embedded_automation(crm, settings),
            webhook_desk(crm, settings) as webhooks,
            embedded_webhooks(crm, webhooks, settings),
        ):
            if banner_text is not None:
                print(banner_text, file=out, flush=True)
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
            uvicorn.run(app, host=host, port=port, log_level="info", http=HTTP_PARSER, loop=EVENT_LOOP)
    finally:
        access_log.close()  # writes the reads still buffered
        tokens.close()
        crm.close()
    return 0
