"""`crm automate`: the policies and timers in a process of their own (production), until SIGTERM.

Start as many as you like: one leads per store (an advisory lock on PostgreSQL, a file lock on
SQLite) and the others wait to take over. `crm serve` runs the same engine itself unless
`CRM_AUTOMATION=separate`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from services.cli.common import CommandFailed, add_command, iso_date, stop_on_signals

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm automate` and `crm automate simulate`."""
    automate = add_command(commands, "automate", run, "run the policies and fire due timers (one leader per store)")
    automate.add_argument("--until-idle", action="store_true", help="exit once nothing is left to do")
    what_if = automate.add_subparsers(title="what-if", metavar="simulate")
    simulate = add_command(
        what_if, "simulate", run_simulation, "replay history through other rules, writing nothing; compare"
    )
    simulate.add_argument("--rules", required=True, help="YAML or JSON file: assignment_rules (and sequences)")
    simulate.add_argument("--from", dest="start", required=True, type=iso_date, help="start of the window (ISO date)")
    simulate.add_argument("--to", dest="end", required=True, type=iso_date, help="end of the window (ISO date)")
    simulate.add_argument("--json", action="store_true", help="print the report as JSON")


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


def run_simulation(args: argparse.Namespace, settings: Settings) -> int:
    """Simulate the window under the file's configuration; print what would have happened next
    to what did."""
    import json
    from pathlib import Path

    from services.automation.simulation import WhatIf
    from services.bootstrap import bootstrap, simulation

    try:
        what_if = WhatIf.load(Path(args.rules).read_text())
    except OSError as error:
        raise CommandFailed(f"cannot read {args.rules}: {error.strerror}") from None
    except ValueError as error:
        raise CommandFailed(f"{args.rules}: {error}") from None
    if args.end <= args.start:
        raise CommandFailed("--to must be after --from")
    app = bootstrap(settings)
    try:
        report = simulation(app, settings, what_if.configure).run(args.start, args.end)
    except ValueError as error:  # the file names what the store at the window's start does not have
        raise CommandFailed(f"{args.rules}: {error}") from None
    finally:
        app.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    print(_table(report.as_dict()))
    return 0


def _table(report: dict[str, Any]) -> str:
    """The report as a reader wants it: one line per measure, what happened next to what would."""
    actual, simulated = report["actual"], report["simulated"]
    lines = [
        f"window {report['window']['from']} .. {report['window']['to']}: {report['replayed_events']} events replayed,"
        f" {report['divergences']} could not be",
        f"{'':32}{'actual':>10}{'simulated':>12}",
    ]

    def row(label: str, was: int, would: int) -> None:
        lines.append(f"{label:32}{was:>10}{would:>12}")

    for rep in sorted(set(actual["assignments"]) | set(simulated["assignments"])):
        row(f"assigned to {rep}", actual["assignments"].get(rep, 0), simulated["assignments"].get(rep, 0))
    for key in ("emails_requested", "emails_skipped", "tasks_created", "rescored"):
        row(key.replace("_", " "), actual[key], simulated[key])
    for name in sorted(set(actual["enrolments"]) | set(simulated["enrolments"])):
        row(f"enrolled in {name}", actual["enrolments"].get(name, 0), simulated["enrolments"].get(name, 0))
    lines += [f"  {example}" for example in report["divergence_examples"]]
    return "\n".join(lines)
