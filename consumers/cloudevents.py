"""The CloudEvents 1.0 Kafka protocol binding, binary content mode: the message value stays the
envelope (JSON), and the CloudEvents attributes travel as `ce_*` headers beside it, so that any
CloudEvents-aware consumer or router can read what an event is without parsing its body.

| header | value |
|---|---|
| `ce_specversion` | `1.0` |
| `ce_id` | the envelope's `event_id` (stable across republication: deduplicate on it) |
| `ce_source` | the CRM's URI (`CRM_CLOUDEVENTS_SOURCE`, by default `urn:crm:<store name>`) |
| `ce_type` | the envelope's `event_type`, e.g. `lead.scored` |
| `ce_subject` | the aggregate's id (also the message key) |
| `ce_time` | business time (`occurred_at`): CloudEvents' `time` is when the occurrence happened |
| `content-type` | `application/json` |
| `traceparent` | the W3C trace context of the HTTP request that caused the event, when it sent one |

The record's own timestamp is the recording time (`recorded_at`), in milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consumers.envelope import Envelope

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
HEADER_NAMES = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "content-type")
"""The headers every published event carries, in this order; `traceparent` follows when known."""
TRACEPARENT_HEADER = "traceparent"
TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[\x21-\x7e]*)?$"
"""What a published `traceparent` looks like (`domain.trace_context` checks more before keeping one)."""


def header_schema(event_type: str) -> dict[str, object]:
    """JSON Schema of the headers of an `event_type` message (the AsyncAPI document's)."""
    string = {"type": "string"}
    properties = {
        "ce_specversion": string | {"const": SPEC_VERSION, "description": "CloudEvents specification version."},
        "ce_id": string
        | {"format": "uuid", "description": "The envelope's event_id: the same on every republication."},
        "ce_source": string
        | {
            "format": "uri-reference",
            "description": "The CRM that published it: CRM_CLOUDEVENTS_SOURCE, by default urn:crm:<store name>.",
        },
        "ce_type": string | {"const": event_type, "description": "The envelope's event_type."},
        "ce_subject": string | {"format": "uuid", "description": "The aggregate id (also the message key)."},
        "ce_time": string
        | {
            "format": "date-time",
            "description": "When it happened in business time (the envelope's occurred_at), RFC 3339 in UTC.",
        },
        "content-type": string | {"const": CONTENT_TYPE, "description": "The message value is the JSON envelope."},
        TRACEPARENT_HEADER: string
        | {
            "pattern": TRACEPARENT_PATTERN,
            "description": "W3C trace context of the HTTP request that caused the event; absent otherwise.",
        },
    }
    return {
        "type": "object",
        "description": "CloudEvents 1.0 Kafka protocol binding, binary content mode: UTF-8 header values.",
        "required": list(HEADER_NAMES),
        "properties": properties,
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """An aware time as RFC 3339, in UTC with a `Z`, microseconds kept (as in the envelope)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cloudevent_headers(envelope: Envelope, source: str, traceparent: str | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers (name, UTF-8 bytes) of an envelope published by the CRM at `source`."""
    values = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(envelope.event_id),
        "ce_source": source,
        "ce_type": envelope.event_type,
        "ce_subject": str(envelope.aggregate_id),
        "ce_time": rfc3339(envelope.occurred_at),
        "content-type": CONTENT_TYPE,
    }
    headers = [(name, values[name].encode()) for name in HEADER_NAMES]
    if traceparent is not None:
        headers.append((TRACEPARENT_HEADER, traceparent.encode()))
    return headers


def timestamp_ms(envelope: Envelope) -> int:
    """The record timestamp: when the event store recorded the event, in whole milliseconds
    since the epoch (exact integer arithmetic, no float rounding)."""
    return (envelope.recorded_at - _EPOCH) // timedelta(milliseconds=1)
