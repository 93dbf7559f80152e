"""The contact read models in business time: a contact's features, segments and details as of any
date agree with the contact's own timeline (its events in occurred_at order, ties by version),
whatever order its events were recorded in, back-dated ones included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.values import ConsentChannel, InteractionKind
from projections.contact_features import ContactFeatures, Purchase, contact_features
from projections.people import PeopleProjection
from projections.people_queries import person, with_email
from projections.segment_membership import ConsentChange, ContactHistory, history_intervals
from projections.segment_queries import (
    contact_segments,
    fetch_contact_features,
    list_contacts,
    segment_members,
    segment_summaries,
)
from projections.segment_rules import default_rules
from projections.segments import SegmentsProjection
from services.app.application import AuditEntry, CrmApplication
from services.app.commands import (
    ChangeConsent,
    CreateContact,
    DisqualifyLead,
    ErasePerson,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    UpdateContactDetails,
)
from services.app.errors import ApplicationError
from services.bootstrap import read_log
from services.jobs.rebuild import verify
from services.settings import Settings
from services.storage.read_model_store import ReadModelStore
from services.storage.recorders import read_model_recorder
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, caught_up, known_at_of

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
CREATED_AT = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def at(days: float) -> datetime:
    """So many days after the contact was created, in business time."""
    return CREATED_AT + timedelta(days=days)


def new_contact(app: CrmApplication, name: str = "Grace Hopper") -> UUID:
    """A contact created at CREATED_AT."""
    return app.create_contact(CreateContact(name=name, occurred_at=CREATED_AT), ALICE).id


def buy(app: CrmApplication, contact_id: UUID, order: str, days: float, amount: int = 50_00) -> None:
    """A purchase dated `days` after the contact's creation."""
    app.record_purchase(contact_id, RecordPurchase(order_id=order, amount=amount, occurred_at=at(days)), ALICE)


def consent(app: CrmApplication, contact_id: UUID, granted: bool, days: float) -> None:
    """An email consent grant or withdrawal dated `days` after the contact's creation."""
    app.change_consent(
        contact_id, ChangeConsent(channel=ConsentChannel.EMAIL, granted=granted, occurred_at=at(days)), ALICE
    )


def in_business_order(entries: list[AuditEntry]) -> list[AuditEntry]:
    """A contact's events as its as-of reads fold them: creation first, then occurred_at, then version."""
    return sorted(entries, key=lambda e: (e.version != 1, e.occurred_at, e.version))


def known(entries: list[AuditEntry], known_at: datetime | None) -> list[AuditEntry]:
    """The contact's events recorded by `known_at` (all of them without it)."""
    return [e for e in entries if known_at is None or e.recorded_at <= known_at]


def reference_history(
    entries: list[AuditEntry], as_of: datetime, known_at: datetime | None = None
) -> ContactHistory | None:
    """The contact's facts up to `as_of`, as known at `known_at`, worked out by hand from its audit trail."""
    ordered = [e for e in in_business_order(known(entries, known_at)) if e.occurred_at <= as_of]
    if not ordered or ordered[0].event_type != "contact.created":
        return None
    return ContactHistory(
        contact_id="reference",
        name=None,
        created_at=ordered[0].occurred_at,
        purchases=tuple(
            Purchase(e.occurred_at, int(e.data["amount"]), str(e.data["currency"]))
            for e in ordered
            if e.event_type == "contact.purchase_recorded"
        ),
        interactions=tuple(e.occurred_at for e in ordered if e.event_type == "contact.interaction_logged"),
        reactivations=tuple(e.occurred_at for e in ordered if e.event_type == "contact.reactivated"),
    )


def reference_features(
    entries: list[AuditEntry], as_of: datetime, known_at: datetime | None = None
) -> ContactFeatures | None:
    """The contact's features as of `as_of` (as known at `known_at`) from its audit trail: the
    later consent in business order wins, whatever order the changes were recorded in."""
    history = reference_history(entries, as_of, known_at)
    if history is None:
        return None
    consents: dict[str, bool] = {}
    for e in in_business_order(known(entries, known_at)):
        if e.event_type == "contact.consent_changed" and e.occurred_at <= as_of:
            consents[str(e.data["channel"])] = bool(e.data["granted"])
    return contact_features(
        history.created_at,
        history.purchases,
        history.interactions,
        consents,
        as_of,
        reactivations=len(history.reactivations),
    )


