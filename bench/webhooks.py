"""Figure 9 — webhooks: deliveries per second to one subscription, and the delay from an event's
recording to its arrival at the receiver, on PostgreSQL and SQLite.

The receiver is a real HTTP server on loopback (`tests/support/webhook_receiver.py`, a thread of
this process) that verifies every signature with `standardwebhooks`, as a real receiver would.
The subscription takes `lead.captured`; the leads are captured through the application's own
commands (each capture also appends its `lead.scored`, which the filter passes over).

(a) Throughput. Ours: `WebhookDispatcher.run_until_idle()` delivering N captures recorded
beforehand: read the log from the subscription's cursor, build the relay's envelope (personal
fields sealed), sign it, POST it, log the attempt and save the cursor, one event at a time.
Baseline: a bare loop POSTing the same N bodies, with the same headers, to the same receiver on
one keep-alive connection: the HTTP hop alone (median of 3 runs).

(b) Delay, event recorded -> receiver got it (`received_at - recorded_at` of each delivery).
Ours: the dispatcher in a thread (what `crm serve` and `crm webhooks` run) while K leads are
captured at a steady rate. Baseline: the smallest loop of the same design on the same store and
receiver, at the same poll interval: read the log after its position, POST each new capture's
envelope, wait one interval when there was nothing. Both at the shipped poll interval (0.5 s)
and a short one (0.05 s, `CRM_AUTOMATION_POLL_SECONDS`)."""

from __future__ import annotations

import base64
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import BASELINE_RUNS, Figure, Servers, main, median_run, percentile, say, size
from consumers.envelope import encode, envelope_of
from consumers.event_log import read_records
from services.app.application import Context, CrmApplication
from services.app.commands import CaptureLead
from services.bootstrap import bootstrap, webhook_desk, webhook_dispatcher
from services.settings import Settings
from services.webhooks.subscriptions import WebhookDesk
from tests.support.webhook_receiver import Receiver, receiving

DELIVERIES = size(600, 100)
"""N: the events one `run_until_idle` delivers."""
LATENCY_EVENTS = size(200, 40)
"""K: the captures made while the dispatcher runs."""
LATENCY_RATE = 20.0
"""Captures per second while the delay is measured (well below the rate of (a))."""
POLL_INTERVALS = (0.5, 0.05)
BENCH = Context(actor="bench", correlation_id="bench-webhooks")


def _capture(n: int, label: str) -> CaptureLead:
    return CaptureLead(name=f"Hook Lead {label} {n}", email=f"hook-{label}-{n}@bench.example", source="web_form")  # type: ignore[arg-type]


@dataclass
class Store:
    """A fresh store of one run, its webhook subscriptions and a receiver subscribed to it."""

    backend: str
    settings: Settings
    app: CrmApplication
    desk: WebhookDesk
    receiver: Receiver


@contextmanager
def _store(servers: Servers, backend: str, label: str) -> Iterator[Store]:
    if backend == "postgres":
        url = servers.database(label)
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix=f'crm-bench-{label}-')) / 'crm.sqlite'}"
    key = base64.b64encode(os.urandom(32)).decode()
    settings = Settings(database_url=url, master_key=key, webhooks_allow_private_networks=True)
    app = bootstrap(settings)
    try:
        with receiving() as receiver, webhook_desk(app, settings) as desk:
            issued = desk.subscribe(receiver.url, ["lead.captured"], "bench", True, BENCH)
            receiver.secrets.append(issued.secret)
            yield Store(backend, settings, app, desk, receiver)
    finally:
        app.close()


def backend_name(backend: str) -> str:
    return "PostgreSQL" if backend == "postgres" else "SQLite"


# --- (a) throughput --------------------------------------------------------------------------


