"""The Contact aggregate: a person we have an established relationship with."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.consent import ConsentStatement, check_outbound_allowed, statements_to_adopt
from domain.errors import (
    ConsentUnchanged,
    DuplicatePurchase,
    HoldsMergedRecords,
    LeadAlreadyLinked,
    MergeFinal,
    MergeIntoItself,
    NoDetailsChanged,
    NotMerged,
    OccurredBeforeCreation,
    PersonErased,
    RecordMerged,
)
from domain.events import CrmAggregate, CrmEvent
from domain.money import Money
from domain.personal_data import erased_details
from domain.tasks import FollowUpTasks, Task
from domain.values import ConsentChannel, InteractionKind, Meta

UPDATABLE_DETAILS = ("name", "email", "phone", "company", "title")


class Contact(FollowUpTasks, CrmAggregate):
    """A contact is created (directly or from a converted lead), buys, engages, gives or
    withdraws consent, and can be reactivated into a new lead when they show new interest. It
    carries follow-up tasks (`domain.tasks`)."""

    id: UUID  # always given: uuid4, or uuid5 of an idempotency key

    class Event(CrmEvent):
        """A contact's event: who did it, in which request, and when it happened (see CrmEvent)."""

    class Created(Event, Aggregate.Created):
        class_version = 1
        name: str
        email: str | None
        phone: str | None
        company: str | None
        title: str | None
        external_id: str | None
        lead_id: UUID | None

    class DetailsUpdated(Event):
        class_version = 1
        changes: dict[str, str | None]

    class InteractionLogged(Event):
        class_version = 1
        kind: str
        detail: str | None

    class PurchaseRecorded(Event):
        class_version = 1
        order_id: str
        amount: int
        currency: str
        quantity: int

    class Reactivated(Event):
        class_version = 1
        lead_id: UUID
        interest: str

    class ConsentChanged(Event):
        class_version = 1
        channel: str
        granted: bool

    class LeadLinked(Event):
        """Another lead of the person (the same email) was converted into this contact, instead
        of making a contact of its own; its `lead.converted` names this contact."""

        class_version = 1
        lead_id: UUID

    class Erased(Event):
        """The person's personal data was destroyed (their key shredded); holds none itself."""

        class_version = 1
        reason: str

    class TaskCreated(Event):
        """Someone is to do something about the contact by `due_at` (see domain.tasks)."""

        class_version = 1
        task_id: UUID
        title: str
        due_at: datetime
        note: str | None
        owner: str | None

    class TaskCompleted(Event):
        class_version = 1
        task_id: UUID

    class TaskRescheduled(Event):
        class_version = 1
        task_id: UUID
        due_at: datetime
        previous_due_at: datetime

    class MergedInto(Event):
        """The contact is a duplicate of `survivor_id` and was merged into it: it takes no
        commands until it is unmerged; the read models count its purchases with the survivor's."""

        class_version = 1
        survivor_id: UUID

    class Absorbed(Event):
        """The contact absorbed the merged duplicate `duplicate_id`."""

        class_version = 1
        duplicate_id: UUID

    class Unmerged(Event):
        """The contact is no longer merged into `survivor_id`: it stands as before the merge."""

        class_version = 1
        survivor_id: UUID

    class Released(Event):
        """The contact gave back the duplicate `duplicate_id`."""

        class_version = 1
        duplicate_id: UUID

    @event(Created)
    def __init__(
        self,
        *,
        name: str,
        email: str | None,
        phone: str | None,
        company: str | None,
        title: str | None,
        external_id: str | None,
        lead_id: UUID | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.name = name
        self.email = email
        self.phone = phone
        self.company = company
        self.title = title
        self.external_id = external_id
        self.lead_id = lead_id
        self.created_at = occurred_at
        self.consents: dict[str, bool] = {}
        self.consent_stated_at: dict[str, datetime] = {}
        self.order_ids: set[str] = set()
        self.purchase_count = 0
        self.lifetime_value: dict[str, int] = {}
        self.first_purchase_at: datetime | None = None
        self.last_purchase_at: datetime | None = None
        self.last_interaction_at: datetime | None = None
        self.reactivated_lead_ids: list[UUID] = []
        self.linked_lead_ids: list[UUID] = []
        self.erased_at: datetime | None = None
        self.tasks: dict[UUID, Task] = {}
        self.merged_into: UUID | None = None
        """The survivor this contact was merged into, while it is merged."""
        self.absorbed: list[UUID] = []
        """The duplicates merged into this contact, in merge order."""

    # --- commands -------------------------------------------------------------------

    @classmethod
    def create(cls, *, contact_id: UUID, meta: Meta, **details: Any) -> Contact:
        """Create a contact directly, or from a converted lead (`lead_id`)."""
        return cls(id=contact_id, **details, **meta.fields())  # type: ignore[call-arg]

    def update_details(self, changes: dict[str, str | None], meta: Meta) -> None:
        """Change some of name, email, phone, company, title; only real changes are recorded."""
        self.check_not_before_creation(meta.occurred_at)
        unknown = set(changes) - set(UPDATABLE_DETAILS)
        if unknown:
            raise ValueError(f"not updatable: {', '.join(sorted(unknown))}")
        effective = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not effective:
            raise NoDetailsChanged(f"contact {self.id}: the update changes nothing")
        self._details_updated(changes=effective, **meta.fields())

    def log_interaction(self, kind: InteractionKind, detail: str | None, meta: Meta) -> None:
        """Record an interaction with the contact."""
        self.check_not_before_creation(meta.occurred_at)
        check_outbound_allowed(f"contact {self.id}", kind, self.consents)
        self._interaction_logged(kind=kind.value, detail=detail, **meta.fields())

    def record_purchase(self, order_id: str, amount: Money, quantity: int, meta: Meta) -> None:
        """Record a purchase; an order id is recorded once per contact."""
        self.check_not_before_creation(meta.occurred_at)
        if order_id in self.order_ids:
            raise DuplicatePurchase(f"order {order_id!r} is already recorded on contact {self.id}")
        self._purchase_recorded(
            order_id=order_id, amount=amount.amount, currency=amount.currency, quantity=quantity, **meta.fields()
        )

    def change_consent(self, channel: ConsentChannel, granted: bool, meta: Meta) -> None:
        """Grant or withdraw consent for one channel."""
        self.check_not_before_creation(meta.occurred_at)
        if self.consents.get(channel.value) is granted:
            state = "granted" if granted else "withdrawn"
            raise ConsentUnchanged(f"consent for {channel.value} is already {state}")
        self._consent_changed(channel=channel.value, granted=granted, **meta.fields())

    def adopt_consent(self, statements: Iterable[ConsentStatement], meta: Meta) -> None:
        """Take over what the person stated on a lead converting into this contact: each
        statement that changes the contact's consent and is newer than the contact's own for
        that channel (so a withdrawal made on the contact since is not undone)."""
        for statement in statements_to_adopt(statements, self.consents, self.consent_stated_at):
            self.change_consent(statement.channel, statement.granted, meta)

    def reactivate(self, lead_id: UUID, interest: str, meta: Meta) -> None:
        """The contact shows new interest: link the new lead that follows it up."""
        self.check_not_before_creation(meta.occurred_at)
        self._reactivated(lead_id=lead_id, interest=interest, **meta.fields())

    def link_lead(self, lead_id: UUID, meta: Meta) -> None:
        """A lead of the same person converts into this contact: link it (in its conversion's append)."""
        self.check_not_before_creation(meta.occurred_at)
        if lead_id == self.lead_id or lead_id in self.linked_lead_ids:
            raise LeadAlreadyLinked(f"lead {lead_id} is already linked to contact {self.id}")
        self._lead_linked(lead_id=lead_id, **meta.fields())

    def erase(self, reason: str, meta: Meta) -> None:
        """Record that the person's personal data was erased; the contact takes no more commands."""
        self.check_not_erased()
        self._erased(reason=reason, **meta.fields())

    def merge_into(self, survivor: Contact, meta: Meta) -> None:
        """Merge this contact, a duplicate, into `survivor`: neither erased nor merged, this one
        holding no duplicates of its own. Emits `MergedInto` here and `Absorbed` on the survivor,
        which the caller saves together."""
        if survivor.id == self.id:
            raise MergeIntoItself("into", f"contact {self.id} cannot be merged into itself")
        self.check_not_before_creation(meta.occurred_at)
        if self.absorbed:
            held = ", ".join(str(i) for i in self.absorbed)
            raise HoldsMergedRecords(f"contact {self.id} holds merged duplicates ({held}); unmerge them first")
        survivor.check_not_before_creation(meta.occurred_at)
        self._merged_into(survivor_id=survivor.id, **meta.fields())
        survivor._absorbed(duplicate_id=self.id, **meta.fields())

    def unmerge(self, survivor: Contact, meta: Meta) -> None:
        """Undo this contact's merge into `survivor` (emits `Unmerged` here and `Released` there),
        unless the survivor was erased since."""
        self.check_not_erased()
        self.check_merged()
        if survivor.id != self.merged_into or self.id not in survivor.absorbed:
            raise ValueError(f"contact {self.id} is merged into {self.merged_into}, not into {survivor.id}")
        if survivor.erased_at is not None:
            raise MergeFinal(f"contact {self.id} stays merged: contact {survivor.id}, which absorbed it, was erased")
        for record in (self, survivor):
            if meta.occurred_at < record.created_at:
                raise OccurredBeforeCreation(
                    f"occurred_at {meta.occurred_at.isoformat()} is before contact {record.id} was created"
                )
        self._unmerged(survivor_id=survivor.id, **meta.fields())
        survivor._released(duplicate_id=self.id, **meta.fields())

    # --- guards ---------------------------------------------------------------------

    def check_not_erased(self) -> None:
        """An erased contact keeps its history and numbers but takes no more commands."""
        if self.erased_at is not None:
            raise PersonErased(f"contact {self.id} was erased")

    def check_merged(self) -> None:
        """Only a merged duplicate is unmerged."""
        if self.merged_into is None:
            raise NotMerged(f"contact {self.id} is not merged into another contact")

    def check_not_merged(self) -> None:
        """A merged duplicate takes no commands until it is unmerged."""
        if self.merged_into is not None:
            raise RecordMerged(f"contact {self.id} is merged into contact {self.merged_into}; unmerge it first")

    def check_not_before_creation(self, occurred_at: datetime) -> None:
        """Nothing can happen to a contact, in business time, before it was created (nor after
        it was erased, nor while it is merged)."""
        self.check_not_erased()
        self.check_not_merged()
        if occurred_at < self.created_at:
            raise OccurredBeforeCreation(
                f"occurred_at {occurred_at.isoformat()} is before the contact was created "
                f"({self.created_at.isoformat()})"
            )

    def has_consent(self, channel: ConsentChannel) -> bool | None:
        """True when granted, False when withdrawn, None when never stated; an automated email
        needs True."""
        return self.consents.get(channel.value)

    def check_takes_new_tasks(self, occurred_at: datetime) -> None:
        """A contact takes tasks from its creation on, until it is erased."""
        self.check_not_before_creation(occurred_at)

    def check_takes_task_completion(self, occurred_at: datetime) -> None:
        """As for adding one."""
        self.check_not_before_creation(occurred_at)

    @property
    def open_lead_id(self) -> UUID | None:
        """The lead of the latest reactivation, if any."""
        return self.reactivated_lead_ids[-1] if self.reactivated_lead_ids else None

    # --- event application: deterministic, re-run on every load -----------------------

    @event(DetailsUpdated)
    def _details_updated(
        self, *, changes: dict[str, str | None], actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    @event(InteractionLogged)
    def _interaction_logged(
        self, *, kind: str, detail: str | None, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        if self.last_interaction_at is None or occurred_at > self.last_interaction_at:
            self.last_interaction_at = occurred_at

    @event(PurchaseRecorded)
    def _purchase_recorded(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        quantity: int,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.order_ids.add(order_id)
        self.purchase_count += 1
        self.lifetime_value[currency] = self.lifetime_value.get(currency, 0) + amount
        if self.first_purchase_at is None or occurred_at < self.first_purchase_at:
            self.first_purchase_at = occurred_at
        if self.last_purchase_at is None or occurred_at > self.last_purchase_at:
            self.last_purchase_at = occurred_at

    @event(ConsentChanged)
    def _consent_changed(
        self, *, channel: str, granted: bool, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self.consents[channel] = granted
        self.consent_stated_at[channel] = occurred_at

    @event(Reactivated)
    def _reactivated(
        self, *, lead_id: UUID, interest: str, actor: str, correlation_id: str, occurred_at: datetime
    ) -> None:
        self.reactivated_lead_ids.append(lead_id)

    @event(LeadLinked)
    def _lead_linked(self, *, lead_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.linked_lead_ids.append(lead_id)

    @event(Erased)
    def _erased(self, *, reason: str, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        for field, value in erased_details().items():
            setattr(self, field, value)
        self._forget_task_texts()
        self.erased_at = occurred_at

    @event(TaskCreated)
    def _task_created(
        self,
        *,
        task_id: UUID,
        title: str,
        due_at: datetime,
        note: str | None,
        owner: str | None,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_task_created(task_id, title, due_at, note, owner, actor, occurred_at)

    @event(TaskCompleted)
    def _task_completed(self, *, task_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self._apply_task_completed(task_id, occurred_at)

    @event(TaskRescheduled)
    def _task_rescheduled(
        self,
        *,
        task_id: UUID,
        due_at: datetime,
        previous_due_at: datetime,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self._apply_task_rescheduled(task_id, due_at)

    @event(MergedInto)
    def _merged_into(self, *, survivor_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.merged_into = survivor_id

    @event(Absorbed)
    def _absorbed(self, *, duplicate_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.absorbed.append(duplicate_id)

    @event(Unmerged)
    def _unmerged(self, *, survivor_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.merged_into = None

    @event(Released)
    def _released(self, *, duplicate_id: UUID, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.absorbed.remove(duplicate_id)
