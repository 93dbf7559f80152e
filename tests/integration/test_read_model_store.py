"""The read-model store on real SQLite and PostgreSQL: rows and position commit together, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from consumers.in_process_runner import InProcessRunner
from projections.pipeline import LEADS, PipelineProjection
from projections.row_changes import Insert, Update
from services.app.application import CrmApplication
from services.app.commands import ChangeStage, ConvertLead
from services.bootstrap import open_read_models
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
pytestmark = pytest.mark.parametrize("database_url", DURABLE, indirect=True)


@pytest.fixture
def store(database_url: str) -> Iterator[ReadModelStore]:
    store = open_read_models(Settings(database_url=database_url), "", [PipelineProjection()])
    yield store
    store.close()


def lead_row(lead_id: str) -> dict[str, object]:
    row: dict[str, object] = {column: None for column in LEADS.columns}
    row.update(lead_id=lead_id, name="Ada", stage="new", score=0, version=1)
    return row


def test_rows_and_position_are_applied_together(store: ReadModelStore) -> None:
    result = store.apply(
        "pipeline", [(1, [Insert(LEADS.name, lead_row("a"))]), (2, [Insert(LEADS.name, lead_row("b"))])]
    )
    assert (result.applied, result.position) == (2, 2)
    assert store.position("pipeline") == 2
    assert [r["lead_id"] for r in store.fetch("SELECT lead_id FROM pipeline_leads ORDER BY lead_id")] == ["a", "b"]


def test_a_redelivered_position_changes_nothing(store: ReadModelStore) -> None:
    store.apply("pipeline", [(1, [Insert(LEADS.name, lead_row("a"))])])
    before = store.checksums()
    # when the same event arrives again (and one new event after it)
    result = store.apply(
        "pipeline",
        [(1, [Insert(LEADS.name, lead_row("a"))]), (2, [Update(LEADS.name, {"lead_id": "a"}, {"score": 7})])],
    )
    # then only the new one is applied
    assert (result.applied, result.skipped) == (1, 1)
    assert store.fetch("SELECT score FROM pipeline_leads") == [{"score": 7}]
    again = store.apply("pipeline", [(2, [Update(LEADS.name, {"lead_id": "a"}, {"score": 99})])])
    assert again.applied == 0 and store.fetch("SELECT score FROM pipeline_leads") == [{"score": 7}]
    assert before != store.checksums()


def test_a_failure_between_writing_rows_and_committing_leaves_no_half_applied_event(store: ReadModelStore) -> None:
    store.apply("pipeline", [(1, [Insert(LEADS.name, lead_row("a"))])])
    before = store.checksums()
    # when the second row change of an event fails (duplicate primary key), after the first was written
    with pytest.raises(Exception):  # noqa: B017 - the driver's own integrity error
        store.apply(
            "pipeline",
            [(2, [Update(LEADS.name, {"lead_id": "a"}, {"score": 50}), Insert(LEADS.name, lead_row("a"))])],
        )
    # then neither the first change nor the position was committed
    assert store.checksums() == before
    assert store.position("pipeline") == 1


def test_the_runner_applies_the_log_once_and_resumes_after_a_restart(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    t0 = datetime.now(UTC) - timedelta(days=3)
    captured = app.capture_lead(capture(occurred_at=t0), ALICE)
    lead_id = captured.id
    runner = InProcessRunner(app, store)
    assert runner.catch_up() == captured.position  # the team's workspace events, then the lead's two
    # a restarted runner (a new store object on the same database) resumes where the last stopped
    app.change_stage(lead_id, ChangeStage(stage="qualified", occurred_at=t0 + timedelta(days=1)), ALICE)
    result = app.convert_lead(lead_id, ConvertLead(deal_value=5_00, occurred_at=t0 + timedelta(days=2)), ALICE)
    restarted = open_read_models(Settings(database_url=database_url), "", [PipelineProjection()])
    assert InProcessRunner(app, restarted).catch_up() == result.position - captured.position  # type: ignore[operator]
    assert restarted.wait(result.position or 0, timeout=0.1)
    row = restarted.fetch("SELECT stage, deal_value FROM pipeline_leads WHERE lead_id = ?", [str(lead_id)])
    assert row == [{"stage": "converted", "deal_value": 5_00}]
    intervals = restarted.fetch(
        "SELECT stage, left_at FROM pipeline_stage_intervals WHERE lead_id = ? ORDER BY version", [str(lead_id)]
    )
    assert [i["stage"] for i in intervals] == ["new", "qualified", "converted"]
    assert intervals[-1]["left_at"] is None and intervals[0]["left_at"] is not None
    restarted.close()


def test_a_rebuild_in_a_namespace_equals_the_live_read_models_and_can_be_swapped_in(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    for n in range(5):
        lead_id = app.capture_lead(capture(email=f"p{n}@example.com"), ALICE).id
        app.change_stage(lead_id, ChangeStage(stage="contacted"), ALICE)
    InProcessRunner(app, store).catch_up()
    rebuilt = open_read_models(Settings(database_url=database_url), "rebuild_", [PipelineProjection()])
    InProcessRunner(app, rebuilt).catch_up()
    rebuilt_sums = rebuilt.checksums()
    assert rebuilt_sums == store.checksums()
    assert rebuilt.position("pipeline") == store.position("pipeline") == app.head_position()
    # when the rebuilt tables are swapped in
    rebuilt.swap_into_live()
    # then the live read models are the rebuilt ones, positions included
    assert store.checksums() == rebuilt_sums
    assert store.position("pipeline") == app.head_position()
    assert rebuilt.position("pipeline") == 0
    assert store.fetch("SELECT count(*) AS n FROM pipeline_leads") == [{"n": 5}]
    rebuilt.close()


def test_a_batch_that_repeats_itself_is_applied_once(store: ReadModelStore) -> None:
    # given a partition where the relay published positions 1 and 2 twice, after a crash
    batch = [
        (1, [Insert(LEADS.name, lead_row("a"))]),
        (2, [Update(LEADS.name, {"lead_id": "a"}, {"score": 5})]),
        (1, [Insert(LEADS.name, lead_row("a"))]),
        (2, [Update(LEADS.name, {"lead_id": "a"}, {"score": 5})]),
        (3, [Update(LEADS.name, {"lead_id": "a"}, {"score": 9})]),
    ]
    # when it arrives in one poll
    result = store.apply("pipeline", batch)
    # then each event is applied once
    assert (result.applied, result.skipped, result.position) == (3, 2, 3)
    assert store.fetch("SELECT score FROM pipeline_leads") == [{"score": 9}]


def test_a_consumer_batch_of_only_duplicates_still_moves_its_kafka_offset(store: ReadModelStore) -> None:
    store.apply("pipeline", [(1, [Insert(LEADS.name, lead_row("a"))])], source="t:0", offset=1)
    # when a later poll holds only a re-published copy of position 1, at offsets 1..2
    result = store.apply("pipeline", [(1, [Insert(LEADS.name, lead_row("a"))])], source="t:0", offset=3)
    # then nothing is applied, but the partition's next offset is 3, so status shows no lag
    assert result.applied == 0
    assert store.offset("pipeline", "t:0") == 3
    assert store.position("pipeline", "t:0") == 1


def test_a_back_dated_event_in_the_same_batch_as_the_later_one_rebuilds_its_lead_as_one_event_per_batch_does(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    t0 = datetime.now(UTC) - timedelta(days=10)
    first = app.capture_lead(capture(occurred_at=t0), ALICE).id
    other = app.capture_lead(capture(email="grace@example.com", occurred_at=t0), ALICE).id
    app.change_stage(first, ChangeStage(stage="qualified", occurred_at=t0 + timedelta(days=2)), ALICE)
    app.change_stage(other, ChangeStage(stage="contacted", occurred_at=t0 + timedelta(days=1)), ALICE)
    # recorded last, but it happened between the first lead's capture and its qualification
    app.change_stage(first, ChangeStage(stage="contacted", occurred_at=t0 + timedelta(days=1)), ALICE)
    settings = Settings(database_url=database_url)
    # when the log is applied in one batch, and again one event per batch
    InProcessRunner(app, store, batch_size=1000).catch_up()
    one_by_one = open_read_models(settings, "one_by_one_", [PipelineProjection()])
    one_by_one.reset()
    InProcessRunner(app, one_by_one, batch_size=1).catch_up()
    # then both hold the first lead's stages in business order, row for row the same
    intervals = store.fetch(
        "SELECT stage, entered_at, left_at FROM pipeline_stage_intervals WHERE lead_id = ? ORDER BY entered_at",
        [str(first)],
    )
    assert [i["stage"] for i in intervals] == ["new", "contacted", "qualified"]
    assert intervals[-1]["left_at"] is None
    assert store.fetch("SELECT stage FROM pipeline_leads WHERE lead_id = ?", [str(first)]) == [{"stage": "qualified"}]
    assert one_by_one.checksums() == store.checksums()
    one_by_one.drop()
    one_by_one.close()
