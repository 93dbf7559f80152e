"""Generate the published contract of the event messages from the models in consumers.envelope.

    python -m consumers.envelope_schema           # (re)write the files
    python -m consumers.envelope_schema --check   # exit 1 when a file is missing or stale

writes, relative to the repository root:

- docs/events/envelope.schema.json: the envelope, with `data` any object;
- docs/events/<event_type>.schema.json: the envelope of one event type, `data` its data model;
- docs/asyncapi.yaml: AsyncAPI 3.0.0 for the event topics and the dead-letter topic (message
  headers, Kafka bindings) and for the webhook deliveries (an HTTP POST of the same envelope with
  the Standard Webhooks headers), with the same schemas inlined so the document stands alone.

The output is deterministic, so `tests/unit/test_envelope.py` can fail when it drifts from the
code. YAML is written by PyYAML (safe, block style, in the document's key order).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from consumers.cloudevents import header_schema
from consumers.envelope import (
    CONTACT_TOPIC,
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_TOPIC,
    EVENT_DATA_MODELS,
    LEAD_TOPIC,
    SCHEMA_VERSIONS,
    WORKSPACE_TOPIC,
    Envelope,
    topic_for,
)

ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = "docs/events"
ASYNCAPI_FILE = "docs/asyncapi.yaml"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID_PREFIX = "urn:crm-eventlog:schema:"
KAFKA_BINDING_VERSION = "0.5.0"
HTTP_BINDING_VERSION = "0.3.0"
DEFAULT_PARTITIONS = 6
"""CRM_KAFKA_PARTITIONS' default; consumers must not assume it (see `partitions` in the bindings)."""
DEFAULT_REPLICAS = 1
"""CRM_KAFKA_REPLICATION_FACTOR's default."""
YAML_WIDTH = 120  # the repository's line length; longer descriptions fold onto the next lines

Schema = dict[str, Any]

# --- JSON Schema -------------------------------------------------------------------------


def _tidy(schema: Any) -> Any:
    """Drop the titles pydantic derives from field names and unwrap docstring line breaks."""
    if isinstance(schema, dict):
        tidy = {key: _tidy(value) for key, value in schema.items()}
        if isinstance(tidy.get("description"), str):
            tidy["description"] = re.sub(r"\s*\n\s*", " ", tidy["description"]).strip()
        if isinstance(tidy.get("properties"), dict):
            for prop in tidy["properties"].values():
                if isinstance(prop, dict) and isinstance(prop.get("title"), str):
                    del prop["title"]
        return tidy
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    return schema


def _headed(schema_id: str, title: str, description: str, body: Schema) -> Schema:
    head = {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_id, "title": title, "description": description}
    return head | {key: value for key, value in body.items() if key not in head}


def envelope_schema() -> Schema:
    """JSON Schema of any envelope: `data` is an object whose shape the per-type schemas give."""
    body = _tidy(Envelope.model_json_schema())
    where = (
        f"Published on {LEAD_TOPIC}, {CONTACT_TOPIC} and {WORKSPACE_TOPIC}, keyed by aggregate_id."
        " The shape of `data` per event type is in <event_type>.schema.json."
    )
    return _headed(f"{SCHEMA_ID_PREFIX}envelope", "CRM event envelope", f"{body['description']} {where}", body)


def event_schema(event_type: str) -> Schema:
    """JSON Schema of the envelope of one event type, `data` being that type's data model."""
    aggregate_type = event_type.split(".")[0]
    version = SCHEMA_VERSIONS[event_type]
    envelope = _tidy(Envelope.model_json_schema())
    data = _tidy(EVENT_DATA_MODELS[event_type].model_json_schema())
    defs = data.pop("$defs", {})
    properties = envelope["properties"]
    properties["event_type"] = {"const": event_type, "description": properties["event_type"]["description"]}
    properties["schema_version"] = {"const": version, "description": properties["schema_version"]["description"]}
    properties["aggregate_type"] = {"const": aggregate_type, "description": properties["aggregate_type"]["description"]}
    properties["data"] = data
    if defs:
        envelope["$defs"] = dict(sorted(defs.items()))
    return _headed(
        f"{SCHEMA_ID_PREFIX}{event_type}:v{version}",
        f"{event_type} (schema version {version})",
        f"{data['description']} The envelope of a {event_type} event on {topic_for(aggregate_type)}.",
        envelope,
    )


# --- AsyncAPI ----------------------------------------------------------------------------

_CHANNELS = {
    "leadEvents": ("lead", LEAD_TOPIC, "Every event of every lead, in order per lead."),
    "contactEvents": ("contact", CONTACT_TOPIC, "Every event of every contact, in order per contact."),
    "workspaceEvents": (
        "workspace",
        WORKSPACE_TOPIC,
        "Every change to the store's workspace (the team's users and the assignment rules), in order, and"
        " every change to its webhook subscriptions (`webhook.*`, in order per subscription).",
    ),
}


