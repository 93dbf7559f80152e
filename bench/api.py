"""Figure 6 — the HTTP API: p50/p99 latency and requests/s of a mixed load, 70% reads and 30%
commands, at 1, 16 and 64 concurrent clients, on embedded SQLite and on PostgreSQL.

The server is `crm serve` itself (uvicorn, one process, the read models followed in the
background), started as a subprocess over a store holding a 200-lead demo-sized history plus
leads of each client's own. Clients are threads of the benchmark process, each with its own
keep-alive httpx client and an admin token; client and server share the machine's cores.

Mix (per request, at random): 30% GET /v1/leads/{id}, 15% GET /v1/leads/{id}/history,
15% GET /v1/leads?limit=20, 10% GET /v1/pipeline, 25% POST /v1/leads/{id}/interactions on one of
the client's own leads, 5% POST /v1/leads. Baseline: the same clients calling GET /healthz of the
same server (the trivial route: one `SELECT max(notification_id)`).

Open loop (PostgreSQL only): closed-loop clients slow down when the server does, which hides
queueing, so the same server is also offered a fixed rate (50, 100, 200 requests/s, ~12 s each,
the three rates three times in turn) by vegeta, a load generator in Go (`make vegeta` installs the
pinned version into build/bin; it costs the shared cores far less than Python clients). The
targets file mixes 45% GET /v1/leads/{id}, 10% GET /v1/leads/{id}/history, 10% GET
/v1/leads?limit=20, 10% GET /v1/pipeline (reads) and 25% POST /v1/leads/{id}/interactions
(writes), each with the bearer token. p50/p99 per kind of request; baseline: GET /healthz at the
same rate. The server's CPU (utime + stime of /proc/PID/stat) over a write-only run at 50
requests/s, divided by the commands answered, is command_cpu_ms: everything the server spends on a
command, including projecting its events into the read models in the background."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from bench.common import (
    END,
    ROOT,
    RUNS,
    TARGETS,
    Figure,
    Servers,
    below,
    main,
    median,
    percentile,
    say,
    size,
)
from domain.values import InteractionKind, LeadSource
from services.app.application import Context
from services.app.commands import CaptureLead
from services.bootstrap import bootstrap, open_token_store
from services.jobs.seed import seed_history
from services.settings import Settings

CLIENTS = (1, 16, 64)
SECONDS = size(10, 2)
"""Measured seconds per mixed run; the /healthz baseline runs half as long."""
WARMUP_SECONDS = 1.0
DEMO_LEADS = size(200, 30)
LEADS_PER_CLIENT = 3
KINDS = [k.value for k in InteractionKind]
SOURCES = [s.value for s in LeadSource if s is not LeadSource.REACTIVATION]

Request = Callable[[httpx.Client, random.Random], tuple[str, httpx.Response]]

OPEN_RATES = (50, 100, 200)
"""Requests/s offered by the open-loop load generator."""
OPEN_SECONDS = size(12, 2)
"""Seconds per open-loop run (each rate runs RUNS times)."""
HEALTHZ_SECONDS = size(6, 1)
WRITE_RATE = 50
"""Requests/s of the write-only run that measures the server's CPU per command."""
WRITE_SECONDS = size(10, 2)
VEGETA = ROOT / "build" / "bin" / "vegeta"
VEGETA_PIN = "v12.13.0"
"""The version `make vegeta` installs (VEGETA_VERSION in the Makefile)."""
OPEN_MIX = (
    ("GET lead", 45),
    ("GET lead history", 10),
    ("GET lead list", 10),
    ("GET pipeline", 10),
    ("POST interaction", 25),
)
"""The open-loop workload: kind of request and its share in percent."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`crm serve` in a subprocess over a database URL."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        env = {**os.environ, "CRM_DATABASE_URL": database_url}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"crm serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"crm serve did not answer: {log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _prepare(database_url: str) -> tuple[str, list[UUID], list[list[UUID]]]:
    """Seed the store, capture each client's own leads, issue an admin token."""
    settings = Settings(database_url=database_url)
    app = bootstrap(settings)
    try:
        seed_history(app, leads=DEMO_LEADS, seed=42, end=END)
        rows = app.recorder.select_notifications(start=1, limit=1_000_000, topics=["domain.lead:Lead.Captured"])
        seeded = [UUID(str(r.originator_id)) for r in rows]
        own = [
            [
                app.capture_lead(
                    CaptureLead(
                        name=f"Client {c} Lead {i}",
                        email=f"client-{c}-{i}@bench.example",
                        source="web_form",  # type: ignore[arg-type]
                        estimated_value=5_000_00,
                    ),
                    Context(actor="bench"),
                ).id
                for i in range(LEADS_PER_CLIENT)
            ]
            for c in range(max(CLIENTS))
        ]
    finally:
        app.close()
    tokens = open_token_store(settings)
    try:
        token = tokens.issue("bench-admin", "admin")  # type: ignore[arg-type]
    finally:
        tokens.close()
    return token, seeded, own


