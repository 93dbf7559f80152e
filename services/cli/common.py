"""What the command groups share: argument types, and opening the application for one command.

Nothing heavy is imported at module level, so that `crm --help` answers at once."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from services.app.application import CrmApplication
    from services.settings import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
"""What a sub-command runs: its parsed arguments and the settings in, the exit code out."""


class CommandFailed(Exception):
    """A command cannot go on; its message is printed as one `crm: ...` line, and the process
    exits with `exit_code` (1, or 2 for arguments that cannot go together)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def iso_date(value: str) -> datetime:
    """An ISO date or datetime (UTC when it has no offset)."""
    from domain.time import utc

    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or datetime: {value!r}") from None


def uuid(value: str) -> UUID:
    """An aggregate id."""
    try:
        return UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UUID: {value!r}") from None


def positive(value: str) -> int:
    """A whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


@contextmanager
def application(settings: Settings) -> Iterator[CrmApplication]:
    """The CRM application for the duration of one command."""
    from services.bootstrap import bootstrap

    app = bootstrap(settings)
    try:
        yield app
    finally:
        app.close()


def progress_bar(label: str, unit: str = "events") -> Callable[[int, int], None]:
    """A one-line progress bar on stderr: position of head, and `unit`s per second."""
    started = time.monotonic()

    def show(position: int, head: int) -> None:
        share = position / head if head else 1.0
        bar = "#" * int(share * 30)
        rate = position / max(time.monotonic() - started, 1e-9)
        print(f"\r{label} [{bar:<30}] {share:6.1%} {position}/{head} ({rate:,.0f} {unit}/s)", end="", file=sys.stderr)

    return show


def add_command(commands: Any, name: str, handler: Handler, summary: str, **options: Any) -> argparse.ArgumentParser:
    """Register a sub-command: its one-line summary shows in `crm --help` and heads its own help."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=summary, **options)
    parser.set_defaults(handler=handler)
    return parser


def stop_on_signals(events: list[threading.Event]) -> None:
    """SIGTERM and SIGINT set the events: a worker finishes what it is doing and exits."""

    def stop(signum: int, frame: Any) -> None:
        for event in events:
            event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
