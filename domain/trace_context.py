"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` a request may
carry, checked before an event keeps it, so that what reaches Kafka is always well-formed."""

from __future__ import annotations

import re

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[\x21-\x7e]*)?")
_ZEROS_32 = "0" * 32
_ZEROS_16 = "0" * 16
MAX_TRACEPARENT_LENGTH = 256
"""Longer than any version-00 value (55 characters) leaves room for a future version's extra
fields, not for a body hidden in a header."""


def valid_traceparent(value: str | None) -> str | None:
    """The value when it is a well-formed `traceparent` (version 00 exactly, or a later version
    read as the spec says: its first four fields, maybe more after a dash), else None: an invalid
    header is ignored, as the spec asks, and never stored."""
    if value is None:
        return None
    value = value.strip(" \t")
    if len(value) > MAX_TRACEPARENT_LENGTH:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZEROS_32 or parent_id == _ZEROS_16:
        return None
    return value
