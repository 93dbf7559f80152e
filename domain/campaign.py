"""The Campaign aggregate: what was spent on one marketing campaign, as events, so that cost and
return on it can be read as of any business time. One aggregate per campaign name (the name a
lead's `campaign` holds), its id derived from the name."""

from __future__ import annotations

from dataclasses import dataclass
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
    """The name when it is a campaign name (not blank, no spaces around it, at most MAX_CAMPAIGN_NAME characters)."""
    if not name.strip():
        raise InvalidField("name", "a campaign name is not blank")
    if name != name.strip():
        # a lead's campaign is stored stripped: " spring" would be a campaign no lead is in
        raise InvalidField("name", "a campaign name has no spaces around it")
    if len(name) > MAX_CAMPAIGN_NAME:
        raise InvalidField("name", f"a campaign name has at most {MAX_CAMPAIGN_NAME} characters")
    return name


@dataclass(frozen=True)
class Cost:
    """One cost of a campaign as recorded: its id, the money, the note, when it was spent and by whom."""

    cost_id: str
    money: Money
    note: str | None
    occurred_at: datetime
    recorded_by: str


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
        cost_id: str
        """The cost's own id (a UUID): derived from the request's idempotency key when it has one,
        so that a retried request finds the cost it recorded instead of recording it twice."""
        amount: int
        currency: str
        note: str | None

    @event(Created)
    def __init__(self, *, name: str, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.name = name
        self.created_at = occurred_at
        self.costs: list[Cost] = []

    @classmethod
    def create(cls, name: str, meta: Meta) -> Campaign:
        """A new campaign of that name, its id derived from the name."""
        check_campaign_name(name)
        return cls._create(cls.Created, id=campaign_id_of(name), name=name, **meta.fields())

    def cost(self, cost_id: str) -> Cost | None:
        """The cost recorded with this id, if there is one."""
        return next((c for c in self.costs if c.cost_id == cost_id), None)

    def record_cost(self, cost_id: str, amount: Money, note: str | None, meta: Meta) -> None:
        """Record money spent on the campaign; it may be back-dated, even before earlier costs
        (spend is often booked after the fact), so business time is not checked against creation."""
        if amount.amount <= 0:
            raise InvalidField("amount", "a cost is more than 0 minor units")
        if amount.amount > MAX_AMOUNT_MINOR:
            raise InvalidField("amount", f"a cost is at most {MAX_AMOUNT_MINOR} minor units")
        if self.cost(cost_id) is not None:
            raise InvalidField("cost_id", f"the campaign has a cost {cost_id} already")
        self._cost_recorded(
            campaign=self.name,
            cost_id=cost_id,
            amount=amount.amount,
            currency=amount.currency,
            note=note,
            **meta.fields(),
        )

    @event(CostRecorded)
    def _cost_recorded(
        self,
        *,
        campaign: str,
        cost_id: str,
        amount: int,
        currency: str,
        note: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.costs.append(Cost(cost_id, Money(amount, currency), note, occurred_at, actor))
