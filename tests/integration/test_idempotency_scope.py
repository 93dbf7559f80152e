"""Idempotency keys are each actor's own: another actor's same key creates its own record and
learns nothing about the first; the CRM's own jobs keep their stable ids. On every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.app.application import Context, CrmApplication, derived_id
from services.app.commands import ReactivateContact
from services.app.errors import IdempotencyKeyReused
from services.jobs.cdnow_import import import_purchases
from services.jobs.seed import seed_history
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, BOB, capture, new_contact

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cdnow" / "CDNOW_sample.txt"


def test_another_actors_same_key_captures_a_lead_of_their_own(app: CrmApplication) -> None:
    # given alice captured a lead with a key
    alices = app.capture_lead(capture(idempotency_key="form-123"), ALICE)
    # when bob sends the same key, with other values
    bobs = app.capture_lead(capture(idempotency_key="form-123", name="Someone Else"), BOB)
    # then bob has his own lead, and alice's is untouched
    assert bobs.id != alices.id and bobs.position is not None
    assert app.get_lead(bobs.id).name == "Someone Else" and app.get_lead(alices.id).name == "Ada Lovelace"
    assert (alices.id, bobs.id) == (
        derived_id("lead", "form-123", "alice"),
        derived_id("lead", "form-123", "bob"),
    )
    # and each actor's retry finds their own, appending nothing
    head = app.head_position()
    assert app.capture_lead(capture(idempotency_key="form-123"), ALICE).id == alices.id
    assert app.capture_lead(capture(idempotency_key="form-123", name="Someone Else"), BOB).id == bobs.id
    assert app.head_position() == head


def test_another_actors_same_key_creates_a_contact_of_their_own(app: CrmApplication) -> None:
    alices = app.create_contact(new_contact(idempotency_key="signup-1"), ALICE)
    bobs = app.create_contact(new_contact(idempotency_key="signup-1"), BOB)
    assert bobs.id != alices.id and bobs.position is not None
    assert app.create_contact(new_contact(idempotency_key="signup-1"), BOB).position is None


def test_reusing_ones_own_key_differently_names_the_differing_fields(app: CrmApplication) -> None:
    first = app.capture_lead(capture(idempotency_key="form-123"), ALICE)
    with pytest.raises(IdempotencyKeyReused) as error:
        app.capture_lead(capture(idempotency_key="form-123", name="Someone Else", title="CEO"), ALICE)
    assert (error.value.aggregate_id, error.value.fields) == (first.id, ["name", "title"])


def test_where_keys_are_shared_a_record_another_created_is_not_described(app: CrmApplication) -> None:
    # the CRM's own jobs share their keys; a record made by another actor under a shared key is
    # refused without saying what it is or how it differs
    importer = Context(actor="system:import", shared_keys=True)
    other = Context(actor="system:other", shared_keys=True)
    app.create_contact(new_contact(idempotency_key="cdnow:1"), importer)
    head = app.head_position()
    for cmd in (new_contact(idempotency_key="cdnow:1"), new_contact(idempotency_key="cdnow:1", name="X")):
        with pytest.raises(IdempotencyKeyReused) as error:
            app.create_contact(cmd, other)
        assert (error.value.aggregate_id, error.value.fields) == (None, None)
        assert str(error.value) == "idempotency key 'cdnow:1' is already used; send another key"
    assert app.head_position() == head


def test_a_reactivation_key_is_its_actors_own(app: CrmApplication) -> None:
    contact_id = app.create_contact(new_contact(), ALICE).id
    first = app.reactivate_contact(contact_id, ReactivateContact(interest="add-on", idempotency_key="r-1"), ALICE)
    assert first.related_id == derived_id("reactivation", "r-1", "alice")
    retried = app.reactivate_contact(contact_id, ReactivateContact(interest="add-on", idempotency_key="r-1"), ALICE)
    assert retried.related_id == first.related_id and retried.position is None


def test_the_seed_keeps_its_ids_and_a_rerun_appends_nothing(app: CrmApplication) -> None:
    end = datetime(2026, 6, 1, tzinfo=UTC)
    seed_history(app, leads=3, seed=5, end=end)
    head = app.head_position()
    first = app.get_lead(derived_id("lead", "seed:5:0"))
    assert first.name and app.history(first.id)[0].actor == "system:marketing"
    seed_history(app, leads=3, seed=5, end=end)
    assert app.head_position() == head


def test_an_import_keeps_its_ids_and_a_rerun_appends_nothing(app: CrmApplication) -> None:
    import_purchases(app, SAMPLE)
    head = app.head_position()
    assert app.get_contact(derived_id("contact", "cdnow:4")).external_id == "cdnow:4"
    assert import_purchases(app, SAMPLE).events == 0
    assert app.head_position() == head
