"""The CRM application: one eventsourcing Application holding leads, contacts and the store's
workspace (its team and assignment rules), so that a conversion or a reactivation is one atomic
append and there is one ordered notification log."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Mapper
from eventsourcing.utils import EnvType
from pydantic import BaseModel

from domain.assignment import AssignmentRule
from domain.calendar import BusinessCalendar
from domain.campaign import Campaign, Cost, campaign_id_of, check_campaign_name
from domain.catalogue import CrmEvent, event_data, event_type_of
from domain.contact import Contact
from domain.errors import DomainError, TaskAlreadyExists, UnknownSequence
from domain.events import CrmAggregate, event_id_of
from domain.identity import normalised_email
from domain.lead import Lead
from domain.money import Money
from domain.nurture import DefinedSequence, NurtureExitReason, NurtureSequence
from domain.scoring import DEFAULT_MODEL, ScoringModel
from domain.team import User, check_assignable
from domain.timeline import business_order, check_placement, fold, known
from domain.values import ConsentChannel, LeadSource, Meta
from domain.workspace import WORKSPACE_ID, Workspace
from services.app.commands import (
    AddTask,
    AddUser,
    AssignLead,
    CaptureLead,
    ChangeConsent,
    ChangeStage,
    CompleteTask,
    ConvertLead,
    CreateContact,
    DefineSequence,
    DisqualifyLead,
    EnrolInSequence,
    ErasePerson,
    ExitSequence,
    LogInteraction,
    Merge,
    ReactivateContact,
    RecordCampaignCost,
    RecordPurchase,
    ReplaceAssignmentRules,
    RescheduleTask,
    RescoreLead,
    Unmerge,
    UpdateContactDetails,
    UpdateUser,
)
from services.app.errors import (
    CampaignNotFound,
    ConcurrencyConflict,
    ContactNotFound,
    HistoryStepRefused,
    IdempotencyKeyReused,
    LeadNotFound,
    MergeTargetNotFound,
    NotFound,
    ReactivationInProgress,
    SequenceNotFound,
    TaskNotFound,
    UserNotFound,
)
from services.app.timers import Firing, StoredTimer, TimerAlreadyFired, TimerSetting, TimerStore
from services.privacy.fields import PersonalFields
from services.privacy.mapper import SealingMapper

CRM_NAMESPACE = UUID("6f1c0d52-6b0e-4c53-9d43-3c1e2b7a9e10")
"""Namespace of the uuid5 ids derived from idempotency keys."""

A = TypeVar("A", bound=Aggregate)
Record = TypeVar("Record", Lead, Contact)
"""A lead or a contact (each command of a pair takes two of one kind)."""

TaskLocator = Callable[[UUID], tuple[str, UUID] | None]
"""Which record a task is on: (`lead` or `contact`, its id), None for a task nobody has. Task ids
are random, or chosen by the caller (automation derives them from its trigger), so an id cannot
name its record; the tasks read model knows it (`ReadModelQueries.record_of_task`), and the record
itself decides (a task the locator places on a record that lacks it is not found)."""


ContactFinder = Callable[[str], UUID | None]
"""The contact of the person with this email address (compared normalised), None when there is
none: the identity index answers it (`ReadModelQueries.people_with_email`), and the contact itself
is checked again, so one the index names wrongly is not linked."""


def derived_id(kind: str, key: str, actor: str | None = None) -> UUID:
    """The id a create command with this idempotency key always gets. With an actor, the key is
    that actor's own: each actor's keys name ids in a namespace of that actor's, so the same key
    from another actor names another aggregate."""
    namespace = CRM_NAMESPACE if actor is None else uuid.uuid5(CRM_NAMESPACE, f"actor:{actor}")
    return uuid.uuid5(namespace, f"{kind}:{key}")


@dataclass(frozen=True)
class Context:
    """Who is acting, and the request the command belongs to."""

    actor: str = "system"
    correlation_id: str = ""
    owner_scope: str | None = None
    """When set, the command acts only on the leads this user owns and on the contacts whose
    originating lead they own; anything else is not found (`NotFound.withheld`)."""
    shared_keys: bool = False
    """Idempotency keys are the actor's own (`derived_id` with the actor), so that one caller's key
    never finds, nor tells anything about, what another created. The CRM's own jobs (seed,
    imports) share one namespace instead, so a re-run finds what an earlier run made."""
    may_read: bool = True
    """False for a caller who may not read leads and contacts (a service): a command of theirs
    refused because of the record's state (another version than the expected one, a closed lead,
    any broken business rule) is answered as not found, like a missing record, so that such a
    caller cannot learn, without leaving a trace, that a record exists, its version or its state."""

    cause: str | None = None
    """For an automated action: the id of the event that caused it; for a keyed inbound
    submission that lands on a known person: the submission's id (derived from its
    `Idempotency-Key`). The events it appends carry it, and an aggregate that this actor already
    acted on for this cause takes the command without appending anything, so a rerun of
    automation, or a retried submission, never doubles an action."""

    clock: Callable[[], datetime] | None = None
    """What "now" is for a command without `occurred_at` (the system clock when None): automation
    passes its own, so that a simulation on a hand-moved clock dates its events by that clock."""

    @property
    def key_scope(self) -> str | None:
        """Whose idempotency keys the command's keys are: the actor's, or None when shared."""
        return None if self.shared_keys else self.actor

    def meta(self, occurred_at: datetime | None) -> Meta:
        """Event metadata for a command; business time defaults to now."""
        return Meta(
            actor=self.actor,
            correlation_id=self.correlation_id or uuid.uuid4().hex,
            occurred_at=occurred_at or (self.clock() if self.clock is not None else datetime.now(UTC)),
        )


SYSTEM = Context()


@dataclass
class TimerFiring:
    """A timer being acted on: the first append within `CrmApplication.firing` records its firing
    in the same transaction; `recorded` tells whether one did."""

    firing: Firing
    cause: str | None
    recorded: bool = False


_FIRING: ContextVar[TimerFiring | None] = ContextVar("crm_timer_firing", default=None)


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure did: the aggregate asked for, its version and the log position of the
    last `Erased` event (None when the person was erased already), and every lead and contact
    of the person."""

    id: UUID
    version: int
    position: int | None
    erased_ids: list[UUID]


