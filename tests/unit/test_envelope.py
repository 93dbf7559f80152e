"""The public event message: every event type survives the trip through Kafka unchanged, decode
rejects what breaks the contract with a message naming the problem, and the published schemas
and AsyncAPI document are exactly what the models generate."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import jsonschema
import pytest
import standardwebhooks
import yaml

from consumers.cloudevents import HEADER_NAMES, cloudevent_headers
from consumers.envelope import (
    CONTACT_TOPIC,
    CONTRACT_REVISIONS,
    DEAD_LETTER_TOPIC,
    EVENT_DATA_MODELS,
    LEAD_TOPIC,
    SCHEMA_VERSIONS,
    WORKSPACE_TOPIC,
    DetailName,
    Envelope,
    SchemaError,
    UserField,
    decode,
    encode,
    envelope_of,
    message_key,
    record_of_envelope,
    topic_for,
)
from consumers.envelope_schema import ROOT, asyncapi_document, envelope_schema, generated_files, stale_files, to_yaml
from domain.assignment import AssignmentRule
from domain.calendar import BusinessCalendar
from domain.campaign import Campaign
from domain.catalogue import CrmEvent, data_fields, event_classes
from domain.contact import UPDATABLE_DETAILS
from domain.events import EVENT_ID_NAMESPACE, event_id_of
from domain.money import Money
from domain.nurture import NurtureExitReason, NurtureSequence
from domain.personal_data import PERSONAL_EVENT_FIELDS
from domain.team import USER_FIELDS, TeamRole, User
from domain.values import ConsentChannel, InteractionKind, Stage
from domain.webhooks import WebhookSubscription
from domain.workspace import Workspace
from projections.event_record import EventRecord, record_of
from services.settings import Settings
from tests.unit.factories import a_contact, a_lead, at, meta, pending

EVENTS_DIR = ROOT / "docs" / "events"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CEST = timezone(timedelta(hours=2))


WELCOME = NurtureSequence.model_validate(
    {
        "name": "welcome",
        "description": "every kind of step",
        "steps": [
            {"wait_days": 0, "email": {"template": "welcome-1"}},
            {"wait_days": 1, "email": {"template": "welcome-2"}},
            {"wait_days": 2, "task": {"title": "call", "due_in_days": 1}},
            {"wait_days": 1, "score_check": {"min_score": 0}},
        ],
        "enrol_when": {"sources": ["webinar"], "campaigns": None, "min_score": 10},
    }
)


def domain_events() -> list[CrmEvent]:
    """At least one real event of every type, made by the aggregates' own commands."""
    lead = a_lead(
        name="Zoë Ångström",
        company="Överby AB",
        contact_id=uuid4(),
        country="SE",
        meta=meta(at=datetime(2024, 3, 1, 11, 0, tzinfo=CEST)),  # 09:00 UTC, written in CEST
    )
    lead.carry_consent_over(lead.contact_id, {"email": True}, meta(at=at(hours=1)))
    lead.log_interaction(InteractionKind.DEMO, "product demo", meta(at=at(hours=1)))
    call_back, follow_up = uuid4(), uuid4()
    lead.add_task(call_back, "call back", at(days=1), "about the demo", "alice", meta(at=at(hours=1)))
    lead.reschedule_task(call_back, at(days=2), meta(at=at(hours=2)))
    lead.complete_task(call_back, meta(at=at(hours=3)))
    lead.assign("bob", meta(at=at(hours=2)))
    lead.change_stage(Stage.QUALIFIED, meta(at=at(hours=3)))
    contact = a_contact(lead_id=lead.id, external_id="shop-42", meta=meta(at=at(days=1)))
    lead.convert(contact.id, Money(120_000, "EUR"), meta(at=at(days=1)))
    lost = a_lead(email=None, estimated_value=None)
    lost.disqualify("no budget", meta(at=at(hours=1)))
    lost.erase("data subject request", meta(at=at(hours=2)))
    contact.update_details({"email": "grace@example.org", "phone": None}, meta(at=at(days=2)))
    contact.log_interaction(InteractionKind.CALL, None, meta(at=at(days=2)))
    contact.record_purchase("order-1", Money(4_999, "USD"), 2, meta(at=at(days=3)))
    contact.change_consent(ConsentChannel.EMAIL, True, meta(at=at(days=3)))
    contact.reactivate(uuid4(), "upgrade", meta(at=at(days=4)))
    contact.link_lead(uuid4(), meta(at=at(days=4)))
    contact.add_task(follow_up, "send the invoice", at(days=6), None, None, meta(at=at(days=4)))
    contact.reschedule_task(follow_up, at(days=7), meta(at=at(days=4)))
    contact.complete_task(follow_up, meta(at=at(days=4)))
    contact.erase("data subject request", meta(at=at(days=5)))
    workspace = Workspace.set_up(meta())
    workspace.add_user(User(id="bob", name="Bob Bobson", role=TeamRole.REP, time_zone="Europe/Berlin"), meta())
    workspace.update_user("bob", {"away": True, "daily_capacity": None, "time_zone": None}, meta(at=at(days=1)))
    workspace.replace_assignment_rules(
        [
            AssignmentRule.model_validate(
                {
                    "name": "nordics",
                    "when": {"countries": ["se"], "min_score": 20},
                    "strategy": "round_robin",
                    "reps": ["bob"],
                }
            ),
            AssignmentRule(name="rest", strategy="weighted", reps=("bob",), weights={"bob": 3}),  # type: ignore[arg-type]
        ],
        meta(at=at(days=2)),
    )
    workspace.define_sequence(WELCOME, meta(at=at(days=3)))
    return (
        pending(lead)
        + pending(lost)
        + pending(contact)
        + pending(workspace)
        + nurture_events()
        + merge_events()
        + webhook_events()
        + campaign_events()
    )


