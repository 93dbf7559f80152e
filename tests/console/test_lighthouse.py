"""`make lighthouse` (bench/lighthouse.py) without running Lighthouse: its page list, its reading
of a recorded report, the table it writes between the markers of docs/console.md; and the cache
and compression headers of the console's static assets it asked for."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.lighthouse import (
    CATEGORIES,
    DOCS,
    END,
    PAGES,
    START,
    Scores,
    benchmark_index,
    between_markers,
    chromium_version,
    failed_audits,
    median_run,
    pages_named,
    scores_of,
    settled,
    table,
    versions_of,
)
from services.console.app import STATIC_MAX_AGE
from services.console.pages import static_url
from tests.console.conftest import Console

REPORT = Path(__file__).resolve().parents[1] / "data" / "lighthouse" / "sign-in.json"


@pytest.fixture
def report() -> dict[str, Any]:
    """A Lighthouse 12 JSON report of the sign-in page, cut down to what the script reads."""
    recorded: dict[str, Any] = json.loads(REPORT.read_text())
    return recorded


def test_the_docs_hold_the_lighthouse_markers_once_and_in_order() -> None:
    text = DOCS.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    assert text.index(START) < text.index(END)
    assert "make lighthouse" in text


def test_the_page_list_covers_the_main_pages_and_the_ones_other_branches_add() -> None:
    paths = [page.path for page in PAGES]
    for path in ("/app/sign-in", "/app/", "/app/leads/{lead_id}", "/app/search?q=an"):
        assert path in paths
    for path in ("/app/contacts/{contact_id}", "/app/pipeline", "/app/forecast", "/app/segments", "/app/analytics"):
        assert path in paths
    assert all(path.startswith("/app/") for path in paths)
    assert len({page.name for page in PAGES}) == len(PAGES)
    assert [page.user for page in PAGES if page.path == "/app/sign-in"] == [None]


def test_pages_named_picks_pages_by_name_or_path_and_all_when_none_is_named() -> None:
    assert pages_named([]) == list(PAGES)
    assert [page.path for page in pages_named(["lead"])] == ["/app/leads/{lead_id}"]
    assert [page.name for page in pages_named(["/app/pipeline"])] == ["Pipeline board (manager)"]


def test_a_recorded_report_gives_its_four_scores_out_of_a_hundred(report: dict[str, Any]) -> None:
    assert scores_of(report) == {"performance": 80, "accessibility": 100, "best-practices": 100, "seo": 90}


def test_a_category_lighthouse_could_not_score_is_none() -> None:
    assert scores_of({"categories": {"performance": {"score": None}}}) == dict.fromkeys(CATEGORIES)


def test_a_recorded_report_names_its_lighthouse_and_chrome_versions(report: dict[str, Any]) -> None:
    lighthouse, chrome = versions_of(report)
    assert lighthouse == "12.8.2"
    assert re.fullmatch(r"[0-9]+(\.[0-9]+){3}", chrome)


def test_chromiums_own_version_line_gives_the_full_version() -> None:
    assert chromium_version("Chromium 156.0.8078.114 built on Debian GNU/Linux 12 (bookworm)\n") == "156.0.8078.114"
    assert chromium_version("") is None


def test_the_failed_audits_of_a_category_say_what_to_fix(report: dict[str, Any]) -> None:
    assert failed_audits(report, "performance") == ["total-blocking-time (0.36)"]
    assert failed_audits(report, "seo") == ["meta-description (0.00)"]
    assert failed_audits(report, "accessibility") == []


def test_a_page_under_a_target_says_which_category_misses_it(report: dict[str, Any]) -> None:
    row = Scores("Sign in", "/app/sign-in", scores_of(report))
    assert row.misses() == ["performance 80 < 90"]
    assert Scores("x", "/app/x", {"performance": 90, "accessibility": 95, "best-practices": 95}).misses() == []
    assert Scores("x", "/app/x", {}).misses() == [
        "performance None < 90",
        "accessibility None < 95",
        "best-practices None < 95",
    ]


def test_the_table_goes_between_the_markers_and_a_rerun_replaces_it(report: dict[str, Any]) -> None:
    row = Scores("Sign in", "/app/sign-in", scores_of(report))
    block = table([row], "12.8.2", "156.0.8078.114", "2026-12-01", skipped=["/app/pipeline"])
    assert "| Sign in | `/app/sign-in` | 80 | 100 | 100 | 90 |" in block
    assert "Lighthouse 12.8.2, Chromium 156.0.8078.114" in block and "2026-12-01" in block
    assert "`/app/pipeline`" in block
    document = f"# Console\n\nbefore\n\n{START}\nold table\n{END}\n\nafter\n"
    once = between_markers(document, block)
    assert "old table" not in once and block in once
    assert once.startswith("# Console\n\nbefore\n\n") and once.endswith(f"{END}\n\nafter\n")
    assert between_markers(once, block) == once


def test_the_table_says_how_many_runs_it_is_the_median_of_and_how_fast_the_machine_was() -> None:
    block = table([], "12.8.2", "156.0.8078.114", "2026-12-01", runs=3, benchmarks=[412, 833, 650])
    assert "the median of 3 runs per page (Lighthouse's CPU benchmark index 412-833)" in block


def test_of_several_runs_the_one_with_the_median_performance_counts(report: dict[str, Any]) -> None:
    def run(performance: float) -> dict[str, Any]:
        return {**report, "categories": {**report["categories"], "performance": {"score": performance}}}

    assert scores_of(median_run([run(0.99), run(0.71), run(0.93)]))["performance"] == 93
    assert scores_of(median_run([run(0.99), run(0.71)]))["performance"] == 71
    assert median_run([report]) is report
    with pytest.raises(ValueError):
        median_run([])


def test_a_report_says_how_fast_the_machine_was(report: dict[str, Any]) -> None:
    assert benchmark_index(report) == round(report["environment"]["benchmarkIndex"])
    assert benchmark_index({}) is None


def test_the_server_is_settled_once_its_log_stops_growing_and_no_read_model_lags() -> None:
    def ready(head: int, lag: int = 0) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ready", "head_position": head, "lag": {"pipeline": lag}}

    assert settled([ready(7)] * 4)
    assert not settled([ready(7)] * 3)
    assert not settled([ready(6), ready(7), ready(7), ready(7)])
    assert not settled([ready(7), ready(7), ready(7, lag=2), ready(7)])
    assert not settled([ready(7), (503, {}), ready(7), ready(7)])
    assert settled([ready(5), ready(6), ready(7), ready(7), ready(7), ready(7)])


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        between_markers("# Console\n", "| table |")


def test_a_static_asset_at_its_versioned_url_is_cached_for_a_year_and_compressed(console: Console) -> None:
    client = console.client()
    url = static_url("vendor/htmx.min.js")
    assert re.fullmatch(r"/app/static/vendor/htmx\.min\.js\?v=[0-9a-f]{16}", url)
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == f"public, max-age={STATIC_MAX_AGE}, immutable"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "htmx" in response.text  # the client decompressed it


def test_a_static_asset_at_another_url_is_revalidated_each_time(console: Console) -> None:
    client = console.client()
    for url in ("/app/static/console.css", "/app/static/console.css?v=0000000000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
    tag = client.get("/app/static/console.css").headers["etag"]
    again = client.get(static_url("console.css"), headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert "immutable" in again.headers["cache-control"]


def test_pages_link_their_assets_by_version_and_stay_uncached_and_uncompressed(console: Console) -> None:
    client, _ = console.signed_in()
    for path in ("/app/sign-in", "/app/"):
        page = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200
        for name in ("console.css", "favicon.svg"):
            assert static_url(name) in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "content-encoding" not in page.headers
        assert '<meta name="description" content="' in page.text
    assert static_url("vendor/htmx.min.js") in client.get("/app/").text


def test_the_sign_in_form_loads_no_script(console: Console) -> None:
    page = console.client().get("/app/sign-in")
    assert "<script" not in page.text and "hx-" not in page.text.replace("htmx-config", "")
