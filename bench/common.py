"""What every benchmark shares: the servers (a throwaway PostgreSQL and Kafka broker, the same
ones the test suite starts), figures and their targets, percentiles, the machine description,
the results table, and a fast way to build a large realistic event history.

A figure is always *ours* against a *raw baseline* measured in the same run, in the same
process, on the same servers: the ratio says how much of the raw speed of the infrastructure the
CRM keeps. Ratios are defined so that higher is better: ours/baseline for rates,
baseline/ours for latencies and memory."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "bench" / "data"
END = datetime(2026, 6, 1, tzinfo=UTC)
"""End of every seeded 12-month history (fixed, so that every run writes the same events)."""

QUICK = os.environ.get("BENCH_QUICK") == "1"
"""BENCH_QUICK=1 shrinks every size to a smoke test (numbers then mean little)."""


def size(full: int, quick: int) -> int:
    """A sample size: the full one, or the smoke-test one under BENCH_QUICK=1."""
    return quick if QUICK else full


# --- output --------------------------------------------------------------------------------


def say(message: str) -> None:
    """Progress, on stderr, with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The first target of a figure: a minimum ratio, or a maximum for our own value."""

    kind: str  # "ratio_at_least" | "ours_below"
    value: float

    def met(self, ours: float, ratio: float) -> bool:
        return ratio >= self.value if self.kind == "ratio_at_least" else ours < self.value

    def text(self, unit: str) -> str:
        return f"ratio >= {self.value:g}" if self.kind == "ratio_at_least" else f"< {self.value:g} {unit}"


def ratio_at_least(value: float) -> Target:
    return Target("ratio_at_least", value)


def below(value: float) -> Target:
    return Target("ours_below", value)


@dataclass
class Figure:
    """One measured figure, ours against a raw baseline from the same run."""

    name: str
    ours: float
    baseline: float
    unit: str
    higher_is_better: bool
    """True for rates (ratio = ours / baseline); False for latencies and memory (ratio = baseline / ours)."""
    sample: int
    sample_unit: str
    what: str
    baseline_what: str
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.ours / self.baseline if self.baseline else math.nan
        return self.baseline / self.ours if self.ours else math.nan

    @property
    def ratio_definition(self) -> str:
        return "ours / baseline" if self.higher_is_better else "baseline / ours"

    @property
    def target_met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.ours, self.ratio)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": self.what,
            "ours": round(self.ours, 4),
            "baseline": round(self.baseline, 4),
            "baseline_what": self.baseline_what,
            "unit": self.unit,
            "ratio": round(self.ratio, 4),
            "ratio_definition": self.ratio_definition + " (higher is better)",
            "sample_size": self.sample,
            "sample_unit": self.sample_unit,
            "target": None if self.target is None else self.target.text(self.unit),
            "target_met": self.target_met,
            "details": self.details,
        }


def _number(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| figure | ours | baseline | unit | ratio | sample | target | met |",
        "|---|---:|---:|---|---:|---:|---|---|",
    ]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.target_met]
        target = f.target.text(f.unit) if f.target else ""
        ratio = f"{_number(f.ratio)} ({'o/b' if f.higher_is_better else 'b/o'})"
        lines.append(
            f"| {f.name} | {_number(f.ours)} | {_number(f.baseline)} | {f.unit} | {ratio} "
            f"| {f.sample:,} {f.sample_unit} | {target} | {met} |"
        )
    return "\n".join(lines)


# --- statistics ----------------------------------------------------------------------------


BASELINE_RUNS = 3
"""Baselines are cheap: each is measured this many times and the median run is reported."""


def median_run(measure: Callable[[int], float], runs: int = BASELINE_RUNS) -> tuple[float, list[float]]:
    """Call `measure(run)` (returning seconds) `runs` times; (median seconds, every run's seconds)."""
    seconds = [measure(run) for run in range(runs)]
    return sorted(seconds)[len(seconds) // 2], seconds


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far: VmHWM of /proc/self/status.

    Not `resource.getrusage(RUSAGE_SELF).ru_maxrss`: Linux carries ru_maxrss over fork and exec,
    so in a child process it starts at the parent's peak (see `rusage_peak_rss_mb`)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return rusage_peak_rss_mb()


def rusage_peak_rss_mb() -> float:
    """ru_maxrss (KiB on Linux), which includes the peak of the parent this process was started from."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set size now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- servers -------------------------------------------------------------------------------


class Servers:
    """A throwaway PostgreSQL server and Kafka broker, started on first use, stopped at the end;
    a fresh database and a unique topic prefix per benchmark."""

    def __init__(self) -> None:
        self._pg: Any = None
        self._kafka: Any = None

    def postgres(self) -> Any:
        if self._pg is None:
            from tests.support.postgres_server import PostgresServer

            say("starting PostgreSQL")
            self._pg = PostgresServer().start()
        return self._pg

    def database(self, label: str) -> str:
        """URL of a fresh, empty database."""
        name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
        return str(self.postgres().create_database(name))

    def kafka(self) -> str:
        """The broker's bootstrap address."""
        if self._kafka is None:
            from tests.support.kafka_server import KafkaServer

            say("starting Kafka")
            self._kafka = KafkaServer(heap="1g").start()
        return str(self._kafka.bootstrap)

    @staticmethod
    def topic_prefix(label: str) -> str:
        return f"bench-{label}-{uuid.uuid4().hex[:8]}."

    def versions(self) -> dict[str, str | None]:
        versions: dict[str, str | None] = {"postgresql": None, "kafka": None}
        if self._pg is not None:
            with self._pg.connect() as conn:
                versions["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        if self._kafka is not None:
            versions["kafka"] = self._kafka.version
        return versions

    def server_settings(self) -> dict[str, str]:
        if self._pg is None:
            return {}
        with self._pg.connect() as conn:
            names = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections")
            return {n: conn.execute(f"SHOW {n}").fetchone()[0] for n in names}

    def close(self) -> None:
        if self._kafka is not None:
            say("stopping Kafka")
            self._kafka.stop()
            self._kafka = None
        if self._pg is not None:
            say("stopping PostgreSQL")
            self._pg.stop()
            self._pg = None


def machine(servers: Servers) -> dict[str, Any]:
    """What the figures ran on."""
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        **servers.versions(),
        "postgresql_settings": servers.server_settings(),
        "libraries": {
            name: version(name)
            for name in ("eventsourcing", "psycopg", "kafka-python", "fastapi", "uvicorn", "pydantic", "httpx")
        },
    }


# --- a large, realistic event history --------------------------------------------------------

_UUID_HEX = re.compile(rb'"_type_":"uuid_hex","_data_":"([0-9a-f]{32})"')
_CLONE_NAMESPACE = uuid.UUID("0b7f2f8e-3c1a-4d55-9a63-5be0c2a4f1d7")


def events_table(app: Any) -> str:
    """The name of the application's events table."""
    return str(app.recorder.events_table_name)


def seed_and_clone(app: Any, database_url: str, events: int, seed_leads: int = 0, seed: int = 7) -> dict[str, Any]:
    """Give the store about `events` events: `seed_leads` lead stories written through the
    application's commands (`seed_history`), then copies of that history, each with every
    aggregate id (and every id an event refers to) renamed, appended with COPY. A copy is a
    history the commands could have written; writing it through them would only take longer.
    Returns how the history was made."""
    from services.jobs.seed import seed_history

    seed_leads = seed_leads or size(300, 60)
    began = time.perf_counter()
    report = seed_history(app, leads=seed_leads, seed=seed, end=END)
    seeded_seconds = time.perf_counter() - began
    say(f"  seeded {report.events:,} events through the commands in {seeded_seconds:.1f} s")
    table_name = events_table(app)
    with psycopg.connect(database_url) as conn:
        base = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table_name} ORDER BY notification_id"
        ).fetchall()
        missing = max(0, events - len(base))
        copies = math.ceil(missing / len(base)) if base else 0
        began = time.perf_counter()
        ids = {row[0].hex for row in base}
        written = 0
        with conn.cursor() as cur:
            with cur.copy(f"COPY {table_name} (originator_id, originator_version, topic, state) FROM STDIN") as copy:
                for k in range(1, copies + 1):
                    renamed = {hex_: uuid.uuid5(_CLONE_NAMESPACE, f"{k}:{hex_}") for hex_ in ids}

                    def rename(match: re.Match[bytes], renamed: dict[str, uuid.UUID] = renamed) -> bytes:
                        new = renamed.get(match.group(1).decode())
                        return (
                            match.group(0)
                            if new is None
                            else b'"_type_":"uuid_hex","_data_":"' + new.hex.encode() + b'"'
                        )

                    for originator_id, version, topic, state in base:
                        if written >= missing:
                            break
                        copy.write_row(
                            (renamed[originator_id.hex], version, topic, _UUID_HEX.sub(rename, bytes(state)))
                        )
                        written += 1
        conn.commit()
        conn.execute(f"ANALYZE {table_name}")
    cloned_seconds = time.perf_counter() - began
    if written:
        say(f"  appended {written:,} renamed copies of those events with COPY in {cloned_seconds:.1f} s")
    return {
        "seeded_through_commands": len(base),
        "seed_leads": seed_leads,
        "copied": written,
        "copies": copies,
        "total": len(base) + written,
    }


