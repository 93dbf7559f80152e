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

    kind: str  # "ratio_at_least" | "ours_below" | "ours_at_most"
    value: float

    def met(self, ours: float, ratio: float) -> bool:
        """Whether a figure with this value of ours (and this ratio) meets the target."""
        if self.kind == "ratio_at_least":
            return ratio >= self.value
        return ours <= self.value if self.kind == "ours_at_most" else ours < self.value

    def text(self, unit: str) -> str:
        """The target as the table prints it."""
        if self.kind == "ratio_at_least":
            return f"ratio >= {self.value:g}"
        return f"{'<=' if self.kind == 'ours_at_most' else '<'} {self.value:g} {unit}"


def ratio_at_least(value: float) -> Target:
    return Target("ratio_at_least", value)


def below(value: float) -> Target:
    return Target("ours_below", value)


def at_most(value: float) -> Target:
    """Our own value must not exceed `value` (in the figure's unit)."""
    return Target("ours_at_most", value)


TARGETS: dict[str, tuple[Target, str]] = {
    "append_8_vs_eventsourcing": (ratio_at_least(1.5), "append"),
    "append_8_vs_crud": (ratio_at_least(0.3), "append"),
    "append_8_vs_raw": (ratio_at_least(0.15), "append"),
    "command_cpu_ms": (at_most(2.5), "api"),
    "api_write_p99_ms_at_100rps": (at_most(30), "api"),
    "api_read_p99_ms_at_100rps": (at_most(10), "api"),
    "replay_1m_seconds": (at_most(45), "replay"),
    "replay_rss_mb": (at_most(300), "replay"),
    "relay_vs_raw": (ratio_at_least(0.8), "relay"),
    "projection_vs_raw": (ratio_at_least(0.5), "projection"),
    "freshness_p99_ms_in_process": (at_most(50), "freshness"),
    "freshness_p99_ms_kafka": (at_most(200), "freshness"),
}
"""The figures of the performance issue: id -> (target, the benchmark that measures it). Every
results file holds each of them, measured or saying why not."""

