"""Read-model table fingerprints on real SQLite and PostgreSQL: a live table built from another
definition stops the store with one clear error and changes nothing; a rebuild swapped in clears it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from consumers.in_process_runner import InProcessRunner
from projections.pipeline import LEAD_EVENTS, LEADS, PipelineProjection
from projections.row_changes import Journal, Projection, RowChange, Table
from services.app.application import CrmApplication
from services.storage.read_model_store import ReadModelStore
from services.storage.recorders import read_model_recorder
from services.storage.schema import SCHEMA_TABLE, ReadModelSchemaMismatch, fingerprint
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
pytestmark = pytest.mark.parametrize("database_url", DURABLE, indirect=True)

MISMATCH = 'read model "pipeline" was built by an older version; run crm replay --swap'

LEADS_WITH_REGION = Table(
    name=LEADS.name,
    columns={**LEADS.columns, "region": "text"},
    primary_key=LEADS.primary_key,
    indexes=LEADS.indexes,
)


class PipelineWithRegion(PipelineProjection):
    """The pipeline of a later version, whose leads table gained a column."""

    tables = tuple(LEADS_WITH_REGION if table is LEADS else table for table in PipelineProjection.tables)


OpenStore = Callable[..., ReadModelStore]


@pytest.fixture
def open_store(app: CrmApplication) -> Iterator[OpenStore]:
    """Opens read-model stores beside the application's event store (same database); closes them."""
    opened: list[ReadModelStore] = []

    def _open(projection: Projection | None = None, namespace: str = "") -> ReadModelStore:
        recorder = read_model_recorder(app.env, namespace)
        try:
            store = ReadModelStore(recorder, [projection or PipelineProjection()])
        except Exception:
            recorder.datastore.close()
            raise
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


def schema_rows(store: ReadModelStore) -> list[dict[str, Any]]:
    return store.fetch(f"SELECT table_name, fingerprint, created_at FROM {SCHEMA_TABLE} ORDER BY table_name")


def fingerprints(store: ReadModelStore) -> dict[str, str]:
    return {row["table_name"]: row["fingerprint"] for row in schema_rows(store)}


def expected_fingerprints(projection: Projection, store: ReadModelStore) -> dict[str, str]:
    return {table.name: fingerprint(table, store.recorder.column_types) for table in projection.tables}


def leads_columns(store: ReadModelStore) -> list[str]:
    return list(store.fetch("SELECT * FROM pipeline_leads")[0])


def test_a_fresh_store_records_the_fingerprint_of_each_table(open_store: OpenStore) -> None:
    store = open_store()
    assert fingerprints(store) == expected_fingerprints(PipelineProjection(), store)
    assert all(row["created_at"] for row in schema_rows(store))
    changed = expected_fingerprints(PipelineWithRegion(), store)
    assert changed[LEADS.name] != fingerprints(store)[LEADS.name]
    assert {name: value for name, value in changed.items() if name != LEADS.name} == {
        name: value for name, value in fingerprints(store).items() if name != LEADS.name
    }


def test_reopening_with_the_same_definitions_keeps_the_tables_and_their_fingerprints(
    app: CrmApplication, open_store: OpenStore
) -> None:
    app.capture_lead(capture(), ALICE)
    first = open_store()
    InProcessRunner(app, first).catch_up()
    before = (first.checksums(), schema_rows(first))
    # when the same version opens the read models again
    reopened = open_store()
    # then it reads the same rows, and the fingerprints were not rewritten
    assert (reopened.checksums(), schema_rows(reopened)) == before
    assert reopened.position("pipeline") == app.head_position()


def test_reopening_after_a_table_gained_a_column_stops_with_one_clear_error_and_changes_nothing(
    app: CrmApplication, open_store: OpenStore
) -> None:
    app.capture_lead(capture(), ALICE)
    live = open_store()
    InProcessRunner(app, live).catch_up()
    before = (live.checksums(), schema_rows(live), live.position("pipeline"), leads_columns(live))
    # when a version whose leads table has another column opens the live read models
    with pytest.raises(ReadModelSchemaMismatch) as raised:
        open_store(PipelineWithRegion())
    # then it names the read model and the way out
    assert str(raised.value) == MISMATCH
    assert (raised.value.projection, raised.value.table) == ("pipeline", LEADS.name)
    # and the tables, their rows, fingerprints and positions are as they were
    assert (live.checksums(), schema_rows(live), live.position("pipeline"), leads_columns(live)) == before
    assert "region" not in leads_columns(live)


