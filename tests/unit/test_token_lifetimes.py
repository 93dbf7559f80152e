"""How long a token lives: `--expires-in` values, the 90-day default, and when a token is refused."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from services.auth.policy import Refusal, Role
from services.cli.main import build_parser
from services.cli.tokens import lifetime
from services.storage.tokens import DEFAULT_LIFETIME, TokenRecord

ISSUED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("1d", timedelta(days=1)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        (" 7d ", timedelta(days=7)),
        ("999999d", timedelta(days=999_999)),
    ],
)
def test_a_lifetime_is_a_whole_number_of_days_hours_or_minutes(text: str, expected: timedelta) -> None:
    assert lifetime(text) == expected


@pytest.mark.parametrize(
    "text", ["", "90", "d", "0d", "-1d", "1.5h", "90D", "90s", "2w", "1d12h", "007d", "1000000d", "90 d", "ninety"]
)
def test_anything_else_is_refused_with_an_example_of_what_is_meant(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"not a lifetime such as 90d, 12h or 30m"):
        lifetime(text)


def test_an_issued_token_lives_90_days_unless_told_otherwise() -> None:
    parser = build_parser()
    default = parser.parse_args(["token", "issue", "--user", "alice", "--role", "rep"])
    shorter = parser.parse_args(["token", "issue", "--user", "alice", "--role", "rep", "--expires-in", "12h"])
    assert default.expires_in == DEFAULT_LIFETIME == timedelta(days=90)
    assert shorter.expires_in == timedelta(hours=12)


def test_a_bad_lifetime_is_an_argument_error_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["token", "issue", "--user", "alice", "--role", "rep", "--expires-in", "soon"])
    assert exited.value.code == 2
    assert "argument --expires-in: not a lifetime such as 90d, 12h or 30m: 'soon'" in capsys.readouterr().err


def test_a_token_is_valid_until_its_expiry_and_never_once_revoked() -> None:
    record = TokenRecord("tok_0123456789ab", "alice", Role.REP, ISSUED, ISSUED + timedelta(hours=1))
    assert record.refusal(ISSUED) is None
    assert record.refusal(ISSUED + timedelta(minutes=59, seconds=59)) is None
    assert record.refusal(ISSUED + timedelta(hours=1)) is Refusal.EXPIRED
    revoked = TokenRecord("tok_0123456789ab", "alice", Role.REP, ISSUED, ISSUED + timedelta(hours=1), ISSUED)
    assert revoked.refusal(ISSUED) is Refusal.REVOKED
    assert revoked.refusal(ISSUED + timedelta(days=1)) is Refusal.REVOKED


def test_a_listed_token_shows_its_times_in_utc_and_nothing_secret() -> None:
    record = TokenRecord("tok_0123456789ab", "alice", Role.REP, ISSUED, ISSUED + DEFAULT_LIFETIME)
    assert record.as_json() == {
        "id": "tok_0123456789ab",
        "user": "alice",
        "role": "rep",
        "created_at": "2026-03-01T09:00:00.000000+00:00",
        "expires_at": "2026-05-30T09:00:00.000000+00:00",
        "last_used_at": None,
        "revoked_at": None,
    }
