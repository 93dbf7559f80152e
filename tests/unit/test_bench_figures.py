"""The benchmark results file: every figure of the performance issue, with its fields."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.common import TARGETS, Figure, at_most, ratio_at_least, table, with_every_target, write_results

FIELDS = {"id", "value", "unit", "baseline", "sample", "runs", "range", "why_unmeasured"}


def _append_ratio() -> Figure:
    return Figure(
        name="append, 8 threads, against a bare eventsourcing application",
        ours=600.0,
        baseline=400.0,
        unit="commands/s",
        higher_is_better=True,
        sample=6400,
        sample_unit="commands",
        what="log_lead_interaction",
        baseline_what="eventsourcing Application, minimal Lead aggregate",
        target=ratio_at_least(1.5),
        id="append_8_vs_eventsourcing",
        value_is="ratio",
        ours_runs=[600.0, 660.0, 540.0],
        baseline_runs=[400.0, 300.0, 450.0],
    )


def _freshness() -> Figure:
    return Figure(
        name="freshness p99, in-process runner",
        ours=48.0,
        baseline=30.0,
        unit="ms",
        higher_is_better=False,
        sample=600,
        sample_unit="commands",
        what="commit -> visible",
        baseline_what="raw produce -> consume",
        target=at_most(50),
        id="freshness_p99_ms_in_process",
        ours_runs=[52.0, 48.0, 45.0],
        baseline_runs=[30.0, 31.0, 29.0],
    )


def _written(tmp_path: Path, figures: list[Figure], ran: list[str], failed: list[str]) -> dict[str, dict]:
    path = tmp_path / "latest.json"
    write_results(path, with_every_target(figures, ran, failed), {"cores": 2}, {"append": 1.0})
    document = json.loads(path.read_text())
    return {f["id"]: f for f in document["figures"]}


def test_the_results_file_holds_every_id_of_the_issue_with_the_fields_it_asks_for(tmp_path: Path) -> None:
    written = _written(tmp_path, [_append_ratio(), _freshness()], ran=["append", "freshness"], failed=[])
    assert set(TARGETS) <= set(written)
    for figure in written.values():
        assert FIELDS <= set(figure), figure["id"]
        assert {"value", "unit", "what", "runs"} <= set(figure["baseline"])
        assert {"size", "unit"} <= set(figure["sample"])


def test_a_ratio_figure_is_the_median_of_the_interleaved_runs_ratios_with_their_range(tmp_path: Path) -> None:
    figure = _written(tmp_path, [_append_ratio()], ran=["append"], failed=[])["append_8_vs_eventsourcing"]
    # run by run: 600/400 = 1.5, 660/300 = 2.2, 540/450 = 1.2
    assert figure["runs"] == [1.5, 2.2, 1.2]
    assert figure["value"] == 1.5
    assert figure["range"] == [1.2, 2.2]
    assert figure["unit"].startswith("ratio")
    assert figure["baseline"]["value"] == 400.0
    assert figure["baseline"]["what"] == "eventsourcing Application, minimal Lead aggregate"
    assert figure["sample"] == {"size": 6400, "unit": "commands"}
    assert figure["target_met"] is True


def test_an_own_value_figure_is_the_median_of_its_runs_against_an_upper_target(tmp_path: Path) -> None:
    figure = _written(tmp_path, [_freshness()], ran=["freshness"], failed=[])["freshness_p99_ms_in_process"]
    assert figure["value"] == 48.0
    assert figure["range"] == [45.0, 52.0]
    assert figure["unit"] == "ms"
    assert figure["target_met"] is True


def test_a_figure_that_was_not_measured_has_a_null_value_and_says_why(tmp_path: Path) -> None:
    written = _written(tmp_path, [], ran=["append", "api"], failed=["api"])
    api = written["api_write_p99_ms_at_100rps"]
    assert api["value"] is None and api["runs"] == [] and api["range"] is None
    assert "api benchmark failed" in api["why_unmeasured"]
    assert "did not report" in written["append_8_vs_crud"]["why_unmeasured"]
    assert "not run" in written["replay_1m_seconds"]["why_unmeasured"]
    assert written["replay_1m_seconds"]["target_met"] is None


def test_a_nan_measurement_is_written_as_null_so_the_file_stays_json(tmp_path: Path) -> None:
    broken = _freshness()
    broken.ours_runs = [math.nan, 40.0, 44.0]
    path = tmp_path / "latest.json"
    write_results(path, [broken], {}, {})
    text = path.read_text()
    assert "NaN" not in text
    figure = json.loads(text)["figures"][0]
    assert figure["runs"] == [None, 40.0, 44.0]
    assert figure["value"] == 40.0


def test_the_table_shows_each_id_its_median_and_range() -> None:
    printed = table([_append_ratio(), Figure.unmeasured("relay_vs_raw", "Kafka did not start", value_is="ratio")])
    assert "| append_8_vs_eventsourcing |" in printed
    assert "1.20-2.20 (3 runs)" in printed
    assert "not measured: Kafka did not start" in printed