def merge_events() -> list[CrmEvent]:
    """A lead and a contact merged into others and unmerged again."""
    duplicate, survivor = a_lead(), a_lead()
    duplicate.log_interaction(InteractionKind.WEBINAR, None, meta(at=at(hours=1)))
    duplicate.merge_into(survivor, meta(at=at(hours=2)))
    duplicate.unmerge(survivor, meta(at=at(hours=3)))
    twin, kept = a_contact(), a_contact()
    twin.merge_into(kept, meta(at=at(days=1)))
    twin.unmerge(kept, meta(at=at(days=2)))
    events = sorted(pending(duplicate) + pending(survivor), key=lambda e: e.occurred_at)
    return events + sorted(pending(twin) + pending(kept), key=lambda e: e.occurred_at)


def webhook_events() -> list[CrmEvent]:
    """A webhook subscription through every change it can have."""
    hook = WebhookSubscription.subscribe(
        uuid4(),
        url="https://hooks.example/crm",
        event_types=["lead.*"],
        description=None,
        active=True,
        key_id="key_1",
        meta=meta(),
    )
    hook.change({"event_types": ["lead.converted", "contact.*"], "description": "billing"}, meta(at=at(hours=1)))
    hook.rotate_secret("key_2", at(days=1), meta(at=at(hours=2)))
    hook.disable("the endpoint answered 410 Gone", meta(at=at(hours=3)))
    hook.delete(meta(at=at(hours=4)))
    return pending(hook)


def campaign_events() -> list[CrmEvent]:
    """A campaign and the cost recorded for it."""
    campaign = Campaign.create("spring-sale", meta())
    campaign.record_cost("0b5f4d0e-4a47-4f0e-9d0c-7a43f7e3a001", Money(125_00, "EUR"), "flyers", meta(at=at(hours=1)))
    return pending(campaign)


def nurture_events() -> list[CrmEvent]:
    """A lead through a sequence of every kind of step, and one that exits."""
    sequence = WELCOME
    calendar = BusinessCalendar()
    lead = a_lead()
    lead.enrol_in_nurture(sequence, meta(at=at(hours=1)), calendar)
    for step, consent in enumerate((True, None, None, None)):
        lead.perform_nurture_step("welcome", 1, step, meta(at=at(hours=2 + step)), calendar, email_consent=consent)
    lead.enrol_in_nurture(sequence, meta(at=at(hours=8)), calendar)
    lead.exit_nurture("welcome", NurtureExitReason.MANUAL, meta(at=at(hours=9)))
    return pending(lead)


