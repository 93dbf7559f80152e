"""Webhook deliveries on every backend, to a real HTTP receiver on loopback that verifies every
signature with `standardwebhooks`: the relay's envelope, signed, filtered by event type, in
order, retried on the schedule (a hand-stepped clock, no waiting), disabled on 410 or after the
last retry, signed with both secrets while a rotation overlaps, and history sent again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from consumers.envelope import encode, envelope_of
from consumers.event_log import read_records
from domain.events import event_id_of
from domain.values import InteractionKind
from services.app.application import CrmApplication
from services.app.commands import LogInteraction
from services.automation.clock import ManualClock
from services.bootstrap import webhook_desk, webhook_dispatcher
from services.settings import Settings
from services.webhooks.delivery import RETRY_SCHEDULE, WebhookDispatcher
from services.webhooks.subscriptions import IssuedSecret, WebhookDesk
from tests.integration.conftest import BACKENDS
from tests.integration.factories import ALICE, capture
from tests.support.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


@dataclass
class Hooks:
    """The application, its webhook subscriptions, their dispatcher on a hand-moved clock."""

    app: CrmApplication
    desk: WebhookDesk
    dispatcher: WebhookDispatcher
    clock: ManualClock

    def subscribe(self, receiver: Receiver, *event_types: str) -> IssuedSecret:
        """Subscribe the receiver, and tell it the secret."""
        issued = self.desk.subscribe(receiver.url, list(event_types) or ["*"], "test", True, ALICE)
        receiver.secrets.append(issued.secret)
        return issued

    def deliver(self) -> int:
        """Send what is due now; the number of attempts made."""
        return self.dispatcher.run_until_idle()


@pytest.fixture
def hooks(database_url: str, app: CrmApplication) -> Iterator[Hooks]:
    settings = Settings(database_url=database_url, webhooks_allow_private_networks=True)
    with webhook_desk(app, settings) as desk:
        clock = ManualClock(datetime.now(UTC))
        dispatcher = webhook_dispatcher(app, desk, settings, clock=clock)
        try:
            yield Hooks(app, desk, dispatcher, clock)
        finally:
            dispatcher.sender.close()


def a_lead(app: CrmApplication) -> UUID:
    """Capture a lead; its id."""
    return app.capture_lead(capture(), ALICE).id


def test_an_event_is_posted_as_the_relays_envelope_signed_by_standard_webhooks(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.*")
        lead_id = a_lead(hooks.app)

        assert hooks.deliver() >= 1

        deliveries = receiver.deliveries
        assert deliveries and all(d.verified_with == (issued.secret,) for d in deliveries)
        captured = deliveries[0]
        # the body is exactly what the relay publishes (personal fields sealed)
        record = next(
            r for r in read_records(hooks.app, 1, 100, mapper=hooks.app.mapper.sealed()) if r.aggregate_id == lead_id
        )
        assert captured.body == encode(envelope_of(record))
        assert captured.envelope["data"]["name"].startswith("enc:")
        assert captured.headers["webhook-id"] == str(event_id_of(record.aggregate_id, record.aggregate_version))
        assert captured.headers["content-type"] == "application/json"
        assert [d.envelope["aggregate_id"] for d in deliveries] == [str(lead_id)] * len(deliveries)
        attempts = hooks.desk.attempts(issued.subscription.id, None, 100)
        assert [(a.attempt, a.status_code, a.error) for a in attempts] == [(1, 200, None)] * len(deliveries)


def test_a_subscription_gets_only_what_its_filter_takes_and_nothing_from_before_it(hooks: Hooks) -> None:
    a_lead(hooks.app)  # before any subscription
    with receiving() as leads, receiving() as conversions:
        hooks.subscribe(leads, "lead.captured")
        hooks.subscribe(conversions, "contact.*")
        lead_id = a_lead(hooks.app)
        hooks.app.log_lead_interaction(lead_id, LogInteraction(kind=InteractionKind.DEMO), ALICE)

        hooks.deliver()

        assert [d.envelope["event_type"] for d in leads.deliveries] == ["lead.captured"]
        assert leads.deliveries[0].envelope["aggregate_id"] == str(lead_id)
        assert conversions.deliveries == []


def test_a_failed_delivery_is_retried_with_the_same_webhook_id_and_a_later_event_waits(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.captured", "lead.interaction_logged")
        receiver.statuses = [500]
        lead_id = a_lead(hooks.app)
        hooks.app.log_lead_interaction(lead_id, LogInteraction(kind=InteractionKind.DEMO), ALICE)

        # the first attempt fails; the later event is not sent meanwhile
        assert hooks.deliver() == 1
        assert [d.status for d in receiver.deliveries] == [500]
        assert hooks.deliver() == 0, "the retry is not due yet"
        # when the clock passes the first retry's wait (5 s, jittered by 20 %)
        hooks.clock.advance(RETRY_SCHEDULE[0] * 1.25)
        assert hooks.deliver() == 2

        types = [d.envelope["event_type"] for d in receiver.deliveries]
        assert types == ["lead.captured", "lead.captured", "lead.interaction_logged"]
        ids = [d.headers["webhook-id"] for d in receiver.deliveries]
        assert ids[0] == ids[1] != ids[2]
        assert all(d.verified_with for d in receiver.deliveries)
        attempts = hooks.desk.attempts(issued.subscription.id, None, 100)
        assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 200), (1, 200)]
        assert attempts[0].error == "HTTP 500" and len(attempts[0].response_body or "") == 1024
        assert hooks.desk.get(issued.subscription.id).active


def test_a_410_disables_the_subscription_at_once_with_the_reason_as_an_event(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.captured")
        receiver.statuses = [410]
        a_lead(hooks.app)
        a_lead(hooks.app)

        assert hooks.deliver() == 1
        hooks.clock.advance(timedelta(days=4))
        assert hooks.deliver() == 0

        subscription = hooks.desk.get(issued.subscription.id)
        assert not subscription.active and "410" in (subscription.disabled_reason or "")
        last = read_records(hooks.app, hooks.app.head_position(), 1)[0]
        assert (last.event_type, last.actor) == ("webhook.disabled", "automation:webhooks")
        # made active again, it goes on from the event it stopped at
        hooks.desk.change(issued.subscription.id, {"active": True}, ALICE)
        assert hooks.deliver() == 2
        assert len(receiver.deliveries) == 3


def test_after_the_last_retry_fails_the_subscription_is_disabled(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.captured")
        receiver.statuses = [503] * (len(RETRY_SCHEDULE) + 1)
        a_lead(hooks.app)

        attempts = hooks.deliver()
        for wait in RETRY_SCHEDULE:
            hooks.clock.advance(wait * 1.25)
            attempts += hooks.deliver()

        assert attempts == len(RETRY_SCHEDULE) + 1
        subscription = hooks.desk.get(issued.subscription.id)
        assert not subscription.active
        assert f"failed {len(RETRY_SCHEDULE) + 1} attempts" in (subscription.disabled_reason or "")
        logged = hooks.desk.attempts(issued.subscription.id, None, 100)
        assert [a.attempt for a in logged] == list(range(1, len(RETRY_SCHEDULE) + 2))
        spread = logged[-1].attempted_at - logged[0].attempted_at
        assert timedelta(days=2) < spread < timedelta(days=5), "the schedule stretches over about 3 days"


def test_while_a_rotation_overlaps_both_secrets_sign_and_then_only_the_new_one(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.captured")
        rotated = hooks.desk.rotate_secret(issued.subscription.id, ALICE)
        receiver.secrets.append(rotated.secret)
        a_lead(hooks.app)
        hooks.deliver()

        overlapping = receiver.deliveries[-1]
        assert overlapping.headers["webhook-signature"].count("v1,") == 2
        assert set(overlapping.verified_with) == {issued.secret, rotated.secret}

        hooks.clock.advance(timedelta(hours=25))
        a_lead(hooks.app)
        hooks.deliver()
        after = receiver.deliveries[-1]
        assert after.headers["webhook-signature"].count("v1,") == 1
        assert after.verified_with == (rotated.secret,)


def test_a_replay_sends_history_again_with_the_same_webhook_ids(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.captured")
        first = hooks.app.head_position() + 1
        a_lead(hooks.app)
        a_lead(hooks.app)
        hooks.deliver()
        sent = [d.headers["webhook-id"] for d in receiver.deliveries]
        assert len(sent) == 2

        assert hooks.desk.replay(issued.subscription.id, first, None) == first
        hooks.deliver()
        # and a replay by recording time finds the same first event
        since = datetime.fromisoformat(receiver.deliveries[0].envelope["recorded_at"])
        assert hooks.desk.replay(issued.subscription.id, None, since) <= first + 1
        hooks.deliver()

        assert [d.headers["webhook-id"] for d in receiver.deliveries] == sent * 3
        assert all(d.verified_with for d in receiver.deliveries)
        a_lead(hooks.app)
        hooks.deliver()
        assert len(receiver.deliveries) == 7, "live deliveries go on after the replay"


def test_a_slow_endpoint_does_not_hold_up_another_subscription(hooks: Hooks) -> None:
    with receiving() as slow, receiving() as fast:
        hooks.subscribe(slow, "lead.captured")
        hooks.subscribe(fast, "lead.captured")
        slow.hold()
        hooks.dispatcher.poll_interval = 0.02
        with hooks.dispatcher:
            a_lead(hooks.app)
            a_lead(hooks.app)
            assert len(fast.wait_for(2)) == 2
            assert slow.deliveries == [], "the slow one is still answering its first"
            slow.release()
            assert len(slow.wait_for(2)) == 2


def test_the_signing_secret_is_kept_encrypted_under_the_master_key(hooks: Hooks) -> None:
    with receiving() as receiver:
        issued = hooks.subscribe(receiver, "lead.captured")
        kept = hooks.desk.store.secrets(str(issued.subscription.id))
        assert list(kept) == [issued.subscription.key_id]
        (stored,) = kept.values()
        assert stored.startswith("wrapped:v1:") and issued.secret not in stored
        secret_body = issued.secret.removeprefix("whsec_")
        assert secret_body not in stored
        assert hooks.desk.signing_secrets(issued.subscription, hooks.clock()) == [issued.secret]
