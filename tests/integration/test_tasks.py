"""Follow-up tasks through the application on every persistence backend (who owns a task, repeats
that append nothing, reps confined to their own tasks, closed and erased records), and through
the tasks read model on SQLite and PostgreSQL (filters, where a task is, erasure, verify)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4, uuid5

import pytest

from consumers.in_process_runner import InProcessRunner
from domain.contact import Contact
from domain.errors import LeadAlreadyConverted, PersonErased, TaskAlreadyCompleted, TaskAlreadyExists
from domain.lead import Lead
from services.app.application import Context, CrmApplication, TaskLocator
from services.app.commands import AddTask, AssignLead, CompleteTask, ConvertLead, ErasePerson, RescheduleTask
from services.app.errors import IdempotencyKeyReused, LeadNotFound, TaskNotFound
from services.app.queries import ReadModelQueries
from services.jobs.rebuild import verify
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.conftest import BACKENDS
from tests.integration.factories import capture

MANAGER = Context(actor="maria", correlation_id="req-maria")
AUTOMATION = Context(actor="automation:follow_up", correlation_id="trigger-42")
DUE = datetime(2026, 3, 3, 9, tzinfo=UTC)
DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]


def rep(user: str) -> Context:
    """A rep's request: confined to the leads (and tasks) `user` owns."""
    return Context(actor=user, correlation_id=f"req-{user}", owner_scope=user)


def task(**fields: object) -> AddTask:
    values: dict[str, object] = {"title": "Call back about the demo", "due_at": DUE}
    values.update(fields)
    return AddTask(**values)  # type: ignore[arg-type]


def locator_of(app: CrmApplication) -> TaskLocator:
    """Where tasks are, read off the records themselves (what the read model answers, without it)."""

    def locate(task_id: UUID) -> tuple[str, UUID] | None:
        ids = dict.fromkeys(n.originator_id for n in app.recorder.select_notifications(start=1, limit=10_000))
        for record_id in ids:
            record = app.repository.get(record_id)
            if isinstance(record, Lead | Contact) and task_id in record.tasks:
                return ("lead" if isinstance(record, Lead) else "contact"), record.id
        return None

    return locate


def an_alice_lead(app: CrmApplication) -> UUID:
    return app.capture_lead(capture(owner="alice"), MANAGER).id


