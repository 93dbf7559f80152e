"""`crm token`: bearer tokens for the HTTP API."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from services.cli.common import add_command

if TYPE_CHECKING:
    from services.settings import Settings

ROLES = ("admin", "manager", "rep", "analyst", "service")
"""The roles a token may have (`services.auth.policy.Role`; a test keeps the two the same)."""


def register(commands: Any) -> None:
    """`crm token issue`."""
    token = commands.add_parser("token", help="manage API bearer tokens", description="manage API bearer tokens")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = add_command(actions, "issue", issue_token, "issue a token and print it (it is shown only once)")
    issue.add_argument("--user", required=True, help="user name, e.g. alice")
    issue.add_argument("--role", required=True, choices=ROLES)


def issue_token(args: argparse.Namespace, settings: Settings) -> int:
    """Print a new token for the user; 2 for a user name the API would not accept."""
    from pydantic import ValidationError

    from services.bootstrap import open_token_store

    tokens = open_token_store(settings)
    try:
        print(tokens.issue(args.user, args.role))
    except ValidationError:
        print(f"crm: not a valid user name: {args.user!r}", file=sys.stderr)
        return 2
    finally:
        tokens.close()
    return 0
