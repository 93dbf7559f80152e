"""Campaign costs through the read models on each durable backend: the cost rows follow the log,
and `crm verify` finds them identical to a fresh replay, back-dated costs included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.in_process_runner import InProcessRunner
from services.app.application import Context
from services.app.commands import RecordCampaignCost
from services.bootstrap import bootstrap, open_read_models
from services.jobs.seed import seed_history
from services.settings import Settings
from tests.integration.test_replay_and_verify import DURABLE, END, crm


@pytest.mark.parametrize("database_url", DURABLE, indirect=True)
def test_campaign_cost_rows_follow_the_log_and_verify_equals_a_fresh_replay(database_url: str) -> None:
    # given a seeded history and three costs, one of them back-dated before the others
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    live = open_read_models(settings)
    seed_history(app, leads=10, seed=3, end=END)
    manager = Context(actor="mia")
    for amount, day in [(100_00, 10), (250_00, 20), (75_00, 1)]:
        at = datetime(2026, 5, day, tzinfo=UTC)
        app.record_campaign_cost(
            "spring-launch", RecordCampaignCost(amount=amount, currency="EUR", occurred_at=at), manager
        )
    InProcessRunner(app, live).catch_up()
    rows = live.fetch("SELECT amount, occurred_at, recorded_by FROM campaign_costs ORDER BY occurred_at")
    live.close()
    app.close()
    assert [(r["amount"], r["recorded_by"]) for r in rows] == [(75_00, "mia"), (100_00, "mia"), (250_00, "mia")]
    # when verify compares the live read models with a fresh replay, then every table is identical
    verified = crm(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "campaign_costs" in verified.stdout and "DIFF" not in verified.stdout
