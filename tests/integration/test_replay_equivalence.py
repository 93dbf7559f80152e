"""Property: whatever valid commands a lead and its contact receive, reloading them from the
store gives the aggregates that were in memory, and history lists every event in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.contact import Contact
from domain.errors import DomainError
from domain.lead import Lead
from domain.money import Money
from domain.values import ConsentChannel, InteractionKind, Meta, Stage
from services.app.application import CrmApplication
from services.bootstrap import bootstrap
from services.settings import Settings

START = datetime(2025, 1, 1, tzinfo=UTC)

lead_ops = st.one_of(
    st.tuples(st.just("interact"), st.sampled_from(list(InteractionKind))),
    st.tuples(st.just("stage"), st.sampled_from([s for s in Stage if s.is_open])),
    st.tuples(st.just("assign"), st.sampled_from(["alice", "bob", "carol"])),
    st.tuples(st.just("rescore"), st.none()),
    st.tuples(st.just("disqualify"), st.sampled_from(["no budget", "no need"])),
    st.tuples(st.just("convert"), st.integers(min_value=0, max_value=10**9)),
    st.tuples(st.just("consent"), st.tuples(st.sampled_from(list(ConsentChannel)), st.booleans())),
)
contact_ops = st.one_of(
    st.tuples(st.just("purchase"), st.integers(min_value=0, max_value=10**7)),
    st.tuples(st.just("consent"), st.tuples(st.sampled_from(list(ConsentChannel)), st.booleans())),
    st.tuples(st.just("interact"), st.sampled_from(list(InteractionKind))),
    st.tuples(st.just("title"), st.sampled_from(["CEO", "CTO", None])),
)
step_hours = st.integers(min_value=0, max_value=24 * 20)


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if not k.startswith("_")}


def apply_lead_op(lead: Lead, op: tuple[str, Any], meta: Meta) -> Contact | None:
    name, arg = op
    if name == "interact":
        lead.log_interaction(arg, None, meta)
    elif name == "stage":
        lead.change_stage(arg, meta)
    elif name == "assign":
        lead.assign(arg, meta)
    elif name == "rescore":
        lead.rescore(meta)
    elif name == "disqualify":
        lead.disqualify(arg, meta)
    elif name == "consent":
        lead.change_consent(arg[0], arg[1], meta)
    elif name == "convert":
        lead.check_is_open()
        contact = Contact.create(
            contact_id=uuid4(),
            meta=meta,
            name=lead.name,
            email=lead.email,
            phone=None,
            company=lead.company,
            title=lead.title,
            external_id=None,
            lead_id=lead.id,
        )
        contact.adopt_consent(lead.own_consent_statements(), meta)
        lead.convert(contact.id, Money(arg, "USD"), meta)
        return contact
    return None


def apply_contact_op(contact: Contact, op: tuple[str, Any], meta: Meta, n: int) -> None:
    name, arg = op
    if name == "purchase":
        contact.record_purchase(f"order-{n}", Money(arg, "EUR"), 1, meta)
    elif name == "consent":
        contact.change_consent(arg[0], arg[1], meta)
    elif name == "interact":
        contact.log_interaction(arg, None, meta)
    elif name == "title":
        contact.update_details({"title": arg}, meta)


def check_round_trip(app: CrmApplication, lead_plan: list[Any], contact_plan: list[Any]) -> None:
    at = START
    lead = Lead.capture(
        lead_id=uuid4(),
        meta=Meta("alice", "c0", at),
        name="Ada",
        email="ada@example.com",
        company="Acme",
        phone=None,
        title="VP Sales",
        source="web_form",
        campaign=None,
        estimated_value=1000,
        currency="USD",
        owner=None,
        contact_id=None,
        interest=None,
        country=None,
    )
    emitted = [type(e).__name__ for e in lead.pending_events]
    app.save(lead)
    contact: Contact | None = None
    contact_emitted: list[str] = []
    for n, (op, hours) in enumerate(lead_plan):
        at += timedelta(hours=hours)
        try:
            made = apply_lead_op(lead, op, Meta("alice", f"c{n}", at))
        except DomainError:
            continue
        emitted += [type(e).__name__ for e in lead.pending_events]
        if made is not None:
            contact = made
            contact_emitted += [type(e).__name__ for e in contact.pending_events]
        app.save(lead, contact)
    if contact is not None:
        for n, (op, hours) in enumerate(contact_plan):
            at += timedelta(hours=hours)
            try:
                apply_contact_op(contact, op, Meta("bob", f"d{n}", at), n)
            except DomainError:
                continue
            contact_emitted += [type(e).__name__ for e in contact.pending_events]
            app.save(contact)
        assert state_of(app.get_contact(contact.id)) == state_of(contact)
        assert [h.version for h in app.history(contact.id)] == list(range(1, contact.version + 1))
    assert state_of(app.get_lead(lead.id)) == state_of(lead)
    history = app.history(lead.id)
    assert [h.version for h in history] == list(range(1, lead.version + 1))
    assert [h.event_type.split(".")[1].replace("_", "") for h in history] == [n.lower() for n in emitted]


plans = st.lists(st.tuples(lead_ops, step_hours), max_size=25)
contact_plans = st.lists(st.tuples(contact_ops, step_hours), max_size=15)


@pytest.mark.parametrize("url", ["memory://", "sqlite:///:memory:"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lead_plan=plans, contact_plan=contact_plans)
def test_reloading_from_the_store_gives_the_aggregate_that_was_in_memory(
    url: str, lead_plan: list[Any], contact_plan: list[Any]
) -> None:
    app = bootstrap(Settings(database_url=url))
    try:
        check_round_trip(app, lead_plan, contact_plan)
    finally:
        app.close()


@pytest.mark.postgres
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lead_plan=plans, contact_plan=contact_plans)
def test_reloading_from_postgres_gives_the_aggregate_that_was_in_memory(
    postgres_url: str, lead_plan: list[Any], contact_plan: list[Any]
) -> None:
    app = bootstrap(Settings(database_url=postgres_url))
    try:
        check_round_trip(app, lead_plan, contact_plan)
    finally:
        app.close()
