"""Parsing the rows of an opportunity export into lead stories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from domain.values import Stage
from services.app.commands import ConvertLead, DisqualifyLead
from services.jobs.lead_import import LeadStory, Mapping, RowError, parse_row

MAPPING = Mapping.load(Path("services/jobs/mappings/salesforce_opportunities.json"))


def row(**changes: str) -> dict[str, str]:
    """A valid won row in the Salesforce layout, with changes."""
    base = {
        "Opportunity ID": "006X",
        "Created Date": "01/05/2025",
        "Opportunity Owner": "Alice Able",
        "Lead Source": "Web",
        "Account Name": "Acme",
        "Contact Email": "ada@acme.example",
        "Stage": "Closed Won",
        "Close Date": "03/01/2025",
        "Won": "1",
        "Closed": "1",
        "Amount": "1,250.50",
        "Stage History": "Prospecting@01/10/2025;Negotiation/Review@02/15/2025",
    }
    return base | changes


def test_a_won_row_becomes_a_capture_its_stages_and_a_conversion_at_their_dates() -> None:
    story = parse_row(2, row(), MAPPING)
    assert isinstance(story, LeadStory)
    assert story.capture.occurred_at == datetime(2025, 1, 5, tzinfo=UTC)
    assert story.capture.owner == "alice"
    assert story.capture.idempotency_key == "import:salesforce:006X"
    assert [(c.stage, c.occurred_at) for c in story.stages] == [
        (Stage.CONTACTED, datetime(2025, 1, 10, tzinfo=UTC)),
        (Stage.NEGOTIATION, datetime(2025, 2, 15, tzinfo=UTC)),
    ]
    assert isinstance(story.close, ConvertLead)
    assert story.close.deal_value == 125050
    assert story.close.occurred_at == datetime(2025, 3, 1, tzinfo=UTC)


def test_a_lost_row_is_disqualified_with_the_default_reason() -> None:
    story = parse_row(2, row(Won="0", **{"Stage": "Closed Lost"}), MAPPING)
    assert isinstance(story, LeadStory) and isinstance(story.close, DisqualifyLead)
    assert story.close.reason == "closed lost in Salesforce"


def test_an_open_row_without_history_is_in_its_current_stage_from_its_created_date() -> None:
    story = parse_row(2, row(Closed="0", Won="0", Stage="Needs Analysis", **{"Stage History": ""}), MAPPING)
    assert isinstance(story, LeadStory) and story.close is None
    assert [(c.stage, c.occurred_at) for c in story.stages] == [(Stage.QUALIFIED, datetime(2025, 1, 5, tzinfo=UTC))]


def test_bad_values_are_reported_with_row_field_and_reason() -> None:
    cases = {
        "created": row(**{"Created Date": "2025/13/45"}),
        "stage": row(Stage="Haggling"),
        "amount": row(Amount="-5"),
        "close_date": row(**{"Close Date": "01/01/2025"}),
        "stage_history": row(**{"Stage History": "Prospecting@12/31/2024"}),
        "external_id": row(**{"Opportunity ID": ""}),
        "email": row(**{"Contact Email": "not-an-email"}),
    }
    for name, bad in cases.items():
        error = parse_row(7, bad, MAPPING)
        assert isinstance(error, RowError), name
        assert (error.row, error.field) == (7, name), error


def test_an_amount_is_read_in_the_minor_units_of_its_own_currency() -> None:
    for currency, amount, minor in (
        ("USD", "1,250.50", 125050),
        ("JPY", "125,000", 125000),
        ("KWD", "12.345", 12345),
        ("EUR", "99.9000", 9990),
    ):
        story = parse_row(2, row(Amount=amount, **{"Opportunity Currency": currency}), MAPPING)
        assert isinstance(story, LeadStory), currency
        assert (story.capture.estimated_value, story.capture.currency) == (minor, currency)
        assert isinstance(story.close, ConvertLead) and story.close.deal_value == minor


def test_an_amount_finer_than_its_currency_s_minor_unit_is_an_error_not_a_rounding() -> None:
    for currency, amount in (("USD", "10.005"), ("JPY", "100.5"), ("KWD", "1.2345")):
        error = parse_row(4, row(Amount=amount, **{"Opportunity Currency": currency}), MAPPING)
        assert isinstance(error, RowError), currency
        assert (error.row, error.field) == (4, "amount")
        assert currency in error.reason and amount in error.reason