@pytest.fixture(scope="module")
def records() -> dict[str, EventRecord]:
    """The first record of every event type, at positions 1, 2, ... of an imagined log."""
    found: dict[str, EventRecord] = {}
    for position, event in enumerate(domain_events(), start=1):
        record = record_of(event, position)
        found.setdefault(record.event_type, record)
    return found


def message_of(records: dict[str, EventRecord], event_type: str) -> dict[str, Any]:
    return json.loads(encode(envelope_of(records[event_type])))


# --- the data models are the event classes ------------------------------------------------


def test_every_event_type_has_a_data_model_and_its_class_version() -> None:
    assert list(EVENT_DATA_MODELS) == list(event_classes())
    for name, cls in event_classes().items():
        sealed = name in PERSONAL_EVENT_FIELDS  # personal fields are published sealed since version 2
        revised = CONTRACT_REVISIONS.get(name, 0)  # data that changed while the class kept its shape
        assert SCHEMA_VERSIONS[name] == cls.class_version + (1 if sealed else 0) + revised  # type: ignore[attr-defined]


@pytest.mark.parametrize("event_type", ["lead.interaction_logged", "contact.interaction_logged"])
def test_the_interaction_types_moved_to_version_3_when_the_outbound_and_reply_kinds_joined(event_type: str) -> None:
    # an older subscriber validates `kind` against version 2's enum and would refuse the new kinds
    assert SCHEMA_VERSIONS[event_type] == 3
    schema = json.loads((EVENTS_DIR / f"{event_type}.schema.json").read_text())
    assert schema["properties"]["schema_version"] == {**schema["properties"]["schema_version"], "const": 3}
    assert {"email_sent", "email_reply"} <= set(schema["$defs"]["InteractionKind"]["enum"])


@pytest.mark.parametrize("event_type", ["lead.interaction_logged", "contact.interaction_logged"])
def test_an_interaction_published_as_version_2_is_still_read(records: dict[str, EventRecord], event_type: str) -> None:
    # given a message the relay published before the new kinds existed
    message = message_of(records, event_type)
    message["schema_version"] = 2

    # when a consumer of this version decodes it, then it reads the same record
    assert record_of_envelope(decode(json.dumps(message).encode())) == records[event_type]
    # but a version the type never had is refused
    with pytest.raises(SchemaError, match=f"schema_version 1 of {event_type} is not supported"):
        decode(json.dumps({**message, "schema_version": 1}).encode())


def test_a_lead_consent_change_carries_the_contact_it_was_carried_from(records: dict[str, EventRecord]) -> None:
    changed = record_of_envelope(decode(encode(envelope_of(records["lead.consent_changed"]))))
    assert isinstance(changed.data["carried_from"], UUID)
    assert (changed.data["channel"], changed.data["granted"]) == ("email", True)
    assert SCHEMA_VERSIONS["lead.consent_changed"] == 1


JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "UUID": "string",
    "datetime": "string",
}
CONTAINERS = {"dict[": "object", "list[": "array"}


def field_schema(model_schema: dict[str, Any], name: str) -> tuple[dict[str, Any], bool]:
    """A field's schema with $ref resolved, and whether it allows null."""
    schema = model_schema["properties"][name]
    nullable = False
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s != {"type": "null"}]
        nullable = len(options) < len(schema["anyOf"])
        assert len(options) == 1, f"{name}: {schema}"
        schema = options[0]
    if "$ref" in schema:
        schema = model_schema["$defs"][schema["$ref"].split("/")[-1]]
    return schema, nullable


@pytest.mark.parametrize("event_type", list(event_classes()))
def test_the_data_model_has_the_event_class_fields(event_type: str) -> None:
    model = EVENT_DATA_MODELS[event_type]
    declared = data_fields(event_classes()[event_type])
    assert list(model.model_fields) == [name for name, _ in declared], "same fields, same order"
    schema = model.model_json_schema()
    for name, hint in declared:
        assert model.model_fields[name].is_required(), f"{event_type}.{name} must always be present"
        base, optional = (hint[: -len(" | None")], True) if hint.endswith(" | None") else (hint, False)
        field, nullable = field_schema(schema, name)
        assert nullable == optional, f"{event_type}.{name}: {hint} vs {field}"
        expected = next((kind for start, kind in CONTAINERS.items() if base.startswith(start)), None)
        expected = expected or JSON_TYPES[base]
        assert field["type"] == expected, f"{event_type}.{name}: {hint} vs {field}"
        if base == "UUID":
            assert field["format"] == "uuid"
        if base == "datetime":
            assert field["format"] == "date-time"


