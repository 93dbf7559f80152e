"""`crm history`: an aggregate's audit trail."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from services.cli.common import add_command, application, uuid

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm history`."""
    history = add_command(commands, "history", run, "print a lead's or contact's audit trail")
    history.add_argument("aggregate_id", type=uuid, help="the lead, contact or workspace id")
    history.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Every event of the aggregate, oldest first."""
    with application(settings) as app:
        entries = app.history(args.aggregate_id)
    for entry in entries:
        if args.json:
            print(entry.model_dump_json())
        else:
            data = json.dumps(entry.data, default=str, separators=(",", ":"))
            print(
                f"v{entry.version:<4} {entry.occurred_at:%Y-%m-%d %H:%M:%S%z}  {entry.event_type:<26} "
                f"by {entry.actor:<16} {data}"
            )
    return 0
