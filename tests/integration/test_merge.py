"""Merging duplicates on each backend: a merge and its unmerge leave every read model exactly as it
was before (but the rows' version and position stamps), live and in a replay, and automation
passes a merged duplicate over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.in_process_runner import InProcessRunner
from domain.errors import RecordMerged
from domain.lead import DECAY_TIMER
from domain.values import InteractionKind
from projections.pipeline import LEAD_EVENTS
from projections.pipeline_queries import list_leads
from projections.segment_queries import fetch_contact_features, list_contacts
from services.app.application import Context, CrmApplication
from services.app.commands import (
    AddTask,
    ConvertLead,
    LogInteraction,
    Merge,
    ReactivateContact,
    RecordPurchase,
    Unmerge,
)
from services.automation import decay
from services.automation.clock import ManualClock
from services.automation.policy_runner import MemoryPolicyPositions, PolicyRunner
from services.automation.scheduler import Scheduler, TimerKind
from services.bootstrap import (
    bootstrap,
    log_reader,
    open_read_models,
    policies,
    read_models_on_demand,
    simulation,
    timer_kinds,
)
from services.jobs.rebuild import verify
from services.jobs.seed import seed_history
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, TEAM, capture, hire, new_contact

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
MANAGER = Context(actor="maria", correlation_id="req-merge")
END = datetime(2026, 6, 1, tzinfo=UTC)
MONDAY = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
STAMPS = frozenset({"version", "updated_position"})
"""The columns that say which event last touched a row, not what the row holds."""


@pytest.fixture
def setting(database_url: str) -> Iterator[tuple[CrmApplication, ReadModelStore, InProcessRunner, Settings]]:
    """A seeded store, its live read models and the runner that keeps them."""
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    hire(app, *TEAM)
    seed_history(app, leads=12, seed=7, end=END)
    live = open_read_models(settings)
    runner = InProcessRunner(app, live, batch_size=50)
    runner.catch_up()
    yield app, live, runner, settings
    live.close()
    app.close()


def snapshot(store: ReadModelStore) -> dict[str, list[dict[str, Any]]]:
    """Every row of every read-model table but the journals of events (which only grow), without
    its stamps, in a fixed order."""
    return {
        table.name: sorted(
            ({k: v for k, v in row.items() if k not in STAMPS} for row in store.fetch(f"SELECT * FROM {table.name}")),
            key=repr,
        )
        for table in store.tables
        if table.name != LEAD_EVENTS.name
    }


def assert_identical_to_a_replay(app: CrmApplication, settings: Settings) -> None:
    """`crm verify`: the live read models equal a fresh replay of the log, table by table."""
    _, checks = verify(app, settings)
    assert checks and all(check.same for check in checks), [c for c in checks if not c.same]


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_merging_and_unmerging_a_lead_leaves_the_read_models_as_they_were(
    setting: tuple[CrmApplication, ReadModelStore, InProcessRunner, Settings],
) -> None:
    app, live, runner, settings = setting
    duplicate = app.capture_lead(capture(owner="alice", occurred_at=MONDAY), ALICE).id
    survivor = app.capture_lead(capture(owner="bob", title=None, occurred_at=MONDAY), ALICE).id
    for kind in (InteractionKind.DEMO, InteractionKind.MEETING):
        app.log_lead_interaction(duplicate, LogInteraction(kind=kind, occurred_at=MONDAY), ALICE)
    app.add_lead_task(duplicate, AddTask(title="call back", due_at=END.replace(month=7)), ALICE)
    runner.catch_up()
    before = snapshot(live)

    app.merge_lead(duplicate, Merge(into=survivor), MANAGER)
    runner.catch_up()

    rows = {row.lead_id: row for row in list_leads(live, limit=500)}
    assert str(duplicate) not in rows
    merged = rows[str(survivor)]
    assert merged.absorbed_interactions == 2 and merged.score == app.get_lead(duplicate).score
    assert snapshot(live) != before
    assert_identical_to_a_replay(app, settings)

    app.unmerge_lead(duplicate, Unmerge(), MANAGER)
    runner.catch_up()

    assert snapshot(live) == before
    assert_identical_to_a_replay(app, settings)


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_merging_and_unmerging_a_contact_leaves_the_read_models_as_they_were(
    setting: tuple[CrmApplication, ReadModelStore, InProcessRunner, Settings],
) -> None:
    app, live, runner, settings = setting
    duplicate = app.create_contact(new_contact(occurred_at=MONDAY), ALICE).id
    survivor = app.create_contact(new_contact(name="Grace B. Hopper", occurred_at=MONDAY), ALICE).id
    app.record_purchase(duplicate, RecordPurchase(order_id="o-1", amount=4_000, currency="USD", occurred_at=MONDAY))
    app.record_purchase(survivor, RecordPurchase(order_id="o-2", amount=6_000, currency="USD", occurred_at=MONDAY))
    runner.catch_up()
    before = snapshot(live)
    now = datetime.now(UTC)

    app.merge_contact(duplicate, Merge(into=survivor), MANAGER)
    runner.catch_up()

    features = fetch_contact_features(live, str(survivor), now)
    assert features is not None and (features.purchase_count, features.total_value) == (2, 10_000)
    assert str(duplicate) not in {c.contact_id for c in list_contacts(live, limit=500)}
    assert_identical_to_a_replay(app, settings)

    app.unmerge_contact(duplicate, Unmerge(), MANAGER)
    runner.catch_up()

    assert snapshot(live) == before
    assert_identical_to_a_replay(app, settings)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_decay_timer_due_on_a_merged_lead_is_passed_over_and_armed_again_by_the_unmerge(
    app: CrmApplication,
) -> None:
    duplicate = app.capture_lead(capture(occurred_at=MONDAY), ALICE).id
    survivor = app.capture_lead(capture(occurred_at=MONDAY), ALICE).id
    app.log_lead_interaction(duplicate, LogInteraction(kind=InteractionKind.DEMO, occurred_at=MONDAY), ALICE)
    app.merge_lead(duplicate, Merge(into=survivor), MANAGER)
    stored = app.timers.stored_timer(f"{DECAY_TIMER}:{duplicate}")
    assert stored is not None
    version = app.get_lead(duplicate).version

    run = Scheduler(
        app, {decay.KIND: TimerKind(decay.POLICY, decay.rescore_when_due)}, ManualClock(stored.timer.due_at)
    )
    outcomes = run.run_due().outcomes

    assert outcomes.get("skipped:RecordMerged") == 1
    assert app.get_lead(duplicate).version == version, "nothing appended to a merged lead"
    app.unmerge_lead(duplicate, Unmerge(), MANAGER)
    rearmed = app.timers.stored_timer(f"{DECAY_TIMER}:{duplicate}")
    assert rearmed is not None and rearmed.fired_at is None and rearmed.generation > stored.generation
    assert rearmed.timer.due_at == stored.timer.due_at, "the very rescore the merge held back"
    score = app.get_lead(duplicate).score
    assert run.run_due().outcomes.get("done") == 1
    assert app.get_lead(duplicate).score < score, "unmerged, it decays as though never merged"


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_a_reactivation_lead_does_not_convert_back_into_a_merged_contact(app: CrmApplication) -> None:
    contact = app.create_contact(new_contact(), ALICE).id
    survivor = app.create_contact(new_contact(name="Grace B. Hopper"), ALICE).id
    lead = app.reactivate_contact(contact, ReactivateContact(interest="upgrade"), ALICE).related_id
    assert lead is not None
    app.merge_contact(contact, Merge(into=survivor), MANAGER)
    version = app.get_lead(lead).version

    with pytest.raises(RecordMerged, match=f"merged into contact {survivor}"):
        app.convert_lead(lead, ConvertLead(deal_value=1_000), MANAGER)

    assert app.get_lead(lead).version == version
    app.unmerge_contact(contact, Unmerge(), MANAGER)
    assert app.convert_lead(lead, ConvertLead(deal_value=1_000), MANAGER).related_id == contact


@pytest.mark.parametrize("database_url", BACKENDS[:2], indirect=True)
def test_a_what_if_simulation_replays_a_merge_and_its_automation_as_it_happened(
    app: CrmApplication, database_url: str
) -> None:
    settings = Settings(database_url=database_url)
    store = open_read_models(settings)
    start = datetime.now(UTC)
    clock = ManualClock(start + timedelta(days=30))
    runner = PolicyRunner(
        app,
        policies(settings, store, read_models_on_demand(app, store)),
        MemoryPolicyPositions(),
        log_reader(app),
        clock=clock,
    )
    runner.start_positions()
    duplicate = app.capture_lead(capture(email="ada@example.com"), ALICE).id
    survivor = app.capture_lead(capture(email="ada.l@example.com"), ALICE).id
    for lead in (duplicate, survivor):
        app.log_lead_interaction(lead, LogInteraction(kind=InteractionKind.DEMO), ALICE)
    app.merge_lead(duplicate, Merge(into=survivor), MANAGER)
    scheduler = Scheduler(app, timer_kinds(), clock)
    while runner.catch_up() or scheduler.run_due().fired:
        pass
    assert "skipped:RecordMerged" in {f.outcome for f in app.timers.firing_log()}

    report = simulation(app, settings, lambda sim, ctx: None).run(start, clock() + timedelta(microseconds=1))

    assert report.divergences == 0, report.as_dict()
    assert report.simulated == report.actual
    store.close()
