"""`crm openapi`: write the HTTP API's OpenAPI document (docs/openapi.json by default), for
readers, the linter and client generators."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import add_command

if TYPE_CHECKING:
    from services.settings import Settings


def register(commands: Any) -> None:
    """`crm openapi`."""
    command = add_command(commands, "openapi", run, "write the HTTP API's OpenAPI document")
    command.add_argument("--output", type=Path, default=None, help="the file to write (default docs/openapi.json)")


def document() -> dict[str, Any]:
    """The document of the app `crm serve` runs, built over an in-memory store (the document does
    not depend on the store)."""
    from services.api.app import create_app
    from services.bootstrap import bootstrap
    from services.settings import Settings
    from services.storage.access_log import MemoryAccessLog
    from services.storage.tokens import MemoryTokenStore

    crm = bootstrap(Settings(database_url="memory://"))
    try:
        return create_app(crm, MemoryTokenStore(), access_log=MemoryAccessLog()).openapi()
    finally:
        crm.close()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write the document, as docs/openapi.json holds it."""
    from services.api.openapi import DOCUMENT, render

    target: Path = args.output or DOCUMENT
    target.write_text(render(document()), encoding="utf-8")
    print(f"wrote {target}")
    return 0