def test_the_changeable_details_are_the_updatable_ones() -> None:
    assert get_args(DetailName) == UPDATABLE_DETAILS
    assert get_args(UserField) == USER_FIELDS


# --- round trip -------------------------------------------------------------------------


def test_the_examples_cover_every_event_type(records: dict[str, EventRecord]) -> None:
    assert set(records) == set(event_classes())


@pytest.mark.parametrize("event_type", list(event_classes()))
def test_every_event_type_round_trips(records: dict[str, EventRecord], event_type: str) -> None:
    record = records[event_type]
    envelope = envelope_of(record)
    decoded = decode(encode(envelope))
    assert decoded == envelope
    again = record_of_envelope(decoded)
    assert again == record
    assert {k: type(v) for k, v in again.data.items()} == {k: type(v) for k, v in record.data.items()}
    assert again.occurred_at.utcoffset() == record.occurred_at.utcoffset()
    assert encode(decoded) == encode(envelope)


def test_uuid_and_datetime_values_come_back_as_python_objects(records: dict[str, EventRecord]) -> None:
    captured = record_of_envelope(decode(encode(envelope_of(records["lead.captured"]))))
    assert isinstance(captured.data["contact_id"], UUID)
    assert captured.occurred_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    assert captured.occurred_at.tzinfo == CEST
    converted = record_of_envelope(decode(encode(envelope_of(records["lead.converted"]))))
    assert isinstance(converted.data["contact_id"], UUID)
    assert converted.data["deal_value"] == 120_000 and converted.data["currency"] == "EUR"


def test_a_message_is_compact_utf8_json(records: dict[str, EventRecord]) -> None:
    raw = encode(envelope_of(records["lead.captured"]))
    assert "Zoë Ångström".encode() in raw
    assert raw == json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode()
    message = json.loads(raw)
    assert list(message) == list(Envelope.model_fields)
    assert message["occurred_at"] == "2024-03-01T11:00:00+02:00"
    assert message["data"]["contact_id"] == str(records["lead.captured"].data["contact_id"])


# --- ids, topics, keys ------------------------------------------------------------------


def test_the_event_id_is_uuid5_of_aggregate_id_and_version(records: dict[str, EventRecord]) -> None:
    assert EVENT_ID_NAMESPACE == uuid5(NAMESPACE_URL, "urn:crm-eventlog:event-id")
    assert str(EVENT_ID_NAMESPACE) == "89c19dac-914d-5444-844a-217505c7d113", "never change the namespace"
    record = records["lead.scored"]
    envelope = envelope_of(record)
    assert envelope.event_id == uuid5(EVENT_ID_NAMESPACE, f"{record.aggregate_id}:{record.aggregate_version}")
    assert str(EVENT_ID_NAMESPACE) in Envelope.model_fields["event_id"].description  # type: ignore[operator]


def test_a_republished_event_keeps_its_id(records: dict[str, EventRecord]) -> None:
    record = records["contact.purchase_recorded"]
    later = EventRecord(**{**vars(record), "position": record.position + 1000})
    assert envelope_of(later).event_id == envelope_of(record).event_id
    assert event_id_of(record.aggregate_id, record.aggregate_version + 1) != envelope_of(record).event_id


def test_topics_and_keys(records: dict[str, EventRecord]) -> None:
    assert (LEAD_TOPIC, CONTACT_TOPIC, WORKSPACE_TOPIC, DEAD_LETTER_TOPIC) == (
        "crm.lead.events.v1",
        "crm.contact.events.v1",
        "crm.workspace.events.v1",
        "crm.dead-letter.v1",
    )
    assert topic_for("lead") == LEAD_TOPIC and topic_for("contact") == CONTACT_TOPIC
    assert topic_for("workspace") == WORKSPACE_TOPIC
    with pytest.raises(ValueError, match="no topic for aggregate type 'deal'"):
        topic_for("deal")
    envelope = envelope_of(records["contact.created"])
    assert message_key(envelope) == str(records["contact.created"].aggregate_id).encode()