class AppendGroups(Protocol):
    """The event store's group commit figures since the process started."""

    groups: int
    appends: int
    largest: int
    waited_seconds: float


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the aggregate, its new version, and the log position of the last
    appended event (None when nothing was appended, e.g. a retried idempotent create)."""

    id: UUID
    version: int
    position: int | None
    related_id: UUID | None = None
    """The contact a conversion made or joined, the lead a reactivation opened, or the task a
    task command added or changed."""


@dataclass(frozen=True)
class RecordedCost:
    """What recording a campaign cost did (`result.id`: the campaign; `related_id`: the cost), and
    the cost as the campaign holds it (for a retry: as it was first recorded)."""

    result: CommandResult
    campaign: str
    cost: Cost


@dataclass(frozen=True)
class AssignmentRuleList:
    """The ordered assignment rules, and the workspace version they were read at (0 before the
    workspace's first change): the ETag a replacement may send back as `If-Match`."""

    rules: tuple[AssignmentRule, ...]
    version: int


class AuditEntry(BaseModel):
    """One line of an aggregate's audit trail."""

    version: int
    event_type: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    correlation_id: str
    data: dict[str, Any]


class CrmApplication(Application[UUID]):
    """Commands on leads, contacts and the workspace: load, act, save, return."""

    name = "crm"
    log_section_size = 10_000
    """The most events one read of the notification log may return (delivery reads in batches)."""

    def __init__(
        self,
        env: EnvType | None = None,
        scoring: ScoringModel = DEFAULT_MODEL,
        personal_fields: PersonalFields | None = None,
        calendar: BusinessCalendar | None = None,
    ) -> None:
        self.scoring = scoring
        self.personal_fields = personal_fields
        self.calendar = calendar or BusinessCalendar()
        """The business days and default time zone that nurture waits are counted in."""
        super().__init__(env)

    def close(self) -> None:
        """Release the event store's connections and those of the people's key store."""
        super().close()
        if self.personal_fields is not None:
            self.personal_fields.keys.store.close()

    def construct_mapper(self) -> Mapper[UUID]:
        """eventsourcing's mapper, sealing personal fields with the people's keys when given them."""
        mapper = super().construct_mapper()
        return mapper if self.personal_fields is None else SealingMapper(mapper, self.personal_fields)

    def construct_env(self, name: str, env: EnvType | None = None) -> Any:
        """Settings come from the bootstrap function only, never straight from os.environ."""
        from eventsourcing.utils import Environment

        return Environment(name, dict(env or {}))

    # --- leads ------------------------------------------------------------------------

    def capture_lead(self, cmd: CaptureLead, ctx: Context = SYSTEM) -> CommandResult:
        """Capture a lead; with an idempotency key a retry returns the lead already captured."""
        captured = self._captured(cmd, ctx)
        if isinstance(captured, CommandResult):
            return captured
        lead, details = captured
        return self._save_new(lead, cmd.idempotency_key, details, ctx)

    def _captured(self, cmd: CaptureLead, ctx: Context) -> tuple[Lead, dict[str, Any]] | CommandResult:
        """The new lead a capture makes (not saved), with its details; or, for a retry of a
        capture with the same idempotency key, what the first one answered."""
        details = cmd.lead_details()
        lead_id = uuid.uuid4()
        if cmd.idempotency_key is not None:
            lead_id = derived_id("lead", cmd.idempotency_key, ctx.key_scope)
            existing = self._existing_creation(Lead, lead_id, cmd.idempotency_key, details, ctx)
            if existing is not None:
                return existing
        self._check_assignable(cmd.owner)
        return Lead.capture(lead_id=lead_id, meta=ctx.meta(cmd.occurred_at), model=self.scoring, **details), details

    def import_lead(
        self, cmd: CaptureLead, history: Iterable[ChangeStage | ConvertLead | DisqualifyLead], ctx: Context = SYSTEM
    ) -> CommandResult:
        """Capture a lead with its history (stage changes, then a conversion or a disqualification,
        in business order) in ONE append, so that an import never leaves a lead half imported:
        a step that breaks a rule raises `HistoryStepRefused` and appends nothing, and a retry of
        a history appended before (same idempotency key and details) appends nothing again."""
        if cmd.idempotency_key is None:
            raise ValueError("an imported lead needs an idempotency key")
        captured = self._captured(cmd, ctx)
        if isinstance(captured, CommandResult):
            return captured
        lead, details = captured
        contacts: list[Contact] = []
        for step, change in enumerate(history):
            try:
                if isinstance(change, ChangeStage):
                    lead.change_stage(change.stage, ctx.meta(change.occurred_at))
                elif isinstance(change, DisqualifyLead):
                    lead.disqualify(change.reason, ctx.meta(change.occurred_at))
                else:
                    contacts.append(self._converted(lead, change, ctx, None))
            except DomainError as error:
                raise HistoryStepRefused(step, error) from error
        return self._save_new(lead, cmd.idempotency_key, details, ctx, *contacts)

    def log_lead_interaction(
        self, lead_id: UUID, cmd: LogInteraction, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Record an interaction with a lead (and its new score)."""
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.log_interaction(cmd.kind, cmd.detail, ctx.meta(cmd.occurred_at), self.scoring),
            at=cmd.occurred_at,
        )

    def rescore_lead(
        self, lead_id: UUID, cmd: RescoreLead, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Apply score decay; appends `Scored(reason="decay")` only when the score changes."""
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.rescore(ctx.meta(cmd.occurred_at), self.scoring),
        )  # on the lead as it stands now: a decay timer fires for the record it was set on

    def assign_lead(
        self, lead_id: UUID, cmd: AssignLead, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Give a lead to a sales rep (an active user of the team)."""
        self._check_assignable(cmd.owner)
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.assign(cmd.owner, ctx.meta(cmd.occurred_at), cmd.reason),
            at=cmd.occurred_at,
        )

    def change_stage(
        self, lead_id: UUID, cmd: ChangeStage, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Move a lead to another open stage."""
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.change_stage(cmd.stage, ctx.meta(cmd.occurred_at)),
            at=cmd.occurred_at,
        )

    def disqualify_lead(
        self, lead_id: UUID, cmd: DisqualifyLead, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Close a lead as lost."""
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.disqualify(cmd.reason, ctx.meta(cmd.occurred_at)),
            at=cmd.occurred_at,
        )

    def convert_lead(
        self,
        lead_id: UUID,
        cmd: ConvertLead,
        ctx: Context = SYSTEM,
        expected_version: int | None = None,
        find_contact: ContactFinder | None = None,
    ) -> CommandResult:
        """Close a lead as won. A new contact is created from it in the same transaction; a lead
        that came from reactivating a contact returns to that contact instead, and a lead whose
        email a contact has already (`find_contact`) is linked to that contact (its
        `LeadLinked`, in the same transaction) instead of making a second one."""
        with self._withheld_unless_readable(Lead, lead_id, ctx):
            lead = self._get(Lead, lead_id, expected_version, ctx.owner_scope, cmd.occurred_at)
            contact = self._converted(lead, cmd, ctx, find_contact)
            return self._save(lead, contact, related_id=contact.id)

    def _converted(self, lead: Lead, cmd: ConvertLead, ctx: Context, find_contact: ContactFinder | None) -> Contact:
        """Convert `lead` (not saved) and return the contact it converts into, changed to match:
        its own contact for a reactivation lead, the contact that has its email already, or a
        new one made from it."""
        meta = ctx.meta(cmd.occurred_at)
        deal = Money(cmd.deal_value, cmd.currency)
        if lead.contact_id is not None:
            lead.convert(lead.contact_id, deal, meta)
            # Back to its contact: what the person stated on this lead since it opened, and
            # is newer than what the contact holds, applies to the contact in the same append.
            returning = self._get(Contact, lead.contact_id)
            returning.check_not_merged()  # a merged contact takes no conversion until unmerged
            returning.adopt_consent(lead.own_consent_statements(), meta)
            return returning
        existing = self._contact_of_the_same_person(lead, find_contact)
        if existing is not None:
            lead.convert(existing.id, deal, meta)
            existing.link_lead(lead.id, meta)
            existing.adopt_consent(lead.own_consent_statements(), meta)
            return existing
        contact = Contact.create(
            contact_id=derived_id("contact-from-lead", str(lead.id)),
            meta=meta,
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            company=lead.company,
            title=lead.title,
            external_id=None,
            lead_id=lead.id,
        )
        # The lead's consent carries over as the contact's own ConsentChanged events right
        # after its Created event, not as a new field of Created: Created keeps its shape (no
        # new class_version, no upcaster), and whoever reads contact.consent_changed (the
        # segments read model, subscribers) takes these as they take any other.
        contact.adopt_consent(lead.own_consent_statements(), meta)
        lead.convert(contact.id, deal, meta)
        return contact

    def _contact_of_the_same_person(self, lead: Lead, find_contact: ContactFinder | None) -> Contact | None:
        """The contact that has the lead's email already (checked on the contact itself), if any."""
        if find_contact is None or lead.email is None:
            return None
        contact_id = find_contact(lead.email)
        if contact_id is None:
            return None
        try:
            contact = self._get(Contact, contact_id)
        except ContactNotFound:
            return None
        if contact.erased_at is not None or contact.email is None:
            return None
        return contact if normalised_email(contact.email) == normalised_email(lead.email) else None

    def change_lead_consent(
        self, lead_id: UUID, cmd: ChangeConsent, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Grant or withdraw consent for a channel, as the person stated it on a lead; its
        contact takes it over when the lead converts."""
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.change_consent(cmd.channel, cmd.granted, ctx.meta(cmd.occurred_at)),
            at=cmd.occurred_at,
        )

    def merge_lead(
        self, lead_id: UUID, cmd: Merge, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Merge a duplicate lead into its survivor (`cmd.into`): the duplicate's `MergedInto`
        and the survivor's `Absorbed` in one append. `related_id` is the survivor."""
        return self._merge(Lead, lead_id, cmd, ctx, expected_version)

    def unmerge_lead(
        self, lead_id: UUID, cmd: Unmerge, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Undo a lead's merge: its `Unmerged` and its survivor's `Released` in one append."""
        return self._unmerge(Lead, lead_id, cmd, ctx, expected_version)

    def _merge(
        self, cls: type[Record], duplicate_id: UUID, cmd: Merge, ctx: Context, expected_version: int | None
    ) -> CommandResult:
        """Load the duplicate (at the expected version) and its survivor, merge, save both."""
        with self._withheld_unless_readable(cls, duplicate_id, ctx):
            duplicate = self._get(cls, duplicate_id, expected_version, ctx.owner_scope)
            try:
                survivor = self._get(cls, cmd.into, owner_scope=ctx.owner_scope)
            except NotFound:
                raise MergeTargetNotFound("into", f"no {cls.__name__.lower()} {cmd.into} to merge into") from None
            duplicate.merge_into(survivor, ctx.meta(cmd.occurred_at))
            return self._save(duplicate, survivor, related_id=survivor.id)

    def _unmerge(
        self, cls: type[Record], duplicate_id: UUID, cmd: Unmerge, ctx: Context, expected_version: int | None
    ) -> CommandResult:
        """Load the merged duplicate (at the expected version) and the survivor it names, unmerge,
        save both."""
        with self._withheld_unless_readable(cls, duplicate_id, ctx):
            duplicate = self._get(cls, duplicate_id, expected_version, ctx.owner_scope)
            duplicate.check_not_erased()
            duplicate.check_merged()
            survivor = self._get(cls, cast(UUID, duplicate.merged_into))  # set: checked just above
            meta = ctx.meta(cmd.occurred_at)
            if isinstance(duplicate, Lead):
                duplicate.unmerge(survivor, meta, self.scoring)  # its decay timer, by this store's model
            else:
                duplicate.unmerge(survivor, meta)
            return self._save(duplicate, survivor, related_id=survivor.id)

    # --- contacts ---------------------------------------------------------------------

    def create_contact(self, cmd: CreateContact, ctx: Context = SYSTEM) -> CommandResult:
        """Create a contact; with an idempotency key a retry returns the contact already created."""
        details = cmd.contact_details()
        contact_id = uuid.uuid4()
        if cmd.idempotency_key is not None:
            contact_id = derived_id("contact", cmd.idempotency_key, ctx.key_scope)
            existing = self._existing_creation(Contact, contact_id, cmd.idempotency_key, details, ctx)
            if existing is not None:
                return existing
        contact = Contact.create(contact_id=contact_id, meta=ctx.meta(cmd.occurred_at), **details)
        return self._save_new(contact, cmd.idempotency_key, details, ctx)

    def update_contact_details(
        self, contact_id: UUID, cmd: UpdateContactDetails, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Change some of a contact's details."""
        return self._change(
            Contact,
            contact_id,
            ctx,
            expected_version,
            lambda contact: contact.update_details(cmd.changes(), ctx.meta(cmd.occurred_at)),
            at=cmd.occurred_at,
        )

    def log_contact_interaction(
        self, contact_id: UUID, cmd: LogInteraction, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Record an interaction with a contact."""
        return self._change(
            Contact,
            contact_id,
            ctx,
            expected_version,
            lambda contact: contact.log_interaction(cmd.kind, cmd.detail, ctx.meta(cmd.occurred_at)),
            at=cmd.occurred_at,
        )

    def record_purchase(
        self, contact_id: UUID, cmd: RecordPurchase, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Record an order; the same order id twice is rejected."""
        return self._change(
            Contact,
            contact_id,
            ctx,
            expected_version,
            lambda contact: _record(contact, cmd, ctx),
            at=cmd.occurred_at,
        )

    def record_purchases(self, contact_id: UUID, cmds: list[RecordPurchase], ctx: Context = SYSTEM) -> CommandResult:
        """Record several orders in one append (imports); orders already recorded are skipped,
        so a re-run of an import appends nothing."""
        contact = self._get(Contact, contact_id, owner_scope=ctx.owner_scope)
        for cmd in cmds:
            if cmd.order_id not in contact.order_ids:
                _record(contact, cmd, ctx)
        return self._save(contact)

    def import_new_contacts(
        self, items: list[tuple[CreateContact, list[RecordPurchase]]], ctx: Context = SYSTEM
    ) -> CommandResult | None:
        """Create many contacts, each with its purchases, in ONE append (bulk imports). Every create
        needs an idempotency key; if any of those contacts exists already, nothing is appended and
        `ConcurrencyConflict` is raised, so the caller can fall back to one contact at a time."""
        contacts = []
        for cmd, purchases in items:
            if cmd.idempotency_key is None:
                raise ValueError("bulk-imported contacts need an idempotency key")
            contact = Contact.create(
                contact_id=derived_id("contact", cmd.idempotency_key, ctx.key_scope),
                meta=ctx.meta(cmd.occurred_at),
                **cmd.contact_details(),
            )
            for purchase in purchases:
                _record(contact, purchase, ctx)
            contacts.append(contact)
        if not contacts:
            return None
        return self._save(*contacts)

    def change_consent(
        self, contact_id: UUID, cmd: ChangeConsent, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Grant or withdraw consent for a channel."""
        return self._change(
            Contact,
            contact_id,
            ctx,
            expected_version,
            lambda contact: contact.change_consent(cmd.channel, cmd.granted, ctx.meta(cmd.occurred_at)),
            at=cmd.occurred_at,
        )

    def reactivate_contact(
        self, contact_id: UUID, cmd: ReactivateContact, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Open a new lead (source `reactivation`) for a contact's new interest, atomically with
        the contact's `Reactivated` event."""
        with self._withheld_unless_readable(Contact, contact_id, ctx):
            return self._reactivate(contact_id, cmd, ctx, expected_version)

    def _reactivate(
        self, contact_id: UUID, cmd: ReactivateContact, ctx: Context, expected_version: int | None
    ) -> CommandResult:
        contact = self._get(Contact, contact_id, expected_version, ctx.owner_scope)
        lead_id = uuid.uuid4()
        if cmd.idempotency_key is not None:
            lead_id = derived_id("reactivation", cmd.idempotency_key, ctx.key_scope)
            if lead_id in contact.reactivated_lead_ids:
                return CommandResult(contact.id, contact.version, None, related_id=lead_id)
        self._check_assignable(cmd.owner)
        if contact.open_lead_id is not None and self._get(Lead, contact.open_lead_id).is_open:
            raise ReactivationInProgress(
                f"contact {contact.id} already has open lead {contact.open_lead_id} from a reactivation"
            )
        meta = ctx.meta(cmd.occurred_at)
        contact.reactivate(lead_id, cmd.interest, meta)
        lead = Lead.capture(
            lead_id=lead_id,
            meta=meta,
            model=self.scoring,
            name=contact.name,
            email=contact.email,
            company=contact.company,
            phone=contact.phone,
            title=contact.title,
            source=LeadSource.REACTIVATION.value,
            campaign=cmd.campaign,
            estimated_value=cmd.estimated_value,
            currency=cmd.currency,
            owner=cmd.owner,
            contact_id=contact.id,
            interest=cmd.interest,
            country=None,
        )
        lead.carry_consent_over(contact.id, contact.consents, meta)
        return self._save(contact, lead, related_id=lead.id)

    def merge_contact(
        self, contact_id: UUID, cmd: Merge, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Merge a duplicate contact into its survivor (`cmd.into`), both events in one append."""
        return self._merge(Contact, contact_id, cmd, ctx, expected_version)

    def unmerge_contact(
        self, contact_id: UUID, cmd: Unmerge, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Undo a contact's merge: its `Unmerged` and its survivor's `Released` in one append."""
        return self._unmerge(Contact, contact_id, cmd, ctx, expected_version)

    # --- follow-up tasks ---------------------------------------------------------------

    def add_lead_task(
        self,
        lead_id: UUID,
        cmd: AddTask,
        ctx: Context = SYSTEM,
        task_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Add a follow-up task to an open lead (a closed lead's follow-up belongs on its contact);
        see `_add_task` for its id, its owner and repeats. `related_id` is the task's id."""
        return self._add_task(Lead, lead_id, cmd, ctx, task_id, expected_version)

    def add_contact_task(
        self,
        contact_id: UUID,
        cmd: AddTask,
        ctx: Context = SYSTEM,
        task_id: UUID | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Add a follow-up task to a contact; as `add_lead_task`."""
        return self._add_task(Contact, contact_id, cmd, ctx, task_id, expected_version)

    def complete_task(
        self, task_id: UUID, cmd: CompleteTask, ctx: Context = SYSTEM, *, locate: TaskLocator
    ) -> CommandResult:
        """Mark a task done, on the record `locate` says it is on (even a closed lead)."""
        return self._change_task(
            task_id, ctx, locate, lambda record: record.complete_task(task_id, ctx.meta(cmd.occurred_at))
        )

    def reschedule_task(
        self, task_id: UUID, cmd: RescheduleTask, ctx: Context = SYSTEM, *, locate: TaskLocator
    ) -> CommandResult:
        """Move an open task's due time, on the record `locate` says it is on."""
        return self._change_task(
            task_id, ctx, locate, lambda record: record.reschedule_task(task_id, cmd.due_at, ctx.meta(cmd.occurred_at))
        )

    def _add_task(
        self,
        cls: type[Lead] | type[Contact],
        record_id: UUID,
        cmd: AddTask,
        ctx: Context,
        task_id: UUID | None,
        expected_version: int | None,
    ) -> CommandResult:
        """The task's id is `task_id` when given, uuid5 of the record and the idempotency key when
        there is one, else new; a repeat of an id the record has appends nothing (before the
        expected version is checked: a retry after a lost answer carries the old `If-Match`). Its
        owner is the one named, else the record's owner (for a contact, its lead's)."""
        with self._withheld_unless_readable(cls, record_id, ctx):
            record = self._get(cls, record_id, owner_scope=ctx.owner_scope)
            record.check_not_erased()
            task_id = task_id or _new_task_id(record_id, cmd, ctx)
            if task_id in record.tasks:
                return _existing_task(record, task_id, cmd, ctx)
            if expected_version is not None and record.version != expected_version:
                raise ConcurrencyConflict(record_id, expected_version, record.version)
            owner = cmd.owner or self._owner_of(record)
            with _acting(record, ctx):
                record.add_task(task_id, cmd.title, cmd.due_at, cmd.note, owner, ctx.meta(cmd.occurred_at))
            try:
                return self._save(record, related_id=task_id)
            except ConcurrencyConflict:
                # A concurrent repeat of the same task won the race: answer as the repeat would.
                again = self._get(cls, record_id)
                if task_id not in again.tasks:
                    raise
                return _existing_task(again, task_id, cmd, ctx)

    def _change_task(
        self, task_id: UUID, ctx: Context, locate: TaskLocator, act: Callable[[Lead | Contact], object]
    ) -> CommandResult:
        # A rep changes their own tasks only, wherever they are (a task may be theirs on a record
        # another rep owns); anyone else's task is withheld, exactly like a missing one.
        place = locate(task_id)
        if place is None:
            raise TaskNotFound(task_id)
        kind, record_id = place
        try:
            record: Lead | Contact = self._get(Lead, record_id) if kind == "lead" else self._get(Contact, record_id)
        except NotFound:
            raise TaskNotFound(task_id) from None
        task = record.tasks.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        if ctx.owner_scope is not None and task.owner != ctx.owner_scope:
            raise TaskNotFound(task_id, withheld=True)
        if _acted_already(record, ctx):
            return CommandResult(record.id, record.version, None, related_id=task_id)
        with _acting(record, ctx):
            act(record)
        return self._save(record, related_id=task_id)

    # --- the workspace: the team and the assignment rules -------------------------------

    def add_user(self, cmd: AddUser, ctx: Context = SYSTEM) -> User:
        """Put a new user on the team; `UserAlreadyExists` when the id is taken."""
        meta = ctx.meta(cmd.occurred_at)
        workspace = self._workspace_to_change(meta)
        workspace.add_user(cmd.user(), meta)
        self._save(workspace)
        return workspace.users[cmd.id]

    def update_user(self, user_id: str, cmd: UpdateUser, ctx: Context = SYSTEM) -> User:
        """Change some of a user's fields; an update that changes nothing appends nothing."""
        workspace = self.get_workspace()
        if workspace is None or user_id not in workspace.users:
            raise UserNotFound(user_id)
        if workspace.update_user(user_id, cmd.changes(), ctx.meta(cmd.occurred_at)):
            self._save(workspace)
        return workspace.users[user_id]

    def replace_assignment_rules(
        self, cmd: ReplaceAssignmentRules, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> AssignmentRuleList:
        """Make the command's rules the whole ordered list; every rep must be a user of the team."""
        meta = ctx.meta(cmd.occurred_at)
        workspace = self._workspace_to_change(meta, expected_version)
        workspace.replace_assignment_rules(cmd.rules, meta)
        self._save(workspace)
        return AssignmentRuleList(workspace.assignment_rules, workspace.version)

    def get_workspace(self) -> Workspace | None:
        """The store's workspace as it stands; None before its first change."""
        try:
            workspace: Aggregate = self.repository.get(WORKSPACE_ID)
        except AggregateNotFoundError:
            return None
        return workspace if isinstance(workspace, Workspace) else None

    def users(self) -> list[User]:
        """Every user of the team, in id order."""
        return sorted(self._team().values(), key=lambda user: user.id)

    def get_user(self, user_id: str) -> User:
        """One user of the team; `UserNotFound` when there is none of that id."""
        user = self._team().get(user_id)
        if user is None:
            raise UserNotFound(user_id)
        return user

    def assignment_rules(self) -> AssignmentRuleList:
        """The ordered assignment rules (none before they are first set)."""
        workspace = self.get_workspace()
        if workspace is None:
            return AssignmentRuleList((), 0)
        return AssignmentRuleList(workspace.assignment_rules, workspace.version)

    def _team(self) -> Mapping[str, User]:
        workspace = self.get_workspace()
        return {} if workspace is None else workspace.users

    def _check_assignable(self, owner: str | None) -> None:
        """A lead is given only to an active user of the team (checked against the team as it
        stands when the command runs)."""
        if owner is not None:
            check_assignable(self._team(), owner, "owner")

    def _workspace_to_change(self, meta: Meta, expected_version: int | None = None) -> Workspace:
        """The workspace, set up (in the same append as its first change) when there is none yet;
        a conflict when it is not at the expected version (0 before its first change)."""
        workspace = self.get_workspace()
        version = 0 if workspace is None else workspace.version
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(WORKSPACE_ID, expected_version, version)
        return Workspace.set_up(meta) if workspace is None else workspace

    # --- nurture sequences ---------------------------------------------------------------

    def define_sequence(self, cmd: DefineSequence, ctx: Context = SYSTEM) -> DefinedSequence:
        """Define a nurture sequence in the workspace; a name is defined once
        (`SequenceAlreadyDefined`)."""
        meta = ctx.meta(None)
        workspace = self._workspace_to_change(meta)
        workspace.define_sequence(NurtureSequence.model_validate(cmd.model_dump()), meta)
        self._save(workspace)
        return workspace.sequences[cmd.name]

    def sequence(self, name: str) -> DefinedSequence:
        """The definition of a nurture sequence (`SequenceNotFound` when there is none)."""
        defined = self._sequences().get(name)
        if defined is None:
            raise SequenceNotFound(name)
        return defined

    def list_sequences(self) -> list[DefinedSequence]:
        """Every nurture sequence, by name."""
        sequences = self._sequences()
        return [sequences[name] for name in sorted(sequences)]

    def enrol_lead(
        self, lead_id: UUID, cmd: EnrolInSequence, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """Enrol a lead in a sequence by hand (again after an earlier enrolment ended, too)."""
        defined = self._sequences().get(cmd.sequence)
        if defined is None:
            raise UnknownSequence("sequence", f"no nurture sequence is named {cmd.sequence!r}")
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.enrol_in_nurture(
                defined.definition, ctx.meta(cmd.occurred_at), self.calendar, self._owner_time_zone(lead)
            ),
        )

    def exit_sequence(
        self, lead_id: UUID, cmd: ExitSequence, ctx: Context = SYSTEM, expected_version: int | None = None
    ) -> CommandResult:
        """End a lead's active enrolment in a sequence by hand (reason `manual`)."""
        return self._change(
            Lead,
            lead_id,
            ctx,
            expected_version,
            lambda lead: lead.exit_nurture(cmd.sequence, NurtureExitReason.MANUAL, ctx.meta(cmd.occurred_at)),
        )

    def enrol_by_rules(self, lead_id: UUID, ctx: Context) -> CommandResult | None:
        """Enrol a lead in every sequence whose `enrol_when` it matches and that it was never in
        (None, and the lead not loaded, when no sequence has a rule)."""
        rules = [s.definition for s in self.list_sequences() if s.definition.enrol_when is not None]
        if not rules:
            return None
        return self._change(
            Lead,
            lead_id,
            ctx,
            None,
            lambda lead: lead.enrol_by_rules(rules, ctx.meta(None), self.calendar, self._owner_time_zone(lead)),
        )

    def exit_sequences(self, lead_id: UUID, reason: NurtureExitReason, ctx: Context) -> CommandResult:
        """End every active enrolment of a lead, for `reason` (nothing when it has none)."""
        return self._change(Lead, lead_id, ctx, None, lambda lead: lead.exit_nurtures(reason, ctx.meta(None)))

    def perform_nurture_step(
        self, lead_id: UUID, sequence: str, enrolment: int, step: int, ctx: Context, occurred_at: datetime
    ) -> CommandResult:
        """Do a due step of a lead's enrolment, dated `occurred_at`; nothing when it is no longer
        the enrolment's next step (the enrolment ended, or the step was done)."""
        # Not through `_change`'s once-per-cause check: the timers of two enrolments made by one
        # command share that command's event as their cause, and the second must still act.
        # A step is done once by the enrolment's own rule (only its next step is done).
        lead = self._get(Lead, lead_id)
        with lead.caused_by(ctx.cause):
            lead.perform_nurture_step(
                sequence,
                enrolment,
                step,
                ctx.meta(occurred_at),
                self.calendar,
                self._owner_time_zone(lead),
                self._email_consent(lead),
            )
        return self._save(lead)

    def _owner_time_zone(self, lead: Lead) -> str | None:
        """The time zone a lead's nurture waits are counted in: its owner's own when the owner is
        a user of the team with one; else None, which counts in the calendar's default zone."""
        owner = None if lead.owner is None else self._team().get(lead.owner)
        return None if owner is None else owner.time_zone

    def _sequences(self) -> Mapping[str, DefinedSequence]:
        workspace = self.get_workspace()
        return {} if workspace is None else workspace.sequences

    @staticmethod
    def _email_consent(lead: Lead) -> bool | None:
        """The person's email consent as the lead records it (stated on it, or carried over from
        the contact it follows up): True, False (withdrawn) or None (never stated)."""
        return lead.has_consent(ConsentChannel.EMAIL)

    # --- privacy ----------------------------------------------------------------------

    def erase_person(
        self,
        aggregate_id: UUID,
        cmd: ErasePerson,
        ctx: Context = SYSTEM,
        of: type[Lead] | type[Contact] | None = None,
    ) -> ErasureResult:
        """Erase the person a lead or contact belongs to: destroy their key first (from then on
        their personal fields read as erased everywhere they are stored sealed), then append an
        `Erased` event, which holds no personal data, to each of their leads and contacts in one
        transaction. Erasing again destroys nothing more and appends nothing."""
        if self.personal_fields is None:
            raise ValueError("this application keeps no personal fields sealed; it cannot erase")
        kind: type[Aggregate] = of or Aggregate
        first = self._get(kind, aggregate_id, owner_scope=ctx.owner_scope)
        people, ids = self._people_of(aggregate_id)
        for person in people:
            self.personal_fields.keys.shred(person)
        aggregates = self._records(sorted(ids, key=lambda i: i != aggregate_id))  # the one asked for first
        meta = ctx.meta(None)
        pending = [a for a in aggregates if a.erased_at is None]
        for aggregate in pending:
            aggregate.erase(cmd.reason, meta)
        erased_ids = [a.id for a in aggregates]
        if not pending:
            return ErasureResult(aggregate_id, first.version, None, erased_ids)
        saved = self._save(*pending)
        return ErasureResult(saved.id, saved.version, saved.position, erased_ids)

    def person_records(
        self, aggregate_id: UUID, owner_scope: str | None = None, of: type[Lead] | type[Contact] | None = None
    ) -> list[Lead | Contact]:
        """Every lead and contact of the person a lead or contact belongs to (an export)."""
        kind: type[Aggregate] = of or Aggregate
        self._get(kind, aggregate_id, owner_scope=owner_scope)
        records = self._records(self._people_of(aggregate_id)[1])
        return sorted(records, key=lambda a: (not isinstance(a, Contact), a.created_on, str(a.id)))

    def _people_of(self, aggregate_id: UUID) -> tuple[list[str], list[UUID]]:
        """The person a record belongs to and every record of theirs, with the leads linked to
        one of those contacts (`LeadLinked`) and the contacts those leads were linked to: a linked
        lead keeps the key it was captured with, so one person may hold several keys."""
        people: list[str] = []
        ids: list[UUID] = []
        todo = [aggregate_id]
        while todo:
            record_id = todo.pop()
            if record_id in ids:
                continue
            person, found = self._person_of(record_id)
            if person is not None and person not in people:
                people.append(person)
            new = [i for i in found if i not in ids]
            ids += new
            for record in self._records(new):
                if isinstance(record, Contact):
                    todo += record.linked_lead_ids
                elif record.converted_contact_id is not None:
                    todo.append(record.converted_contact_id)
        return people, ids

    def _person_of(self, aggregate_id: UUID) -> tuple[str | None, list[UUID]]:
        """The person a record belongs to (None without sealed fields, or for a record from
        before them) and every record of theirs (just this one when there is no person)."""
        keys = None if self.personal_fields is None else self.personal_fields.keys
        person = None if keys is None else keys.person_of(str(aggregate_id))
        if keys is None or person is None:
            return None, [aggregate_id]
        return person, [UUID(a) for a in keys.aggregates_of(person)]

    def _records(self, ids: Iterable[UUID]) -> list[Lead | Contact]:
        """The leads and contacts of these ids; an id linked to a person whose creation never
        committed is passed over."""
        records: list[Lead | Contact] = []
        for record_id in ids:
            record = self._load(record_id)
            if record is not None:
                record.__dict__.pop("_stored_timeline", None)
            if isinstance(record, Lead | Contact):
                records.append(record)
        return records

    # --- reads ------------------------------------------------------------------------

    def get_lead(
        self,
        lead_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        owner_scope: str | None = None,
        known_at: datetime | None = None,
    ) -> Lead:
        """A lead now, at a version, or as it stood at a business time as known at a recording
        time (`known_at`: only the events recorded by then), folded in business order (only one
        the scoped owner owns now, when an owner scope is given)."""
        return self._read(Lead, lead_id, version, as_of, owner_scope, known_at)

    def get_contact(
        self,
        contact_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
        owner_scope: str | None = None,
        known_at: datetime | None = None,
    ) -> Contact:
        """A contact now, at a version, or as it stood at a business time as known at a recording
        time, folded in business order (only one whose originating lead the scoped owner owns,
        when an owner scope is given)."""
        return self._read(Contact, contact_id, version, as_of, owner_scope, known_at)

    def history(
        self,
        aggregate_id: UUID,
        *,
        of: type[Lead] | type[Contact] | None = None,
        owner_scope: str | None = None,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
    ) -> list[AuditEntry]:
        """Every event of an aggregate in version order: the audit trail. With `of`, only a lead's
        or only a contact's; with an owner scope, only one within it. With `as_of` or `known_at`,
        the events its as-of read folds, in the order it folds them (business order)."""
        if owner_scope is not None:
            kind: type[Aggregate] = of or Aggregate
            self._get(kind, aggregate_id, owner_scope=owner_scope)
        events = list(self._crm_events(aggregate_id))
        if not events or (of is not None and not isinstance(events[0], _CREATED_EVENT[of])):
            raise _not_found(of, aggregate_id)
        if as_of is not None or known_at is not None:
            events = business_order(known(events, as_of, known_at))
            if not events or not isinstance(events[0], Lead.Captured | Contact.Created):
                raise _not_found(of, aggregate_id, _as_of_text(as_of, known_at))
        return [
            AuditEntry(
                version=e.originator_version,
                event_type=event_type_of(e),
                occurred_at=e.occurred_at,
                recorded_at=e.timestamp,
                actor=e.actor,
                correlation_id=e.correlation_id,
                data=event_data(e),
            )
            for e in events
        ]

    def head_position(self) -> int:
        """The notification id of the newest event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def append_groups(self) -> AppendGroups | None:
        """How the event store grouped appends into transactions (PostgreSQL's group commit),
        or None where it does not group them."""
        commit = getattr(self.recorder, "group_commit", None)
        return None if commit is None else cast(AppendGroups, commit.stats)

    # --- campaigns --------------------------------------------------------------------

    def record_campaign_cost(self, name: str, cmd: RecordCampaignCost, ctx: Context = SYSTEM) -> RecordedCost:
        """Record a cost of the campaign `name` (set up by its first cost); `related_id` is the
        cost's id. With an idempotency key, a retry answers the cost already recorded and appends
        nothing; the same key with other values is `IdempotencyKeyReused`."""
        check_campaign_name(name)
        key = cmd.idempotency_key
        cost_id = derived_id("campaign_cost", key, ctx.key_scope) if key is not None else uuid.uuid4()
        try:
            return self._record_cost(name, cost_id, cmd, ctx)
        except ConcurrencyConflict:
            # another request appended to the campaign (or set it up) first: act on it as it is now
            return self._record_cost(name, cost_id, cmd, ctx)

    def _record_cost(self, name: str, cost_id: UUID, cmd: RecordCampaignCost, ctx: Context) -> RecordedCost:
        found = self._load(campaign_id_of(name))
        campaign = found if isinstance(found, Campaign) else Campaign.create(name, ctx.meta(cmd.occurred_at))
        recorded = campaign.cost(str(cost_id))
        if recorded is not None and cmd.idempotency_key is not None:
            given: dict[str, Any] = {"amount": cmd.amount, "currency": cmd.currency, "note": cmd.note}
            kept: dict[str, Any] = {"amount": recorded.money.amount, "currency": recorded.money.currency}
            kept["note"] = recorded.note
            if cmd.occurred_at is not None:
                given["occurred_at"], kept["occurred_at"] = cmd.occurred_at, recorded.occurred_at
            differing = sorted(field for field in given if given[field] != kept[field])
            if differing:
                raise IdempotencyKeyReused(cmd.idempotency_key, campaign.id, differing)
            return RecordedCost(CommandResult(campaign.id, campaign.version, None, cost_id), name, recorded)
        campaign.record_cost(str(cost_id), Money(cmd.amount, cmd.currency), cmd.note, ctx.meta(cmd.occurred_at))
        result = self._save(campaign, related_id=cost_id)
        return RecordedCost(result, name, campaign.costs[-1])

    def campaign_costs(self, name: str) -> list[Cost]:
        """Every cost recorded for the campaign `name`, in the order they were recorded;
        `CampaignNotFound` for a campaign that has no cost yet."""
        check_campaign_name(name)
        found = self._load(campaign_id_of(name))
        if not isinstance(found, Campaign):
            raise CampaignNotFound(campaign_id_of(name), f" (no cost was recorded for {name!r})")
        return list(found.costs)

    # --- plumbing ---------------------------------------------------------------------

    def _get(
        self,
        cls: type[A],
        aggregate_id: UUID,
        expected_version: int | None = None,
        owner_scope: str | None = None,
        at: datetime | None = None,
    ) -> A:
        """The aggregate now; not found when it is missing, of another kind or (withheld) outside
        the owner scope, a conflict when it is not at the expected version. With `at` (a command's
        business time), a lead or a contact stands as it did then, to act on (see `_load`)."""
        aggregate = self._load(aggregate_id, at)
        if aggregate is None:
            raise _not_found(cls, aggregate_id)
        if not isinstance(aggregate, cls):
            raise _not_found(cls, aggregate_id)
        if owner_scope is not None:
            current = aggregate if at is None else _standing_now(aggregate)  # who owns it now decides
            if self._owner_of(current) != owner_scope:
                raise _not_found(type(aggregate), aggregate_id, withheld=True)
        if expected_version is not None and aggregate.version != expected_version:
            raise ConcurrencyConflict(aggregate_id, expected_version, aggregate.version)
        return aggregate

    def _load(self, aggregate_id: UUID, at: datetime | None = None) -> Aggregate | None:
        """A lead or a contact as the business-time fold of all its events (`domain.timeline`):
        now is as of the latest business time, whatever order its events were recorded in. With
        `at`, as it stood then, yet at its newest version, so that a back-dated command's events
        are appended after every stored one; `_save` checks the events dated after them still
        stand. Any other aggregate is loaded by version as before. None when there is none."""
        try:
            aggregate: Aggregate = self.repository.get(aggregate_id, projector_func=_business_projector(at))
        except AggregateNotFoundError:
            return None
        return aggregate

    def _owner_of(self, aggregate: Aggregate) -> str | None:
        """Who owns a lead; for a contact, who owns the lead it was converted from."""
        if isinstance(aggregate, Lead):
            return aggregate.owner
        if isinstance(aggregate, Contact) and aggregate.lead_id is not None:
            try:
                return self._get(Lead, aggregate.lead_id).owner
            except LeadNotFound:
                return None
        return None

    def _change(
        self,
        cls: type[A],
        aggregate_id: UUID,
        ctx: Context,
        expected_version: int | None,
        act: Callable[[A], object],
        at: datetime | None = None,
    ) -> CommandResult:
        # The owner scope is checked on the very aggregate that is saved: should it be reassigned
        # after this load, the save conflicts instead of letting its former owner write.
        with self._withheld_unless_readable(cls, aggregate_id, ctx):
            aggregate = self._get(cls, aggregate_id, expected_version, ctx.owner_scope, at)
            if _acted_already(aggregate, ctx):
                return CommandResult(aggregate.id, aggregate.version, None)
            with _acting(aggregate, ctx):
                act(aggregate)
            return self._save(aggregate)

    @contextmanager
    def _withheld_unless_readable(self, cls: type[Aggregate], aggregate_id: UUID, ctx: Context) -> Iterator[None]:
        """For a caller who may not read the record (`Context.may_read`), a refusal that tells of
        its state (a version conflict, a broken business rule, a reactivation in progress) is
        "not found" instead, exactly as for a missing record. A lost race (no version in it) stays
        a conflict: it tells nothing the caller asked about, and a retry is the right answer."""
        try:
            yield
        except (DomainError, ConcurrencyConflict, ReactivationInProgress) as error:
            lost_race = isinstance(error, ConcurrencyConflict) and error.expected is None
            if ctx.may_read or lost_race:
                raise
            raise _not_found(cls, aggregate_id, withheld=True, reason="may_not_read") from None

    def _crm_events(self, aggregate_id: UUID, lte: int | None = None) -> Iterator[CrmEvent]:
        """The aggregate's events, typed as the CRM's events (every stored event is one)."""
        return cast(Iterator[CrmEvent], iter(self.events.get(aggregate_id, lte=lte)))

    def _save(self, first: Aggregate, *others: Aggregate, related_id: UUID | None = None) -> CommandResult:
        """Append the aggregates' new events in one transaction, with the timers their commands
        asked for and, within `firing`, the firing of the timer being acted on."""
        aggregates = (first, *others)
        for aggregate in aggregates:
            # a back-dated command's events are placed at their business time: refused when an
            # event dated after them would no longer be allowed (nothing is appended)
            stored = aggregate.__dict__.pop("_stored_timeline", None)
            if stored is not None and aggregate.pending_events:
                check_placement(stored, cast(list[CrmEvent], aggregate.pending_events))
        firing = _FIRING.get()
        pending_firing = firing.firing if firing is not None and not firing.recorded else None
        timers = self._timer_settings(aggregates, None if firing is None else firing.cause)
        try:
            if any(a.pending_events for a in aggregates):
                extra: dict[str, Any] = {}
                if timers:
                    extra["timers"] = timers
                if pending_firing is not None:
                    extra["firing"] = pending_firing
                recordings = self.save(first, *others, **extra)
            else:
                recordings = []
                if timers:
                    self._timers().write_timers(timers, pending_firing)
                else:
                    pending_firing = None  # nothing to write: the scheduler records the firing alone
        except TimerAlreadyFired:
            raise
        except IntegrityError:
            raise ConcurrencyConflict(first.id, None, None) from None
        if firing is not None and pending_firing is not None:
            firing.recorded = True
        position = recordings[-1].notification.id if recordings else None
        return CommandResult(first.id, first.version, position, related_id)

    @staticmethod
    def _timer_settings(aggregates: Iterable[Aggregate], fallback_cause: str | None) -> list[TimerSetting]:
        """The timers the aggregates' commands asked for, each caused by its aggregate's newest
        event (or, re-armed by an action that appended nothing, by what caused that action)."""
        settings = []
        for aggregate in aggregates:
            if not isinstance(aggregate, CrmAggregate):
                continue
            timers = aggregate.collect_timers()
            cause = str(event_id_of(aggregate.id, aggregate.version)) if aggregate.pending_events else fallback_cause
            settings += [TimerSetting(timer, cause) for timer in timers]
        return settings

    def commit(self, *aggregates: Aggregate) -> CommandResult:
        """Append aggregates' new events (with the timers their commands asked for) in one
        transaction: for code that acts on aggregates directly, such as a simulation's replay."""
        if not aggregates:
            raise ValueError("nothing to commit")
        return self._save(*aggregates)

    # --- timers -----------------------------------------------------------------------

    def _timers(self) -> TimerStore:
        """The event store's timers (its recorder keeps them in its own transactions)."""
        return cast(TimerStore, self.recorder)

    @property
    def timers(self) -> TimerStore:
        """The timers kept with the events: due ones, their firings."""
        return self._timers()

    @contextmanager
    def firing(self, stored: StoredTimer, fired_at: datetime) -> Iterator[TimerFiring]:
        """Act on a due timer: the first append inside the block records the timer's firing in
        its own transaction (TimerAlreadyFired, and nothing appended, when it fired already).
        An action that appended nothing leaves `recorded` False for the caller to record it."""
        timer = stored.timer
        firing = TimerFiring(
            Firing(timer.timer_id, stored.generation, timer.kind, timer.due_at, fired_at), stored.cause
        )
        token = _FIRING.set(firing)
        try:
            yield firing
        finally:
            _FIRING.reset(token)

    def _save_new(
        self, aggregate: A, key: str | None, details: dict[str, Any], ctx: Context, *others: Aggregate
    ) -> CommandResult:
        try:
            return self._save(aggregate, *others)
        except ConcurrencyConflict:
            if key is None:
                raise
            # A concurrent retry with the same key won the race: answer as the retry would.
            existing = self._existing_creation(type(aggregate), aggregate.id, key, details, ctx)
            if existing is None:
                raise
            return existing

    def _existing_creation(
        self, cls: type[A], aggregate_id: UUID, key: str, details: dict[str, Any], ctx: Context
    ) -> CommandResult | None:
        """What a retried create answers: the aggregate its key created, when the values are the
        same; `IdempotencyKeyReused` naming the differing fields when they are not. Only its
        creator is told that much: anyone else learns only that the key is taken."""
        created = next(self._crm_events(aggregate_id, lte=1), None)
        if created is None:
            return None
        if created.actor != ctx.actor:
            raise IdempotencyKeyReused(key)
        if not isinstance(created, _CREATED_EVENT[cls]):
            raise IdempotencyKeyReused(key, aggregate_id, ["kind"])
        differing = sorted(name for name, value in details.items() if getattr(created, name) != value)
        if differing:
            raise IdempotencyKeyReused(key, aggregate_id, differing)
        aggregate = self._get(cls, aggregate_id)
        return CommandResult(aggregate.id, aggregate.version, None)

    def _read(
        self,
        cls: type[A],
        aggregate_id: UUID,
        version: int | None,
        as_of: datetime | None,
        owner_scope: str | None,
        known_at: datetime | None = None,
    ) -> A:
        if version is None and as_of is None and known_at is None:
            aggregate = self._get(cls, aggregate_id, owner_scope=owner_scope)
            aggregate.__dict__.pop("_stored_timeline", None)  # a read is never saved
            return aggregate
        if owner_scope is not None:
            self._get(cls, aggregate_id, owner_scope=owner_scope)  # who owns it now decides, not who did then
        events = list(self._crm_events(aggregate_id, lte=version))
        if not events:
            raise _not_found(cls, aggregate_id)
        if not isinstance(events[0], Lead.Captured | Contact.Created):
            raise _not_found(cls, aggregate_id)
        # the business-time fold, from scratch: events in occurred_at order, recorded by known_at
        found: Aggregate | None = fold(events, as_of, known_at)
        if found is None:
            raise _not_found(cls, aggregate_id, _as_of_text(as_of, known_at))
        if not isinstance(found, cls):
            raise _not_found(cls, aggregate_id)
        return found


def _as_of_text(as_of: datetime | None, known_at: datetime | None) -> str:
    """How a not-found says when it was looked for."""
    return (f" as of {as_of.isoformat()}" if as_of else "") + (
        f" as known at {known_at.isoformat()}" if known_at else ""
    )


def _business_projector(at: datetime | None) -> Callable[[Any, Iterable[Any]], Any]:
    """How `_load` folds a record's stored events (see there)."""

    def project(initial: Any, stored: Iterable[Any]) -> Any:
        events = list(stored)
        if not events or not isinstance(events[0], Lead.Captured | Contact.Created):
            return project_aggregate(initial, events)
        aggregate = fold(events, as_of=at) if at is not None else fold(events)
        if aggregate is None:  # dated before it existed: act on the first state, whose guards refuse
            aggregate = fold(events[:1])
        aggregate.version = events[-1].originator_version
        aggregate.__dict__["_stored_timeline"] = events
        return aggregate

    return project


def _standing_now(aggregate: Aggregate) -> Aggregate:
    """A lead or a contact loaded as of a business time, as it stands now: the fold of the very
    events it was loaded from (`_business_projector` keeps them), not a second load of them."""
    events = aggregate.__dict__.get("_stored_timeline")
    now: Aggregate | None = fold(events) if events else None
    return now if now is not None else aggregate


def _new_task_id(record_id: UUID, cmd: AddTask, ctx: Context) -> UUID:
    if cmd.idempotency_key is None:
        return uuid.uuid4()
    # the record is part of the key: the same key on another record is another task, so that no
    # two records ever hold one task id
    return derived_id("task", f"{record_id}:{cmd.idempotency_key}", ctx.key_scope)


def _existing_task(record: Lead | Contact, task_id: UUID, cmd: AddTask, ctx: Context) -> CommandResult:
    """What a repeated add answers: the task already there, appending nothing, when it says what
    the repeat names; otherwise the key (or the explicit id) is reused, and only the one who added
    the task is told what differs."""
    task = record.tasks[task_id]
    key = cmd.idempotency_key
    differing = sorted(name for name, value in cmd.given_details().items() if getattr(task, name) != value)
    if task.created_by != ctx.actor or differing:
        shown = differing if task.created_by == ctx.actor else None
        if key is not None:
            raise IdempotencyKeyReused(key, task_id if shown else None, shown)
        what = f" with other values for: {', '.join(shown)}" if shown else ""
        raise TaskAlreadyExists(f"task {task_id} already exists{what}")
    return CommandResult(record.id, record.version, None, related_id=task_id)


def _acted_already(aggregate: Aggregate, ctx: Context) -> bool:
    """True when this automated command's actor already acted on the aggregate for its cause."""
    return (
        ctx.cause is not None and isinstance(aggregate, CrmAggregate) and aggregate.has_acted_on(ctx.actor, ctx.cause)
    )


def _acting(aggregate: Aggregate, ctx: Context) -> AbstractContextManager[None]:
    """While acting: the events the aggregate triggers carry the command's cause."""
    return aggregate.caused_by(ctx.cause) if isinstance(aggregate, CrmAggregate) else nullcontext()


def _record(contact: Contact, cmd: RecordPurchase, ctx: Context) -> None:
    contact.record_purchase(cmd.order_id, Money(cmd.amount, cmd.currency), cmd.quantity, ctx.meta(cmd.occurred_at))


_CREATED_EVENT: dict[type, type] = {Lead: Lead.Captured, Contact: Contact.Created}


def _not_found(
    cls: type | None, aggregate_id: UUID, detail: str = "", *, withheld: bool = False, reason: str = "not_owner"
) -> NotFound:
    error = LeadNotFound if cls is Lead else ContactNotFound if cls is Contact else NotFound
    return error(aggregate_id, detail, withheld=withheld, reason=reason)
