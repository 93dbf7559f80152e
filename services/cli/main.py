"""The `crm` command line: one entry point for operators and analysts.

Each command group registers its sub-commands and their handlers (`services.cli.<group>`); the
handler a sub-command runs is the parser's dispatch. Heavy modules are imported by the handlers,
not here, so that `crm --help` answers at once. Every failure is one `crm: ...` line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services.cli import automate, data, history, kafka, openapi, read_models, serve, tokens, webhooks

GROUPS = (serve, data, history, read_models, automate, kafka, tokens, webhooks, openapi)
"""The command groups, in the order `crm --help` lists them."""


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from services.version import crm_version

        print(f"crm {crm_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The `crm` argument parser with one sub-command per job."""
    parser = argparse.ArgumentParser(prog="crm", description="Event-sourced CRM backend")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `crm` sub-command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    from services.cli.failures import explain
    from services.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"crm: {error}", file=sys.stderr)
        return 2
    from services.cli.common import CommandFailed

    try:
        return int(args.handler(args, settings))
    except CommandFailed as error:
        print(f"crm: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as error:
        message = explain(error, settings)
        if message is None:
            raise
        print(f"crm: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