# --- decode rejects what breaks the contract ----------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def setting(path: str, value: object) -> Mutation:
    def mutate(message: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            message = message[part]
        message[last] = value

    return mutate


def removing(path: str) -> Mutation:
    def mutate(message: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            message = message[part]
        del message[last]

    return mutate


REJECTED: dict[str, tuple[Mutation, str]] = {
    "missing field": (removing("actor"), "actor: Field required"),
    "extra field": (setting("topic", "x"), "topic: Extra inputs are not permitted"),
    "unknown event type": (setting("event_type", "contact.exploded"), "unknown event type 'contact.exploded'"),
    "amount as string": (
        setting("data.amount", "4999"),
        "data of contact.purchase_recorded: amount: Input should be a valid integer",
    ),
    "missing data field": (removing("data.quantity"), "quantity: Field required"),
    "extra data field": (setting("data.discount", 0), "discount: Extra inputs are not permitted"),
    "lower-case currency": (setting("data.currency", "usd"), "currency: String should match pattern"),
    "data not an object": (setting("data", [1]), "data: Input should be an object"),
    "naive datetime": (setting("occurred_at", "2024-03-01T09:00:00"), "occurred_at: Input should have timezone info"),
    "datetime as a number": (setting("recorded_at", 1709283600), "recorded_at: Input should be a valid datetime"),
    "bad uuid": (setting("aggregate_id", "not-a-uuid"), "aggregate_id: Input should be a valid UUID"),
    "position 0": (setting("position", 0), "position: Input should be greater than or equal to 1"),
    "version as string": (setting("aggregate_version", "3"), "aggregate_version: Input should be a valid integer"),
    "unknown schema version": (
        setting("schema_version", 2),
        "schema_version 2 of contact.purchase_recorded is not supported (this code knows version 1)",
    ),
    "foreign event_id": (setting("event_id", str(uuid4())), "event_id is not the id of this aggregate_id"),
    "wrong aggregate type": (
        setting("aggregate_type", "lead"),
        "event_type contact.purchase_recorded does not belong to aggregate_type lead",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_decode_rejects_a_message_that_breaks_the_contract(records: dict[str, EventRecord], case: str) -> None:
    mutate, problem = REJECTED[case]
    message = message_of(records, "contact.purchase_recorded")
    mutate(message)
    with pytest.raises(SchemaError) as raised:
        decode(json.dumps(message).encode())
    assert problem in str(raised.value)
    assert isinstance(raised.value, ValueError), "consumers dead-letter on ValueError"


def test_a_lead_captured_message_from_before_countries_reads_as_the_current_version_without_one(
    records: dict[str, EventRecord],
) -> None:
    # given a lead.captured message as the relay published it before countries (schema version 2)
    message = message_of(records, "lead.captured")
    assert message["schema_version"] == SCHEMA_VERSIONS["lead.captured"] == 3
    del message["data"]["country"]
    message["schema_version"] = 2
    # when a consumer of this version decodes it
    decoded = decode(json.dumps(message).encode())
    # then it reads as version 3 with no country, and everything else as published
    assert decoded.schema_version == 3 and decoded.data["country"] is None
    assert record_of_envelope(decoded).data == {**records["lead.captured"].data, "country": None}


def test_a_schema_version_with_no_way_up_is_still_refused(records: dict[str, EventRecord]) -> None:
    message = message_of(records, "lead.captured")
    del message["data"]["country"]
    for version in (1, 4):  # before sealing (plain personal fields), and one from the future
        with pytest.raises(SchemaError, match=f"schema_version {version} of lead.captured is not supported"):
            decode(json.dumps({**message, "schema_version": version}).encode())


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"{not json", "Invalid JSON"), (b"", "Invalid JSON"), (b"\xff\xfe", "Invalid JSON"), (b"[1]", "object")],
)
def test_decode_rejects_what_is_not_a_json_object(raw: bytes, problem: str) -> None:
    with pytest.raises(SchemaError, match=f"invalid event message: .*{problem}"):
        decode(raw)


def test_decode_names_every_problem_without_echoing_values(records: dict[str, EventRecord]) -> None:
    message = message_of(records, "contact.created")
    message["data"]["name"] = ["Grace Hopper"]
    del message["correlation_id"]
    with pytest.raises(SchemaError) as raised:
        decode(json.dumps(message).encode())
    assert "correlation_id: Field required" in str(raised.value)
    assert "data of contact.created: name: Input should be a valid string" in str(raised.value)
    assert "Grace Hopper" not in str(raised.value)


def test_envelope_of_refuses_a_record_that_breaks_the_contract(records: dict[str, EventRecord]) -> None:
    record = records["lead.assigned"]
    broken = EventRecord(**{**vars(record), "data": {"owner": 7, "previous_owner": None}})
    with pytest.raises(SchemaError, match="cannot publish lead.assigned at position .*owner: Input should be"):
        envelope_of(broken)
    unknown = EventRecord(**{**vars(record), "event_type": "lead.vanished"})
    with pytest.raises(SchemaError, match="unknown event type 'lead.vanished'"):
        envelope_of(unknown)


# --- the published files ----------------------------------------------------------------


def test_the_published_schemas_and_asyncapi_document_are_the_generated_ones() -> None:
    stale = stale_files()
    assert not stale, f"stale or missing: {', '.join(stale)}; run `python -m consumers.envelope_schema`"


def test_one_schema_file_per_event_type_plus_the_envelope() -> None:
    expected = {"envelope.schema.json"} | {f"{name}.schema.json" for name in event_classes()}
    assert {p.name for p in EVENTS_DIR.glob("*.schema.json")} == expected
    for name in expected:
        schema = json.loads((EVENTS_DIR / name).read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] and schema["title"] and schema["description"]


@pytest.mark.parametrize("event_type", list(event_classes()))
def test_an_encoded_message_is_valid_against_its_published_schema(
    records: dict[str, EventRecord], event_type: str
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    message = message_of(records, event_type)
    for name in (f"{event_type}.schema.json", "envelope.schema.json"):
        schema = json.loads((EVENTS_DIR / name).read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        validator.validate(message)
    typed = jsonschema.Draft202012Validator(json.loads((EVENTS_DIR / f"{event_type}.schema.json").read_text()))
    first_field = next(iter(message["data"]), "unknown")  # an event without data of its own takes no field
    broken = {**message, "data": {**message["data"], first_field: [None]}}
    assert not typed.is_valid(broken), "the schema must constrain data"
    assert not typed.is_valid({**message, "aggregate_version": 0})


def test_the_schema_rejects_what_decode_rejects(records: dict[str, EventRecord]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((EVENTS_DIR / "contact.purchase_recorded.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for case in ("missing field", "extra field", "amount as string", "lower-case currency", "extra data field"):
        mutate, _ = REJECTED[case]
        message = message_of(records, "contact.purchase_recorded")
        mutate(message)
        assert not validator.is_valid(message), case


def test_the_asyncapi_document_describes_every_topic_and_event_type() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["kafka"] == {
        "host": "localhost:9092",
        "protocol": "kafka",
        "description": document["servers"]["kafka"]["description"],
    }
    kafka = [c for c in document["channels"].values() if c["servers"] == [{"$ref": "#/servers/kafka"}]]
    addresses = {channel["address"] for channel in kafka}
    assert addresses == {LEAD_TOPIC, CONTACT_TOPIC, WORKSPACE_TOPIC, DEAD_LETTER_TOPIC}
    messages = document["components"]["messages"]
    assert set(messages) == set(event_classes()) | {"deadLetter", "webhookEvent"}
    for event_type in event_classes():
        channel = next(c for c in document["channels"].values() if c["address"] == topic_for(event_type.split(".")[0]))
        assert channel["messages"][event_type] == {"$ref": f"#/components/messages/{event_type}"}
        payload = messages[event_type]["payload"]
        assert payload["properties"]["event_type"]["const"] == event_type
        assert messages[event_type]["bindings"]["kafka"]["key"]["type"] == "string"
    assert {op["action"] for name, op in document["operations"].items() if name != "sendWebhook"} == {"receive"}
    text = json.dumps(document)
    assert "#/$defs/" not in text and '"$id"' not in text, "inlined schemas must resolve inside the document"
    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in document["components"]["schemas"]


def test_every_event_message_declares_the_cloudevents_headers_the_relay_sends() -> None:
    messages = asyncapi_document()["components"]["messages"]
    for event_type in event_classes():
        headers = messages[event_type]["headers"]
        assert headers["required"] == list(HEADER_NAMES)
        assert set(headers["properties"]) == {*HEADER_NAMES, "traceparent"}
        assert headers["properties"]["ce_type"]["const"] == event_type
        assert headers["properties"]["ce_specversion"]["const"] == "1.0"
        assert headers["properties"]["content-type"]["const"] == "application/json"
    # and the headers a real message gets satisfy them
    lead = a_lead()
    envelope = envelope_of(record_of(pending(lead)[0], position=1))
    sent = {k: v.decode() for k, v in cloudevent_headers(envelope, "urn:crm:test", TRACEPARENT)}
    jsonschema.validate(sent, messages["lead.captured"]["headers"], format_checker=jsonschema.FormatChecker())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**sent, "ce_type": "lead.scored"}, messages["lead.captured"]["headers"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**sent, "traceparent": "not-a-trace"}, messages["lead.captured"]["headers"])


def test_every_topic_declares_its_kafka_binding_and_every_message_its_key() -> None:
    document = asyncapi_document()
    for channel in document["channels"].values():
        if channel["address"] is None:
            continue  # the webhooks
        binding = channel["bindings"]["kafka"]
        assert binding["topic"] == channel["address"]
        assert binding["partitions"] == Settings().kafka_partitions
        assert binding["replicas"] == Settings().kafka_replication_factor
        assert binding["topicConfiguration"] == {"cleanup.policy": ["delete"]}
        for ref in channel["messages"].values():
            message = document["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
            assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_the_webhook_channel_posts_the_same_envelope_signed_by_standard_webhooks() -> None:
    document = asyncapi_document()
    channel = document["channels"]["webhooks"]
    assert channel["address"] is None and channel["servers"] == [{"$ref": "#/servers/webhooks"}]
    assert document["servers"]["webhooks"]["protocol"] == "https"
    operation = document["operations"]["sendWebhook"]
    assert operation["action"] == "send" and operation["bindings"]["http"]["method"] == "POST"
    message = document["components"]["messages"]["webhookEvent"]
    assert message["headers"]["required"] == ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]
    assert message["payload"]["required"] == envelope_schema()["required"]
    # a delivery signed by the Standard Webhooks library fits the declared headers
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = encode(envelope_of(record_of(pending(a_lead())[0], position=1))).decode()
    sent_at = datetime(2026, 3, 1, tzinfo=UTC)
    signature = standardwebhooks.Webhook(secret).sign("msg_1", sent_at, body)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    jsonschema.validate(headers, message["headers"])
    jsonschema.validate(json.loads(body), _resolved(message["payload"], document))


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """A payload schema with the document's components beside it, for a validator."""
    text = json.dumps(schema).replace('"#/components/schemas/', '"#/$defs/')
    return {**json.loads(text), "$defs": json.loads(json.dumps(document["components"]["schemas"]))}


# --- the YAML writer --------------------------------------------------------------------


def test_the_asyncapi_yaml_reads_back_as_the_document() -> None:
    text = generated_files()["docs/asyncapi.yaml"]
    assert yaml.safe_load(text) == asyncapi_document()
    assert text == (ROOT / "docs" / "asyncapi.yaml").read_text()


def test_the_asyncapi_yaml_spells_out_every_schema_without_anchors() -> None:
    text = generated_files()["docs/asyncapi.yaml"]
    assert not re.search(r"[&*]id\d+", text), "a shared schema must be written out where it is used"


@pytest.mark.parametrize(
    "value",
    ["yes", "No", "null", "true", "1.0", "3.0.0", "", " x", "x ", "-x", "a: b", "#c", "[x]", "{x}", "ü", "a\nb", "'q'"],
)
def test_strings_that_could_read_as_something_else_are_quoted(value: str) -> None:
    assert yaml.safe_load(to_yaml({"k": value})) == {"k": value}


def test_yaml_keeps_non_ascii_text_readable() -> None:
    assert to_yaml({"k": "Zürich"}) == "k: Zürich\n"


def test_yaml_of_nested_lists_and_empties() -> None:
    value = {"a": [{"b": [1, 2.5, None, True]}, [], {}, ["x", {"c": "d"}]], "e": {}, "f": "plain text, (ok)"}
    assert yaml.safe_load(to_yaml(value)) == value
