"""Commands: every bad input is refused with an error naming the field; good input is normalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from domain.money import MAX_AMOUNT_MINOR
from domain.values import ConsentChannel, InteractionKind, LeadSource, Stage
from services.app.commands import (
    AddTask,
    AddUser,
    AssignLead,
    CaptureLead,
    ChangeConsent,
    ChangeStage,
    Command,
    CompleteTask,
    ConvertLead,
    CreateContact,
    DisqualifyLead,
    LogInteraction,
    ReactivateContact,
    RecordPurchase,
    ReplaceAssignmentRules,
    RescheduleTask,
    RescoreLead,
    UpdateContactDetails,
    UpdateUser,
)

GOOD_LEAD: dict[str, Any] = {"name": "Ada Lovelace", "email": "ada@example.com", "source": "web_form"}


def rejected_fields(model: type[BaseModel], **data: Any) -> set[str]:
    """Build the command and return the names of the fields it was refused for."""
    with pytest.raises(ValidationError) as raised:
        model(**data)
    return {str(error["loc"][0]) for error in raised.value.errors() if error["loc"]}


def rejection_messages(model: type[BaseModel], **data: Any) -> str:
    """Build the command and return all its error messages, for rules that span several fields."""
    with pytest.raises(ValidationError) as raised:
        model(**data)
    return " | ".join(error["msg"] for error in raised.value.errors())


def capture(**overrides: Any) -> dict[str, Any]:
    """Capture data that is valid unless overridden."""
    return {**GOOD_LEAD, **overrides}


# --- names and texts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201], ids=["empty", "spaces", "whitespace", "201 chars"])
def test_a_capture_with_a_bad_name_is_rejected_on_name(name: str) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(name=name)) == {"name"}


@pytest.mark.parametrize("name", ["", "  ", "y" * 201])
def test_a_contact_with_a_bad_name_is_rejected_on_name(name: str) -> None:
    # given / when / then
    assert rejected_fields(CreateContact, name=name) == {"name"}


def test_a_name_of_exactly_two_hundred_characters_is_accepted_after_trimming() -> None:
    # given a 200-character name padded with spaces
    # when / then the padding does not count
    assert CaptureLead(**capture(name="  " + "x" * 200 + "  ")).name == "x" * 200


def test_a_missing_name_is_rejected_on_name() -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, email="a@example.com", source="web_form") == {"name"}


@pytest.mark.parametrize("field", ["company", "title", "campaign"])
def test_an_empty_or_too_long_optional_text_is_rejected_on_that_field(field: str) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(**{field: "  "})) == {field}
    assert rejected_fields(CaptureLead, **capture(**{field: "z" * 201})) == {field}


# --- email and phone -----------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "ada example@example.com", "ada@@x.org"])
def test_a_bad_email_is_rejected_on_email(email: str) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(email=email)) == {"email"}
    assert rejected_fields(CreateContact, name="Ada", email=email) == {"email"}
    assert rejected_fields(UpdateContactDetails, email=email) == {"email"}


@pytest.mark.parametrize(
    "phone",
    [
        "12345",  # too few digits
        "1234567890123456",  # 16 digits
        "call me",
        "+1 555 0100 ext. 12",
        "555-0100-",
        "++15550100",
        "(555) 0100",  # must start with a digit or +
    ],
)
def test_a_bad_phone_is_rejected_on_phone(phone: str) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(phone=phone)) == {"phone"}
    assert rejected_fields(CreateContact, name="Ada", phone=phone) == {"phone"}
    assert rejected_fields(UpdateContactDetails, phone=phone) == {"phone"}


@pytest.mark.parametrize("phone", ["+1 (555) 010-0000", "030 1234567", "+44.20.7946.0958", "123456"])
def test_a_good_phone_is_accepted(phone: str) -> None:
    # given / when / then
    assert CaptureLead(**capture(email=None, phone=phone)).phone == phone


def test_a_phone_is_trimmed() -> None:
    # given / when / then
    assert CreateContact(name="Ada", phone="  +1 555 010 0000 ").phone == "+1 555 010 0000"


# --- money ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["usx", "XXX", "dollars", "", "BTC", "US"])
def test_an_unknown_currency_is_rejected_on_currency(currency: str) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(currency=currency)) == {"currency"}
    assert rejected_fields(ConvertLead, deal_value=1, currency=currency) == {"currency"}
    assert rejected_fields(RecordPurchase, order_id="o-1", amount=1, currency=currency) == {"currency"}
    assert rejected_fields(ReactivateContact, interest="x", currency=currency) == {"currency"}


@pytest.mark.parametrize(
    "amount",
    [-1, 12.5, 100.0, "100", True, MAX_AMOUNT_MINOR + 1, None],
    ids=["negative", "float", "whole float", "string", "bool", "oversized", "null"],
)
def test_a_bad_amount_is_rejected_on_its_field(amount: Any) -> None:
    # given / when / then
    assert rejected_fields(ConvertLead, deal_value=amount) == {"deal_value"}
    assert rejected_fields(RecordPurchase, order_id="o-1", amount=amount) == {"amount"}


@pytest.mark.parametrize("amount", [-1, 9.99, "5", MAX_AMOUNT_MINOR + 1])
def test_a_bad_estimated_value_is_rejected_on_estimated_value(amount: Any) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(estimated_value=amount)) == {"estimated_value"}
    assert rejected_fields(ReactivateContact, interest="x", estimated_value=amount) == {"estimated_value"}


@pytest.mark.parametrize("amount", [0, 1, MAX_AMOUNT_MINOR])
def test_an_amount_from_zero_to_the_maximum_is_accepted(amount: int) -> None:
    # given / when / then
    assert ConvertLead(deal_value=amount).deal_value == amount
    assert RecordPurchase(order_id="o-1", amount=amount).amount == amount


@pytest.mark.parametrize("quantity", [0, -1, 1.5, 1_000_001, "2"])
def test_a_bad_quantity_is_rejected_on_quantity(quantity: Any) -> None:
    # given / when / then
    assert rejected_fields(RecordPurchase, order_id="o-1", amount=100, quantity=quantity) == {"quantity"}


# --- occurred_at ------------------------------------------------------------------------------------


def test_a_naive_occurred_at_is_rejected_on_occurred_at() -> None:
    # given a datetime without a time zone
    naive = datetime(2024, 3, 1, 9, 0)

    # when / then it is refused, on every command
    assert rejected_fields(CaptureLead, **capture(occurred_at=naive)) == {"occurred_at"}
    assert rejected_fields(RescoreLead, occurred_at=naive) == {"occurred_at"}
    assert rejected_fields(RecordPurchase, order_id="o", amount=1, occurred_at=naive) == {"occurred_at"}


@pytest.mark.parametrize("ahead", [timedelta(minutes=6), timedelta(hours=1), timedelta(days=365)])
def test_an_occurred_at_in_the_future_is_rejected_on_occurred_at(ahead: timedelta) -> None:
    # given a time beyond the allowed clock skew
    future = datetime.now(UTC) + ahead

    # when / then
    assert rejected_fields(LogInteraction, kind="call", occurred_at=future) == {"occurred_at"}
    assert rejected_fields(CaptureLead, **capture(occurred_at=future)) == {"occurred_at"}


def test_an_occurred_at_a_little_ahead_is_tolerated_as_clock_skew() -> None:
    # given a client clock one minute fast
    slightly_ahead = datetime.now(UTC) + timedelta(minutes=1)

    # when / then it is accepted
    assert LogInteraction.model_validate({"kind": "call", "occurred_at": slightly_ahead}).occurred_at == slightly_ahead


def test_an_occurred_at_in_another_time_zone_is_converted_to_utc() -> None:
    # given 11:00 in UTC+2
    local = datetime(2024, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))

    # when it enters a command
    command = LogInteraction.model_validate({"kind": "call", "occurred_at": local})

    # then it is the same instant, in UTC
    assert command.occurred_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    assert command.occurred_at is not None
    assert command.occurred_at.utcoffset() == timedelta(0)


def test_an_occurred_at_string_with_an_offset_is_parsed_and_converted_to_utc() -> None:
    # given / when
    command = RescoreLead.model_validate({"occurred_at": "2024-03-01T04:00:00-05:00"})

    # then
    assert command.occurred_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    assert command.occurred_at.utcoffset() == timedelta(0)


def test_occurred_at_defaults_to_none() -> None:
    # given / when / then the service fills in "now"
    assert RescoreLead().occurred_at is None


# --- enumerations ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["tv", "WEB_FORM", "", "web form"])
def test_an_unknown_source_is_rejected_on_source(source: str) -> None:
    # given / when / then
    assert rejected_fields(CaptureLead, **capture(source=source)) == {"source"}


@pytest.mark.parametrize("kind", ["fax", "EMAIL_OPEN", "", "carrier pigeon"])
def test_an_unknown_interaction_kind_is_rejected_on_kind(kind: str) -> None:
    # given / when / then
    assert rejected_fields(LogInteraction, kind=kind) == {"kind"}


@pytest.mark.parametrize("stage", ["won", "lost", "NEW", ""])
def test_an_unknown_stage_is_rejected_on_stage(stage: str) -> None:
    # given / when / then
    assert rejected_fields(ChangeStage, stage=stage) == {"stage"}


@pytest.mark.parametrize("channel", ["post", "fax", ""])
def test_an_unknown_consent_channel_is_rejected_on_channel(channel: str) -> None:
    # given / when / then
    assert rejected_fields(ChangeConsent, channel=channel, granted=True) == {"channel"}


@pytest.mark.parametrize("granted", ["yes", 1, 0, None])
def test_consent_must_be_a_real_boolean(granted: Any) -> None:
    # given / when / then
    assert rejected_fields(ChangeConsent, channel="email", granted=granted) == {"granted"}


def test_enumerations_are_parsed_from_their_values() -> None:
    # given / when / then
    assert LogInteraction.model_validate({"kind": "email_click"}).kind is InteractionKind.EMAIL_CLICK
    assert ChangeStage.model_validate({"stage": "negotiation"}).stage is Stage.NEGOTIATION
    assert ChangeConsent.model_validate({"channel": "sms", "granted": False}).channel is ConsentChannel.SMS
    assert CaptureLead(**capture(source="referral")).source is LeadSource.REFERRAL


# --- extra fields ---------------------------------------------------------------------------------------


MINIMAL_COMMANDS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (CaptureLead, GOOD_LEAD),
    (LogInteraction, {"kind": "call"}),
    (AssignLead, {"owner": "bob"}),
    (ChangeStage, {"stage": "qualified"}),
    (DisqualifyLead, {"reason": "spam"}),
    (ConvertLead, {"deal_value": 1}),
    (RescoreLead, {}),
    (CreateContact, {"name": "Ada"}),
    (UpdateContactDetails, {"name": "Ada"}),
    (RecordPurchase, {"order_id": "o-1", "amount": 1}),
    (ReactivateContact, {"interest": "x"}),
    (ChangeConsent, {"channel": "email", "granted": True}),
]


@pytest.mark.parametrize(("model", "data"), MINIMAL_COMMANDS, ids=[m.__name__ for m, _ in MINIMAL_COMMANDS])
def test_an_unknown_extra_field_is_rejected_on_that_field(model: type[BaseModel], data: dict[str, Any]) -> None:
    # given a valid command with one field too many
    # when / then it is refused on that field
    assert rejected_fields(model, **data, nickname="Countess") == {"nickname"}


def test_a_capture_cannot_set_the_contact_or_interest_of_a_reactivation() -> None:
    # given / when / then those are set by reactivation only
    assert rejected_fields(CaptureLead, **capture(contact_id="x", interest="y")) == {"contact_id", "interest"}


# --- rules across fields ----------------------------------------------------------------------------------


def test_a_capture_without_email_and_phone_is_rejected() -> None:
    # given / when / then
    message = rejection_messages(CaptureLead, name="Ada", source="web_form")
    assert "email" in message and "phone" in message


def test_a_capture_with_only_a_phone_is_accepted() -> None:
    # given / when / then
    assert CaptureLead.model_validate({"name": "Ada", "phone": "+1 555 010 0000", "source": "event"}).email is None


def test_a_capture_with_source_reactivation_is_rejected() -> None:
    # given / when / then
    assert "reactivation" in rejection_messages(CaptureLead, **capture(source="reactivation"))


@pytest.mark.parametrize("data", [{}, {"occurred_at": datetime(2024, 1, 1, tzinfo=UTC)}], ids=["empty", "time only"])
def test_an_update_of_contact_details_that_sets_nothing_is_rejected(data: dict[str, Any]) -> None:
    # given / when / then
    message = rejection_messages(UpdateContactDetails, **data)
    assert "at least one of name, email, phone, company, title" in message


def test_an_update_cannot_clear_the_name() -> None:
    # given / when / then
    assert "name cannot be cleared" in rejection_messages(UpdateContactDetails, name=None)


def test_an_update_lists_only_the_fields_the_caller_set_including_cleared_ones() -> None:
    # given / when
    command = UpdateContactDetails(email="new@example.com", phone=None)

    # then unset fields are left out, null clears
    assert command.changes() == {"email": "new@example.com", "phone": None}


# --- user ids and other texts -----------------------------------------------------------------------------


@pytest.mark.parametrize("owner", ["", "bob smith", "bob/admin", "x" * 101, "bob;drop"])
def test_a_bad_owner_is_rejected_on_owner(owner: str) -> None:
    # given / when / then
    assert rejected_fields(AssignLead, owner=owner) == {"owner"}
    assert rejected_fields(CaptureLead, **capture(owner=owner)) == {"owner"}


@pytest.mark.parametrize("reason", ["", "   ", "r" * 501])
def test_a_bad_disqualification_reason_is_rejected_on_reason(reason: str) -> None:
    # given / when / then
    assert rejected_fields(DisqualifyLead, reason=reason) == {"reason"}


def test_an_interaction_detail_up_to_two_thousand_characters_is_accepted() -> None:
    # given / when / then
    assert LogInteraction.model_validate({"kind": "call", "detail": "d" * 2000}).detail == "d" * 2000
    assert rejected_fields(LogInteraction, kind="call", detail="d" * 2001) == {"detail"}


# --- normalisation -------------------------------------------------------------------------------------------


def test_good_capture_input_is_normalised() -> None:
    # given input with padding and a lower-case currency
    command = CaptureLead.model_validate(
        {
            "name": "  Ada Lovelace ",
            "email": "ada@example.com",
            "company": " Analytical Engines ",
            "title": " Countess ",
            "source": "referral",
            "currency": " eur ",
            "owner": " bob ",
            "estimated_value": 250_000,
        }
    )

    # when / then texts are trimmed and the currency upper-cased
    assert command.name == "Ada Lovelace"
    assert command.company == "Analytical Engines"
    assert command.title == "Countess"
    assert command.currency == "EUR"
    assert command.owner == "bob"


def test_the_capture_becomes_the_fields_of_a_captured_event() -> None:
    # given / when
    details = CaptureLead(**capture(name=" Ada ", currency="gbp", estimated_value=10, country=" de ")).lead_details()

    # then
    assert details == {
        "name": "Ada",
        "email": "ada@example.com",
        "company": None,
        "phone": None,
        "title": None,
        "source": "web_form",
        "campaign": None,
        "estimated_value": 10,
        "currency": "GBP",
        "owner": None,
        "contact_id": None,
        "interest": None,
        "country": "DE",
    }


@pytest.mark.parametrize("country", ["D", "DEU", "D1", "ßa", "ß", "", 49])
def test_a_country_that_is_not_two_letters_is_refused_naming_the_field(country: object) -> None:
    with pytest.raises(ValidationError) as error:
        CaptureLead(**capture(country=country))
    assert [e["loc"] for e in error.value.errors()] == [("country",)]


@pytest.mark.parametrize("model", [CaptureLead, ConvertLead, RecordPurchase, ReactivateContact])
def test_currency_defaults_to_usd(model: type[BaseModel]) -> None:
    # given the least valid input for each command
    minimal: dict[type[BaseModel], dict[str, Any]] = {
        CaptureLead: GOOD_LEAD,
        ConvertLead: {"deal_value": 1},
        RecordPurchase: {"order_id": "o", "amount": 1},
        ReactivateContact: {"interest": "x"},
    }

    # when / then
    assert model(**minimal[model]).currency == "USD"  # type: ignore[attr-defined]


@pytest.mark.parametrize("currency", ["chf", "Chf", " CHF "])
def test_a_currency_is_upper_cased_and_trimmed(currency: str) -> None:
    # given / when / then
    assert ConvertLead(deal_value=1, currency=currency).currency == "CHF"
    assert RecordPurchase(order_id="o", amount=1, currency=currency).currency == "CHF"


def test_a_contact_becomes_the_fields_of_a_created_event() -> None:
    # given / when
    details = CreateContact(name=" Grace ", external_id=" cdnow:00042 ").contact_details()

    # then
    assert details == {
        "name": "Grace",
        "email": None,
        "phone": None,
        "company": None,
        "title": None,
        "external_id": "cdnow:00042",
        "lead_id": None,
    }


def test_commands_are_immutable() -> None:
    # given a command
    command = AssignLead(owner="bob")

    # when / then it cannot be changed after validation
    with pytest.raises(ValidationError):
        command.owner = "mallory"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (lambda: CaptureLead(name="Ada\x00Lovelace", email="ada@example.com", source="referral"), "name"),
        (lambda: CaptureLead(name="Ada", email="ada@example.com", source="referral", company="Ac\nme"), "company"),
        (lambda: LogInteraction(kind="call", detail="said \x00 hi"), "detail"),
        (lambda: DisqualifyLead(reason="no\x07budget"), "reason"),
        (lambda: RecordPurchase(order_id="o\x001", amount=1), "order_id"),
    ],
)
def test_text_with_control_characters_is_rejected_naming_the_field(command, field) -> None:  # type: ignore[no-untyped-def]
    # NUL cannot be stored in PostgreSQL text: letting it in would stall every read model
    with pytest.raises(ValidationError) as error:
        command()
    assert field in {str(e["loc"][0]) for e in error.value.errors()}
    assert "control characters" in str(error.value)


def test_a_long_text_keeps_its_line_breaks() -> None:
    assert LogInteraction(kind="call", detail="line one\nline two").detail == "line one\nline two"


# --- business time within the years served, text without bidi controls ---------------------------------


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00"],
    ids=["year 1 east of UTC", "year 1", "1899", "9999 west of UTC"],
)
@pytest.mark.parametrize(("model", "data"), MINIMAL_COMMANDS, ids=[m.__name__ for m, _ in MINIMAL_COMMANDS])
def test_an_occurred_at_outside_the_years_1900_to_2999_is_rejected_on_occurred_at_by_every_command(
    model: type[BaseModel], data: dict[str, Any], when: str
) -> None:
    # given a time whose conversion to UTC would overflow, or one far outside the years served
    # when / then every command refuses it on occurred_at, with the years in the message
    assert rejected_fields(model, **data, occurred_at=when) == {"occurred_at"}
    assert "between the years 1900 and 2999" in rejection_messages(model, **data, occurred_at=when)


def test_every_command_takes_occurred_at_from_the_one_base() -> None:
    # the year bound is checked once, in Command: a command declaring its own would escape it
    commands = Command.__subclasses__()
    assert {model for model, _ in MINIMAL_COMMANDS} <= set(commands)
    assert not [m.__name__ for m in commands if "occurred_at" in vars(m).get("__annotations__", {})]


def test_an_occurred_at_on_the_first_day_of_1900_is_accepted() -> None:
    # given / when / then
    assert RescoreLead(occurred_at="1900-01-01T00:00:00Z").occurred_at == datetime(1900, 1, 1, tzinfo=UTC)  # type: ignore[arg-type]


BIDI_CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
BIDI_CONTROLS += ["\u200e", "\u200f", "\u061c"]

SINGLE_LINE_FIELDS: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (CaptureLead, GOOD_LEAD, "name"),
    (CaptureLead, GOOD_LEAD, "company"),
    (CaptureLead, GOOD_LEAD, "title"),
    (CaptureLead, GOOD_LEAD, "campaign"),
    (CaptureLead, GOOD_LEAD, "owner"),
    (CaptureLead, GOOD_LEAD, "idempotency_key"),
    (CreateContact, {"name": "Ada"}, "name"),
    (CreateContact, {"name": "Ada"}, "external_id"),
    (UpdateContactDetails, {}, "name"),
    (UpdateContactDetails, {}, "company"),
    (UpdateContactDetails, {}, "title"),
    (ReactivateContact, {"interest": "x"}, "campaign"),
    (ReactivateContact, {"interest": "x"}, "owner"),
    (AssignLead, {}, "owner"),
    (RecordPurchase, {"amount": 1}, "order_id"),
]
FREE_TEXT_FIELDS: list[tuple[type[BaseModel], dict[str, Any], str]] = [
    (LogInteraction, {"kind": "call"}, "detail"),
    (DisqualifyLead, {}, "reason"),
    (ReactivateContact, {}, "interest"),
]


@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
def test_a_name_with_a_bidi_control_is_rejected_on_name(control: str) -> None:
    # given a name that would display reversed ("Ada <RLO>ecalevoL")
    # when / then
    assert rejected_fields(CaptureLead, **capture(name=f"Ada {control}ecalevoL")) == {"name"}
    assert "bidirectional" in rejection_messages(CaptureLead, **capture(name=f"Ada {control}ecalevoL"))


@pytest.mark.parametrize(
    ("model", "data", "field"), SINGLE_LINE_FIELDS, ids=[f"{m.__name__}.{f}" for m, _, f in SINGLE_LINE_FIELDS]
)
@pytest.mark.parametrize("character", ["\u202e", "\u2066", "\u200f", "\u2028", "\u2029"])
def test_a_single_line_text_with_a_bidi_control_or_a_line_separator_is_rejected_on_that_field(
    model: type[BaseModel], data: dict[str, Any], field: str, character: str
) -> None:
    # given / when / then
    assert rejected_fields(model, **{**data, field: f"ab{character}cd"}) == {field}


@pytest.mark.parametrize(
    ("model", "data", "field"), FREE_TEXT_FIELDS, ids=[f"{m.__name__}.{f}" for m, _, f in FREE_TEXT_FIELDS]
)
def test_free_text_keeps_its_line_breaks_but_not_bidi_controls(
    model: type[BaseModel], data: dict[str, Any], field: str
) -> None:
    # given text with line breaks and line separators, and text with a right-to-left override
    multi_line = "first line\nsecond line\u2028third line\u2029next paragraph"

    # when / then the line breaks are kept and the override is refused on the field
    assert getattr(model(**data, **{field: multi_line}), field) == multi_line
    assert rejected_fields(model, **data, **{field: "total \u202e00.99"}) == {field}


def test_right_to_left_names_themselves_are_accepted() -> None:
    # given names written in right-to-left scripts, without any control character
    # when / then they are accepted as they are
    assert CaptureLead(**capture(name="محمد عبد الله")).name == "محمد عبد الله"
    assert CreateContact(name="דוד לוי", company="חברה").company == "חברה"


# --- follow-up tasks ---------------------------------------------------------------------------

GOOD_TASK: dict[str, Any] = {"title": "Call back", "due_at": "2026-03-03T09:00:00+01:00"}


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, "two\nlines", "a\u202eb"])
def test_a_task_with_a_bad_title_is_rejected_on_title(title: str) -> None:
    assert rejected_fields(AddTask, **{**GOOD_TASK, "title": title}) == {"title"}


@pytest.mark.parametrize("due_at", ["2026-03-03T09:00:00", "tomorrow", "1899-12-31T23:00:00Z", "3000-01-01T00:00:00Z"])
def test_a_task_due_at_no_instant_the_crm_answers_about_is_rejected_on_due_at(due_at: str) -> None:
    assert rejected_fields(AddTask, **{**GOOD_TASK, "due_at": due_at}) == {"due_at"}
    assert rejected_fields(RescheduleTask, due_at=due_at) == {"due_at"}


def test_a_task_is_due_at_an_instant_in_utc_and_may_be_due_in_the_past() -> None:
    task = AddTask(**{**GOOD_TASK, "due_at": "2001-03-03T09:00:00+01:00"})
    assert task.due_at == datetime(2001, 3, 3, 8, tzinfo=UTC) and task.due_at.utcoffset() == timedelta(0)


def test_a_retried_task_is_compared_on_the_owner_only_when_the_command_names_one() -> None:
    # an owner left to default is the record's at the time, which a reassignment may have changed
    assert set(AddTask(**GOOD_TASK).given_details()) == {"title", "due_at", "note"}
    assert AddTask(**GOOD_TASK, owner="bob").given_details()["owner"] == "bob"


def test_completing_a_task_takes_nothing_but_a_business_time() -> None:
    assert rejected_fields(CompleteTask, done=True) == {"done"}
    assert CompleteTask().occurred_at is None


# --- the team and the assignment rules ------------------------------------------------------------


def test_a_new_user_is_the_user_the_command_describes() -> None:
    cmd = AddUser(id="rep-anna", name="  Anna Berg ", role="rep", daily_capacity=5, time_zone="Europe/Oslo")
    user = cmd.user()
    assert (user.id, user.name, user.role.value, user.daily_capacity, user.time_zone) == (
        "rep-anna",
        "Anna Berg",
        "rep",
        5,
        "Europe/Oslo",
    )
    assert (user.active, user.away) == (True, False)


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Anna\u202eBerg"), ("name", "two\nlines"), ("active", "true"), ("away", 1), ("id", "none")],
)
def test_a_new_user_with_a_bad_field_is_refused_on_that_field(field: str, value: object) -> None:
    assert rejected_fields(AddUser, **{"id": "rep-anna", "name": "Anna", "role": "rep", field: value}) == {field}


def test_a_user_update_is_only_the_fields_sent_with_null_clearing_capacity_and_time_zone() -> None:
    assert UpdateUser(away=True).changes() == {"away": True}
    assert UpdateUser(daily_capacity=None, time_zone=None).changes() == {"daily_capacity": None, "time_zone": None}
    assert UpdateUser(role="manager").changes() == {"role": "manager"}


def test_a_user_update_must_change_something_and_cannot_clear_what_a_user_always_has() -> None:
    assert "give at least one of" in rejection_messages(UpdateUser)
    for field in ("name", "role", "active", "away"):
        assert rejected_fields(UpdateUser, **{field: None}) == {field}
    assert rejected_fields(UpdateUser, id="rep-ben") == {"id"}, "the id is not updatable"


def test_the_rules_are_validated_rule_by_rule_naming_the_rule_and_its_field() -> None:
    good = {"name": "all", "strategy": "round_robin", "reps": ["alice"]}
    assert ReplaceAssignmentRules(rules=[good, {**good, "name": "second"}]).rules[1].name == "second"  # type: ignore[list-item]
    with pytest.raises(ValidationError) as raised:
        ReplaceAssignmentRules(rules=[good, {**good, "reps": []}])  # type: ignore[list-item]
    assert [e["loc"] for e in raised.value.errors()] == [("rules", 1, "reps")]
