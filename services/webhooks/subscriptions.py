"""The webhook subscriptions as the API and the delivery worker use them: load, act, save, with
the signing secrets, the cursors and the retry state kept in the webhook store (never in an event).

A new subscription's cursor starts at its own `webhook.subscribed` event, the head of the log at
that moment: it is sent what happens from then on, not years of history (ask for a replay for
that)."""

from __future__ import annotations

import base64
import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate

from domain.events import CrmEvent
from domain.time import utc
from domain.webhooks import WebhookSubscription
from services.app.application import Context, CrmApplication
from services.app.errors import NotFound
from services.automation.clock import Clock, system_clock
from services.privacy.keys import KeyVault
from services.storage.webhooks import Attempt, RetryState, WebhookStore
from services.webhooks.safety import Resolver, check_url, resolve
from services.webhooks.signing import new_key_id, new_secret

WRAPPED_PREFIX = "wrapped:v1:"
"""How a stored secret encrypted under the vault starts (AES-256-GCM, base64)."""

ROTATION_OVERLAP = timedelta(hours=24)
"""How long the secret before a rotation still signs beside the new one."""


class WebhookNotFound(NotFound):
    """No webhook subscription has that id (or it was deleted)."""

    kind = "webhook subscription"


@dataclass(frozen=True)
class IssuedSecret:
    """A subscription and the secret just issued for it: shown this once."""

    subscription: WebhookSubscription
    secret: str


