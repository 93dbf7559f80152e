"""Erasure by crypto-shredding, tested the hard way: after a person is erased, their name, email
and phone are found nowhere — not in the SQLite file or its WAL, not in a pg_dump — while the
history keeps its events and the read models keep their numbers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

import pytest

from consumers.in_process_runner import InProcessRunner
from domain.errors import PersonErased
from domain.personal_data import ERASED_NAME
from services.app.application import Context, CrmApplication
from services.app.commands import (
    CaptureLead,
    ChangeStage,
    ConvertLead,
    ErasePerson,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    UpdateContactDetails,
)
from services.app.queries import ReadModelQueries
from services.bootstrap import after_erasure, bootstrap, open_read_models
from services.jobs.rebuild import verify
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from tests.integration.factories import hire
from tests.support.postgres_server import find_postgres_bin_dir

ALICE = Context(actor="alice", correlation_id="req-erasure")
NAME, EMAIL, PHONE = "Hedwig Kiesler-Markey", "hedy.spread@frequency.example", "+43 1 555 0192"
NEW_EMAIL = "hedy.new@frequency.example"
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
SECRETS = (NAME, "Kiesler", EMAIL, "hedy.spread", NEW_EMAIL, PHONE, "555 0192")

DURABLE = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DURABLE)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite:///{tmp_path / 'crm.sqlite'}", master_key_file=str(tmp_path / "mk"))
    return Settings(database_url=str(request.getfixturevalue("postgres_url")), master_key_file=str(tmp_path / "mk"))


@pytest.fixture
def app(settings: Settings) -> Iterator[CrmApplication]:
    app = bootstrap(settings)
    yield app
    app.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[ReadModelStore]:
    store = open_read_models(settings)
    yield store
    store.close()


def a_persons_life(app: CrmApplication) -> tuple[UUID, UUID, UUID]:
    """A lead, the contact it became, and the contact's later lead: one person."""
    hire(app, "alice")
    lead = app.capture_lead(
        CaptureLead(
            name=NAME,
            email=EMAIL,
            phone=PHONE,
            title="Inventor",
            company="Frequency Hopping GmbH",
            source="web_form",
            estimated_value=50_000_00,
            owner="alice",
            occurred_at=T0,
        ),
        ALICE,
    ).id
    app.log_lead_interaction(
        lead,
        LogInteraction(kind="call", detail=f"called {PHONE}, wrote to {EMAIL}", occurred_at=T0 + timedelta(days=1)),
        ALICE,
    )
    app.change_stage(lead, ChangeStage(stage="qualified", occurred_at=T0 + timedelta(days=2)), ALICE)
    contact = app.convert_lead(lead, ConvertLead(deal_value=60_000_00, occurred_at=T0 + timedelta(days=3)), ALICE)
    contact_id = contact.related_id
    assert contact_id is not None
    app.update_contact_details(
        contact_id, UpdateContactDetails(email=NEW_EMAIL, occurred_at=T0 + timedelta(days=4)), ALICE
    )
    app.record_purchase(
        contact_id, RecordPurchase(order_id="A-1", amount=12_00, occurred_at=T0 + timedelta(days=5)), ALICE
    )
    app.record_purchase(
        contact_id, RecordPurchase(order_id="A-2", amount=30_00, occurred_at=T0 + timedelta(days=9)), ALICE
    )
    again = app.reactivate_contact(
        contact_id, ReactivateContact(interest="a second line", occurred_at=T0 + timedelta(days=10)), ALICE
    )
    assert again.related_id is not None
    # and somebody else, who stays
    app.capture_lead(
        CaptureLead(name="Grace Hopper", email="grace@navy.example", source="event", occurred_at=T0), ALICE
    )
    return lead, contact_id, again.related_id


def numbers(store: ReadModelStore, as_of: datetime) -> dict[str, object]:
    queries = ReadModelQueries(store)
    pipeline = queries.pipeline(as_of=as_of)
    return {
        "stages": [(s.stage, s.count, s.value) for s in pipeline.stages],
        "win_rate": pipeline.win_rate,
        "segments": [(s.name, s.members) for s in queries.segments(as_of=as_of)],
        "forecast": queries.forecast(as_of=as_of, months=2).model_dump(mode="json"),
    }


def found_in(data: bytes) -> list[str]:
    return [secret for secret in SECRETS if secret.encode() in data]


