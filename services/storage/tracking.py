"""The names of the positions kept in eventsourcing's tracking table, built in one place.

- a read model fed from a source: `{namespace}{projection}@{source}`, where the source is `log`
  (the in-process runner, by notification id) or `topic:partition` (a Kafka consumer, by the
  event's log position);
- the next Kafka offset of such a partition: the same name plus `#offset`;
- the relay: `relay@kafka`, the last log position the broker acknowledged;
- a policy of the automation: `automation:{policy}@log`, the last log position it reacted to.

A rebuild writes into a namespace (a table-name prefix) and may then be swapped into the live one."""

from __future__ import annotations

LOG_SOURCE = "log"
RELAY = "relay@kafka"
OFFSET_SUFFIX = "#offset"
REBUILD_NAMESPACE = "rebuild_"
VERIFY_NAMESPACE = "verify_"


def projection_position(namespace: str, projection: str, source: str) -> str:
    """The tracking name of a projection fed from one source, in a namespace."""
    return f"{namespace}{projection}@{source}"


def next_offset(tracking_name: str) -> str:
    """The tracking name of the next Kafka offset to read, beside a partition's position."""
    return f"{tracking_name}{OFFSET_SUFFIX}"


def is_offset(tracking_name: str) -> bool:
    """True for the name of a stored Kafka offset (rather than a log position)."""
    return tracking_name.endswith(OFFSET_SUFFIX)


def policy_position(policy: str) -> str:
    """The tracking name of an automation policy's position in the log."""
    return f"automation:{policy}@{LOG_SOURCE}"
