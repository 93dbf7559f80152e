"""Figure 2 — bulk import of the CDNOW master file (69,659 purchases by 23,570 customers) on
PostgreSQL.

Ours: `import_purchases` (`crm import purchases`): each customer a contact (idempotency key
`cdnow:<id>`) with all its `PurchaseRecorded` events, 250 new customers per append. Baseline: PostgreSQL COPY
(psycopg `copy.write_row`) of the very same event rows — the bytes the import stored — into a
table shaped like the events table (same columns, primary key and notification-id index)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psycopg

from bench.common import DATA, QUICK, Figure, Servers, events_table, main, median_run, ratio_at_least, say
from services.bootstrap import bootstrap
from services.jobs.cdnow_import import import_purchases
from services.settings import Settings

MASTER = DATA / "CDNOW_master.txt"
QUICK_LINES = 3000


def run(servers: Servers) -> list[Figure]:
    """Imported events/s against COPY of the same rows."""
    url = servers.database("import")
    app = bootstrap(Settings(database_url=url))
    table = events_table(app)
    source = MASTER
    scratch = None
    if QUICK:
        scratch = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        with MASTER.open() as lines:
            scratch.writelines(line for _, line in zip(range(QUICK_LINES), lines, strict=False))
        scratch.close()
        source = Path(scratch.name)
    try:
        began = time.perf_counter()

        def progress(customers: int) -> None:
            if customers % 5000 == 0:
                say(f"bulk import: {customers:,} customers, {customers / (time.perf_counter() - began):,.0f}/s")

        say(f"bulk import: importing {source.name} through import_purchases")
        report = import_purchases(app, source, progress=progress)
        ours_seconds = time.perf_counter() - began
        say(f"bulk import: {report.events:,} events in {ours_seconds:.1f} s")

        with psycopg.connect(url) as conn:
            rows = conn.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {table} ORDER BY notification_id"
            ).fetchall()

            def copy_run(run: int) -> float:
                raw = f"raw_import_{run}"
                conn.execute(
                    f"CREATE TABLE {raw} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                    "topic text, state bytea, notification_id bigserial, "
                    "PRIMARY KEY (originator_id, originator_version))"
                )
                conn.execute(f"CREATE UNIQUE INDEX {raw}_notification_id_idx ON {raw} (notification_id)")
                conn.commit()
                say(f"bulk import: baseline run {run + 1}, COPY of the same {len(rows):,} rows")
                began = time.perf_counter()
                with conn.cursor() as cur:
                    with cur.copy(f"COPY {raw} (originator_id, originator_version, topic, state) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                conn.commit()
                return time.perf_counter() - began

            base_seconds, base_runs = median_run(copy_run)
            found = conn.execute(f"SELECT avg(length(state)) FROM {table}").fetchone()
            average = found[0] if found else 0
    finally:
        app.close()
        if scratch is not None:
            Path(scratch.name).unlink()
    return [
        Figure(
            name="2. bulk import, CDNOW master (PostgreSQL)",
            ours=report.events / ours_seconds,
            baseline=len(rows) / base_seconds,
            unit="events/s",
            higher_is_better=True,
            sample=report.events,
            sample_unit="events",
            what="import_purchases of the CDNOW master file (contacts + purchases)",
            baseline_what="PostgreSQL COPY of the same event rows into an events-shaped table (median of 3)",
            target=ratio_at_least(0.3),
            details={
                "customers": report.customers,
                "purchases": report.purchases,
                "average_state_bytes": round(float(average)),
                "ours_seconds": round(ours_seconds, 2),
                "baseline_seconds": round(base_seconds, 2),
                "baseline_runs_seconds": [round(x, 2) for x in base_runs],
                "customers_per_second": round(report.customers / ours_seconds),
            },
        )
    ]


if __name__ == "__main__":
    main(run, "bulk_import")
