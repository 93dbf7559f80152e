"""Figure 10 — opportunity import (`crm import leads`) in rows/s, on SQLite and on PostgreSQL.

Ours: `import_leads` of generated rows in the Salesforce layout (each row: capture with owner,
two stage changes, then a conversion or a disqualification; about 5 events). Baseline: the same
rows' captures alone (`capture_lead`, one event each) into another fresh store, which says what
the back-dated history on top of a capture costs."""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from bench.common import QUICK, Figure, Servers, main, say
from services.app.application import CrmApplication
from services.bootstrap import bootstrap
from services.jobs.lead_import import IMPORTER, LeadStory, Mapping, import_leads, parse_row
from services.settings import Settings

MAPPING = Path(__file__).resolve().parent.parent / "services/jobs/mappings/salesforce_opportunities.json"
ROWS = 200 if QUICK else 2000
OWNERS = ("Alice Able", "Bob Baker")


def generate(path: Path, rows: int) -> None:
    """A CSV of `rows` opportunities in 2024, half won, half lost."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["Opportunity ID", "Created Date", "Opportunity Owner", "Lead Source", "Account Name", "Contact Email"]
            + ["Stage", "Close Date", "Won", "Closed", "Amount", "Stage History"]
        )
        for n in range(rows):
            month = n % 9 + 1
            won = n % 2 == 0
            writer.writerow(
                [f"006B{n:06d}", f"{month:02d}/01/2024", OWNERS[n % 2], "Web", f"Account {n}", f"p{n}@bench.example"]
                + ["Closed Won" if won else "Closed Lost", f"{month + 3:02d}/01/2024", int(won), 1, 1000 + n]
                + [f"Prospecting@{month:02d}/05/2024;Negotiation/Review@{month + 1:02d}/10/2024"]
            )


def fresh_app(url: str) -> CrmApplication:
    """An application on an empty store with the two owners on its team."""
    from services.app.commands import AddUser

    app = bootstrap(Settings(database_url=url))
    for user in ("alice", "bob"):
        app.add_user(AddUser(id=user, name=user.title(), role="rep"))
    return app


def measure(label: str, url: str, baseline_url: str, source: Path, mapping: Mapping) -> Figure:
    """One backend's figure."""
    app = fresh_app(url)
    try:
        began = time.perf_counter()
        report = import_leads(app, source, mapping)
        seconds = time.perf_counter() - began
    finally:
        app.close()
    assert not report.errors, report.errors[:3]
    say(f"lead import {label}: {report.rows} rows, {report.events} events in {seconds:.1f} s")
    base = fresh_app(baseline_url)
    try:
        with source.open(newline="") as file:
            stories = [parse_row(i + 2, row, mapping) for i, row in enumerate(csv.DictReader(file))]
        began = time.perf_counter()
        for story in stories:
            assert isinstance(story, LeadStory)
            base.capture_lead(story.capture, IMPORTER)
        base_seconds = time.perf_counter() - began
    finally:
        base.close()
    return Figure(
        name=f"10. opportunity import ({label})",
        ours=report.rows / seconds,
        baseline=len(stories) / base_seconds,
        unit="rows/s",
        higher_is_better=True,
        sample=report.rows,
        sample_unit="rows",
        what="import_leads: capture, 2 stage changes, conversion or disqualification per row",
        baseline_what="capture_lead of the same rows alone (no history)",
        details={
            "events": report.events,
            "ours_seconds": round(seconds, 2),
            "baseline_seconds": round(base_seconds, 2),
        },
    )


def run(servers: Servers) -> list[Figure]:
    """Rows/s on SQLite and on PostgreSQL."""
    mapping = Mapping.load(MAPPING)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "opportunities.csv"
        generate(source, ROWS)
        sqlite = measure(
            "SQLite", f"sqlite:///{scratch}/ours.sqlite", f"sqlite:///{scratch}/base.sqlite", source, mapping
        )
        postgres = measure(
            "PostgreSQL", servers.database("leadimport"), servers.database("leadimport_base"), source, mapping
        )
    return [sqlite, postgres]


if __name__ == "__main__":
    main(run, "lead_import")