# --- the application, on every backend -------------------------------------------------------


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
class TestAddingTasks:
    def test_a_task_belongs_to_the_leads_owner_unless_someone_else_is_named(self, app: CrmApplication) -> None:
        lead_id = an_alice_lead(app)
        first = app.add_lead_task(lead_id, task(), MANAGER)
        second = app.add_lead_task(lead_id, task(owner="bob"), MANAGER)
        lead = app.get_lead(lead_id)
        assert first.related_id is not None and second.related_id is not None
        assert lead.task(first.related_id).owner == "alice"
        assert lead.task(second.related_id).owner == "bob"
        assert (second.id, second.version, second.position) == (lead_id, lead.version, app.head_position())

    def test_a_contacts_task_belongs_to_the_owner_of_the_lead_it_came_from(self, app: CrmApplication) -> None:
        contact_id = app.convert_lead(an_alice_lead(app), ConvertLead(deal_value=100), MANAGER).related_id
        assert contact_id is not None
        added = app.add_contact_task(contact_id, task(note="renewal"), MANAGER)
        assert added.related_id is not None
        assert app.get_contact(contact_id).task(added.related_id).owner == "alice"

    def test_a_retry_with_the_same_idempotency_key_adds_nothing_and_answers_the_same_task(
        self, app: CrmApplication
    ) -> None:
        lead_id = an_alice_lead(app)
        first = app.add_lead_task(lead_id, task(idempotency_key="k-1"), MANAGER)
        head = app.head_position()
        again = app.add_lead_task(lead_id, task(idempotency_key="k-1"), MANAGER)
        assert (again.related_id, again.position, app.head_position()) == (first.related_id, None, head)
        with pytest.raises(IdempotencyKeyReused) as reused:
            app.add_lead_task(lead_id, task(idempotency_key="k-1", title="Another thing"), MANAGER)
        assert reused.value.fields == ["title"] and reused.value.aggregate_id == first.related_id
        # the same key on another lead is another task: no two records hold one task id
        other = app.add_lead_task(an_alice_lead(app), task(idempotency_key="k-1"), MANAGER)
        assert other.related_id != first.related_id and other.position is not None

    def test_an_automation_adds_a_task_of_an_id_it_chose_once_however_often_it_repeats(
        self, app: CrmApplication
    ) -> None:
        # given a new web-form lead nobody owns yet, and the id a policy derives from its trigger
        lead_id = app.capture_lead(capture(source="web_form"), MANAGER).id
        task_id = uuid5(UUID(int=1), f"follow_up:{lead_id}:1")
        call = task(title="Call within 1 business day", due_at=DUE + timedelta(days=1))

        # when the policy adds it, the lead is assigned, and the policy runs again (a crash, a replay)
        added = app.add_lead_task(lead_id, call, AUTOMATION, task_id=task_id)
        app.assign_lead(lead_id, AssignLead(owner="alice"), MANAGER)
        head = app.head_position()
        repeated = app.add_lead_task(lead_id, call, AUTOMATION, task_id=task_id)

        # then the task is there once, said to be the automation's, and the repeat appended nothing
        assert added.related_id == repeated.related_id == task_id
        assert (repeated.position, app.head_position()) == (None, head)
        made = app.get_lead(lead_id).task(task_id)
        assert (made.created_by, made.owner, made.title) == ("automation:follow_up", None, call.title)
        assert [e.event_type for e in app.history(lead_id)].count("lead.task_created") == 1
        # and the same id with other values is refused rather than silently kept
        with pytest.raises(TaskAlreadyExists):
            app.add_lead_task(lead_id, task(title="Something else"), AUTOMATION, task_id=task_id)

    def test_a_converted_lead_takes_no_new_task(self, app: CrmApplication) -> None:
        won = an_alice_lead(app)
        app.convert_lead(won, ConvertLead(deal_value=100), MANAGER)
        head = app.head_position()
        with pytest.raises(LeadAlreadyConverted):
            app.add_lead_task(won, task(), MANAGER)
        assert app.head_position() == head

    def test_titles_and_notes_are_not_stored_in_plain_text(self, app: CrmApplication) -> None:
        lead_id = an_alice_lead(app)
        app.add_lead_task(lead_id, task(title="Ring Hedy on +43 1 555 0192", note="hedy@frequency.example"), MANAGER)
        stored = b"".join(e.state for e in app.recorder.select_events(lead_id))
        assert b"555 0192" not in stored and b"hedy@frequency" not in stored
        assert b"enc:v1:" in stored
        [only] = app.get_lead(lead_id).tasks.values()
        assert (only.title, only.note) == ("Ring Hedy on +43 1 555 0192", "hedy@frequency.example")


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
class TestChangingTasks:
    def test_completing_and_rescheduling_change_the_task_on_its_record(self, app: CrmApplication) -> None:
        lead_id = an_alice_lead(app)
        done, moved = (app.add_lead_task(lead_id, task(), MANAGER).related_id for _ in range(2))
        assert done is not None and moved is not None
        app.complete_task(done, CompleteTask(), MANAGER, locate=locator_of(app))
        result = app.reschedule_task(
            moved, RescheduleTask(due_at=DUE + timedelta(days=7)), MANAGER, locate=locator_of(app)
        )
        lead = app.get_lead(lead_id)
        assert lead.task(done).completed_at is not None and lead.task(moved).due_at == DUE + timedelta(days=7)
        assert (result.id, result.related_id, result.version) == (lead_id, moved, lead.version)
        head = app.head_position()
        with pytest.raises(TaskAlreadyCompleted):
            app.complete_task(done, CompleteTask(), MANAGER, locate=locator_of(app))
        assert app.head_position() == head

    def test_a_task_of_a_lead_converted_meanwhile_can_still_be_completed(self, app: CrmApplication) -> None:
        lead_id = an_alice_lead(app)
        task_id = app.add_lead_task(lead_id, task(), MANAGER).related_id
        assert task_id is not None
        app.convert_lead(lead_id, ConvertLead(deal_value=100), MANAGER)
        app.complete_task(task_id, CompleteTask(), MANAGER, locate=locator_of(app))
        assert app.get_lead(lead_id).task(task_id).completed_at is not None

    def test_a_task_nobody_has_or_misplaced_by_the_locator_is_not_found(self, app: CrmApplication) -> None:
        lead_id = an_alice_lead(app)
        with pytest.raises(TaskNotFound):
            app.complete_task(uuid4(), CompleteTask(), MANAGER, locate=lambda _: None)
        with pytest.raises(TaskNotFound):
            app.complete_task(uuid4(), CompleteTask(), MANAGER, locate=lambda _: ("lead", lead_id))
        with pytest.raises(TaskNotFound):
            app.complete_task(uuid4(), CompleteTask(), MANAGER, locate=lambda _: ("contact", uuid4()))

    def test_an_erased_records_tasks_take_no_more_commands(self, app: CrmApplication) -> None:
        lead_id = an_alice_lead(app)
        task_id = app.add_lead_task(lead_id, task(), MANAGER).related_id
        assert task_id is not None
        app.erase_person(lead_id, ErasePerson(reason="request 2026-17"), MANAGER)
        head = app.head_position()
        with pytest.raises(PersonErased):
            app.complete_task(task_id, CompleteTask(), MANAGER, locate=locator_of(app))
        with pytest.raises(PersonErased):
            app.add_lead_task(lead_id, task(), MANAGER)
        assert app.head_position() == head
        [erased] = app.get_lead(lead_id).tasks.values()
        assert (erased.title, erased.note, erased.due_at) == (None, None, DUE)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