class WebhookDesk:
    """Subscriptions: made, read, changed, rotated, disabled, deleted, replayed; their attempts."""

    def __init__(
        self,
        app: CrmApplication,
        store: WebhookStore,
        *,
        vault: KeyVault | None = None,
        allow_private_networks: bool = False,
        clock: Clock = system_clock,
        resolver: Resolver = resolve,
    ) -> None:
        self.app = app
        self.store = store
        self.vault = vault
        """Encrypts the signing secrets at rest (the master key of the people's data keys); None
        keeps them plain (an in-memory store of tests)."""
        self.allow_private_networks = allow_private_networks
        self.clock = clock
        self.resolver = resolver

    # --- commands -------------------------------------------------------------------

    def subscribe(
        self, url: str, event_types: Sequence[str], description: str | None, active: bool, ctx: Context
    ) -> IssuedSecret:
        """A new subscription and its first secret; its cursor starts at the head of the log."""
        self.check_url(url)
        meta = ctx.meta(None)
        key_id, secret = new_key_id(), new_secret()
        subscription = WebhookSubscription.subscribe(
            uuid4(), url=url, event_types=event_types, description=description, active=active, key_id=key_id, meta=meta
        )
        # the secret first: a subscription whose event exists always has its secret
        self._keep_secret(str(subscription.id), key_id, secret, meta.occurred_at)
        result = self.app.commit(subscription)
        assert result.position is not None
        self.store.save_webhook_position(str(subscription.id), result.position)
        return IssuedSecret(subscription, secret)

    def change(self, subscription_id: UUID, changes: Mapping[str, Any], ctx: Context) -> WebhookSubscription:
        """Change some fields (the URL checked like a new one's); a change that changes nothing
        records nothing."""
        if "url" in changes:
            self.check_url(str(changes["url"]))
        subscription = self.get(subscription_id)
        if subscription.change(changes, ctx.meta(None)):
            self.app.commit(subscription)
        return subscription

    def rotate_secret(self, subscription_id: UUID, ctx: Context) -> IssuedSecret:
        """A new secret; the current one signs too for `ROTATION_OVERLAP`."""
        subscription = self.get(subscription_id)
        meta = ctx.meta(None)
        key_id, secret = new_key_id(), new_secret()
        self._keep_secret(str(subscription.id), key_id, secret, meta.occurred_at)
        subscription.rotate_secret(key_id, meta.occurred_at + ROTATION_OVERLAP, meta)
        self.app.commit(subscription)
        return IssuedSecret(subscription, secret)

    def disable(self, subscription_id: UUID, reason: str, ctx: Context) -> bool:
        """Stop sending to a subscription, for `reason`; False when it was inactive already."""
        subscription = self.get(subscription_id)
        if not subscription.disable(reason, ctx.meta(None)):
            return False
        self.app.commit(subscription)
        return True

    def delete(self, subscription_id: UUID, ctx: Context) -> None:
        """Remove a subscription for good."""
        subscription = self.get(subscription_id)
        subscription.delete(ctx.meta(None))
        self.app.commit(subscription)

    def replay(self, subscription_id: UUID, from_position: int | None, since: datetime | None) -> int:
        """Send the subscription's events again from a log position, or from the first event
        recorded at or after `since`, up to its cursor (new deliveries, the same `webhook-id` per
        event); returns the first position sent again. Live deliveries follow once it is done."""
        subscription = self.get(subscription_id)
        key = str(subscription.id)
        start = from_position if from_position is not None else self.first_position_since(since)
        cursor = self.store.webhook_position(key) or 0
        state = self.store.retry_state(key)
        until = max(cursor, state.replay_until or 0)
        self.store.save_retry_state(key, RetryState(replay_next=max(start, 1), replay_until=until))
        return max(start, 1)

    # --- queries --------------------------------------------------------------------

    def get(self, subscription_id: UUID) -> WebhookSubscription:
        """A subscription as it stands; `WebhookNotFound` when missing or deleted."""
        found = self.find(subscription_id)
        if found is None or found.deleted:
            raise WebhookNotFound(subscription_id)
        return found

    def find(self, subscription_id: UUID) -> WebhookSubscription | None:
        """A subscription, deleted ones too; None when there is none of that id."""
        try:
            aggregate: Aggregate = self.app.repository.get(subscription_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, WebhookSubscription) else None

    def subscriptions(self) -> list[WebhookSubscription]:
        """Every subscription not deleted, in id order."""
        found = (self.find(UUID(key)) for key in self.store.subscription_ids())
        return [s for s in found if s is not None and not s.deleted]

    def attempts(self, subscription_id: UUID, after: int | None, limit: int) -> list[Attempt]:
        """A subscription's delivery attempts after the attempt id `after`, oldest first."""
        subscription = self.get(subscription_id)
        return self.store.attempts(str(subscription.id), after, limit)

    def signing_secrets(self, subscription: WebhookSubscription, now: datetime) -> list[str]:
        """The secrets that sign at `now`, the current one first."""
        key = str(subscription.id)
        held = self.store.secrets(key)
        return [self._open(key, key_id, held[key_id]) for key_id in subscription.signing_key_ids(now) if key_id in held]

    def _keep_secret(self, subscription_id: str, key_id: str, secret: str, at: datetime) -> None:
        """Store a secret, encrypted under the vault (bound to its subscription and key id)."""
        kept = secret
        if self.vault is not None:
            wrapped = self.vault.wrap(secret.encode(), f"webhook:{subscription_id}:{key_id}")
            kept = WRAPPED_PREFIX + base64.b64encode(wrapped).decode()
        self.store.add_secret(subscription_id, key_id, kept, at)

    def _open(self, subscription_id: str, key_id: str, kept: str) -> str:
        if not kept.startswith(WRAPPED_PREFIX):
            return kept
        if self.vault is None:
            raise ValueError(f"the secret {key_id} of webhook {subscription_id} is encrypted, and no vault is given")
        wrapped = base64.b64decode(kept.removeprefix(WRAPPED_PREFIX))
        return self.vault.unwrap(wrapped, f"webhook:{subscription_id}:{key_id}").decode()

    def check_url(self, url: str) -> None:
        """Refuse a URL the CRM must not send to (`UnsafeUrl`, a 422 naming `url`)."""
        check_url(url, self.allow_private_networks, self.resolver)

    def first_position_since(self, since: datetime | None) -> int:
        """The position of the first event recorded at or after `since` (past the head: head + 1)."""
        head = self.app.head_position()
        if since is None:
            return head + 1
        moment = utc(since)
        positions = range(1, head + 1)
        return 1 + bisect.bisect_left(positions, moment, key=self._recorded_at)

    def _recorded_at(self, position: int) -> datetime:
        """When the event at (or first after) `position` was recorded."""
        notifications = self.app.notification_log.select(start=position, limit=1)
        if not notifications:
            return datetime.max.replace(tzinfo=UTC)
        event = cast(CrmEvent, self.app.mapper.to_domain_event(notifications[0]))
        return utc(event.timestamp)
