"""A batch's row changes are held and coalesced per row before they are written
(services/storage/pending_writes.py). Whatever the changes, the rows end as they do when every
change is written on its own, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.row_changes import Insert, NewVersion, RowChange, Table, Update, Upsert
from services.bootstrap import open_read_models
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
pytestmark = pytest.mark.parametrize("database_url", DURABLE, indirect=True)

ROWS = Table("coalesce_rows", {"k": "text", "a": "int", "b": "text", "at": "int"}, ("k",))
EVENTS = Table("coalesce_events", {"k": "text", "n": "int", "a": "int"}, ("k", "n"))
VERSIONS = Table(
    "coalesce_versions",
    {"k": "text", "version": "int", "a": "int", "valid_from": "int", "valid_to": "int"},
    ("k", "version"),
)
KEYS = st.sampled_from(["x", "y", "z"])
SMALL = st.integers(0, 5)


BEFORE: list[RowChange] = [
    Insert(VERSIONS.name, {"k": "x", "version": 1, "a": 0, "valid_from": 0}),
    Insert(ROWS.name, {"k": "x", "a": 1, "b": "p", "at": 3}),
    Insert(ROWS.name, {"k": "y", "a": 2, "b": "q", "at": None}),
]
"""What the rows hold before the batch: x closed at 3, y open, z absent."""


class Scripted:
    """A projection whose changes the test gives (the store only needs its name and tables)."""

    name = "coalesce"
    tables: tuple[Table, ...] = (ROWS, EVENTS, VERSIONS)

    def apply(self, record: Any) -> list[RowChange]:
        return []


def change_lists() -> st.SearchStrategy[list[list[RowChange]]]:
    """Lists of events' row changes over three keys: upserts (updating or DO NOTHING), updates
    (plain, with `where_null`, moving the row out of its `where_null`, with `not_after`), inserts
    and new versions."""
    upsert = st.builds(
        lambda k, a, b: Upsert(ROWS.name, ("k",), {"k": k, **({"a": a} if a is not None else {}), "b": b}),
        KEYS,
        st.none() | SMALL,
        st.sampled_from(["p", "q"]),
    )
    do_nothing = st.builds(lambda k: Upsert(ROWS.name, ("k",), {"k": k}), KEYS)
    update = st.builds(lambda k, a: Update(ROWS.name, {"k": k}, {"a": a}), KEYS, SMALL)
    update_b = st.builds(lambda k, b: Update(ROWS.name, {"k": k}, {"b": b}), KEYS, st.sampled_from(["r", "s"]))
    when_open = st.builds(lambda k, a: Update(ROWS.name, {"k": k}, {"a": a}, where_null=("at",)), KEYS, SMALL)
    close = st.builds(lambda k, at: Update(ROWS.name, {"k": k}, {"at": at}, where_null=("at",)), KEYS, SMALL)
    not_after = st.builds(
        lambda k, a, at: Update(ROWS.name, {"k": k}, {"a": a, "at": at}, not_after={"at": at}), KEYS, SMALL, SMALL
    )
    change = st.one_of(upsert, do_nothing, update, update_b, when_open, close, not_after)
    return st.lists(st.lists(change, max_size=4), min_size=1, max_size=25)


def numbered(events: list[list[RowChange]]) -> list[tuple[int, list[RowChange]]]:
    """Each event's changes, with an insert and a new version interleaved so that held changes of
    other tables meet writes that cannot be held."""
    serial = count(1)
    out: list[tuple[int, list[RowChange]]] = []
    for position, changes in enumerate(events, start=2):  # 1 is the first version
        extra: list[RowChange] = [Insert(EVENTS.name, {"k": "x", "n": next(serial), "a": position})]
        if position % 3 == 0:
            extra.append(NewVersion(VERSIONS.name, {"k": "x"}, position + 1, position, {"a": position}))
        out.append((position, [*changes, *extra]))
    return out


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[ReadModelStore, ReadModelStore]]:
    opened = [
        open_read_models(Settings(database_url=database_url), namespace, [Scripted()])
        for namespace in ("batched_", "single_")
    ]
    yield opened[0], opened[1]
    for store in opened:
        store.close()


def contents(store: ReadModelStore) -> list[list[dict[str, Any]]]:
    return [store.fetch(f"SELECT * FROM {t.name} ORDER BY {', '.join(t.primary_key)}") for t in Scripted.tables]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=change_lists())
def test_a_batch_written_coalesced_ends_as_its_changes_written_one_by_one(
    stores: tuple[ReadModelStore, ReadModelStore], events: list[list[RowChange]]
) -> None:
    batched, single = stores
    for store in stores:
        store.reset()
        store.apply("coalesce", [(1, BEFORE)])
    history = numbered(events)
    # when one store gets the history as one batch, and the other gets each change alone, in a
    # batch of its own (so that nothing is held beside it)
    batched.apply("coalesce", history)
    alone = [change for _, changes in history for change in changes]
    for position, change in enumerate(alone, start=2):
        single.apply("coalesce", [(position, [change])])
    # then both hold the same rows
    assert contents(batched) == contents(single)
