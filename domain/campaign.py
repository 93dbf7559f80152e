"""The Campaign aggregate: what was spent on one marketing campaign, as events, so that cost and
return on it can be read as of any business time. One aggregate per campaign name (the name a
lead's `campaign` holds), its id derived from the name."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidField
from domain.events import CrmAggregate, CrmEvent
from domain.money import MAX_AMOUNT_MINOR, Money
from domain.values import Meta

CAMPAIGN_ID_NAMESPACE = UUID("5aab199a-c41b-5986-899e-11b8e0bf551b")
"""uuid5(NAMESPACE_URL, "urn:crm-eventlog:campaign"), written out because it is fixed for ever:
changing it would orphan every campaign's costs."""

MAX_CAMPAIGN_NAME = 200
"""The longest campaign name, as a lead's `campaign` allows."""


def campaign_id_of(name: str) -> UUID:
    """The id of the campaign of that name: the same in every store, so no lookup is needed."""
    return uuid5(CAMPAIGN_ID_NAMESPACE, name)


def check_campaign_name(name: str) -> str:
    """The name when it is a campaign name (not blank, at most MAX_CAMPAIGN_NAME characters)."""
    if not name.strip():
        raise InvalidField("name", "a campaign name is not blank")
    if len(name) > MAX_CAMPAIGN_NAME:
        raise InvalidField("name", f"a campaign name has at most {MAX_CAMPAIGN_NAME} characters")
    return name


class Campaign(CrmAggregate):
    """The costs recorded for one campaign. It is set up by its first cost, in the same append."""

    id: UUID

    class Event(CrmEvent):
        """A campaign's event: who did it, in which request, and when it happened (see CrmEvent)."""

    class Created(Event, Aggregate.Created):
        """The campaign was set up (its first cost follows in the same append)."""

        class_version = 1
        name: str

    class CostRecorded(Event):
        """Money was spent on the campaign, at `occurred_at` in business time."""

        class_version = 1
        campaign: str
        """The campaign's name, so that a reader of this event alone knows whose cost it is."""
        amount: int
        currency: str
        note: str | None

    @event(Created)
    def __init__(self, *, name: str, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.name = name
        self.created_at = occurred_at
        self.costs: list[Money] = []

    @classmethod
    def create(cls, name: str, meta: Meta) -> Campaign:
        """A new campaign of that name, its id derived from the name."""
        check_campaign_name(name)
        return cls._create(cls.Created, id=campaign_id_of(name), name=name, **meta.fields())

    def record_cost(self, amount: Money, note: str | None, meta: Meta) -> None:
        """Record money spent on the campaign; it may be back-dated, even before earlier costs
        (spend is often booked after the fact), so business time is not checked against creation."""
        if amount.amount <= 0:
            raise InvalidField("amount", "a cost is more than 0 minor units")
        if amount.amount > MAX_AMOUNT_MINOR:
            raise InvalidField("amount", f"a cost is at most {MAX_AMOUNT_MINOR} minor units")
        self._cost_recorded(
            campaign=self.name, amount=amount.amount, currency=amount.currency, note=note, **meta.fields()
        )

    @event(CostRecorded)
    def _cost_recorded(
        self,
        *,
        campaign: str,
        amount: int,
        currency: str,
        note: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.costs.append(Money(amount, currency))
