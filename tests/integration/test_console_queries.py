"""The console's read-model queries over a real store (SQLite file and PostgreSQL): hot leads by
score, leads by name, nurture enrolments waiting for their next step, each for one owner or all."""

from __future__ import annotations

import pytest

from consumers.in_process_runner import InProcessRunner
from services.app.application import Context
from services.app.commands import DefineSequence, DisqualifyLead, EnrolInSequence, LogInteraction
from services.app.queries import ReadModelQueries
from services.bootstrap import bootstrap, open_read_models
from services.settings import Settings
from tests.integration.conftest import BACKENDS
from tests.integration.factories import TEAM, capture, hire

DURABLE = [p for p in BACKENDS if p.values[0] != "memory"]
ALICE = Context(actor="alice", correlation_id="req-alice")
BOB = Context(actor="bob", correlation_id="req-bob")
SEQUENCE = {"name": "welcome", "steps": [{"wait_days": 3, "task": {"title": "call", "due_in_days": 1}}]}


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_the_consoles_lists_answer_from_the_store_for_an_owner_or_everyone(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    hire(app, *TEAM)
    store = open_read_models(settings)
    ada = app.capture_lead(capture(name="Ada Lovelace", email="ada@a.example", owner="alice"), ALICE).id
    for kind in ("demo", "meeting"):
        app.log_lead_interaction(ada, LogInteraction(kind=kind), ALICE)
    cold = app.capture_lead(capture(name="Ada 100%_Cold", email="cold@a.example", owner="alice"), ALICE).id
    lost = app.capture_lead(capture(name="Adam Lost", email="lost@a.example", owner="alice"), ALICE).id
    app.log_lead_interaction(lost, LogInteraction(kind="demo"), ALICE)
    app.disqualify_lead(lost, DisqualifyLead(reason="no budget"), ALICE)
    grace = app.capture_lead(capture(name="Grace Hopper", email="grace@n.example", owner="bob"), BOB).id
    app.log_lead_interaction(grace, LogInteraction(kind="demo"), BOB)
    app.define_sequence(DefineSequence.model_validate(SEQUENCE))
    app.enrol_lead(cold, EnrolInSequence(sequence="welcome"), ALICE)
    InProcessRunner(app, store).catch_up()
    queries = ReadModelQueries(store)

    hot = queries.hot_leads(owner="alice")
    assert [h.lead_id for h in hot] == [str(ada), str(cold)]  # highest first; a closed lead is not hot
    assert hot[0].score > hot[1].score and hot[0].name == "Ada Lovelace"
    assert {h.lead_id for h in queries.hot_leads()} == {str(ada), str(cold), str(grace)}
    assert len(queries.hot_leads(limit=1)) == 1

    assert [h.name for h in queries.leads_named("ADA", owner="alice")] == ["Ada 100%_Cold", "Ada Lovelace", "Adam Lost"]
    assert [h.name for h in queries.leads_named("100%_")] == ["Ada 100%_Cold"]  # % and _ are the text itself
    assert queries.leads_named("0%", owner="bob") == []
    assert queries.leads_named("%") == [h for h in queries.leads_named("100%")]

    [waiting] = queries.waiting_steps(owner="alice")
    assert (waiting.lead_id, waiting.sequence, waiting.next_step) == (str(cold), "welcome", 1)
    assert queries.waiting_steps(owner="bob") == []
    assert len(queries.waiting_steps()) == 1
    store.close()
    app.close()