def _inline(schema: Schema, components: dict[str, Schema]) -> Schema:
    """A schema fit to sit inside the AsyncAPI document: its $defs moved to components.schemas."""
    schema = copy.deepcopy(schema)
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    for name, definition in schema.pop("$defs", {}).items():
        definition = _components_refs(definition)  # a definition may refer to another one
        if components.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are named {name}")
    return _components_refs(schema)


def _components_refs(schema: Schema) -> Schema:
    """A schema whose references to `#/$defs/...` point at `#/components/schemas/...` instead."""
    refs: Schema = json.loads(json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/'))
    return refs


def _key_binding(key: Schema) -> Schema:
    return {"kafka": {"key": key, "bindingVersion": KAFKA_BINDING_VERSION}}


def _topic_binding(topic: str) -> Schema:
    """The Kafka channel binding of a topic as the CRM creates it by default."""
    return {
        "kafka": {
            "topic": topic,
            "partitions": DEFAULT_PARTITIONS,
            "replicas": DEFAULT_REPLICAS,
            "topicConfiguration": {"cleanup.policy": ["delete"]},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


_TOPIC_NOTE = (
    " Created by the relay with CRM_KAFKA_PARTITIONS partitions (default 6) and CRM_KAFKA_REPLICATION_FACTOR"
    " replicas (default 1), or by the platform team (CRM_KAFKA_CREATE_TOPICS=false): read the partition count"
    " from the broker, not from here."
)

WEBHOOK_HEADERS: Schema = {
    "type": "object",
    "description": "Standard Webhooks v1 (https://www.standardwebhooks.com): verify the signature before trusting"
    " the body.",
    "required": ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"],
    "properties": {
        "webhook-id": {
            "type": "string",
            "description": "The delivery's id: the same on every retry of it; deduplicate on it.",
        },
        "webhook-timestamp": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "When this attempt was sent, in whole seconds since the Unix epoch; refuse one far from"
            " your clock (replay protection).",
        },
        "webhook-signature": {
            "type": "string",
            "pattern": "^v1,[A-Za-z0-9+/]+={0,2}( v1,[A-Za-z0-9+/]+={0,2})*$",
            "description": "Space-separated signatures `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>."
            "<body>` keyed with the subscription's secret (base64 after `whsec_`); more than one while a secret"
            " is rotated. Compare in constant time.",
        },
        "content-type": {"type": "string", "const": "application/json"},
    },
}


AGGREGATE_KEY: Schema = {"type": "string", "format": "uuid", "description": "The aggregate id, as text (UTF-8)."}
ORIGINAL_KEY: Schema = {"type": "string", "description": "The original message's key (normally the aggregate id)."}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the event topics, the dead-letter topic and the webhooks."""
    schemas: dict[str, Schema] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel_id, (aggregate_type, topic, description) in _CHANNELS.items():
        # a topic may carry more than one aggregate type (the workspace's carries webhook subscriptions)
        event_types = [name for name in EVENT_DATA_MODELS if topic_for(name.split(".")[0]) == topic]
        for event_type in event_types:
            schema = event_schema(event_type)
            messages[event_type] = {
                "name": event_type,
                "title": schema["title"],
                "summary": schema["properties"]["data"]["description"],
                "contentType": "application/json",
                "headers": header_schema(event_type),
                "payload": _inline(schema, schemas),
                "bindings": _key_binding(AGGREGATE_KEY),
            }
        channels[channel_id] = {
            "address": topic,
            "title": topic,
            "description": description + " The message key is the aggregate id." + _TOPIC_NOTE,
            "servers": [{"$ref": "#/servers/kafka"}],
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in event_types},
            "bindings": _topic_binding(topic),
        }
        operations[f"receive{channel_id[0].upper()}{channel_id[1:]}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Consume the {aggregate_type} events.",
            "description": "Deduplicate on event_id (or on position); a republished event keeps both.",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in event_types],
        }
    messages["deadLetter"] = {
        "name": "deadLetter",
        "title": "Dead letter",
        "summary": "A message a consumer could not decode or process, parked unchanged.",
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "description": "The original message's headers (its ce_* attributes and traceparent), then the reasons.",
            "required": list(DEAD_LETTER_HEADERS),
            "properties": {name: {"type": "string", "description": text} for name, text in DEAD_LETTER_HEADERS.items()},
        },
        "payload": {"description": "The original message value, byte for byte."},
        "bindings": _key_binding(ORIGINAL_KEY),
    }
    channels["deadLetters"] = {
        "address": DEAD_LETTER_TOPIC,
        "title": DEAD_LETTER_TOPIC,
        "description": "Messages consumers gave up on, with the reason in the headers; the partition they came"
        " from kept flowing." + _TOPIC_NOTE,
        "servers": [{"$ref": "#/servers/kafka"}],
        "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
        "bindings": _topic_binding(DEAD_LETTER_TOPIC),
    }
    operations["receiveDeadLetters"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/deadLetters"},
        "summary": "Inspect or replay the messages consumers gave up on.",
        "messages": [{"$ref": "#/channels/deadLetters/messages/deadLetter"}],
    }
    messages["webhookEvent"] = {
        "name": "webhookEvent",
        "title": "Webhook delivery",
        "summary": "One event, as the same JSON envelope as on Kafka, POSTed to a subscriber's URL.",
        "contentType": "application/json",
        "headers": WEBHOOK_HEADERS,
        "payload": _inline(envelope_schema(), schemas),
        "bindings": {"http": {"bindingVersion": HTTP_BINDING_VERSION}},
    }
    channels["webhooks"] = {
        "address": None,
        "title": "Webhook deliveries",
        "description": "Each webhook subscription's own https URL (so no fixed address). Deliveries are at least"
        " once and in order per aggregate; a 2xx answer acknowledges one, anything else (or no answer) is"
        " retried with backoff. The body is the envelope of the Kafka messages, with the same event_id.",
        "servers": [{"$ref": "#/servers/webhooks"}],
        "messages": {"webhookEvent": {"$ref": "#/components/messages/webhookEvent"}},
    }
    operations["sendWebhook"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/webhooks"},
        "summary": "POST every event a subscription selects to its URL, signed.",
        "description": "Deduplicate on webhook-id (one delivery) or on the body's event_id (one event).",
        "bindings": {"http": {"method": "POST", "bindingVersion": HTTP_BINDING_VERSION}},
        "messages": [{"$ref": "#/channels/webhooks/messages/webhookEvent"}],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "CRM event log",
            "version": "1.0.0",
            "description": "The events of the CRM's leads, contacts and workspace, published from the event store by"
            " the relay: one JSON message per event, keyed by aggregate id so that each aggregate's events keep"
            " their order. Delivery is at least once; the event store is the source of truth and history"
            " can be republished. Every Kafka message carries the CloudEvents binding headers (binary mode);"
            " webhook subscribers get the same envelope over HTTP. Generated by"
            " `python -m consumers.envelope_schema`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "Placeholder: the brokers of each environment are configured at deploy time.",
            },
            "webhooks": {
                "host": "subscriber.example.com",
                "protocol": "https",
                "description": "Placeholder: every webhook subscription names its own https URL.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


# --- YAML --------------------------------------------------------------------------------


class _ContractDumper(yaml.SafeDumper):
    """Safe YAML that spells every repeated schema out: readers of a contract should not have to
    follow PyYAML's `&id001` anchors, which it would emit for a dict the document shares."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(value: object) -> str:
    """Block-style YAML of JSON-like data, keys in the document's order."""
    return yaml.dump(value, Dumper=_ContractDumper, sort_keys=False, allow_unicode=True, width=YAML_WIDTH)


# --- files -------------------------------------------------------------------------------


def _json(schema: Schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generated_files() -> dict[str, str]:
    """Every generated file's text by its path relative to the repository root."""
    files = {f"{EVENTS_DIR}/envelope.schema.json": _json(envelope_schema())}
    for event_type in EVENT_DATA_MODELS:
        files[f"{EVENTS_DIR}/{event_type}.schema.json"] = _json(event_schema(event_type))
    files[ASYNCAPI_FILE] = (
        "# Generated by `python -m consumers.envelope_schema`: edit consumers/envelope.py, not this file.\n"
        + to_yaml(asyncapi_document())
    )
    return files


def stale_files(root: Path = ROOT) -> list[str]:
    """Generated files that are missing or differ, and schema files no event type generates."""
    files = generated_files()
    stale = [path for path, text in files.items() if _read(root / path) != text]
    stale += sorted(
        str(path.relative_to(root).as_posix())
        for path in (root / EVENTS_DIR).glob("*.schema.json")
        if path.relative_to(root).as_posix() not in files
    )
    return stale


def write(root: Path = ROOT) -> list[str]:
    """Write every generated file and delete schema files of event types that no longer exist;
    returns the paths that changed."""
    files = generated_files()
    changed = stale_files(root)
    for path in changed:
        target = root / path
        if path in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m consumers.envelope_schema", description="Generate the event schemas."
    )
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if there are any")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0
    for path in write(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
