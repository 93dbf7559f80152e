"""`import_leads`: an opportunity export loaded as back-dated lead events, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.values import Stage
from services.app.application import CrmApplication, derived_id
from services.jobs.lead_import import Mapping, import_leads
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
