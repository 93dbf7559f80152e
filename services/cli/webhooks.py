"""`crm webhooks`: the webhook deliveries in a process of their own (production), until SIGTERM.

Start as many as you like: one leads per store (an advisory lock on PostgreSQL, a file lock on
SQLite) and the others wait to take over. `crm serve` delivers webhooks itself unless
`CRM_AUTOMATION=separate` (then run this beside `crm automate`)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from services.cli.common import CommandFailed, add_command, stop_on_signals

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm webhooks`."""
    webhooks = add_command(
        commands, "webhooks", run, "deliver events to the webhook subscriptions (one leader per store)"
    )
    webhooks.add_argument("--until-idle", action="store_true", help="exit once nothing is due now")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Lead (or wait to) and deliver until SIGTERM; with --until-idle, deliver what is due and exit."""
    from services.bootstrap import bootstrap, webhook_desk, webhook_dispatcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = bootstrap(settings)
    try:
        with webhook_desk(app, settings) as desk:
            dispatcher = webhook_dispatcher(app, desk, settings)
            try:
                if args.until_idle:
                    if not dispatcher.lock.try_acquire():
                        raise CommandFailed("another process delivers this store's webhooks; try again later")
                    try:
                        attempts = dispatcher.run_until_idle()
                    finally:
                        dispatcher.lock.release()
                    print(f"crm webhooks: {attempts} delivery attempts", file=sys.stderr, flush=True)
                    return 0
                stop_on_signals([dispatcher.stopping])
                print("crm webhooks: started; leading when no other process does", file=sys.stderr, flush=True)
                dispatcher.run()
            finally:
                dispatcher.sender.close()
    finally:
        app.close()
    return 0