class TestRepsAndTheirTasks:
    def test_a_rep_adds_tasks_on_their_own_leads_only(self, app: CrmApplication) -> None:
        bobs = app.capture_lead(capture(owner="bob"), MANAGER).id
        head = app.head_position()
        with pytest.raises(LeadNotFound) as error:
            app.add_lead_task(bobs, task(), rep("alice"))
        assert error.value.withheld and app.head_position() == head
        assert app.add_lead_task(an_alice_lead(app), task(), rep("alice")).position is not None

    def test_a_rep_changes_their_own_tasks_only_wherever_they_are(self, app: CrmApplication) -> None:
        # given bob's lead with a task for alice and one for bob
        bobs = app.capture_lead(capture(owner="bob"), MANAGER).id
        for_alice = app.add_lead_task(bobs, task(owner="alice"), MANAGER).related_id
        for_bob = app.add_lead_task(bobs, task(), MANAGER).related_id
        assert for_alice is not None and for_bob is not None
        head = app.head_position()

        # then alice may not touch bob's task (it is not found for her) but completes her own
        with pytest.raises(TaskNotFound) as error:
            app.complete_task(for_bob, CompleteTask(), rep("alice"), locate=locator_of(app))
        assert error.value.withheld and app.head_position() == head
        with pytest.raises(TaskNotFound):
            app.reschedule_task(
                for_bob, RescheduleTask(due_at=DUE + timedelta(1)), rep("alice"), locate=locator_of(app)
            )
        app.complete_task(for_alice, CompleteTask(), rep("alice"), locate=locator_of(app))
        assert app.get_lead(bobs).task(for_alice).completed_at is not None


# --- the tasks read model, on SQLite and PostgreSQL ------------------------------------------


def follow(app: CrmApplication, store: ReadModelStore) -> ReadModelQueries:
    InProcessRunner(app, store).catch_up()
    return ReadModelQueries(store)


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_tasks_read_model_answers_the_list_and_where_each_task_is(
    app: CrmApplication, store: ReadModelStore
) -> None:
    # given tasks on a lead and a contact, some done, some late
    lead_id = an_alice_lead(app)
    contact_id = app.convert_lead(an_alice_lead(app), ConvertLead(deal_value=100), MANAGER).related_id
    assert contact_id is not None
    late = app.add_lead_task(lead_id, task(due_at=DUE - timedelta(days=2)), MANAGER).related_id
    done = app.add_lead_task(lead_id, task(due_at=DUE - timedelta(days=1)), MANAGER).related_id
    soon = app.add_contact_task(contact_id, task(due_at=DUE + timedelta(days=1), owner="bob"), MANAGER).related_id
    queries = follow(app, store)
    assert late is not None and done is not None and soon is not None
    app.complete_task(done, CompleteTask(), MANAGER, locate=queries.record_of_task)
    queries = follow(app, store)

    # then the list, its filters and the lookups answer from the store
    def ids(**filters: object) -> list[UUID]:
        return [UUID(row.task_id) for row in queries.tasks(now=DUE, **filters)]  # type: ignore[arg-type]

    assert ids() == [late, done, soon]
    assert ids(status="overdue") == [late] and ids(status="done") == [done] and ids(status="open") == [late, soon]
    assert ids(owner="bob") == [soon] and ids(due_before=DUE) == [late, done]
    assert queries.record_of_task(soon) == ("contact", contact_id)
    assert queries.record_of_task(uuid4()) is None
    found = queries.find_task(done)
    assert found is not None and (found.status, found.aggregate_id, found.title) == ("done", str(lead_id), task().title)


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_an_erasure_leaves_no_task_text_in_the_read_model_and_verify_agrees_with_a_replay(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    # given a person's lead and contact with tasks, and somebody else's
    lead_id = an_alice_lead(app)
    app.add_lead_task(lead_id, task(title="Ring Hedy on +43 1 555 0192", note="mornings"), MANAGER)
    contact_id = app.convert_lead(lead_id, ConvertLead(deal_value=100), MANAGER).related_id
    assert contact_id is not None
    app.add_contact_task(contact_id, task(note="send the contract to hedy@frequency.example"), MANAGER)
    others = app.add_lead_task(an_alice_lead(app), task(note="keep"), MANAGER).related_id
    follow(app, store)

    # when the person is erased
    app.erase_person(contact_id, ErasePerson(reason="request 2026-17"), MANAGER)
    queries = follow(app, store)

    # then their tasks keep their times and owners but none of their texts; the other's keeps its
    rows = store.fetch("SELECT aggregate_id, title, note, owner FROM follow_up_tasks ORDER BY aggregate_id")
    theirs = [r for r in rows if r["aggregate_id"] in (str(lead_id), str(contact_id))]
    assert len(theirs) == 2 and all(r["title"] is None and r["note"] is None and r["owner"] for r in theirs)
    assert "555 0192" not in repr(rows) and "hedy@" not in repr(rows)
    kept = queries.find_task(others)  # type: ignore[arg-type]
    assert kept is not None and kept.note == "keep"
    # and a fresh replay writes the same rows
    _, checks = verify(app, Settings(database_url=database_url))
    tasks_check = next(c for c in checks if c.table == "follow_up_tasks")
    assert tasks_check.same and tasks_check.live_rows == 3