def reference_name(entries: list[AuditEntry]) -> str:
    """The contact's name now: the last one set in business order."""
    name = ""
    for e in in_business_order(entries):
        if e.event_type == "contact.created":
            name = str(e.data["name"])
        elif e.event_type == "contact.details_updated" and "name" in e.data["changes"]:
            name = str(e.data["changes"]["name"])
    return name


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
class TestContactReadModelsInBusinessTime:
    def test_a_purchase_recorded_last_but_dated_between_two_others_counts_from_its_business_time(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        contact_id = new_contact(app)
        buy(app, contact_id, "A-1", 10)
        buy(app, contact_id, "A-3", 200)
        caught_up(app, store)
        buy(app, contact_id, "A-2", 100, amount=70_00)  # recorded last, dated between the two
        caught_up(app, store)
        entries = app.history(contact_id)

        for days in (5, 50, 150, 250, 400):
            live = fetch_contact_features(store, contact_id, at(days))
            assert live == reference_features(entries, at(days)), f"as of +{days}d"
        features = fetch_contact_features(store, contact_id, at(150))
        assert features is not None
        assert (features.purchase_count, features.total_value, features.frequency) == (2, 120_00, 1)
        assert features.last_purchase_at == at(100) and features.lifecycle == "active"
        in_segments = {s.name for s in contact_segments(store, default_rules(), contact_id, at(150)) or []}
        assert "repeat_buyers" in in_segments

    def test_a_consent_change_recorded_last_but_dated_between_two_others_holds_from_its_business_time(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        contact_id = new_contact(app)
        consent(app, contact_id, True, 10)
        app.log_contact_interaction(contact_id, LogInteraction(kind=InteractionKind.CALL, occurred_at=at(60)), ALICE)
        caught_up(app, store)
        consent(app, contact_id, False, 30)  # recorded last, dated before the interaction
        caught_up(app, store)
        entries = app.history(contact_id)

        consents = {}
        for days in (5, 20, 40, 70):
            features = fetch_contact_features(store, contact_id, at(days))
            assert features == reference_features(entries, at(days)), f"as of +{days}d"
            assert features is not None
            consents[days] = features.consent.get("email")
        assert consents == {5: None, 20: True, 40: False, 70: False}
        assert app.get_contact(contact_id).consents.get("email") is False

    def test_a_name_change_recorded_last_but_dated_before_another_leaves_the_later_name_standing(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        contact_id = new_contact(app, "Grace Hopper")
        buy(app, contact_id, "A-1", 1)
        app.update_contact_details(contact_id, UpdateContactDetails(name="Grace M. Hopper", occurred_at=at(50)), ALICE)
        caught_up(app, store)
        app.update_contact_details(  # recorded last, dated before the other change
            contact_id, UpdateContactDetails(name="Grace B. Murray", company="Navy", occurred_at=at(20)), ALICE
        )
        caught_up(app, store)

        assert app.get_contact(contact_id).name == "Grace M. Hopper" == reference_name(app.history(contact_id))
        [listed] = list_contacts(store)
        assert (listed.name, listed.company) == ("Grace M. Hopper", "Navy"), "the company changed only at +20d"
        assert listed.updated_position == app.head_position(), "the latest event recorded"
        [member] = segment_members(store, default_rules(), "new_customers", at(60))
        assert member.name == "Grace M. Hopper"
        indexed = person(store, "contact", str(contact_id))
        assert indexed is not None and (indexed.name, indexed.company) == ("Grace M. Hopper", "Navy")

    def test_as_known_at_a_moment_what_was_recorded_later_is_left_out_and_member_names_are_the_current_ones(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        contact_id = new_contact(app, "Grace Hopper")
        buy(app, contact_id, "A-1", 10)
        buy(app, contact_id, "A-3", 200)
        known = app.history(contact_id)[-1].recorded_at
        buy(app, contact_id, "A-2", 100)  # recorded later, dated between the two
        app.update_contact_details(  # recorded later, dated before every purchase
            contact_id, UpdateContactDetails(name="Grace M. Hopper", occurred_at=at(5)), ALICE
        )
        later = new_contact(app, "Ada Lovelace")  # created (in business time) before +20d, recorded later
        buy(app, later, "B-1", 10)
        caught_up(app, store)
        rules = default_rules()

        then, now = (fetch_contact_features(store, contact_id, at(150), known_at=k) for k in (known, None))
        assert then is not None and (then.purchase_count, then.frequency, then.total_value) == (1, 0, 50_00)
        assert now is not None and (now.purchase_count, now.frequency, now.total_value) == (2, 1, 100_00)
        assert then == reference_features(app.history(contact_id), at(150), known)
        assert [m.contact_id for m in segment_members(store, rules, "repeat_buyers", at(150), known)] == []
        assert [m.contact_id for m in segment_members(store, rules, "repeat_buyers", at(150))] == [str(contact_id)]
        assert fetch_contact_features(store, later, at(20), known_at=known) is None, "not known yet"
        assert contact_segments(store, rules, later, at(20), known) is None
        assert {s.name: s.members for s in segment_summaries(store, rules, at(20), known)}["new_customers"] == 1
        # the name a member list shows is the contact's name now, as for a read as of a date
        [member] = segment_members(store, rules, "new_customers", at(20), known)
        assert (member.contact_id, member.name) == (str(contact_id), "Grace M. Hopper")

        app.erase_person(contact_id, ErasePerson(reason="data subject request"), ALICE)
        caught_up(app, store)
        [member] = segment_members(store, rules, "new_customers", at(20), known)
        assert member.name == "[erased]", "an erased name stays erased, whatever was known before"

    def test_an_email_change_recorded_last_but_dated_before_another_does_not_move_the_identity_index(
        self, app: CrmApplication, store: ReadModelStore
    ) -> None:
        contact_id = new_contact(app)
        app.update_contact_details(contact_id, UpdateContactDetails(email="grace@navy.mil", occurred_at=at(50)), ALICE)
        caught_up(app, store)
        app.update_contact_details(  # recorded last, dated before the other change
            contact_id, UpdateContactDetails(email="grace@yale.edu", occurred_at=at(20)), ALICE
        )
        caught_up(app, store)

        assert app.get_contact(contact_id).email == "grace@navy.mil"
        assert [p.person_id for p in with_email(store, "contact", "grace@navy.mil")] == [str(contact_id)]
        assert with_email(store, "contact", "grace@yale.edu") == []
        [listed] = list_contacts(store)
        assert listed.email == "grace@navy.mil"


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_verify_checks_the_segments_and_the_identity_index_against_a_fold_per_contact_in_business_order(
    app: CrmApplication, store: ReadModelStore, database_url: str
) -> None:
    contact_id = new_contact(app)
    buy(app, contact_id, "A-1", 10)
    app.update_contact_details(contact_id, UpdateContactDetails(title="Rear Admiral", occurred_at=at(50)), ALICE)
    caught_up(app, store)
    app.update_contact_details(contact_id, UpdateContactDetails(title="Commander", occurred_at=at(20)), ALICE)
    buy(app, contact_id, "A-0", 5)
    caught_up(app, store)

    app.update_contact_details(contact_id, UpdateContactDetails(email="grace@navy.mil", occurred_at=at(60)), ALICE)
    app.update_contact_details(contact_id, UpdateContactDetails(email="grace@yale.edu", occurred_at=at(30)), ALICE)
    caught_up(app, store)

    _, checks = verify(app, Settings(database_url=database_url))
    assert {"segment_contacts", "segment_purchases", "people"} <= {c.table for c in checks}
    assert checks and all(c.same for c in checks), [c for c in checks if not c.same]

    with store.recorder.datastore.transaction(commit=True) as c:
        c.execute("UPDATE segment_contacts SET title = 'Commander'")
    _, checks = verify(app, Settings(database_url=database_url))
    assert [c.table for c in checks if not c.same] == ["segment_contacts"]

    with store.recorder.datastore.transaction(commit=True) as c:
        c.execute("UPDATE people SET email = 'grace@yale.edu' WHERE kind = 'contact'")
    _, checks = verify(app, Settings(database_url=database_url))
    assert [c.table for c in checks if not c.same] == ["segment_contacts", "people"]


# --- the property: the contact read models as of any date are the contact's own fold then -------

CONTACT_COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(["purchase", "purchase", "purchase", "interaction", "consent", "details"]),
        st.integers(min_value=-3, max_value=400),
        st.integers(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=10,
)
CONTACT_PROBES = st.lists(st.integers(-5, 600), min_size=1, max_size=6)
NAMES = ("Grace Hopper", "Grace M. Hopper", "Grace B. Murray", "Amazing Grace", "G. Hopper", "Rear Admiral Hopper")


def run_contact_command(app: CrmApplication, contact_id: UUID, kind: str, days: int, pick: int, n: int) -> None:
    """One random command on the contact, dated `days` after its creation (maybe before it)."""
    when = at(days + pick / 7)  # not only whole days, so purchases fall on one day or several
    if kind == "purchase":
        cmd = RecordPurchase(order_id=f"O-{n}", amount=(pick + 1) * 10_00, currency=("USD", "EUR")[pick % 2 * (n % 2)])
        app.record_purchase(contact_id, cmd.model_copy(update={"occurred_at": when}), ALICE)
    elif kind == "interaction":
        kinds = (InteractionKind.CALL, InteractionKind.MEETING, InteractionKind.WEB_VISIT)
        app.log_contact_interaction(contact_id, LogInteraction(kind=kinds[pick % 3], occurred_at=when), ALICE)
    elif kind == "consent":
        consent(app, contact_id, pick % 2 == 0, days + pick / 7)
    elif kind == "reactivation":
        reactivated = app.reactivate_contact(contact_id, ReactivateContact(interest="upgrade", occurred_at=when), ALICE)
        assert reactivated.related_id is not None
        # the new lead lost at once, so that the contact can be reactivated again
        app.disqualify_lead(reactivated.related_id, DisqualifyLead(reason="no budget", occurred_at=when), ALICE)
    else:
        changes = UpdateContactDetails(
            name=NAMES[pick], company=None if pick % 2 else f"Company {pick}", email=f"grace{pick % 3}@example.com"
        )
        app.update_contact_details(contact_id, changes.model_copy(update={"occurred_at": when}), ALICE)


def reference_segments(
    entries: list[AuditEntry], as_of: datetime, known_at: datetime | None = None
) -> list[tuple[str, datetime]] | None:
    """The default segments the contact is in as of `as_of` (as known at `known_at`), each since
    when, from its audit trail."""
    history = reference_history(entries, as_of, known_at)
    if history is None:
        return None
    consents = tuple(
        ConsentChange(e.occurred_at, str(e.data["channel"]), bool(e.data["granted"]), e.version)
        for e in in_business_order(known(entries, known_at))
        if e.event_type == "contact.consent_changed" and e.occurred_at <= as_of
    )
    history = ContactHistory(
        history.contact_id,
        None,
        history.created_at,
        history.purchases,
        history.interactions,
        consents,
        history.reactivations,
    )
    found = []
    for rule in default_rules():
        stays = history_intervals(history, rule, as_of)
        if stays and stays[-1].left_at is None:
            found.append((rule.name, stays[-1].entered_at))
    return found


@pytest.mark.parametrize("database_url", [DURABLE[0]], indirect=True)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=CONTACT_COMMANDS, probes=CONTACT_PROBES)
def test_the_contact_read_models_as_of_any_date_answer_as_the_contact_s_fold_whatever_the_recording_order(
    app: CrmApplication, store: ReadModelStore, commands: list[tuple[str, int, int]], probes: list[int]
) -> None:
    start = app.head_position() + 1
    contact_id = new_contact(app)
    for n, (kind, days, pick) in enumerate(commands):
        try:
            run_contact_command(app, contact_id, kind, days, pick, n)
        except DomainError:
            continue
        caught_up(app, store)  # each accepted event applied as it comes, back-dated or not
    caught_up(app, store)
    entries = app.history(contact_id)
    event(f"{sum(1 for a, b in zip(entries, entries[1:], strict=False) if b.occurred_at < a.occurred_at)} back-dated")

    rules = default_rules()
    for days in probes:
        as_of = at(days)
        expected = reference_features(entries, as_of)
        assert fetch_contact_features(store, contact_id, as_of) == expected, f"as of +{days}d"
        live_segments = contact_segments(store, rules, contact_id, as_of)
        in_segments = None if live_segments is None else [(s.name, s.entered_at) for s in live_segments]
        assert in_segments == reference_segments(entries, as_of), f"segments as of +{days}d"
        if expected is not None:  # the aggregate's own business-time fold agrees too
            contact = app.get_contact(contact_id, as_of=as_of)
            assert (expected.first_purchase_at, expected.last_purchase_at) == (
                contact.first_purchase_at,
                contact.last_purchase_at,
            )
            assert expected.last_interaction_at == contact.last_interaction_at
            assert expected.consent == contact.consents
    [listed] = list_contacts(store, among=[str(contact_id)])
    now = app.get_contact(contact_id)
    assert (listed.name, listed.company, listed.email) == (now.name, now.company, now.email)
    assert listed.name == reference_name(entries)
    scratch = folded(app, contact_id, start)
    try:
        assert rows_of(store, contact_id) == rows_of(scratch, contact_id), "the rows a fold per contact writes"
    finally:
        scratch.close()


def folded(app: CrmApplication, contact_id: UUID, start: int) -> ReadModelStore:
    """Scratch segments and identity index read models (in memory) holding the contact's events folded from scratch
    in business order, as `crm verify` folds them."""
    scratch = ReadModelStore(
        read_model_recorder({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}),
        [SegmentsProjection(), PeopleProjection()],
    )
    scratch.apply_folds([[r for r in read_log(app, start, 10_000) if r.aggregate_id == contact_id]])
    return scratch


def rows_of(reader: ReadModelStore, contact_id: UUID) -> dict[str, list[dict[str, object]]]:
    """Every segments and identity index row of the contact, table by table, in primary-key order."""
    rows = {
        table.name: reader.fetch(
            f"SELECT * FROM {table.name} WHERE contact_id = ? ORDER BY {', '.join(table.primary_key)}",
            [str(contact_id)],
        )
        for table in SegmentsProjection.tables
    }
    rows["people"] = reader.fetch("SELECT * FROM people WHERE person_id = ?", [str(contact_id)])
    return rows


# --- the property over (as_of, known_at): what was believed then about any date ----------------

KNOWN_COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(["purchase", "purchase", "purchase", "interaction", "consent", "details", "reactivation"]),
        st.integers(min_value=-3, max_value=400),
        st.integers(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=10,
)
KNOWN_PROBES = st.lists(
    st.tuples(st.integers(-5, 600), st.one_of(st.none(), st.integers(0, 12)), st.integers(0, 5)),
    min_size=1,
    max_size=5,
)


@pytest.mark.parametrize("database_url", [DURABLE[0]], indirect=True)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commands=KNOWN_COMMANDS, probes=KNOWN_PROBES)
def test_the_contact_read_models_as_of_any_date_as_known_at_any_moment_answer_as_the_fold_of_what_was_recorded_then(
    app: CrmApplication,
    store: ReadModelStore,
    commands: list[tuple[str, int, int]],
    probes: list[tuple[int, int | None, int]],
) -> None:
    contact_id = new_contact(app)
    for n, (kind, days, pick) in enumerate(commands):
        try:
            run_contact_command(app, contact_id, kind, days, pick, n)
        except (DomainError, ApplicationError):
            continue
        caught_up(app, store)  # each accepted event applied as it is recorded, back-dated or not
    caught_up(app, store)
    entries = app.history(contact_id)
    event(f"{sum(1 for a, b in zip(entries, entries[1:], strict=False) if b.occurred_at < a.occurred_at)} back-dated")
    event(f"{sum(1 for e in entries if e.event_type == 'contact.reactivated')} reactivations")

    rules = default_rules()
    for days, k, pick in probes:
        as_of, known_at = at(days), known_at_of(entries, k)
        expected = reference_features(entries, as_of, known_at)
        assert fetch_contact_features(store, contact_id, as_of, known_at=known_at) == expected, (days, k)
        expected_segments = reference_segments(entries, as_of, known_at)
        live = contact_segments(store, rules, contact_id, as_of, known_at)
        assert (None if live is None else [(s.name, s.entered_at) for s in live]) == expected_segments, (days, k)
        rule = rules[pick % len(rules)]  # the same answer from the query over every contact
        members = {m.contact_id: m.entered_at for m in segment_members(store, rules, rule.name, as_of, known_at)}
        assert members.get(str(contact_id)) == dict(expected_segments or []).get(rule.name), (rule.name, days, k)
        if expected is not None:  # the aggregate's own fold as of then, as known then, agrees too
            contact = app.get_contact(contact_id, as_of=as_of, known_at=known_at)
            assert (expected.first_purchase_at, expected.last_purchase_at, expected.consent) == (
                contact.first_purchase_at,
                contact.last_purchase_at,
                contact.consents,
            )