def test_erasing_a_person_keeps_their_history_and_the_numbers_and_leaves_no_plaintext(
    app: CrmApplication, store: ReadModelStore, settings: Settings, tmp_path: Path
) -> None:
    # given a person's whole life in the store and the read models
    lead_id, contact_id, later_lead_id = a_persons_life(app)
    runner = InProcessRunner(app, store)
    runner.catch_up()
    as_of = T0 + timedelta(days=30)
    before = numbers(store, as_of)
    types_before = {i: [e.event_type for e in app.history(i)] for i in (lead_id, contact_id, later_lead_id)}
    assert app.get_contact(contact_id).email == NEW_EMAIL  # readable until erased
    assert NAME in repr(store.fetch("SELECT name FROM pipeline_leads"))  # the read models have it
    if settings.backend == "sqlite":  # and so the file does: the greps below can find it
        assert NAME in found_in(b"".join(p.read_bytes() for p in database_files(settings)))

    # when they are erased, through their contact
    result = app.erase_person(contact_id, ErasePerson(reason="data subject request 2026-117"), ALICE)
    runner.catch_up()
    after_erasure(settings, runner.wait)(result.position)

    # then all three records are theirs, load, and read as erased
    assert set(result.erased_ids) == {lead_id, contact_id, later_lead_id}
    for lead in (app.get_lead(lead_id), app.get_lead(later_lead_id)):
        assert (lead.name, lead.email, lead.phone, lead.title) == (ERASED_NAME, None, None, None)
        assert lead.erased_at is not None
    contact = app.get_contact(contact_id)
    assert (contact.name, contact.email, contact.phone, contact.title) == (ERASED_NAME, None, None, None)
    assert (contact.purchase_count, contact.lifetime_value) == (2, {"USD": 42_00})
    # the history keeps every event's type, time and actor, plus the erasure, which holds nothing personal
    for record_id, types in types_before.items():
        history = app.history(record_id)
        assert [e.event_type for e in history] == [*types, history[-1].event_type]
        assert history[-1].event_type.endswith(".erased") and history[-1].data == {
            "reason": "data subject request 2026-117"
        }
        assert all(e.actor == "alice" for e in history)
    detail = next(e for e in app.history(lead_id) if e.event_type == "lead.interaction_logged").data["detail"]
    assert detail is None
    # the numbers are unchanged
    assert numbers(store, as_of) == before
    # the read models hold no personal data, and a replay from the log gives the same tables
    assert not found_in(repr(store.fetch("SELECT * FROM pipeline_leads")).encode())
    assert not found_in(repr(store.fetch("SELECT * FROM segment_contacts")).encode())
    people = repr(store.fetch("SELECT * FROM people"))
    assert not found_in(people.encode()) and "+4315550192" not in people  # nor the phone's compared form
    erased = {str(i) for i in (lead_id, contact_id, later_lead_id)}
    assert {r["status"] for r in store.fetch("SELECT person_id, status FROM people") if r["person_id"] in erased} == {
        "erased"
    }
    position, checks = verify(app, settings)
    assert position == app.head_position() and all(check.same for check in checks), checks
    # and the person's records take no more commands
    with pytest.raises(PersonErased):
        app.log_lead_interaction(later_lead_id, LogInteraction(kind="call"), ALICE)
    # erasing again changes nothing
    assert app.erase_person(lead_id, ErasePerson(reason="again, by mistake"), ALICE).position is None

    # the hard way: nothing of theirs is left in the database's files
    app.close()
    store.close()
    if settings.backend == "sqlite":
        for path in database_files(settings):  # the file itself, its -wal and -shm if present
            assert not found_in(path.read_bytes()), path
    else:
        assert not found_in(pg_dump(settings.database_url)), "pg_dump"


def test_the_store_never_holds_personal_data_in_plain_text(app: CrmApplication, settings: Settings) -> None:
    a_persons_life(app)
    stored = b"".join(n.state for n in app.recorder.select_notifications(1, 1000))
    assert not found_in(stored)
    assert b"enc:v1:" in stored
    assert b"Frequency Hopping GmbH" in stored  # the company is not personal data: it stays readable


def database_files(settings: Settings) -> list[Path]:
    database = Path(settings.database.path)
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    assert database in files
    return files


def pg_dump(url: str) -> bytes:
    bin_dir = find_postgres_bin_dir()
    assert bin_dir is not None
    parts = urlsplit(url)
    dumped = subprocess.run(
        [
            str(bin_dir / "pg_dump"),
            "--data-only",
            "-h",
            parts.hostname or "",
            "-p",
            str(parts.port),
            "-U",
            parts.username or "postgres",
            parts.path.lstrip("/"),
        ],
        capture_output=True,
        env={"PGPASSWORD": parts.password or ""},
        timeout=120,
        check=True,
    )
    assert b"COPY" in dumped.stdout  # it did dump the tables
    return dumped.stdout
