"""What the edge of the HTTP API refuses before anything parses a body: JSON nested too deeply."""

from __future__ import annotations

import json

import pytest

from services.api.edge import MAX_JSON_DEPTH, nested_too_deeply, nul_characters


def nested(depth: int, inner: str = "1") -> bytes:
    """`depth` arrays and objects, alternating, around `inner`."""
    text = inner
    for level in range(depth):
        text = f'{{"a": {text}}}' if level % 2 else f"[{text}]"
    return text.encode()


@pytest.mark.parametrize("depth", [0, 1, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_json_up_to_the_limit_passes(depth: int) -> None:
    # given / when / then
    assert json.loads(nested(depth)) is not None
    assert not nested_too_deeply(nested(depth))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 10_000, 30_000])
def test_json_past_the_limit_is_too_deep(depth: int) -> None:
    # given / when / then
    assert nested_too_deeply(nested(depth))


def test_brackets_inside_strings_do_not_count() -> None:
    # given a flat command whose text is full of brackets, escaped quotes and backslashes
    body = json.dumps({"kind": "call", "detail": '[[[{{{ "quoted [" \\ ' * 500}).encode()

    # when / then it is one level deep
    assert not nested_too_deeply(body)


def test_unbalanced_closing_brackets_are_not_depth() -> None:
    # given malformed JSON (the parser's answer is its own: 400 malformed JSON)
    # when / then
    assert not nested_too_deeply(b"]" * 10_000 + b"[" * 10)


def test_deep_json_without_a_closing_bracket_is_too_deep() -> None:
    # given / when / then
    assert nested_too_deeply(b"[" * 10_000)


def test_the_nul_scan_survives_json_too_deep_for_the_parser() -> None:
    # given a body the edge would already have refused as too deep, with a NUL inside
    body = b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000

    # when / then the scan leaves it to the parser's answer instead of recursing out of stack
    assert nul_characters(b"", body) == []
