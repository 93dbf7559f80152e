"""What merges do to the read models, from the domain's own events: a merged duplicate leaves the
pipeline, the task list and the segments, its survivor counts its figures, and an unmerge puts
every row back as it was (all but the row's version and position stamps)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from domain.contact import Contact
from domain.lead import Lead
from domain.money import Money
from domain.values import InteractionKind
from projections.event_record import EventRecord, record_of
from projections.pipeline import PipelineProjection
from projections.pipeline_queries import list_leads, open_leads_by_owner, pipeline_summary
from projections.segment_queries import fetch_contact_features, list_contacts
from projections.segments import SegmentsProjection
from projections.task_queries import list_tasks
from projections.tasks import TasksProjection
from tests.unit.factories import a_contact, a_lead, at, meta
from tests.unit.sqlite_reader import SqliteReader

PROJECTIONS = (PipelineProjection(), TasksProjection(), SegmentsProjection())
STAMPS = frozenset({"version", "updated_position"})
"""The columns that say which event last touched a row, not what the row holds."""
TASK = uuid4()


class Log:
    """The events of some aggregates as the read models see them, in the order they happen."""

    def __init__(self) -> None:
        self.records: list[EventRecord] = []
        self.store = SqliteReader([t for p in PROJECTIONS for t in p.tables])

    def save(self, *aggregates: Lead | Contact) -> None:
        """Append the aggregates' pending events and project them."""
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                record = record_of(event, len(self.records) + 1)
                self.records.append(record)
                for projection in PROJECTIONS:
                    self.store.apply(projection.apply(record))

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, its stamps left out."""
        return {
            t.name: sorted(
                (
                    {k: v for k, v in row.items() if k not in STAMPS}
                    for row in self.store.fetch(f"SELECT * FROM {t.name}")
                ),
                key=repr,
            )
            for p in PROJECTIONS
            for t in p.tables
        }


def engaged(lead: Lead, interactions: int) -> Lead:
    for n in range(interactions):
        lead.log_interaction(InteractionKind.DEMO, None, meta(at=at(hours=n + 1)))
    return lead


def test_a_merged_lead_leaves_the_pipeline_and_its_survivor_counts_its_interactions_and_score() -> None:
    log = Log()
    duplicate = engaged(a_lead(owner="alice"), 3)
    survivor = a_lead(owner="alice", title=None, company=None)
    log.save(duplicate, survivor)
    assert duplicate.score > survivor.score
    when = at(days=1)

    duplicate.merge_into(survivor, meta(at=when))
    log.save(duplicate, survivor)

    [row] = list_leads(log.store)
    assert row.lead_id == str(survivor.id)
    assert (row.score, row.absorbed_interactions, row.last_interaction_at) == (duplicate.score, 3, at(hours=3))
    assert open_leads_by_owner(log.store) == {"alice": 1}
    assert pipeline_summary(log.store, when + timedelta(hours=1)).open_count == 1
    assert pipeline_summary(log.store, at(hours=12)).open_count == 1  # a merge holds as of any date
    assert list_leads(log.store, min_score=duplicate.score)[0].lead_id == str(survivor.id)


def test_unmerging_a_lead_puts_every_read_model_row_back_as_it_was() -> None:
    log = Log()
    duplicate, survivor = engaged(a_lead(owner="alice"), 2), a_lead(owner="bob")
    duplicate.add_task(TASK, "call back", at(days=3), None, "alice", meta(at=at(hours=5)))
    log.save(duplicate, survivor)
    before = log.tables()

    duplicate.merge_into(survivor, meta(at=at(days=1)))
    log.save(duplicate, survivor)
    assert list_tasks(log.store, now=at(days=2)) == []
    assert log.tables() != before
    duplicate.unmerge(survivor, meta(at=at(days=2)))
    log.save(duplicate, survivor)

    assert log.tables() == before
    assert [t.task_id for t in list_tasks(log.store, now=at(days=2))] == [str(TASK)]


def test_a_survivor_of_two_duplicates_keeps_the_other_s_figures_when_one_is_unmerged() -> None:
    log = Log()
    first, second, survivor = engaged(a_lead(), 1), engaged(a_lead(), 2), a_lead()
    log.save(first, second, survivor)
    first.merge_into(survivor, meta(at=at(days=1)))
    second.merge_into(survivor, meta(at=at(days=1)))
    log.save(first, second, survivor)
    assert list_leads(log.store)[0].absorbed_interactions == 3

    first.unmerge(survivor, meta(at=at(days=2)))
    log.save(first, survivor)

    rows = {row.lead_id: row for row in list_leads(log.store)}
    assert set(rows) == {str(first.id), str(survivor.id)}
    assert rows[str(survivor.id)].absorbed_interactions == 2
    assert rows[str(survivor.id)].score == max(survivor.score, second.score)


def test_a_merged_contact_s_purchases_count_with_its_survivor_and_an_unmerge_restores_both() -> None:
    log = Log()
    duplicate, survivor = a_contact(), a_contact(name="Grace B. Hopper")
    duplicate.record_purchase("o-1", Money(4_000, "USD"), 1, meta(at=at(days=1)))
    duplicate.log_interaction(InteractionKind.CALL, None, meta(at=at(days=2)))
    survivor.record_purchase("o-2", Money(6_000, "USD"), 1, meta(at=at(days=3)))
    log.save(duplicate, survivor)
    before = log.tables()
    as_of = at(days=10)

    duplicate.merge_into(survivor, meta(at=at(days=4)))
    log.save(duplicate, survivor)

    features = fetch_contact_features(log.store, str(survivor.id), as_of)
    assert features is not None
    assert (features.purchase_count, features.total_value, features.frequency) == (2, 10_000, 1)
    assert features.last_interaction_at == at(days=2)
    assert [c.contact_id for c in list_contacts(log.store)] == [str(survivor.id)]
    own = fetch_contact_features(log.store, str(duplicate.id), as_of)
    assert own is not None and own.purchase_count == 1  # asked for by id, a duplicate answers for itself

    duplicate.unmerge(survivor, meta(at=at(days=5)))
    log.save(duplicate, survivor)

    assert log.tables() == before
    after = fetch_contact_features(log.store, str(survivor.id), as_of)
    assert after is not None and after.purchase_count == 1
    assert len(list_contacts(log.store)) == 2
