"""`import_leads`: an opportunity export loaded as back-dated lead events, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.values import LeadSource, Stage
from services.app.application import CrmApplication, derived_id
from services.app.commands import CaptureLead, ChangeStage, ConvertLead
from services.app.errors import HistoryStepRefused, LeadNotFound
from services.jobs.lead_import import IMPORTER, Mapping, import_leads
from tests.integration.conftest import BACKENDS

SAMPLE = Path("tests/data/salesforce_opportunities.csv")
MAPPING = Mapping.load(Path("services/jobs/mappings/salesforce_opportunities.json"))


def lead_id(external_id: str) -> object:
    """The id the import gives the lead of this opportunity."""
    return derived_id("lead", f"import:salesforce:{external_id}")


def day(month: int, date: int) -> datetime:
    """Midnight UTC of a day in 2025."""
    return datetime(2025, month, date, tzinfo=UTC)


@pytest.mark.parametrize("database_url", BACKENDS[1:], indirect=True)
def test_the_sample_export_is_imported_with_its_stages_at_their_dates_and_bad_rows_reported(
    app: CrmApplication,
) -> None:
    report = import_leads(app, SAMPLE, MAPPING)
    assert (report.rows, report.imported) == (7, 3)
    assert [(e.row, e.field) for e in report.errors] == [
        (5, "stage"),
        (6, "close_date"),
        (7, "amount"),
        (8, "created"),
    ]
    won = lead_id("0061000001")
    assert app.get_lead(won, as_of=day(1, 6)).stage == Stage.NEW
    assert app.get_lead(won, as_of=day(1, 20)).stage == Stage.CONTACTED
    assert app.get_lead(won, as_of=day(2, 10)).stage == Stage.PROPOSAL
    assert app.get_lead(won, as_of=day(2, 20)).stage == Stage.NEGOTIATION
    lead = app.get_lead(won)
    assert lead.stage == Stage.CONVERTED and lead.owner == "alice"
    lost = app.get_lead(lead_id("0061000002"))
    assert lost.stage == Stage.DISQUALIFIED and lost.owner == "bob"
    assert app.get_lead(lead_id("0061000003")).stage == Stage.QUALIFIED


@pytest.mark.parametrize("database_url", BACKENDS[1:], indirect=True)
def test_importing_the_same_export_again_appends_nothing(app: CrmApplication) -> None:
    import_leads(app, SAMPLE, MAPPING)
    before = app.head_position()
    again = import_leads(app, SAMPLE, MAPPING)
    assert app.head_position() == before
    assert (again.imported, again.already, again.events) == (0, 3, 0)


def capture(external_id: str, **changes: object) -> CaptureLead:
    """The capture of an imported opportunity, as the importer makes it."""
    fields: dict[str, object] = {
        "name": "Ada Acme",
        "email": "ada@acme.example",
        "source": LeadSource.IMPORT,
        "idempotency_key": f"import:salesforce:{external_id}",
        "occurred_at": day(1, 5),
    }
    return CaptureLead.model_validate(fields | changes)


@pytest.mark.parametrize("database_url", BACKENDS[1:], indirect=True)
def test_a_history_with_a_refused_step_appends_nothing_and_imports_whole_once_mended(app: CrmApplication) -> None:
    # given a history whose second stage change repeats the first
    before = app.head_position()
    stages = [
        ChangeStage(stage=Stage.CONTACTED, occurred_at=day(1, 10)),
        ChangeStage(stage=Stage.CONTACTED, occurred_at=day(1, 20)),
    ]
    won = ConvertLead(deal_value=500, currency="USD", occurred_at=day(2, 1))
    with pytest.raises(HistoryStepRefused) as refused:
        app.import_lead(capture("006A"), [*stages, won], IMPORTER)
    # then it names the step, and not even the capture is appended
    assert refused.value.step == 1 and "already in stage" in str(refused.value)
    assert app.head_position() == before
    with pytest.raises(LeadNotFound):
        app.get_lead(lead_id("006A"))

    # when the history is mended, it is appended whole, once: the lead, its stages, its contact
    result = app.import_lead(capture("006A"), [stages[0], won], IMPORTER)
    assert result.position is not None and app.head_position() > before
    lead = app.get_lead(lead_id("006A"))
    assert lead.stage == Stage.CONVERTED and lead.converted_contact_id is not None
    assert app.get_contact(lead.converted_contact_id).name == "Ada Acme"
    head = app.head_position()
    assert app.import_lead(capture("006A"), [stages[0], won], IMPORTER).position is None
    assert app.head_position() == head


@pytest.mark.parametrize("database_url", BACKENDS[1:], indirect=True)
def test_a_row_changed_since_it_was_imported_is_reported_and_left_as_imported(
    app: CrmApplication, tmp_path: Path
) -> None:
    import_leads(app, SAMPLE, MAPPING)
    head = app.head_position()
    changed = tmp_path / "export.csv"
    changed.write_text(SAMPLE.read_text().replace(",3000,USD,", ",3500,USD,"))

    again = import_leads(app, changed, MAPPING)

    assert (again.imported, again.already) == (0, 2)
    [changed_row] = [e for e in again.errors if e.row == 4]
    assert changed_row.field == "amount" and "imported before with other values" in changed_row.reason
    assert app.head_position() == head
    assert app.get_lead(lead_id("0061000003")).estimated_value == 300000