class PipelineWithoutJournal(PipelineProjection):
    """The pipeline of an earlier version, before it journaled its leads' events."""

    tables = tuple(table for table in PipelineProjection.tables if table.name != LEAD_EVENTS.name)

    def apply(self, record: Any) -> list[RowChange]:
        """The changes of this version, without the journal entry."""
        return [change for change in super().apply(record) if not isinstance(change, Journal)]


def test_a_version_that_gained_a_table_refuses_the_read_model_an_earlier_version_built_without_it(
    app: CrmApplication, open_store: OpenStore
) -> None:
    app.capture_lead(capture(), ALICE)
    InProcessRunner(app, open_store(PipelineWithoutJournal())).catch_up()
    # when this version, whose pipeline also has its journal, opens the live read models
    with pytest.raises(ReadModelSchemaMismatch) as raised:
        open_store()
    # then the read model is named (its rows lack the journal of what came before) and nothing is created
    assert str(raised.value) == MISMATCH and raised.value.table == LEAD_EVENTS.name
    assert LEAD_EVENTS.name not in fingerprints(open_store(PipelineWithoutJournal()))


def test_a_live_table_without_a_fingerprint_was_built_by_an_older_version(open_store: OpenStore) -> None:
    live = open_store()
    with live.recorder.datastore.transaction(commit=True) as c:
        c.execute(f"DROP TABLE {SCHEMA_TABLE}")  # as before fingerprints existed
    with pytest.raises(ReadModelSchemaMismatch) as raised:
        open_store()
    assert str(raised.value) == MISMATCH


def test_a_rebuild_swapped_in_makes_the_changed_definition_the_live_one(
    app: CrmApplication, open_store: OpenStore
) -> None:
    for n in range(3):
        app.capture_lead(capture(email=f"r{n}@example.com"), ALICE)
    live = open_store()
    InProcessRunner(app, live).catch_up()
    open_store(namespace="rebuild_")  # an older version's replay, never swapped in, is left behind
    with pytest.raises(ReadModelSchemaMismatch):
        open_store(PipelineWithRegion())
    # when the later version rebuilds its pipeline into a namespace (as `crm replay` does) ...
    rebuilt = open_store(PipelineWithRegion(), "rebuild_")
    rebuilt.recorder.drop_read_model_tables(PipelineWithRegion.tables)
    rebuilt.recorder.drop_positions(["pipeline"])
    rebuilt.recorder.create_read_model_tables(PipelineWithRegion.tables)
    InProcessRunner(app, rebuilt).catch_up()
    # ... and swaps it in
    rebuilt.recorder.swap_into_live(PipelineWithRegion.tables, ["pipeline"])
    # then the live read models open with the new definition, carrying the rebuild's fingerprints
    reopened = open_store(PipelineWithRegion())
    assert fingerprints(reopened) == expected_fingerprints(PipelineWithRegion(), reopened)
    assert "region" in leads_columns(reopened)
    assert len(reopened.fetch("SELECT lead_id FROM pipeline_leads")) == 3
    assert reopened.position("pipeline") == app.head_position()
    # and the older definition is now the one that may not open them
    with pytest.raises(ReadModelSchemaMismatch) as stale:
        open_store()
    assert str(stale.value) == MISMATCH


def test_dropping_a_namespace_forgets_its_fingerprints(open_store: OpenStore) -> None:
    live = open_store()
    scratch = open_store(namespace="verify_")
    assert {f"verify_{t.name}" for t in PipelineProjection.tables} <= set(fingerprints(live))
    scratch.recorder.drop_read_model_tables(PipelineProjection.tables)
    assert set(fingerprints(live)) == {t.name for t in PipelineProjection.tables}
