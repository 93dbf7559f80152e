"""The `crm` command line: one entry point for operators and analysts."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from services.app.errors import NotFound
from services.bootstrap import bootstrap
from services.settings import Settings, SettingsError


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or datetime: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value!r}") from None


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The `crm` argument parser with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="crm", description="Event-sourced CRM backend")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    seed = commands.add_parser("seed", help="write a reproducible synthetic history through the application")
    seed.add_argument("--leads", type=_positive, default=1000, help="number of lead stories (default 1000)")
    seed.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    seed.add_argument("--end", type=_date, default=None, help="end of the 12-month history (default: today UTC)")

    history = commands.add_parser("history", help="print an aggregate's audit trail")
    history.add_argument("aggregate_id", type=_uuid)
    history.add_argument("--json", action="store_true", help="one JSON object per line")

    serve = commands.add_parser("serve", help="serve the HTTP API (docs at /docs)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--demo", action="store_true", help="seed demo data into an empty store; print an admin token")

    token = commands.add_parser("token", help="manage API bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = token_commands.add_parser("issue", help="issue a token and print it (it is shown only once)")
    issue.add_argument("--user", required=True, help="user name, e.g. alice")
    issue.add_argument("--role", required=True, choices=["admin", "manager", "rep", "analyst", "service"])

    from services.cli import read_models as cli_read_models

    cli_read_models.add_commands(commands, _date)

    from services.cli import kafka as cli_kafka

    cli_kafka.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `crm` sub-command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command in ("serve", "token"):
            return _serve(args, settings) if args.command == "serve" else _token(args, settings)
        app = bootstrap(settings)
    except SettingsError as error:
        print(f"crm: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "seed":
            return _seed(app, args, settings)
        if args.command == "history":
            return _history(app, args)
        from services.cli import read_models as cli_read_models

        if args.command in cli_read_models.COMMANDS:
            return cli_read_models.run(app, settings, args)
        from services.cli import kafka as cli_kafka

        if args.command in cli_kafka.COMMANDS:
            return cli_kafka.run(app, settings, args)
    except NotFound as error:
        print(f"crm: {error}", file=sys.stderr)
        return 1
    finally:
        app.close()
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _seed(app, args: argparse.Namespace, settings: Settings) -> int:  # type: ignore[no-untyped-def]
    from services.jobs.seed import seed_history

    def progress(done: int) -> None:
        if done % 100 == 0 or done == args.leads:
            print(f"\r  {done}/{args.leads} leads", end="", file=sys.stderr, flush=True)

    report = seed_history(app, leads=args.leads, seed=args.seed, end=args.end, progress=progress)
    print(file=sys.stderr)
    print(
        f"seeded {report.leads} leads on {settings.backend}: {report.events} events in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)"
    )
    return 0


def _history(app, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    for entry in app.history(args.aggregate_id):
        if args.json:
            print(entry.model_dump_json())
        else:
            data = json.dumps(entry.data, default=str, separators=(",", ":"))
            print(
                f"v{entry.version:<4} {entry.occurred_at:%Y-%m-%d %H:%M:%S%z}  {entry.event_type:<26} "
                f"by {entry.actor:<16} {data}"
            )
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli.serve import serve

    return serve(args.host, args.port, demo=args.demo, settings=settings)


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from services.auth.policy import open_token_store

    tokens = open_token_store(settings)
    try:
        print(tokens.issue(args.user, args.role))
    except ValidationError:
        print(f"crm: not a valid user name: {args.user!r}", file=sys.stderr)
        return 2
    finally:
        tokens.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
