"""What only a real database can show: durability, concurrent writers, atomic multi-aggregate appends."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from domain.contact import Contact
from domain.values import Stage
from services.app.application import CrmApplication, derived_id
from services.app.commands import AssignLead, ChangeStage, ConvertLead
from services.app.errors import ConcurrencyConflict
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture, hire

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
POSTGRES = [p for p in BACKENDS if p.values[0] == "postgres"]


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_store_survives_reopening_the_application(
    app: CrmApplication, open_app: Callable[[], CrmApplication]
) -> None:
    # given
    lead_id = app.capture_lead(capture(), ALICE).id
    app.change_stage(lead_id, ChangeStage(stage=Stage.CONTACTED), ALICE)
    # when
    reopened = open_app()
    # then
    assert reopened.get_lead(lead_id).stage == Stage.CONTACTED
    assert reopened.head_position() == app.head_position()
    assert [h.version for h in reopened.history(lead_id)] == [1, 2, 3]


@pytest.mark.parametrize("database_url", POSTGRES, indirect=True)
def test_two_writers_with_the_same_expected_version_exactly_one_wins(
    app: CrmApplication, open_app: Callable[[], CrmApplication]
) -> None:
    # given: one lead and two application instances, as two API processes would have
    lead_id = app.capture_lead(capture(), ALICE).id
    writers = [app, open_app()]
    rounds = 15
    hire(app, *(f"rep-{round_no}-{i}" for round_no in range(rounds) for i in range(len(writers))))
    for round_no in range(rounds):
        expected = app.get_lead(lead_id).version
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def write(
            writer: CrmApplication,
            owner: str,
            barrier: threading.Barrier = barrier,
            expected: int = expected,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                writer.assign_lead(lead_id, AssignLead(owner=owner), ALICE, expected_version=expected)
                outcomes.append("won")
            except ConcurrencyConflict:
                outcomes.append("conflict")

        # when: both write at once, each expecting the same version
        threads = [threading.Thread(target=write, args=(w, f"rep-{round_no}-{i}")) for i, w in enumerate(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        # then
        assert sorted(outcomes) == ["conflict", "won"], f"round {round_no}: {outcomes}"
    versions = [h.version for h in app.history(lead_id)]
    assert versions == list(range(1, 2 + rounds + 1))


@pytest.mark.parametrize("database_url", POSTGRES, indirect=True)
def test_a_conversion_whose_append_fails_leaves_neither_the_converted_lead_nor_the_contact(
    app: CrmApplication,
) -> None:
    # given: the contact id this conversion will use is already taken, so the append must fail
    lead_id = app.capture_lead(capture(), ALICE).id
    squatter = Contact.create(
        contact_id=derived_id("contact-from-lead", str(lead_id)),
        meta=ALICE.meta(None),
        name="Squatter",
        email=None,
        phone=None,
        company=None,
        title=None,
        external_id=None,
        lead_id=None,
    )
    app.save(squatter)
    head = app.head_position()
    # when
    with pytest.raises(ConcurrencyConflict):
        app.convert_lead(lead_id, ConvertLead(deal_value=1_000_00), ALICE)
    # then: no Converted event for the lead, and no second event on the contact
    assert app.head_position() == head
    lead = app.get_lead(lead_id)
    assert (lead.stage, lead.version) == (Stage.NEW, 2)
    assert [h.event_type for h in app.history(squatter.id)] == ["contact.created"]
    assert app.get_contact(squatter.id).name == "Squatter"
