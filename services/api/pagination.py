"""Cursor pagination, the same for every list: keyset pages in id order (the task list: in due
order, then id), an opaque cursor that names the last key of the previous page, and one page
model."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from services.api.problems import InvalidQuery

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    """One page of a list, in id order."""

    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


@dataclass(frozen=True)
class PageRequest:
    """Which page a list request asks for: the items after the id `after` (the decoded cursor;
    None for the first page), at most `limit` of them."""

    after: str | None
    limit: int


def encode_cursor(last_id: str) -> str:
    """The opaque cursor of the page after the one that ended with `last_id`: its base64."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def _an_id(key: str) -> str:
    return str(UUID(key))


def decode_cursor(cursor: str | None, read: Callable[[str], str] = _an_id) -> str | None:
    """The key a cursor stands for (an id, unless `read` checks another kind of key and raises
    ValueError for what is not one); 422 naming `cursor` when it is not one of ours."""
    if cursor is None:
        return None
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return read(decoded)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidQuery("cursor", "not a cursor this API gave out; start again without one", "cursor") from None


def next_cursor(ids: Sequence[str], limit: int) -> str | None:
    """A cursor when more than `limit` ids were found (one more than a page is always asked for)."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None


def keyset_page(
    fetch: Callable[[str | None, int], Sequence[Row]], page: PageRequest, key: Callable[[Row], str]
) -> tuple[list[Row], str | None]:
    """One page of rows and the cursor of the next: `fetch(after, n)` is asked for one row more
    than the page holds, so that a full last page does not offer an empty one after it."""
    rows = fetch(page.after, page.limit + 1)
    return list(rows[: page.limit]), next_cursor([key(row) for row in rows], page.limit)
