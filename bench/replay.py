"""Figure 5 — replay: events/s rebuilding every read model from N events on PostgreSQL, and the
peak resident memory of the process doing it.

Setup (not timed): a fresh database with N events (300 lead stories through the commands, then
renamed copies of them appended with COPY). The measurement runs in a child process of its own,
so that its peak RSS is the replay's and not the benchmark runner's: VmHWM of /proc/self/status
(`resource.getrusage(...).ru_maxrss` is reported beside it, but Linux carries it over fork and
exec, so in a child it starts at the parent's peak).
Baseline: a raw ordered scan of the events table in that same child (psycopg server-side cursor,
`SELECT notification_id, originator_id, originator_version, topic, state ... ORDER BY
notification_id`, no decoding). Ours: `rebuild()` — what `crm replay` runs — into a fresh
namespace: read the log in batches of 1,000, decode, project, apply rows with the positions."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import psycopg

from bench.common import (
    ROOT,
    TARGETS,
    Figure,
    Servers,
    current_rss_mb,
    events_table,
    median,
    median_run,
    peak_rss_mb,
    ratio_at_least,
    rusage_peak_rss_mb,
    say,
    size,
)

EVENTS = int(os.environ.get("BENCH_REPLAY_EVENTS") or size(600_000, 5_000))
"""N: 600,000 events, about a minute of replay on the reference machine (2 cores). The design's
figure is 1,000,000: the replay rate does not fall with N (first and second half are reported)
and memory does not grow with it, so 1,000,000 takes about 1,000,000 / rate seconds."""
DESIGN_EVENTS = 1_000_000


def run(servers: Servers) -> list[Figure]:
    """Replay events/s against a raw ordered scan; peak RSS of the replaying process."""
    from bench.common import seed_and_clone
    from services.bootstrap import bootstrap
    from services.settings import Settings

    url = servers.database("replay")
    app = bootstrap(Settings(database_url=url))
    say(f"replay: building a history of {EVENTS:,} events")
    history = seed_and_clone(app, url, EVENTS)
    app.close()
    say("replay: measuring in a child process (raw scan, then rebuild of every read model)")
    child = subprocess.run(
        [sys.executable, "-m", "bench.replay", "--measure", url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    m = json.loads(child.stdout.strip().splitlines()[-1])
    events = m["events"]
    # every rebuild that opened the personal fields, as `crm replay` does: the first, then two
    # alternating with rebuilds that leave them sealed
    rebuild_runs = [m["rebuild_seconds"], *m["rebuild_runs_opening"]]
    rates = [events / s for s in rebuild_runs]
    scan_rates = [events / s for s in m["scan_runs_seconds"]]
    rate = median(rates)
    details = {
        "history": history,
        "rebuild_seconds": round(m["rebuild_seconds"], 1),
        "rebuild_seconds_opening_personal_fields": [round(x, 2) for x in m["rebuild_runs_opening"]],
        "rebuild_seconds_leaving_them_sealed": [round(x, 2) for x in m["rebuild_runs_without_opening"]],
        "opening_personal_fields_costs": round(
            m["rebuild_seconds_opening"] / m["rebuild_seconds_without_opening"] - 1, 3
        ),
        "scan_seconds": round(m["scan_seconds"], 2),
        "scan_runs_seconds": [round(x, 2) for x in m["scan_runs_seconds"]],
        "events_per_second_first_half": round(m["first_half_rate"]),
        "events_per_second_second_half": round(m["second_half_rate"]),
        "rss_mb_at_10_percent": round(m["rss_at_10_percent"], 1),
        "rss_mb_at_end": round(m["rss_at_end"], 1),
        "extrapolated_seconds_for_1m_events": round(DESIGN_EVENTS / rate),
    }
    return [
        Figure(
            name=f"5. replay, every read model from {events:,} events (PostgreSQL)",
            ours=rate,
            baseline=median(scan_rates),
            unit="events/s",
            higher_is_better=True,
            sample=events,
            sample_unit="events",
            what="rebuild() of pipeline + segments into a fresh namespace (crm replay)",
            baseline_what="psycopg server-side cursor, SELECT ... ORDER BY notification_id, no decoding (median of 3)",
            target=ratio_at_least(0.1),
            details=details,
            id="replay_vs_raw_scan",
            value_is="ratio",
            ours_runs=rates,
            baseline_runs=scan_rates,
        ),
        Figure(
            name=f"5. replay, seconds for {DESIGN_EVENTS:,} events"
            + ("" if events >= DESIGN_EVENTS else f" (extrapolated from {events:,})"),
            ours=DESIGN_EVENTS / rate,
            baseline=DESIGN_EVENTS / median(scan_rates),
            unit="s",
            higher_is_better=False,
            sample=events,
            sample_unit="events replayed per run",
            what="rebuild() of every read model (crm replay), seconds for 1,000,000 events",
            baseline_what="the raw ordered scan's seconds for as many events",
            target=TARGETS["replay_1m_seconds"][0],
            details={"rebuild_seconds": [round(x, 2) for x in rebuild_runs], "events": events},
            id="replay_1m_seconds",
            ours_runs=[DESIGN_EVENTS / r for r in rates],
            baseline_runs=[DESIGN_EVENTS / r for r in scan_rates],
            note=""
            if events >= DESIGN_EVENTS
            else f"extrapolated: {DESIGN_EVENTS:,} / the events/s measured replaying {events:,} events "
            "(the rate does not fall with N: see events_per_second_first_half / second_half of replay_vs_raw_scan)",
        ),
        Figure(
            name="5. replay, peak RSS of the replaying process",
            ours=median(m["peak_rss_mb_runs"]),
            baseline=m["rss_before_rebuild_mb"],
            unit="MB",
            higher_is_better=False,
            sample=events,
            sample_unit="events",
            what="peak RSS (VmHWM) of the child process after the rebuild",
            baseline_what="peak RSS of the same process after imports, bootstrap and the raw scan",
            target=TARGETS["replay_rss_mb"][0],
            id="replay_rss_mb",
            ours_runs=m["peak_rss_mb_runs"],
            note="the peak (VmHWM) is reset before each rebuild, so each run's peak is that rebuild's",
            details={
                "rss_mb_at_10_percent": details["rss_mb_at_10_percent"],
                "rss_mb_at_end": details["rss_mb_at_end"],
                "ru_maxrss_mb_including_parent_peak": round(m["ru_maxrss_mb"], 1),
            },
        ),
    ]


def measure(url: str) -> dict[str, Any]:
    """In the child: the raw scan, then the rebuild with samples of progress and memory."""
    from services.app.application import CrmApplication
    from services.bootstrap import bootstrap, eventsourcing_env
    from services.cli.common import progress_bar
    from services.jobs.rebuild import rebuild
    from services.settings import Settings

    settings = Settings(database_url=url)
    app = bootstrap(settings)
    table = events_table(app)

    def scan(run: int) -> float:
        began = time.perf_counter()
        scanned = 0
        with psycopg.connect(url) as conn, conn.cursor(name="scan") as cur:
            cur.itersize = 1000
            cur.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state FROM {table} "
                "ORDER BY notification_id"
            )
            while rows := cur.fetchmany(1000):
                scanned += len(rows)
        print(f"raw scan {run + 1}: {scanned:,} rows in {time.perf_counter() - began:.2f} s", file=sys.stderr)
        return time.perf_counter() - began

    scan_seconds, scan_runs = median_run(scan)
    rss_before = peak_rss_mb()
    reset_peak_rss()

    samples: list[tuple[float, int, float]] = []
    show = progress_bar("rebuilding")

    def progress(position: int, head: int) -> None:
        samples.append((time.perf_counter(), position, current_rss_mb()))
        show(position, head)

    store, seconds = rebuild(app, settings, "rebuild_", progress=progress)
    peak = peak_rss_mb()
    head = app.head_position()
    store.close()
    app.close()
    # what opening the sealed personal fields costs: the same rebuild with a mapper that leaves
    # them sealed, alternating with rebuilds that open them, twice each (medians)
    plain = CrmApplication(env=eventsourcing_env(settings.database))
    opened_app = bootstrap(settings)
    plain_runs: list[float] = []
    opened_runs: list[float] = []
    opened_peaks: list[float] = [peak]
    for _ in range(2):
        for runs, which in ((plain_runs, plain), (opened_runs, opened_app)):
            reset_peak_rss()
            again, again_seconds = rebuild(which, settings, "rebuild_cost_", progress=show)
            if which is opened_app:
                opened_peaks.append(peak_rss_mb())
            again.drop()
            again.close()
            runs.append(again_seconds)
    plain.close()
    opened_app.close()
    plain_seconds = statistics.median(plain_runs)
    opened_seconds = statistics.median(opened_runs)

    def rate_between(a: float, b: float) -> float:
        chosen = [s for s in samples if a * head <= s[1] <= b * head]
        (t0, p0, _), (t1, p1, _) = chosen[0], chosen[-1]
        return (p1 - p0) / (t1 - t0) if t1 > t0 else float("nan")

    at_10 = next(s for s in samples if s[1] >= head / 10)
    return {
        "events": head,
        "scan_seconds": scan_seconds,
        "scan_runs_seconds": scan_runs,
        "rebuild_seconds": seconds,
        "rebuild_seconds_without_opening": plain_seconds,
        "rebuild_seconds_opening": opened_seconds,
        "rebuild_runs_without_opening": plain_runs,
        "rebuild_runs_opening": opened_runs,
        "rss_before_rebuild_mb": rss_before,
        "peak_rss_mb": peak,
        "peak_rss_mb_runs": opened_peaks,
        "ru_maxrss_mb": rusage_peak_rss_mb(),
        "rss_at_10_percent": at_10[2],
        "rss_at_end": samples[-1][2],
        "first_half_rate": rate_between(0.0, 0.5),
        "second_half_rate": rate_between(0.5, 1.0),
    }


def reset_peak_rss() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux: 5 > /proc/self/clear_refs),
    so that the next peak read is that of what runs in between."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak then covers everything since the process started


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
    else:
        from bench.common import main

        main(run, "replay")
