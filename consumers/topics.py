"""Topic and consumer-group names, optionally under a prefix (one CRM shard or test run per prefix)."""

from __future__ import annotations

from dataclasses import dataclass

from consumers.envelope import CONTACT_TOPIC, DEAD_LETTER_TOPIC, LEAD_TOPIC, WORKSPACE_TOPIC, topic_for


@dataclass(frozen=True)
class Topics:
    """The CRM's topics: `crm.lead.events.v1`, `crm.contact.events.v1`, `crm.workspace.events.v1`,
    `crm.dead-letter.v1`, each preceded by `prefix` (empty by default)."""

    prefix: str = ""

    @property
    def lead(self) -> str:
        """Lead events."""
        return self.prefix + LEAD_TOPIC

    @property
    def contact(self) -> str:
        """Contact events."""
        return self.prefix + CONTACT_TOPIC

    @property
    def workspace(self) -> str:
        """Workspace events: the team and the assignment rules."""
        return self.prefix + WORKSPACE_TOPIC

    @property
    def dead_letter(self) -> str:
        """Messages a consumer could not decode."""
        return self.prefix + DEAD_LETTER_TOPIC

    @property
    def events(self) -> tuple[str, ...]:
        """Every event topic: what the relay publishes to and the projections consume (a
        projection passes over the events it does not keep, and records their positions)."""
        return (self.lead, self.contact, self.workspace)

    def for_aggregate(self, aggregate_type: str) -> str:
        """The topic of an aggregate type's events."""
        return self.prefix + topic_for(aggregate_type)

    def group(self, projection: str) -> str:
        """The consumer group of a projection."""
        return f"{self.prefix}crm.projection.{projection}"


DEFAULT_TOPICS = Topics()
"""The unprefixed topics of the published contract."""