def _mixed(seeded: list[UUID], own: list[UUID], client: int) -> Request:
    counter = iter(range(10**9))

    def request(http: httpx.Client, rng: random.Random) -> tuple[str, httpx.Response]:
        roll = rng.random()
        if roll < 0.30:
            return "GET lead", http.get(f"/v1/leads/{rng.choice(seeded)}")
        if roll < 0.45:
            return "GET lead history", http.get(f"/v1/leads/{rng.choice(seeded)}/history")
        if roll < 0.60:
            return "GET lead list", http.get("/v1/leads", params={"limit": 20})
        if roll < 0.70:
            return "GET pipeline", http.get("/v1/pipeline")
        if roll < 0.95:
            body = {"kind": rng.choice(KINDS)}
            return "POST interaction", http.post(f"/v1/leads/{rng.choice(own)}/interactions", json=body)
        n = next(counter)
        email = f"new-{client}-{n}-{rng.getrandbits(32)}@bench.example"
        body = {"name": f"New Lead {client}-{n}", "email": email, "source": rng.choice(SOURCES)}
        return "POST capture", http.post("/v1/leads", json=body)

    return request


def _healthz(http: httpx.Client, rng: random.Random) -> tuple[str, httpx.Response]:
    return "GET healthz", http.get("/healthz")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks


