"""What text the CRM takes: one-line text (names, labels, keys) and free text without control
characters, neither with Unicode bidirectional controls. Used as pydantic `AfterValidator`s by
the commands and by the definitions the workspace keeps (assignment rules, sequences)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")
_LINE_SEPARATOR = re.compile("[\u0085\u2028\u2029]")
_BIDI_CONTROL = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Unicode bidirectional controls: they make text display in another order than it is stored,
so that a name or a note can read differently on screen, in a log line or in an export."""


def single_line(value: str) -> str:
    """One line of text: no control characters, line breaks or separators, no bidi controls."""
    if _CONTROL_OR_NEWLINE.search(value):
        raise ValueError("must not contain control characters or line breaks")
    if _LINE_SEPARATOR.search(value):
        raise ValueError("must not contain line or paragraph separators (U+2028, U+2029, U+0085)")
    return no_bidi_controls(value)


def printable(value: str) -> str:
    """Free text: line breaks and tabs allowed; no other control characters, no bidi controls."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (NUL and the like)")
    return no_bidi_controls(value)


def no_bidi_controls(value: str) -> str:
    """Text without Unicode bidirectional controls."""
    if _BIDI_CONTROL.search(value):
        raise ValueError("must not contain bidirectional text controls (U+202A-U+202E, U+2066-U+2069 and the like)")
    return value
