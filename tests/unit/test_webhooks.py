"""Webhook subscriptions without I/O: the event-type filter, the aggregate's rules, the secrets
and signatures of Standard Webhooks, the retry schedule, and which URLs the CRM sends to."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from domain.webhooks import WebhookDeleted, WebhookSubscription, matches
from projections.event_record import record_of
from projections.registry import select_projections
from services.api.schemas_webhooks import WebhookCreate, WebhookReplay, WebhookUpdate
from services.webhooks.delivery import JITTER, RETRY_SCHEDULE, Sender, retry_delay
from services.webhooks.safety import UnsafeUrl, check_url, is_public, pinned
from services.webhooks.signing import headers, new_secret
from tests.unit.factories import at, meta
from tests.unit.test_envelope import webhook_events


def a_subscription() -> WebhookSubscription:
    return WebhookSubscription.subscribe(
        uuid4(),
        url="https://hooks.example/crm",
        event_types=["lead.*"],
        description=None,
        active=True,
        key_id="key_a",
        meta=meta(),
    )


@pytest.mark.parametrize(
    ("patterns", "event_type", "taken"),
    [
        (["*"], "contact.created", True),
        (["lead.*"], "lead.scored", True),
        (["lead.*"], "contact.created", False),
        (["lead.converted"], "lead.converted", True),
        (["lead.converted"], "lead.converted_back", False),
        (["lead.*"], "leadership.created", False),
        (["contact.created", "lead.*"], "lead.captured", True),
    ],
)
def test_a_filter_takes_all_of_an_aggregate_type_or_exact_event_types(
    patterns: list[str], event_type: str, taken: bool
) -> None:
    assert matches(patterns, event_type) is taken


def test_a_change_records_only_what_changed_and_a_deleted_subscription_takes_no_more() -> None:
    hook = a_subscription()
    assert not hook.change({"url": "https://hooks.example/crm", "event_types": ["lead.*"]}, meta(at=at(hours=1)))
    assert hook.change({"event_types": ["*"], "description": "all"}, meta(at=at(hours=1)))
    assert hook.pending_events[-1].changes == {"event_types": ["*"], "description": "all"}  # type: ignore[attr-defined]
    assert hook.disable("gone", meta(at=at(hours=2)))
    assert not hook.disable("gone again", meta(at=at(hours=2))), "an inactive one records nothing"
    assert (hook.active, hook.disabled_reason) == (False, "gone")
    hook.change({"active": True}, meta(at=at(hours=3)))
    assert (hook.active, hook.disabled_reason) == (True, None)
    hook.delete(meta(at=at(hours=4)))
    with pytest.raises(WebhookDeleted):
        hook.rotate_secret("key_b", at(days=2), meta(at=at(hours=5)))


def test_after_a_rotation_both_keys_sign_until_the_overlap_ends() -> None:
    hook = a_subscription()
    hook.rotate_secret("key_b", at(days=1), meta(at=at(hours=1)))
    assert hook.signing_key_ids(at(hours=2)) == ["key_b", "key_a"]
    assert hook.signing_key_ids(at(days=1)) == ["key_b"]


def test_a_secret_is_whsec_and_base64_of_at_least_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_secret() != secret


def test_a_delivery_signed_with_two_secrets_verifies_with_either() -> None:
    old, new = new_secret(), new_secret()
    body = '{"event_type":"lead.captured"}'
    signed = headers([new, old], "msg_1", datetime.now(UTC), body)
    assert signed["webhook-signature"].count("v1,") == 2 and " " in signed["webhook-signature"]
    for secret in (old, new):
        assert Webhook(secret).verify(body, signed) == {"event_type": "lead.captured"}
    assert signed["webhook-id"] == "msg_1" and signed["content-type"] == "application/json"


def test_the_retry_schedule_starts_within_seconds_and_stretches_to_about_three_days() -> None:
    assert RETRY_SCHEDULE[0] <= timedelta(seconds=5)
    assert timedelta(days=3) <= sum(RETRY_SCHEDULE, timedelta()) <= timedelta(days=3.5)
    rng = random.Random(1)
    for retry, base in enumerate(RETRY_SCHEDULE, start=1):
        delay = retry_delay(retry, rng)
        assert base * (1 - JITTER) <= delay <= base * (1 + JITTER)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(address)
    with pytest.raises(UnsafeUrl) as refused:
        check_url("https://hooks.example/crm", False, resolver=lambda host, port: [address])
    assert refused.value.field == "url"


def test_a_host_is_refused_when_any_of_its_addresses_is_private() -> None:
    with pytest.raises(UnsafeUrl, match="10.0.0.7"):
        check_url("https://hooks.example/crm", False, resolver=lambda host, port: ["93.184.215.14", "10.0.0.7"])
    check_url("https://hooks.example/crm", False, resolver=lambda host, port: ["93.184.215.14", "2606:2800::1"])


@pytest.mark.parametrize(
    "url", ["http://hooks.example/crm", "ftp://hooks.example/", "https:///nohost", "https://u:p@hooks.example/"]
)
def test_only_https_urls_without_credentials_are_taken(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, False, resolver=lambda host, port: ["93.184.215.14"])


def test_private_networks_may_be_allowed_for_tests() -> None:
    check_url("http://127.0.0.1:8080/hook", True, resolver=lambda host, port: ["127.0.0.1"])


def test_a_host_that_resolves_elsewhere_at_delivery_time_is_refused_without_a_request() -> None:
    # given a host that now resolves to loopback (DNS rebinding)
    sender = Sender(False, resolver=lambda host, port: ["127.0.0.1"])
    try:
        answer = sender.post("https://hooks.example/crm", b"{}", {})
    finally:
        sender.close()
    assert answer.status_code is None and not answer.delivered
    assert (answer.error or "").startswith("refused: its host resolves to a loopback")


def test_the_request_bodies_name_the_field_they_refuse() -> None:
    with pytest.raises(ValidationError) as unknown:
        WebhookCreate.model_validate({"url": "https://hooks.example/crm", "event_types": ["lead.*", "lead.nope"]})
    assert [e["loc"] for e in unknown.value.errors()] == [("event_types", 1)]
    assert WebhookCreate.model_validate({"url": "https://hooks.example/crm"}).event_types == ["*"]
    with pytest.raises(ValidationError):
        WebhookUpdate.model_validate({"url": None})
    assert WebhookUpdate.model_validate({"description": None}).changes() == {"description": None}
    with pytest.raises(ValidationError):
        WebhookReplay.model_validate({})
    assert WebhookReplay.model_validate({"from_position": 3}).from_position == 3


def test_the_read_models_pass_over_a_subscriptions_events() -> None:
    for position, event in enumerate(webhook_events(), start=1):
        record = record_of(event, position)
        assert record.aggregate_type == "webhook"
        assert all(projection.apply(record) == [] for projection in select_projections(None)), record.event_type


def test_a_delivery_connects_to_the_address_that_was_checked_with_the_hosts_name_for_tls() -> None:
    # given a host whose checked address is public
    seen: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    sender = Sender(False, resolver=lambda host, port: ["93.184.215.14"], transport=httpx.MockTransport(endpoint))
    try:
        answer = sender.post("https://hooks.example:8443/crm?x=1", b"{}", {"webhook-id": "msg_1"})
    finally:
        sender.close()
    # then the request goes to that address, naming the host in Host and in the TLS handshake
    assert answer.delivered
    (request,) = seen
    assert str(request.url) == "https://93.184.215.14:8443/crm?x=1"
    assert request.headers["host"] == "hooks.example:8443" and request.headers["webhook-id"] == "msg_1"
    assert request.extensions["sni_hostname"] == "hooks.example"


def test_an_ipv6_address_is_pinned_in_brackets() -> None:
    target = pinned("https://hooks.example/crm", ["2606:2800::1"])
    assert (target.url, target.host_header, target.server_name) == (
        "https://[2606:2800::1]/crm",
        "hooks.example",
        "hooks.example",
    )
    assert pinned("http://127.0.0.1:9/hook", []).url == "http://127.0.0.1:9/hook", "nothing checked: as given"