def _load(base_url: str, token: str, requests: list[Request], seconds: float, server_pid: int) -> dict[str, Any]:
    """Run one client thread per request function for `seconds` (after a warm-up)."""
    clients = len(requests)
    latencies: list[list[tuple[str, float]]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def client(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30, trust_env=False
        ) as http:
            request = requests[index]
            warm_until = time.perf_counter() + WARMUP_SECONDS
            while time.perf_counter() < warm_until:
                request(http, rng)
            barrier.wait()
            end = window["end"]
            mine = latencies[index]
            while True:
                began = time.perf_counter()
                if began >= end:
                    break
                kind, response = request(http, rng)
                mine.append((kind, time.perf_counter() - began))
                if response.status_code >= 300:
                    errors[index] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    window["end"] = float("inf")
    # every client warms up, then all start together; the window ends `seconds` later
    while barrier.n_waiting < clients:
        time.sleep(0.01)
    server_cpu, client_cpu, machine = _process_cpu(server_pid), sum(os.times()[:2]), _machine_cpu()
    start = time.perf_counter()
    window["end"] = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    server_cpu = _process_cpu(server_pid) - server_cpu
    client_cpu = sum(os.times()[:2]) - client_cpu
    busy, total = (b - a for a, b in zip(machine, _machine_cpu(), strict=True))
    flat = [x for mine in latencies for _, x in mine]
    kinds: dict[str, list[float]] = {}
    for mine in latencies:
        for kind, x in mine:
            kinds.setdefault(kind, []).append(x)
    return {
        "requests": len(flat),
        "rps": len(flat) / elapsed,
        "p50_ms": percentile(flat, 50) * 1000,
        "p99_ms": percentile(flat, 99) * 1000,
        "errors": sum(errors),
        "server_cpu_ms_per_request": round(server_cpu / max(1, len(flat)) * 1000, 2),
        "server_cpu_cores_busy": round(server_cpu / elapsed, 2),
        "client_cpu_ms_per_request": round(client_cpu / max(1, len(flat)) * 1000, 2),
        "machine_busy_share": round(busy / total, 2) if total else None,
        "by_request": {
            kind: {
                "count": len(xs),
                "p50_ms": round(percentile(xs, 50) * 1000, 1),
                "p99_ms": round(percentile(xs, 99) * 1000, 1),
            }
            for kind, xs in sorted(kinds.items())
        },
    }


def vegeta() -> Path:
    """The load generator's binary, installed with `make vegeta` if it is missing."""
    if not VEGETA.exists():
        say("api: installing vegeta (make vegeta)")
        make = shutil.which("make")
        if make is None:
            raise RuntimeError("make is not installed, so vegeta could not be installed")
        done = subprocess.run([make, "vegeta"], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0 or not VEGETA.exists():
            raise RuntimeError(f"make vegeta failed: {(done.stderr or done.stdout)[-500:]}")
    return VEGETA


_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KINDS = (
    ("POST", re.compile(rf"/v1/leads/{_UUID}/interactions$"), "POST interaction"),
    ("GET", re.compile(rf"/v1/leads/{_UUID}/history$"), "GET lead history"),
    ("GET", re.compile(rf"/v1/leads/{_UUID}$"), "GET lead"),
    ("GET", re.compile(r"/v1/leads\?"), "GET lead list"),
    ("GET", re.compile(r"/v1/pipeline$"), "GET pipeline"),
    ("GET", re.compile(r"/healthz$"), "GET healthz"),
)


def _kind(method: str, url: str) -> str:
    for m, pattern, kind in _KINDS:
        if m == method and pattern.search(url):
            return kind
    return f"{method} other"


def _targets_file(
    scratch: Path, base_url: str, token: str, mix: Sequence[tuple[str, int]], seeded: list[UUID], own: list[UUID]
) -> Path:
    """A vegeta targets file (http format) of 400 requests in the given mix, shuffled; vegeta
    goes round it in order for as long as it runs."""
    rng = random.Random(11)
    bodies = []
    for kind in KINDS:
        body = scratch / f"interaction-{kind}.json"
        body.write_text(json.dumps({"kind": kind}))
        bodies.append(body)
    auth = f"Authorization: Bearer {token}"
    kinds = [kind for kind, share in mix for _ in range(share * 4)]
    rng.shuffle(kinds)
    blocks = []
    for kind in kinds:
        if kind == "GET lead":
            blocks.append(f"GET {base_url}/v1/leads/{rng.choice(seeded)}\n{auth}")
        elif kind == "GET lead history":
            blocks.append(f"GET {base_url}/v1/leads/{rng.choice(seeded)}/history\n{auth}")
        elif kind == "GET lead list":
            blocks.append(f"GET {base_url}/v1/leads?limit=20\n{auth}")
        elif kind == "GET pipeline":
            blocks.append(f"GET {base_url}/v1/pipeline\n{auth}")
        elif kind == "GET healthz":
            blocks.append(f"GET {base_url}/healthz")
        else:
            blocks.append(
                f"POST {base_url}/v1/leads/{rng.choice(own)}/interactions\n{auth}\n"
                f"Content-Type: application/json\n@{rng.choice(bodies)}"
            )
    path = scratch / f"targets-{'-'.join(k.replace(' ', '_') for k, _ in mix)}.txt"
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def _attack(binary: Path, targets: Path, rate: int, seconds: float, server_pid: int, scratch: Path) -> dict[str, Any]:
    """Offer `rate` requests/s for `seconds` (open loop); latencies per kind, errors, server CPU."""
    results = scratch / "results.bin"
    cpu_before = _process_cpu(server_pid)
    subprocess.run(
        [
            str(binary),
            "attack",
            f"-rate={rate}/s",
            f"-duration={seconds}s",
            "-timeout=10s",
            "-format=http",
            f"-targets={targets}",
            f"-output={results}",
        ],
        check=True,
        capture_output=True,
    )
    server_cpu = _process_cpu(server_pid) - cpu_before
    encoded = subprocess.run(
        [str(binary), "encode", "--to", "csv", str(results)], check=True, capture_output=True, text=True
    ).stdout
    by_kind: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    first, last = float("inf"), 0.0
    requests = 0
    for row in csv.reader(io.StringIO(encoded)):
        started, code, latency = int(row[0]) / 1e9, int(row[1]), int(row[2]) / 1e6
        kind = _kind(row[9], row[10])
        requests += 1
        first, last = min(first, started), max(last, started + latency / 1000)
        if not 200 <= code < 300:
            errors[kind] = errors.get(kind, 0) + 1
            if code == 0:
                continue  # no answer (timeout or refused): no latency to count
        by_kind.setdefault(kind, []).append(latency)
    reads = [x for kind, xs in by_kind.items() if kind.startswith("GET") for x in xs]
    writes = [x for kind, xs in by_kind.items() if kind.startswith("POST") for x in xs]

    def summary(xs: list[float]) -> dict[str, Any]:
        return {"count": len(xs), "p50_ms": round(percentile(xs, 50), 1), "p99_ms": round(percentile(xs, 99), 1)}

    return {
        "rate": rate,
        "seconds": seconds,
        "requests": requests,
        "answered_per_second": round(requests / (last - first), 1) if last > first else None,
        "errors": errors,
        "server_cpu_ms_per_request": round(server_cpu / max(1, requests) * 1000, 3),
        "read": summary(reads) if reads else None,
        "write": summary(writes) if writes else None,
        "by_request": {kind: summary(xs) for kind, xs in sorted(by_kind.items())},
    }


def _settle(base_url: str) -> None:
    """Wait until the server answers /healthz promptly again (no backlog from an overloaded run)."""
    deadline = time.monotonic() + 60
    quick = 0
    with httpx.Client(base_url=base_url, timeout=30, trust_env=False) as http:
        while quick < 5 and time.monotonic() < deadline:
            began = time.perf_counter()
            http.get("/healthz")
            quick = quick + 1 if time.perf_counter() - began < 0.05 else 0


def _open_loop(server: Server, token: str, seeded: list[UUID], own: list[UUID], scratch: Path) -> list[Figure]:
    """The open-loop figures: p99 of reads and writes at each offered rate, CPU per command."""
    try:
        binary = vegeta()
    except RuntimeError as error:
        why = f"no open-loop load generator: {error}"
        return [Figure.unmeasured(id, why) for id in TARGETS if TARGETS[id][1] == "api"]
    pid = server.process.pid
    mixed = _targets_file(scratch, server.base_url, token, OPEN_MIX, seeded, own)
    healthz = _targets_file(scratch, server.base_url, token, [("GET healthz", 100)], seeded, own)
    writes = _targets_file(scratch, server.base_url, token, [("POST interaction", 100)], seeded, own)
    say("api: open loop: warming up")
    _attack(binary, mixed, 20, size(3, 1), pid, scratch)
    mixed_runs: dict[int, list[dict[str, Any]]] = {rate: [] for rate in OPEN_RATES}
    healthz_runs: list[dict[str, Any]] = []
    write_runs: list[dict[str, Any]] = []
    for n in range(RUNS):
        for rate in OPEN_RATES:
            _settle(server.base_url)
            say(f"api: open loop run {n + 1}: {rate} requests/s of the mix for {OPEN_SECONDS} s")
            m = _attack(binary, mixed, rate, OPEN_SECONDS, pid, scratch)
            mixed_runs[rate].append(m)
            say(
                f"api: open loop {rate}/s: read p99 {(m['read'] or {}).get('p99_ms')} ms, "
                f"write p99 {(m['write'] or {}).get('p99_ms')} ms, {m['answered_per_second']} answered/s, "
                f"errors {m['errors']}, server CPU {m['server_cpu_ms_per_request']} ms/request"
            )
        _settle(server.base_url)
        say(f"api: open loop run {n + 1}: GET /healthz at 100 requests/s for {HEALTHZ_SECONDS} s")
        healthz_runs.append(_attack(binary, healthz, 100, HEALTHZ_SECONDS, pid, scratch))
        _settle(server.base_url)
        say(f"api: open loop run {n + 1}: writes only at {WRITE_RATE} requests/s for {WRITE_SECONDS} s")
        write_runs.append(_attack(binary, writes, WRITE_RATE, WRITE_SECONDS, pid, scratch))
        say(f"api: open loop writes: {write_runs[-1]['server_cpu_ms_per_request']} ms server CPU per command")

    def p99(run: dict[str, Any], side: str) -> float:
        return float(run[side]["p99_ms"]) if run.get(side) else float("nan")

    health_p99 = [p99(h, "read") for h in healthz_runs]
    details = {
        "generator": f"vegeta {VEGETA_PIN}",
        "mix_percent": dict(OPEN_MIX),
        "runs_by_rate": {str(rate): runs for rate, runs in mixed_runs.items()},
        "healthz_runs_at_100rps": healthz_runs,
        "write_only_runs": write_runs,
    }
    figures = []
    for rate in OPEN_RATES:
        runs = mixed_runs[rate]
        for side, label in (("write", "POST interaction"), ("read", "GET lead/history/list/pipeline")):
            id = f"api_{side}_p99_ms_at_{rate}rps"
            values = [p99(r, side) for r in runs]
            figures.append(
                Figure(
                    name=f"6. API open loop, PostgreSQL, {rate} requests/s offered, {side} p99",
                    ours=median(values),
                    baseline=median(health_p99),
                    unit="ms",
                    higher_is_better=False,
                    sample=int(median([r[side]["count"] if r.get(side) else 0 for r in runs])),
                    sample_unit=f"{side} requests per run",
                    what=f"{label} in the mixed open-loop workload at {rate} requests/s (vegeta)",
                    baseline_what="GET /healthz of the same server at 100 requests/s (vegeta), p99",
                    target=TARGETS[id][0] if id in TARGETS else None,
                    details=details if rate == 100 and side == "write" else {"see": "api_write_p99_ms_at_100rps"},
                    id=id,
                    ours_runs=values,
                    baseline_runs=health_p99,
                )
            )
    cpu = [float(w["server_cpu_ms_per_request"]) for w in write_runs]
    health_cpu = [float(h["server_cpu_ms_per_request"]) for h in healthz_runs]
    figures.append(
        Figure(
            name="6. API, server CPU per command (POST interaction, PostgreSQL)",
            ours=median(cpu),
            baseline=median(health_cpu),
            unit="ms",
            higher_is_better=False,
            sample=int(median([w["requests"] for w in write_runs])),
            sample_unit="commands per run",
            what=f"utime+stime of the crm serve process over a write-only run at {WRITE_RATE} requests/s, "
            "per command answered (includes projecting its events in the background)",
            baseline_what="the same server's CPU per GET /healthz at 100 requests/s",
            target=TARGETS["command_cpu_ms"][0],
            details={"write_only_runs": write_runs, "healthz_runs": healthz_runs},
            id="command_cpu_ms",
            ours_runs=cpu,
            baseline_runs=health_cpu,
        )
    )
    return figures


def run(servers: Servers) -> list[Figure]:
    """Latency and throughput of the API, mixed load against /healthz."""
    figures: list[Figure] = []
    clients_counts = CLIENTS
    for backend in ("sqlite", "postgres"):
        scratch = Path(tempfile.mkdtemp(prefix="crm-bench-api-"))
        url = f"sqlite:///{scratch / 'crm.sqlite'}" if backend == "sqlite" else servers.database("api")
        say(f"api: {backend}: seeding {DEMO_LEADS} demo leads and {max(CLIENTS) * LEADS_PER_CLIENT} client leads")
        token, seeded, own = _prepare(url)
        server = Server(url, scratch / "server.log")
        try:
            if backend == "postgres":
                figures += _open_loop(server, token, seeded, [lead for mine in own for lead in mine], scratch)
            for clients in clients_counts:
                say(f"api: {backend}: {clients} client(s), mixed load for {SECONDS} s")
                mixed = [_mixed(seeded, own[c], c) for c in range(clients)]
                ours = _load(server.base_url, token, mixed, SECONDS, server.process.pid)
                say(f"api: {backend}: {clients} client(s), /healthz for {SECONDS / 2:g} s")
                base = _load(server.base_url, token, [_healthz] * clients, SECONDS / 2, server.process.pid)
                say(
                    f"api: {backend}: {clients} client(s): p50 {ours['p50_ms']:.1f} ms, p99 {ours['p99_ms']:.1f} ms, "
                    f"{ours['rps']:.0f} req/s ({ours['errors']} errors); /healthz p99 {base['p99_ms']:.1f} ms, "
                    f"{base['rps']:.0f} req/s"
                )
                say(
                    f"api: {backend}: {clients} client(s): server CPU {ours['server_cpu_ms_per_request']} ms/request "
                    f"({ours['server_cpu_cores_busy']} cores), "
                    f"client CPU {ours['client_cpu_ms_per_request']} ms/request, "
                    f"machine {ours['machine_busy_share']:.0%} busy; "
                    + "; ".join(
                        f"{k} p50 {v['p50_ms']:.0f} p99 {v['p99_ms']:.0f}" for k, v in ours["by_request"].items()
                    )
                )
                label = f"6. API {backend}, {clients} client{'s' if clients > 1 else ''}"
                common: dict[str, Any] = {
                    "sample_unit": "requests",
                    "what": "mixed 70% reads / 30% commands against crm serve",
                    "baseline_what": "GET /healthz of the same server, same clients",
                }
                details = {"backend": backend, "clients": clients, "ours": ours, "baseline": base}
                figures += [
                    Figure(
                        f"{label}, p50",
                        ours["p50_ms"],
                        base["p50_ms"],
                        "ms",
                        False,
                        ours["requests"],
                        details=details,
                        **common,
                    ),
                    Figure(
                        f"{label}, p99",
                        ours["p99_ms"],
                        base["p99_ms"],
                        "ms",
                        False,
                        ours["requests"],
                        target=below(50) if clients == 16 else None,
                        details=details,
                        **common,
                    ),
                    Figure(
                        f"{label}, throughput",
                        ours["rps"],
                        base["rps"],
                        "requests/s",
                        True,
                        ours["requests"],
                        details=details,
                        **common,
                    ),
                ]
        finally:
            server.stop()
    return figures


if __name__ == "__main__":
    main(run, "api")
