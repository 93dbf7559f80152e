"""`crm seed` and `crm import`: writing histories into the store through the application."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import CommandFailed, add_command, application, iso_date, positive

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm seed` and `crm import`."""
    seed = add_command(commands, "seed", run_seed, "write a reproducible synthetic history through the application")
    seed.add_argument("--leads", type=positive, default=1000, help="number of lead stories (default 1000)")
    seed.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    seed.add_argument("--end", type=iso_date, default=None, help="end of the 12-month history (default: today UTC)")
    seed.add_argument(
        "--profile",
        choices=["default", "quarterly"],
        default="default",
        help="which history: default, or quarterly (18 months, uneven volumes, quarter-end closes, stale deals)",
    )
    importer = add_command(commands, "import", run_import, "import purchase histories from a file")
    importer.add_argument("kind", choices=["purchases", "leads"], help="what the file holds")
    importer.add_argument("file", type=Path, help="a CDNOW-format purchases file, or a CSV of opportunities")
    importer.add_argument("--map", type=Path, default=None, help="leads: the JSON mapping of the CSV's columns")
    importer.add_argument(
        "--errors", type=Path, default=None, help="leads: write the rows' errors here (.json or .csv)"
    )


def run_seed(args: argparse.Namespace, settings: Settings) -> int:
    """`crm seed`: the seeded history, with leads done on stderr and the rate on stdout."""
    from services.jobs.seed import seed_history

    def progress(done: int) -> None:
        if done % 100 == 0 or done == args.leads:
            print(f"\r  {done}/{args.leads} leads", end="", file=sys.stderr, flush=True)

    with application(settings) as app:
        if args.profile == "default":
            report = seed_history(app, leads=args.leads, seed=args.seed, end=args.end, progress=progress)
        else:
            from services.jobs.seed_profiles import seed_profile

            report = seed_profile(app, args.profile, leads=args.leads, seed=args.seed, end=args.end, progress=progress)
    print(file=sys.stderr)
    print(
        f"seeded {report.leads} leads on {settings.backend}: {report.events} events in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)"
    )
    return 0


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    """`crm import purchases FILE` or `crm import leads FILE --map MAPPING`."""
    from services.jobs.cdnow_import import ImportFormatError, import_purchases

    path: Path = args.file
    if not path.is_file():
        raise CommandFailed(f"no such file: {path}", exit_code=2)
    if args.kind == "leads":
        return _import_leads(args, settings)
    started = time.monotonic()
    with application(settings) as app:
        try:
            report = import_purchases(app, path, progress=_customers_done)
        except ImportFormatError as error:
            raise CommandFailed(f"{path}: {error}") from None
    print(file=sys.stderr)
    seconds = time.monotonic() - started
    print(
        f"imported {report.customers} customers, {report.purchases} purchases: {report.events} events appended "
        f"in {seconds:.1f} s ({report.events / seconds if seconds else 0:,.0f} events/s)"
    )
    return 0


def _customers_done(customers: int) -> None:
    print(f"\r  {customers} customers", end="", file=sys.stderr, flush=True)


def _import_leads(args: argparse.Namespace, settings: Settings) -> int:
    """`crm import leads`: exit code 1 when any row was not imported (each is named on stderr)."""
    from services.cli.common import progress_bar
    from services.jobs.lead_import import Mapping, MappingError, import_leads, write_errors

    if args.map is None:
        raise CommandFailed("crm import leads needs --map MAPPING.json", exit_code=2)
    started = time.monotonic()
    with application(settings) as app:
        try:
            report = import_leads(app, args.file, Mapping.load(args.map), progress=progress_bar("import", "rows"))
        except MappingError as error:
            raise CommandFailed(str(error), exit_code=2) from None
    print(file=sys.stderr)
    for failed in report.errors:
        print(f"{args.file}: row {failed.row}: {failed.field}: {failed.reason}", file=sys.stderr)
    if args.errors is not None:
        write_errors(report.errors, args.errors)
    seconds = time.monotonic() - started
    print(
        f"imported {report.imported} of {report.rows} rows ({report.already} imported before, "
        f"{len(report.errors)} failed): {report.events} events appended in {seconds:.1f} s "
        f"({report.rows / seconds if seconds else 0:,.0f} rows/s)"
    )
    return 1 if report.errors else 0
