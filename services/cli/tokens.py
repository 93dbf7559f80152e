"""`crm token`: bearer tokens for the HTTP API: issue, list and revoke them.

A token is printed once, when it is issued (on stdout, alone, so that a script can capture it);
everything else names a token by its id (`tok_...`), which is no secret."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.auth.policy import Role
from services.cli.common import CommandFailed, add_command

if TYPE_CHECKING:
    from services.settings import Settings
    from services.storage.tokens import TokenRecord


DEFAULT_EXPIRES_IN = "90d"
"""How long a token is valid unless `--expires-in` says otherwise (`DEFAULT_LIFETIME` of the store)."""

_LIFETIME = re.compile(r"([1-9][0-9]{0,5})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def lifetime(value: str) -> timedelta:
    """`90d`, `12h` or `30m`: a whole number of days, hours or minutes, at least 1."""
    match = _LIFETIME.fullmatch(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a lifetime such as 90d, 12h or 30m: {value!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def register(commands: Any) -> None:
    """`crm token issue`, `crm token list`, `crm token revoke`."""
    token = commands.add_parser("token", help="manage API bearer tokens", description="manage API bearer tokens")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    issue = add_command(actions, "issue", issue_token, "issue a token and print it (it is shown only once)")
    issue.add_argument("--user", required=True, help="user name, e.g. alice")
    issue.add_argument("--role", required=True, choices=[role.value for role in Role])
    issue.add_argument(
        "--expires-in",
        type=lifetime,
        default=lifetime(DEFAULT_EXPIRES_IN),
        metavar="LIFETIME",
        help=f"how long the token is valid: days, hours or minutes, e.g. 90d, 12h, 30m (default {DEFAULT_EXPIRES_IN})",
    )
    listing = add_command(actions, "list", list_tokens, "list the tokens: id, user, role, created, expires, last used")
    listing.add_argument("--user", help="only this user's tokens")
    listing.add_argument("--json", action="store_true", help="one JSON object per token and line")
    revoke = add_command(actions, "revoke", revoke_tokens, "revoke a token by its id, or every token of a user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("token_id", nargs="?", metavar="ID", help="the token's id, as `crm token list` shows it")
    which.add_argument("--user", help="revoke every token of this user")


def issue_token(args: argparse.Namespace, settings: Settings) -> int:
    """Print a new token (stdout) and its id and expiry (stderr); 2 for a user name the API
    would not accept."""
    from pydantic import ValidationError

    from services.bootstrap import open_token_store

    tokens = open_token_store(settings)
    try:
        issued = tokens.issue_token(args.user, args.role, expires_in=args.expires_in)
    except ValidationError:
        print(f"crm: not a valid user name: {args.user!r}", file=sys.stderr)
        return 2
    finally:
        tokens.close()
    record = issued.record
    print(issued.token)
    print(
        f"crm: token {record.id} for {record.user} ({record.role.value}) expires {_when(record.expires_at)}",
        file=sys.stderr,
    )
    return 0


def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    """One line per token, the oldest first; never the token or its hash."""
    from services.bootstrap import open_token_store

    tokens = open_token_store(settings)
    try:
        records = tokens.list_tokens(args.user)
    finally:
        tokens.close()
    if args.json:
        for record in records:
            print(json.dumps(record.as_json(), sort_keys=True))
    else:
        for line in _table(records):
            print(line)
    return 0


def revoke_tokens(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke one token, or all of a user's; prints the ids revoked. 1 for an id no token has
    (or a user without tokens)."""
    from services.bootstrap import open_token_store
    from services.storage.tokens import UnknownToken

    tokens = open_token_store(settings)
    try:
        if args.user is not None:
            revoked = tokens.revoke_user(args.user)
            summary = f"crm: revoked {len(revoked)} token(s) of {args.user}"
        else:
            revoked = [tokens.revoke(args.token_id)]
            summary = f"crm: revoked {args.token_id} ({revoked[0].user}, {revoked[0].role.value})"
    except UnknownToken as error:
        raise CommandFailed(str(error)) from None
    finally:
        tokens.close()
    for record in revoked:
        print(record.id)
    print(summary, file=sys.stderr)
    return 0


def _when(moment: Any) -> str:
    return "never" if moment is None else str(moment.isoformat(timespec="seconds"))


def _table(records: list[TokenRecord]) -> list[str]:
    """The records as aligned columns: id, user, role, created, expires, last used, revoked."""
    rows = [
        [
            record.id,
            record.user,
            record.role.value,
            f"created {_when(record.created_at)}",
            f"expires {_when(record.expires_at)}",
            f"last used {_when(record.last_used_at)}",
            f"revoked {_when(record.revoked_at)}" if record.revoked_at is not None else "",
        ]
        for record in records
    ]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(7)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
