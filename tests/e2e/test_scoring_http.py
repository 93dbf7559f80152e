"""The learned win probability end to end, over a seeded history: on a lead's read next to the
rule score, and its backtest against the rule score, with who may ask and what is refused."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.jobs.seed import seed_history
from tests.e2e.conftest import LiveServer, live_server, problem

SEED, LEADS = 42, 400
END = datetime(2026, 6, 1, tzinfo=UTC)
"""The seeded history's last day: the same seed and end always write the same history."""
BACKTEST_AS_OF = "2026-03-03T00:00:00Z"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The API over a seeded 12-month history (SQLite), its read models caught up."""
    path: Path = tmp_path_factory.mktemp("scoring") / "crm.sqlite"
    with live_server(f"sqlite:///{path}") as live:
        seed_history(live.crm, leads=LEADS, seed=SEED, end=END)
        assert live.read_side.wait_for(live.crm.head_position(), 120)
        yield live


def test_the_learned_probability_ranks_the_leads_open_at_a_past_date_better_than_chance(seeded: LiveServer) -> None:
    response = seeded.client(role="analyst").get("/v1/scoring/backtest", params={"as_of": BACKTEST_AS_OF})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"].startswith("nb-1:2026-03-03T00:00:00Z:")
    assert body["reason"] is None and body["trained_leads"] >= 30
    assert body["leads"] == body["won"] + body["lost"] and body["won"] > 0 and body["lost"] > 0
    assert body["rule_auc"] is not None
    assert body["learned_auc"] > 0.5, body


def test_a_backtest_before_enough_leads_closed_has_no_model_and_says_why(seeded: LiveServer) -> None:
    body = seeded.client().get("/v1/scoring/backtest", params={"as_of": "2025-06-10T00:00:00Z"}).json()
    assert body["model_version"] is None and body["learned_auc"] is None
    assert "too few closed leads" in body["reason"]


def test_an_open_lead_shows_its_learned_probability_explained_next_to_its_rule_score(seeded: LiveServer) -> None:
    store = seeded.read_side.queries.store
    [row] = store.fetch("SELECT lead_id FROM pipeline_leads WHERE stage = 'qualified' ORDER BY lead_id LIMIT 1")
    lead = seeded.client(role="analyst").get(f"/v1/leads/{row['lead_id']}").json()
    win = lead["win_probability"]
    assert isinstance(lead["score"], int)
    assert 0.0 < win["value"] < 1.0 and win["reason"] is None
    assert win["model_version"].startswith("nb-1:") and win["trained_as_of"].endswith("T00:00:00Z")
    assert [c["feature"] for c in win["explanation"]] != []
    assert {c["feature"] for c in win["explanation"]} == {
        "stage",
        "source",
        "campaign",
        "owner",
        "company",
        "engagement",
        "age",
    }
    assert {"feature": "stage", "value": "qualified"}.items() <= next(
        c for c in win["explanation"] if c["feature"] == "stage"
    ).items()
    log_odds = win["base_log_odds"] + sum(c["contribution"] for c in win["explanation"])
    assert log_odds == pytest.approx(math.log(win["value"] / (1 - win["value"])))


def test_a_closed_lead_has_no_learned_probability_and_says_why(seeded: LiveServer) -> None:
    store = seeded.read_side.queries.store
    [row] = store.fetch("SELECT lead_id FROM pipeline_leads WHERE stage = 'converted' ORDER BY lead_id LIMIT 1")
    win = seeded.client().get(f"/v1/leads/{row['lead_id']}").json()["win_probability"]
    assert win["value"] is None and "closed" in win["reason"] and win["explanation"] == []


def test_a_lead_read_as_of_a_past_date_is_scored_by_the_model_of_that_day(seeded: LiveServer) -> None:
    store = seeded.read_side.queries.store
    [row] = store.fetch("SELECT lead_id FROM pipeline_leads WHERE stage = 'qualified' ORDER BY lead_id LIMIT 1")
    lead = seeded.client().get(f"/v1/leads/{row['lead_id']}", params={"as_of": "2026-05-20T12:00:00Z"}).json()
    assert lead["win_probability"]["trained_as_of"] == "2026-05-20T00:00:00Z"


@pytest.mark.parametrize(
    "as_of",
    [None, "not-a-date", "2999-12-31T00:00:00Z", "1800-01-01T00:00:00Z"],
    ids=["missing", "malformed", "future", "out-of-range"],
)
def test_a_backtest_date_missing_malformed_in_the_future_or_out_of_range_is_a_422_naming_it(
    seeded: LiveServer, as_of: str | None
) -> None:
    params = {} if as_of is None else {"as_of": as_of}
    body = problem(seeded.client().get("/v1/scoring/backtest", params=params), 422)
    assert "as_of" in str(body)


def test_a_rep_may_not_see_the_scoring_backtest(seeded: LiveServer) -> None:
    problem(seeded.client("alice", role="rep").get("/v1/scoring/backtest", params={"as_of": BACKTEST_AS_OF}), 403)
