"""The automation engine on every durable backend: one leader per store, policies that act once
per event (even when their position is lost), and a new policy that does not act on history."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from domain.values import InteractionKind
from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication
from services.app.commands import LogInteraction
from services.automation.policy_runner import PolicyRunner
from services.bootstrap import automation, bootstrap, leader_lock, open_read_models
from services.settings import Settings, SettingsError
from services.storage.read_model_store import ReadModelStore
from tests.integration.factories import ALICE, capture

DURABLE = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
pytestmark = pytest.mark.parametrize("database_url", DURABLE, indirect=True)


@dataclass(frozen=True)
class WelcomeCall:
    """A policy of this test: every captured lead gets a logged call."""

    name: str = "welcome_call"
    event_types: frozenset[str] = frozenset({"lead.captured"})

    def react(self, record: EventRecord, app: CrmApplication, ctx: Context) -> None:
        app.log_lead_interaction(record.aggregate_id, LogInteraction(kind=InteractionKind.CALL), ctx)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[ReadModelStore]:
    store = open_read_models(settings)
    yield store
    store.close()


def runner_on(app: CrmApplication, store: ReadModelStore) -> PolicyRunner:
    from consumers.event_log import read_records

    return PolicyRunner(app, [WelcomeCall()], store, lambda start, limit: read_records(app, start, limit))


def calls(app: CrmApplication, lead_id: object) -> list[str]:
    return [e.actor for e in app.history(lead_id) if e.event_type == "lead.interaction_logged"]  # type: ignore[arg-type]


def test_a_policy_acts_once_per_event_even_when_its_position_was_lost(
    open_app: Callable[[], CrmApplication], store: ReadModelStore
) -> None:
    app = open_app()
    runner = runner_on(app, store)
    runner.catch_up()  # first run: starts at the head
    lead_id = app.capture_lead(capture(), ALICE).id

    runner.catch_up()
    fresh = runner_on(app, store)  # as after a crash that lost the saved position
    fresh.positions = _Forgetful(store, "welcome_call", 0)
    fresh.catch_up()

    assert calls(app, lead_id) == ["automation:welcome_call"]
    cause = [e for e in app.events.get(lead_id)][-1].cause  # type: ignore[attr-defined]
    assert cause is not None, "the call names the capture as its cause"


def test_a_policy_seen_for_the_first_time_does_not_act_on_history(
    open_app: Callable[[], CrmApplication], store: ReadModelStore
) -> None:
    app = open_app()
    old_lead = app.capture_lead(capture(), ALICE).id

    runner_on(app, store).catch_up()
    new_lead = app.capture_lead(capture(email="new@example.com"), ALICE).id
    runner_on(app, store).catch_up()

    assert calls(app, old_lead) == []
    assert calls(app, new_lead) == ["automation:welcome_call"]


def test_one_engine_leads_a_store_and_another_takes_over_when_it_stops(settings: Settings) -> None:
    first_app, second_app = bootstrap(settings), bootstrap(settings)
    first_store, second_store = open_read_models(settings), open_read_models(settings)
    try:
        first = automation(first_app, first_store, settings, poll_interval=0.05)
        second = automation(second_app, second_store, settings, poll_interval=0.05)
        with first:
            assert first.leading.wait(10)
            with second:
                assert not leader_lock(settings).try_acquire(), "the store has a leader"
                assert not second.leading.is_set()
                first.stop()
                assert second.leading.wait(10), "the waiting engine took over"
    finally:
        for closable in (first_store, second_store, first_app, second_app):
            closable.close()


def test_with_no_policies_the_engine_reads_no_events_and_a_store_with_history_is_idle(
    app: CrmApplication, store: ReadModelStore, settings: Settings
) -> None:
    from consumers.event_log import read_records

    for n in range(3):
        app.capture_lead(capture(email=f"lead-{n}@example.com"), ALICE)
    runner = PolicyRunner(app, [], store, lambda start, limit: read_records(app, start, limit))
    assert [runner.catch_up(), runner.catch_up()] == [0, 0]

    engine = automation(app, store, settings, poll_interval=0.05)
    worker = threading.Thread(target=engine.run, kwargs={"until_idle": True}, daemon=True)
    worker.start()
    worker.join(30)
    still_running = worker.is_alive()
    engine.stopping.set()
    worker.join(10)

    assert not still_running, "run(until_idle=True) kept reading the same events and never went idle"


def test_idle_automation_looks_again_as_often_as_crm_automation_poll_seconds_says(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    settings = Settings.from_env({"CRM_DATABASE_URL": database_url, "CRM_AUTOMATION_POLL_SECONDS": "0.05"})

    assert automation(app, store, settings).poll_interval == 0.05
    assert automation(app, store, Settings(database_url=database_url)).poll_interval == 0.5
    with pytest.raises(SettingsError, match="CRM_AUTOMATION_POLL_SECONDS"):
        Settings.from_env({"CRM_AUTOMATION_POLL_SECONDS": "0"})


class _Forgetful:
    """Positions as a crash leaves them: one policy's last save never happened."""

    def __init__(self, store: ReadModelStore, policy: str, position: int) -> None:
        self.store, self.policy, self.position = store, policy, position

    def policy_position(self, policy: str) -> int | None:
        return self.position if policy == self.policy else self.store.policy_position(policy)

    def save_policy_position(self, policy: str, position: int) -> None:
        if policy == self.policy:
            self.position = position
        else:
            self.store.save_policy_position(policy, position)
