"""Delivering the log's events to the webhook subscriptions (Standard Webhooks 1.0).

Each subscription follows the log from its own cursor (kept in the webhook store), passes over the
events its filter does not take, and POSTs the others one at a time, in log order, as the same
JSON envelope the relay publishes on Kafka (personal fields sealed). The next event is sent only
once the one before was delivered (2xx), so a later event never overtakes an earlier one.

- At least once: the cursor moves only after a 2xx; a crash before that sends the event again,
  with the same `webhook-id` (its event id), which is what receivers deduplicate on.
- A failure (a 5xx, any other status but 410, a timeout, a refused connection, an address that
  is not allowed any more) is retried after `RETRY_SCHEDULE` (±20 % jitter), about 3 days in
  all; after the last retry fails the subscription is disabled, with the reason as an event. A
  410 Gone disables it at once. The retry state is in the store: a restart goes on where it was.
- Each subscription has its own thread (`WebhookDispatcher`), so a slow or failing endpoint
  holds up nobody else; a request gives up after `REQUEST_TIMEOUT` seconds.
- Redirects are not followed (a 3xx is a failure) and at most `MAX_RESPONSE_BYTES` of an answer
  are kept in the attempts table.

Time comes from a clock (tests step a `ManualClock`); the `webhook-timestamp` header is the
system's time of sending, which is what receivers check it against."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

import httpx

from domain.events import event_id_of
from domain.webhooks import WebhookSubscription, matches
from projections.event_record import EventRecord
from services.app.application import Context
from services.automation.clock import Clock, system_clock
from services.storage.leader_lock import LeaderLock
from services.storage.webhooks import Attempt, RetryState
from services.webhooks.safety import Resolver, UnsafeUrl, check_url, pinned, resolve
from services.webhooks.signing import headers
from services.webhooks.subscriptions import WebhookDesk

log = logging.getLogger("crm.webhooks")

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
"""The wait before each retry of a failed delivery (before jitter): 9 retries over about 3 days."""
JITTER = 0.2
"""Each wait is stretched or shrunk by up to this fraction, so that retries do not come in waves."""
REQUEST_TIMEOUT = 10.0
"""Seconds a delivery waits for the endpoint (to connect, and for each read) before it fails."""
MAX_RESPONSE_BYTES = 1024
"""How much of an endpoint's answer is kept."""
BATCH_SIZE = 200
"""Log records read at a time while looking for the next event a subscription takes."""
ACTOR = "automation:webhooks"
"""Who disables a subscription that keeps failing."""

RecordReader = Callable[[int, int], Sequence[EventRecord]]
"""(start position, most records) -> the log's records from `start` on, personal fields sealed."""
Encoder = Callable[[EventRecord], bytes]
"""An event record -> the JSON envelope the relay publishes for it."""


class Outcome(StrEnum):
    """What one step of a subscription did."""

    IDLE = "idle"
    """Nothing to send (caught up, inactive or deleted)."""
    WAITING = "waiting"
    """A retry is due later."""
    DELIVERED = "delivered"
    """Events were delivered (and the cursor moved past those the filter does not take)."""
    FAILED = "failed"
    """An attempt failed; a retry is scheduled (or the subscription was disabled)."""
    PASSED_OVER = "passed_over"
    """Only events the filter does not take were read (the cursor moved past them), or a
    replay ended."""


@dataclass(frozen=True)
class Step:
    """What one step of a subscription did, and how many attempts it made."""

    outcome: Outcome
    attempts: int = 0


