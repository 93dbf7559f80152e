"""`crm automate`: the policies and timers in a process of their own (production), until SIGTERM.

Start as many as you like: one leads per store (an advisory lock on PostgreSQL, a file lock on
SQLite) and the others wait to take over. `crm serve` runs the same engine itself unless
`CRM_AUTOMATION=separate`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from services.cli.common import add_command, stop_on_signals

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm automate`."""
    automate = add_command(commands, "automate", run, "run the policies and fire due timers (one leader per store)")
    automate.add_argument("--until-idle", action="store_true", help="exit once nothing is left to do")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Lead (or wait to), react to events and fire timers until SIGTERM."""
    from services.bootstrap import automation, bootstrap, open_read_models

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = bootstrap(settings)
    store = open_read_models(settings)
    try:
        engine = automation(app, store, settings)
        stop_on_signals([engine.stopping])
        print("crm automate: started; leading when no other process does", file=sys.stderr, flush=True)
        engine.run(until_idle=args.until_idle)
    finally:
        store.close()
        app.close()
    return 0
