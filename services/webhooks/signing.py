"""Secrets and signatures of Standard Webhooks 1.0, made with the `standardwebhooks` library.

A secret is `whsec_` and the base64 of 32 random bytes; its key id (`key_` and 12 hex digits) is
no secret and is what the subscription's events name. A message is signed with every secret that
signs at the time (two while a rotation overlaps), and the `webhook-signature` header carries
one `v1,<base64>` per secret, separated by a space: a receiver accepts the message when any one
of them verifies with the secret it knows."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
KEY_ID_PREFIX = "key_"


def new_secret() -> str:
    """A new signing secret in the Standard Webhooks format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_key_id() -> str:
    """A new secret's short, non-secret name."""
    return KEY_ID_PREFIX + secrets.token_hex(6)


def signature_header(signing_secrets: Iterable[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` value: one `v1,` signature per secret, separated by spaces."""
    moment = timestamp.astimezone(UTC)  # the library reads the time as UTC without converting it
    return " ".join(Webhook(secret).sign(msg_id, moment, body) for secret in signing_secrets)


def headers(signing_secrets: Iterable[str], msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """The headers of a delivery: id, timestamp (seconds since the epoch), signature, type."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(signing_secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }
