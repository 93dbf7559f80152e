"""Figure 6 — the HTTP API: p50/p99 latency and requests/s of a mixed load, 70% reads and 30%
commands, at 1, 16 and 64 concurrent clients, on embedded SQLite and on PostgreSQL.

The server is `crm serve` itself (uvicorn, one process, the read models followed in the
background), started as a subprocess over a store holding a 200-lead demo-sized history plus
leads of each client's own. Clients are threads of the benchmark process, each with its own
keep-alive httpx client and an admin token; client and server share the machine's cores.

Mix (per request, at random): 30% GET /v1/leads/{id}, 15% GET /v1/leads/{id}/history,
15% GET /v1/leads?limit=20, 10% GET /v1/pipeline, 25% POST /v1/leads/{id}/interactions on one of
the client's own leads, 5% POST /v1/leads. Baseline: the same clients calling GET /healthz of the
same server (the trivial route: one `SELECT max(notification_id)`)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from bench.common import END, ROOT, Figure, Servers, below, main, percentile, say, size
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