@dataclass(frozen=True)
class Response:
    """What came back from one POST."""

    status_code: int | None
    latency_ms: int
    error: str | None
    body: str | None

    @property
    def delivered(self) -> bool:
        """True for a 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(retry: int, rng: random.Random | None = None) -> timedelta:
    """The wait before retry number `retry` (1 for the first), jittered by ±`JITTER`."""
    base = RETRY_SCHEDULE[retry - 1]
    factor = 1 + ((rng or random).uniform(-JITTER, JITTER))
    return base * factor


class Sender:
    """POSTs one signed delivery; never follows redirects, keeps at most a KiB of the answer."""

    def __init__(
        self,
        allow_private_networks: bool,
        timeout: float = REQUEST_TIMEOUT,
        resolver: Resolver = resolve,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_private_networks = allow_private_networks
        self.resolver = resolver
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False, transport=transport)

    def post(self, url: str, body: bytes, signed: dict[str, str]) -> Response:
        """Send `body` to `url` with the signed headers, checking the URL's addresses first."""
        started = time.monotonic()
        try:
            # again now, DNS may answer otherwise than before; then connect to what was checked
            target = pinned(url, check_url(url, self.allow_private_networks, self.resolver))
        except UnsafeUrl as refused:
            return Response(None, 0, f"refused: {refused.message}", None)
        request_headers = dict(signed)
        extensions: dict[str, object] = {}
        if target.host_header is not None:
            request_headers["host"] = target.host_header
            extensions["sni_hostname"] = target.server_name
        try:
            with self.client.stream(
                "POST", target.url, content=body, headers=request_headers, extensions=extensions
            ) as answer:
                kept = bytearray()
                for chunk in answer.iter_bytes():
                    kept += chunk
                    if len(kept) >= MAX_RESPONSE_BYTES:
                        break
                latency = _ms(started)
                text = bytes(kept[:MAX_RESPONSE_BYTES]).decode("utf-8", errors="replace") or None
                error = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
                return Response(answer.status_code, latency, error, text)
        except httpx.TimeoutException:
            return Response(None, _ms(started), "timeout", None)
        except httpx.HTTPError as failure:
            return Response(None, _ms(started), f"{type(failure).__name__}: {failure}", None)

    def close(self) -> None:
        """Close the connections."""
        self.client.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class SubscriptionWorker:
    """Delivers one subscription's events, one step at a time."""

    def __init__(
        self,
        subscription_id: UUID,
        desk: WebhookDesk,
        read: RecordReader,
        encode: Encoder,
        sender: Sender,
        clock: Clock = system_clock,
        stamp_clock: Clock = system_clock,
        rng: random.Random | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.key = str(subscription_id)
        self.desk = desk
        self.read = read
        self.encode = encode
        self.sender = sender
        self.clock = clock
        self.stamp_clock = stamp_clock
        self.rng = rng or random.Random()

    def step(self) -> Step:
        """Send the events due now from the next batch of the log, in order, until one fails or
        the batch ends; move the cursor past the events the filter does not take. A subscription
        made inactive or deleted meanwhile is noticed at the next step (within a batch)."""
        subscription = self.desk.find(self.subscription_id)
        if subscription is None or subscription.deleted or not subscription.active:
            return Step(Outcome.IDLE)
        state = self.desk.store.retry_state(self.key)
        now = self.clock()
        if state.next_attempt_at is not None and now < state.next_attempt_at:
            return Step(Outcome.WAITING)
        replaying = state.replay_next is not None and state.replay_until is not None
        if replaying:
            assert state.replay_next is not None and state.replay_until is not None
            start, stop = state.replay_next, state.replay_until
        else:
            start, stop = (self.desk.store.webhook_position(self.key) or 0) + 1, None
        records = [] if stop is not None and start > stop else self.read(start, BATCH_SIZE)
        records = [r for r in records if stop is None or r.position <= stop]
        if not records:
            if replaying:  # the replay is done: live deliveries go on
                self.desk.store.save_retry_state(self.key, RetryState())
                return Step(Outcome.PASSED_OVER)
            return Step(Outcome.IDLE)
        secrets = self.desk.signing_secrets(subscription, now)
        attempts = 0
        passed = 0  # the last position read that needs no delivery
        for record in records:
            if not matches(subscription.event_types, record.event_type):
                passed = record.position
                continue
            attempts += 1
            state, delivered = self._deliver(subscription, secrets, record, state, now, replaying)
            if not delivered:  # a retry is due later, or the subscription was disabled
                return Step(Outcome.FAILED, attempts)
            passed = 0
        if passed:
            state = self._advance(passed, replaying, state)
        return Step(Outcome.DELIVERED if attempts else Outcome.PASSED_OVER, attempts)

    def _advance(self, position: int, replaying: bool, state: RetryState) -> RetryState:
        """Move past `position` (the replay's next position, or the live cursor), with no retry
        pending; the new state."""
        if replaying:
            state = RetryState(replay_next=position + 1, replay_until=state.replay_until)
            self.desk.store.save_retry_state(self.key, state)
            return state
        self.desk.store.save_webhook_position(self.key, position)
        if state != RetryState():
            state = RetryState()
            self.desk.store.save_retry_state(self.key, state)
        return state

    def _deliver(
        self,
        subscription: WebhookSubscription,
        secrets: Sequence[str],
        record: EventRecord,
        state: RetryState,
        now: datetime,
        replaying: bool,
    ) -> tuple[RetryState, bool]:
        """One attempt at `record`: the state after it (`position` set while a retry is due) and
        whether it was delivered. The attempt, that state and the cursor it moved are saved in one
        transaction."""
        attempt = state.attempts + 1 if state.position == record.position else 1
        event_id = str(event_id_of(record.aggregate_id, record.aggregate_version))
        body = self.encode(record)
        signed = headers(secrets, event_id, self.stamp_clock(), body.decode())
        answer = self.sender.post(subscription.url, body, signed)
        logged = Attempt(
            id=0,
            subscription_id=self.key,
            attempted_at=now,
            event_id=event_id,
            position=record.position,
            attempt=attempt,
            status_code=answer.status_code,
            latency_ms=answer.latency_ms,
            error=answer.error,
            response_body=answer.body,
        )
        done = replace(state, position=None, attempts=0, next_attempt_at=None)
        if answer.delivered:
            if replaying:
                after = RetryState(replay_next=record.position + 1, replay_until=state.replay_until)
                self.desk.store.record_attempt(logged, after, None)
                return after, True
            self.desk.store.record_attempt(logged, done, record.position)
            return done, True
        where = f"event {event_id} (position {record.position})"
        if answer.status_code == 410:
            self.desk.store.record_attempt(logged, done, None)
            return self._give_up(done, f"the endpoint answered 410 Gone to {where}"), False
        if attempt > len(RETRY_SCHEDULE):
            self.desk.store.record_attempt(logged, done, None)
            reason = f"{where} failed {attempt} attempts over about 3 days; the last: {answer.error}"
            return self._give_up(done, reason), False
        due = now + retry_delay(attempt, self.rng)
        retrying = replace(state, position=record.position, attempts=attempt, next_attempt_at=due)
        self.desk.store.record_attempt(logged, retrying, None)
        return retrying, False

    def _give_up(self, state: RetryState, reason: str) -> RetryState:
        """Disable the subscription for `reason`; made active again, it retries the same event."""
        self.desk.disable(self.subscription_id, reason, Context(actor=ACTOR, correlation_id=f"webhook:{self.key}"))
        log.warning("crm: webhook %s disabled: %s", self.key, reason)
        return state


class WebhookDispatcher:
    """Runs every active subscription's worker in a thread of its own, while holding leadership
    (one dispatcher per store; another one waits its turn)."""

    def __init__(
        self,
        desk: WebhookDesk,
        read: RecordReader,
        encode: Encoder,
        lock: LeaderLock,
        *,
        clock: Clock = system_clock,
        poll_interval: float = 0.5,
        sender: Sender | None = None,
    ) -> None:
        self.desk = desk
        self.read = read
        self.encode = encode
        self.lock = lock
        self.clock = clock
        self.poll_interval = poll_interval
        self.sender = sender or Sender(desk.allow_private_networks)
        self._workers: dict[UUID, SubscriptionWorker] = {}
        self._threads: dict[UUID, threading.Thread] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leading = threading.Event()
        """Set while this dispatcher holds leadership."""

    @property
    def stopping(self) -> threading.Event:
        """Set to make `run` return (SIGTERM sets it)."""
        return self._stop

    def worker(self, subscription_id: UUID) -> SubscriptionWorker:
        """The worker of one subscription (made on first use)."""
        if subscription_id not in self._workers:
            self._workers[subscription_id] = SubscriptionWorker(
                subscription_id, self.desk, self.read, self.encode, self.sender, clock=self.clock
            )
        return self._workers[subscription_id]

    def run_until_idle(self, max_steps: int = 100_000) -> int:
        """Step every subscription in this thread until none has anything due now; returns the
        number of attempts made (for tests, benchmarks and `crm webhooks --until-idle`)."""
        attempts = 0
        for _ in range(max_steps):
            busy = False
            for subscription in self.desk.subscriptions():
                step = self.worker(subscription.id).step()
                attempts += step.attempts
                busy = busy or step.outcome in (Outcome.DELIVERED, Outcome.FAILED, Outcome.PASSED_OVER)
            if not busy:
                return attempts
        return attempts

    def run(self) -> None:
        """Lead when possible and keep a thread per active subscription until stopped."""
        try:
            while not self._stop.is_set():
                try:
                    if not (self.lock.held() or self.lock.try_acquire()):
                        self.leading.clear()
                        self._stop.wait(self.poll_interval)
                        continue
                    self.leading.set()
                    self._supervise()
                except Exception:  # a database blip must not end deliveries
                    log.exception("crm: webhook dispatcher pass failed; retrying")
                    self._stop.wait(1.0)
                    continue
                self._stop.wait(self.poll_interval)
        finally:
            for thread in list(self._threads.values()):
                thread.join(REQUEST_TIMEOUT + 1)
            self.lock.release()
            self.leading.clear()

    def _supervise(self) -> None:
        """Start a thread for every active subscription that has none running."""
        for subscription in self.desk.subscriptions():
            thread = self._threads.get(subscription.id)
            if subscription.active and (thread is None or not thread.is_alive()):
                thread = threading.Thread(
                    target=self._follow, args=(subscription.id,), name=f"crm-webhook-{subscription.id}", daemon=True
                )
                self._threads[subscription.id] = thread
                thread.start()

    def _follow(self, subscription_id: UUID) -> None:
        """One subscription's loop: step while there is work, wait a poll otherwise; ends when
        the subscription is inactive or deleted (the supervisor starts it again if it returns)."""
        worker = self.worker(subscription_id)
        while not self._stop.is_set() and self.lock.held():
            try:
                outcome = worker.step().outcome
            except Exception:
                log.exception("crm: webhook %s step failed; retrying", subscription_id)
                self._stop.wait(1.0)
                continue
            if outcome is Outcome.IDLE:
                subscription = self.desk.find(subscription_id)
                if subscription is None or subscription.deleted or not subscription.active:
                    return
            if outcome in (Outcome.IDLE, Outcome.WAITING):
                self._stop.wait(self.poll_interval)

    def start(self) -> None:
        """Run in a background thread until `stop()`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="crm-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = REQUEST_TIMEOUT + 2) -> None:
        """Stop after the deliveries in flight; leadership is given up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.sender.close()

    def __enter__(self) -> WebhookDispatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