def _throughput(servers: Servers, backend: str) -> Figure:
    with _store(servers, backend, "webhooks_rate") as store:
        say(f"webhooks: {backend}: capturing {DELIVERIES} leads")
        for n in range(DELIVERIES):
            store.app.capture_lead(_capture(n, "rate"), BENCH)
        dispatcher = webhook_dispatcher(store.app, store.desk, store.settings)
        try:
            say(f"webhooks: {backend}: delivering {DELIVERIES} events")
            began = time.perf_counter()
            attempts = dispatcher.run_until_idle()
            ours_seconds = time.perf_counter() - began
        finally:
            dispatcher.sender.close()
        assert attempts == DELIVERIES, attempts
        delivered = list(store.receiver.deliveries)
        assert len(store.receiver.verified()) == DELIVERIES, "every signature verifies"
        assert all(d.status == 200 for d in delivered)

        def bare_run(run: int) -> float:
            with httpx.Client(trust_env=False, timeout=10) as client:
                began = time.perf_counter()
                for delivery in delivered:
                    client.post(store.receiver.url, content=delivery.body, headers=delivery.headers)
                return time.perf_counter() - began

        say(f"webhooks: {backend}: baseline, {BASELINE_RUNS} bare POST loops of {DELIVERIES}")
        base_seconds, base_runs = median_run(bare_run, BASELINE_RUNS)
    figure = Figure(
        name=f"9. webhook deliveries ({backend_name(backend)})",
        ours=DELIVERIES / ours_seconds,
        baseline=DELIVERIES / base_seconds,
        unit="deliveries/s",
        higher_is_better=True,
        sample=DELIVERIES,
        sample_unit="deliveries",
        what="run_until_idle over N recorded captures: read, envelope (sealed), sign, POST, log the attempt, cursor",
        baseline_what="the same N bodies and headers POSTed in a bare loop on one connection (median of 3)",
        details={
            "backend": backend,
            "ours_seconds": round(ours_seconds, 2),
            "baseline_seconds": round(base_seconds, 2),
            "baseline_runs_seconds": [round(x, 2) for x in base_runs],
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    )
    say(f"webhooks: {backend}: {figure.ours:,.0f} deliveries/s against {figure.baseline:,.0f} bare POSTs/s")
    return figure


# --- (b) delay -------------------------------------------------------------------------------


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not within {seconds:.0f} s: {what}")
        time.sleep(0.02)


def _captures_at_a_steady_rate(app: CrmApplication, label: str) -> None:
    """K captures, one every 1/LATENCY_RATE s (paced by the clock, not by the work)."""
    start = time.monotonic()
    for n in range(LATENCY_EVENTS):
        delay = start + n / LATENCY_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        app.capture_lead(_capture(n, label), BENCH)


def _delays(receiver: Receiver, first: int) -> list[float]:
    """Seconds from recording to arrival, of the deliveries from index `first` on."""
    return [
        d.received_at - datetime.fromisoformat(d.envelope["recorded_at"]).timestamp()
        for d in receiver.deliveries[first:]
    ]


def _bare_poller(store: Store, poll: float, stop: threading.Event) -> None:
    """The smallest follower of the log: POST each new capture's envelope, wait when idle."""
    position = store.app.head_position()
    mapper = store.app.mapper.sealed()  # type: ignore[attr-defined]
    with httpx.Client(trust_env=False, timeout=10) as client:
        while not stop.is_set():
            records = read_records(store.app, position + 1, 200, mapper=mapper)
            for record in records:
                if record.event_type == "lead.captured":
                    client.post(store.receiver.url, content=encode(envelope_of(record)))
                position = record.position
            if not records:
                stop.wait(poll)


def _stats(delays: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(delays, 50) * 1000, 1),
        "p99_ms": round(percentile(delays, 99) * 1000, 1),
        "max_ms": round(max(delays) * 1000, 1),
    }


def _delay(servers: Servers, backend: str, poll: float) -> Figure:
    with _store(servers, backend, "webhooks_delay") as store:
        dispatcher = webhook_dispatcher(store.app, store.desk, store.settings, poll_interval=poll)
        with dispatcher:
            _wait(dispatcher.leading.is_set, 30, "the dispatcher leads")
            say(f"webhooks: {backend}: poll {poll:g} s: {LATENCY_EVENTS} captures at {LATENCY_RATE:g}/s")
            _captures_at_a_steady_rate(store.app, "ours")
            _wait(lambda: len(store.receiver.deliveries) >= LATENCY_EVENTS, 60, "every capture arrived")
        ours = _delays(store.receiver, 0)
        assert len(store.receiver.verified()) == LATENCY_EVENTS
        stop = threading.Event()
        poller = threading.Thread(target=_bare_poller, args=(store, poll, stop), name="bare-webhook-poller")
        poller.start()
        try:
            say(f"webhooks: {backend}: poll {poll:g} s: baseline, bare poller")
            _captures_at_a_steady_rate(store.app, "bare")
            _wait(lambda: len(store.receiver.deliveries) >= 2 * LATENCY_EVENTS, 60, "every bare capture arrived")
        finally:
            stop.set()
            poller.join()
        base = _delays(store.receiver, LATENCY_EVENTS)
    measured: dict[str, Any] = {"ours": _stats(ours), "baseline": _stats(base)}
    say(
        f"webhooks: {backend}: poll {poll:g} s: delay p50 {measured['ours']['p50_ms']:.0f} / p99 "
        f"{measured['ours']['p99_ms']:.0f} ms; bare poller p50 {measured['baseline']['p50_ms']:.0f} / p99 "
        f"{measured['baseline']['p99_ms']:.0f} ms"
    )
    return Figure(
        name=f"9. webhook delay p99, poll {poll:g} s ({backend_name(backend)})",
        ours=measured["ours"]["p99_ms"],
        baseline=measured["baseline"]["p99_ms"],
        unit="ms",
        higher_is_better=False,
        sample=LATENCY_EVENTS,
        sample_unit="deliveries",
        what=f"event recorded -> receiver got it, dispatcher in a thread, {LATENCY_EVENTS} captures at"
        f" {LATENCY_RATE:g}/s",
        baseline_what="a bare read-the-log / POST loop at the same poll interval, same store and receiver",
        details={
            "backend": backend,
            "poll_interval_seconds": poll,
            **measured,
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
    )


def run(servers: Servers) -> list[Figure]:
    """Deliveries per second and the delay from recording to arrival, PostgreSQL and SQLite."""
    figures: list[Figure] = []
    for backend in ("postgres", "sqlite"):
        figures.append(_throughput(servers, backend))
        for poll in POLL_INTERVALS:
            figures.append(_delay(servers, backend, poll))
    return figures


if __name__ == "__main__":
    main(run, "webhooks")