# --- running a benchmark alone ---------------------------------------------------------------

Benchmark = Callable[[Servers], list[Figure]]


@contextmanager
def servers_running() -> Iterator[Servers]:
    servers = Servers()
    try:
        yield servers
    finally:
        servers.close()


def main(benchmark: Benchmark, name: str) -> None:
    """`python -m bench.<name>`: start the servers, run one benchmark, print its table."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=benchmark.__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures (and the machine) to this file")
    args = parser.parse_args()
    with servers_running() as servers:
        figures = benchmark(servers)
        info = machine(servers)
    print(table(figures))
    if args.json:
        write_results(args.json, figures, info, {name: 0.0})


def write_results(path: Path, figures: Sequence[Figure], info: dict[str, Any], seconds: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": QUICK,
        "machine": info,
        "benchmark_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "ratio": "higher is better: ours / baseline for rates, baseline / ours for latencies and memory",
        "figures": [f.as_json() for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


__all__ = [
    "BASELINE_RUNS",
    "median_run",
    "DATA",
    "END",
    "QUICK",
    "RESULTS",
    "ROOT",
    "Figure",
    "Servers",
    "Target",
    "below",
    "current_rss_mb",
    "events_table",
    "machine",
    "main",
    "peak_rss_mb",
    "percentile",
    "ratio_at_least",
    "rusage_peak_rss_mb",
    "say",
    "seed_and_clone",
    "servers_running",
    "size",
    "table",
    "write_results",
]
