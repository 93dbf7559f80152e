"""Business time: every instant the CRM records or is asked about is an aware datetime in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(value: Any) -> datetime:
    """An ISO-8601 text (or a datetime, as some stores return them) as an instant in UTC;
    ValueError when the text is not one."""
    return utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))