RUNS = 3
"""Each side of a figure is measured at least this many times; the figure is the median run."""


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sample (the lower middle one of an even sample)."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def slug(name: str) -> str:
    """An id made from a figure's name, for figures without one of their own."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _finite(value: float | None, digits: int = 4) -> float | None:
    """A number for JSON: rounded, or None for NaN / infinity (JSON has neither)."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


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
    id: str = ""
    """Stable identifier (the issue's ids, or one of the figure's own)."""
    value_is: str = "ours"
    """What `value` is: "ours" (our own measurement) or "ratio" (ours against the baseline)."""
    ours_runs: list[float] = field(default_factory=list)
    """Every measurement of ours, in the order taken (`ours` is their median)."""
    baseline_runs: list[float] = field(default_factory=list)
    """Every measurement of the baseline, interleaved with ours when both lists are as long."""
    why_unmeasured: str | None = None
    """Set when the figure could not be measured: its value is then null."""
    note: str = ""
    """How the value was obtained when it is not a plain measurement (e.g. extrapolated)."""

    @classmethod
    def unmeasured(cls, id: str, why: str, unit: str = "", value_is: str = "ours") -> Figure:
        """A figure this run could not measure: no number, the reason instead."""
        target = TARGETS[id][0] if id in TARGETS else None
        return cls(
            name=id,
            ours=math.nan,
            baseline=math.nan,
            unit=unit,
            higher_is_better=value_is == "ratio",
            sample=0,
            sample_unit="",
            what="not measured",
            baseline_what="",
            target=target,
            id=id,
            value_is=value_is,
            why_unmeasured=why,
        )

    @property
    def value_runs(self) -> list[float]:
        """The value of each run: ours, or each run's ratio against its interleaved baseline run
        (against the median baseline when the runs do not pair up)."""
        if self.why_unmeasured is not None:
            return []
        ours = self.ours_runs or [self.ours]
        if self.value_is != "ratio":
            return ours
        bases = self.baseline_runs if len(self.baseline_runs) == len(ours) else [self.baseline] * len(ours)
        return [self._ratio(o, b) for o, b in zip(ours, bases, strict=True)]

    @property
    def value(self) -> float | None:
        """The figure: the median of `value_runs` (None if unmeasured)."""
        runs = [x for x in self.value_runs if x == x]
        return median(runs) if runs else None

    @property
    def value_unit(self) -> str:
        """The unit of `value`."""
        return f"ratio ({self.ratio_definition}, {self.unit})" if self.value_is == "ratio" else self.unit

    def _ratio(self, ours: float, baseline: float) -> float:
        if self.higher_is_better:
            return ours / baseline if baseline else math.nan
        return baseline / ours if ours else math.nan

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
        if self.target is None or self.value is None:
            return None
        if self.value_is == "ratio":
            return self.target.met(self.ours, self.value)
        return self.target.met(self.value, self.ratio)

    def as_json(self) -> dict[str, Any]:
        """The figure in the results file: the issue's fields (id, value, unit, baseline, sample,
        runs, range) first, then the earlier ones (ours, ratio, ...) the docs also quote."""
        runs = self.value_runs
        finite = [x for x in runs if math.isfinite(x)]
        return {
            "id": self.id or slug(self.name),
            "value": _finite(self.value),
            "unit": self.value_unit,
            "runs": [_finite(x) for x in runs],
            "range": [round(min(finite), 4), round(max(finite), 4)] if finite else None,
            "baseline": {
                "value": _finite(self.baseline),
                "unit": self.unit,
                "what": self.baseline_what,
                "runs": [_finite(x) for x in self.baseline_runs],
            },
            "sample": {"size": self.sample, "unit": self.sample_unit},
            "why_unmeasured": self.why_unmeasured,
            "note": self.note,
            "name": self.name,
            "what": self.what,
            "ours": _finite(self.ours),
            "ours_runs": [_finite(x) for x in self.ours_runs],
            "ours_unit": self.unit,
            "baseline_what": self.baseline_what,
            "ratio": _finite(self.ratio),
            "ratio_definition": self.ratio_definition + " (higher is better)",
            "sample_size": self.sample,
            "sample_unit": self.sample_unit,
            "target": None if self.target is None else self.target.text(self.value_unit),
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
        "| id | figure | value (median) | range | ours | baseline | unit | ratio | sample | target | met |",
        "|---|---|---:|---|---:|---:|---|---:|---:|---|---|",
    ]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.target_met]
        target = f.target.text("ratio" if f.value_is == "ratio" else f.unit) if f.target else ""
        ratio = f"{_number(f.ratio)} ({'o/b' if f.higher_is_better else 'b/o'})"
        runs = [x for x in f.value_runs if math.isfinite(x)]
        value = "n/a" if f.value is None else _number(f.value)
        spread = f"{_number(min(runs))}-{_number(max(runs))} ({len(runs)} runs)" if runs else ""
        if f.why_unmeasured is not None:
            spread = f"not measured: {f.why_unmeasured}"
        lines.append(
            f"| {f.id or slug(f.name)} | {f.name} | {value} | {spread} "
            f"| {_number(f.ours)} | {_number(f.baseline)} | {f.unit} "
            f"| {ratio} | {f.sample:,} {f.sample_unit} | {target} | {met} |"
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
        write_results(args.json, with_every_target(figures, [name]), info, {name: 0.0})


def with_every_target(figures: Sequence[Figure], ran: Sequence[str], failed: Sequence[str] = ()) -> list[Figure]:
    """The figures plus, for every id of TARGETS none of them carries, a figure saying why it
    is missing (its benchmark failed, or was not run)."""
    present = {f.id for f in figures}
    missing = []
    for id, (_, benchmark) in TARGETS.items():
        if id in present:
            continue
        if benchmark in failed:
            why = f"the {benchmark} benchmark failed in this run (see its log)"
        elif benchmark in ran:
            why = f"the {benchmark} benchmark did not report it"
        else:
            why = f"the {benchmark} benchmark was not run (python -m bench.run --only ...)"
        missing.append(Figure.unmeasured(id, why))
    return [*figures, *missing]


def write_results(path: Path, figures: Sequence[Figure], info: dict[str, Any], seconds: dict[str, float]) -> None:
    """Write the results file: the machine, how long each benchmark took, and every figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": QUICK,
        "machine": info,
        "benchmark_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "ratio": "higher is better: ours / baseline for rates, baseline / ours for latencies and memory",
        "value": f"the median of at least {RUNS} runs (range: the lowest and highest run)",
        "figures": [f.as_json() for f in figures],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


__all__ = [
    "BASELINE_RUNS",
    "RUNS",
    "TARGETS",
    "at_most",
    "median",
    "with_every_target",
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
