"""Inbound capture: what a web form or a form tool sends becomes a lead only when the person is
not known yet. The person is looked for in the identity index (`projections/people.py`) by
normalised email, then by E.164 phone:

1. an open lead of theirs gets a `form_submit` interaction;
2. else a contact of theirs gets one, and a reactivation (a new lead) when the form states an
   interest;
3. else a new lead is captured.

Two submissions for the same new person at once must make one lead, so submissions for the same
normalised email or phone are serialised (`IdentityLocks`: in-process, and across processes on
PostgreSQL); each looks the person up only after the index applied the head of the log, and
releases the lock only once the index applied what it appended itself (read your writes: with
Kafka consumers keeping the read models, waiting for the head covers the newest event's partition
only, so the holder's own wait is what makes its write visible to the next holder)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from domain.identity import normalised_email
from domain.values import InteractionKind
from projections.people import CONTACT, LEAD, OPEN
from projections.people_queries import Kind, PersonRow
from services.app.application import CommandResult, Context, CrmApplication, derived_id
from services.app.commands import InboundEmailEvent, InboundLead, LogInteraction, ReactivateContact
from services.app.errors import IdentityBusy, LeadNotFound, UnknownEmail


class InboundOutcome(StrEnum):
    """What a submission did."""

    CREATED = "lead_created"
    """Nobody had that email or phone: a new lead."""
    LOGGED_ON_LEAD = "logged_on_lead"
    """An open lead of the person got a `form_submit` interaction."""
    LOGGED_ON_CONTACT = "logged_on_contact"
    """A contact of the person got a `form_submit` interaction."""
    REACTIVATED = "contact_reactivated"
    """A contact of the person got the interaction and, for the interest stated, a new lead."""


@dataclass(frozen=True)
class InboundResult:
    """The record a submission landed on (`kind`, `result.id`), how it was matched (`email`,
    `phone`, or None for a new lead), and the lead it concerns (new, existing or reactivation)."""

    outcome: InboundOutcome
    kind: Kind
    result: CommandResult
    lead_id: UUID | None
    contact_id: UUID | None
    matched_by: str | None

    @property
    def position(self) -> int | None:
        """The log position of the last event the submission appended (None: nothing new)."""
        return self.result.position


class IdentityIndex(Protocol):
    """What inbound capture asks of the identity index (`ReadModelQueries`)."""

    def people_with_email(self, kind: Kind, email: str) -> list[PersonRow]:
        """The records of a kind with that email, compared normalised, oldest first."""
        ...

    def people_with_phone(self, kind: Kind, phone: str) -> list[PersonRow]:
        """The records of a kind with that E.164 phone, oldest first."""
        ...

    def phone_of(self, phone: str | None, country: str | None) -> str | None:
        """A phone in E.164 form as the index compares it (None when it cannot be told)."""
        ...


class IdentityLocks(Protocol):
    """Serialises the submissions for the same people (`services.storage.identity_locks`)."""

    def holding(self, keys: Iterable[str]) -> AbstractContextManager[None]:
        """Hold every key's lock for the block (waiting for whoever holds one now)."""
        ...


STRIPES = 1024
LOCK_WAIT_SECONDS = 10.0
"""How long a submission waits for another one of the same person before giving up (503)."""


def _stripe(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % STRIPES


class InProcessIdentityLocks:
    """The locks of one process (SQLite, memory, and the first step on PostgreSQL): a fixed set
    of thread locks, a key taking the stripe its hash falls in, so that memory stays bounded (two
    keys sharing a stripe only wait for each other); taken in stripe order."""

    def __init__(self, wait_seconds: float = LOCK_WAIT_SECONDS) -> None:
        self.wait_seconds = wait_seconds
        self._locks = [threading.Lock() for _ in range(STRIPES)]

    @contextmanager
    def holding(self, keys: Iterable[str]) -> Iterator[None]:
        """Hold the stripes of every key for the block, taken in stripe order."""
        held: list[threading.Lock] = []
        try:
            for stripe in sorted({_stripe(k) for k in keys}):
                lock = self._locks[stripe]
                if not lock.acquire(timeout=self.wait_seconds):
                    raise IdentityBusy("another submission for this person is in progress; retry shortly")
                held.append(lock)
            yield
        finally:
            for lock in reversed(held):
                lock.release()


def identity_keys(email: str | None, phone: str | None) -> list[str]:
    """The lock keys of a submission: its normalised email and its E.164 phone."""
    keys = [] if email is None else [f"email:{email}"]
    return keys + ([] if phone is None else [f"phone:{phone}"])


class InboundCapture:
    """Takes submissions: finds the person, or captures them (see the module's docstring)."""

    def __init__(
        self,
        crm: CrmApplication,
        caught_up: Callable[[], IdentityIndex],
        locks: IdentityLocks,
        applied: Callable[[int], bool] | None = None,
    ) -> None:
        self.crm = crm
        self.caught_up = caught_up
        """The index once it applied the head of the log (it waits, or raises when it cannot)."""
        self.locks = locks
        self.applied = applied
        """Waits (a while) until the index applied a position; True when it did."""

    def submit(self, cmd: InboundLead, ctx: Context) -> InboundResult:
        """Land one submission on the person's open lead, their contact, or a new lead."""
        replayed = self._replayed(cmd, ctx)
        if replayed is not None:
            return replayed
        email = None if cmd.email is None else normalised_email(cmd.email)
        index = self.caught_up()
        phone = index.phone_of(cmd.phone, cmd.country)
        with self.locks.holding(identity_keys(email, phone)):
            index = self.caught_up()  # now that no one else acts for this person: all they did
            landed = self._land(index, cmd, ctx, email, phone)
            if landed.position is not None and self.applied is not None:
                # the next holder reads the index: let it hold this write first (should the wait
                # run out, the write stands and is answered; a retry finds it once indexed)
                self.applied(landed.position)
            return landed

    def _land(
        self, index: IdentityIndex, cmd: InboundLead, ctx: Context, email: str | None, phone: str | None
    ) -> InboundResult:
        lead = _first(index, LEAD, email, phone, open_only=True)
        if lead is not None:
            return self._log_on_lead(lead, cmd, ctx)
        contact = _first(index, CONTACT, email, phone)
        if contact is not None:
            return self._log_on_contact(contact, cmd, ctx)
        return self._capture(cmd, ctx)

    def email_event(self, cmd: InboundEmailEvent, ctx: Context) -> InboundResult:
        """Log an email opened or clicked on the person with that address: their open lead, else
        their contact; `UnknownEmail` when neither has it."""
        email = normalised_email(cmd.email)
        index = self.caught_up()
        interaction = LogInteraction(kind=cmd.kind, detail=cmd.detail, occurred_at=cmd.occurred_at)
        lead = _first(index, LEAD, email, None, open_only=True)
        if lead is not None:
            lead_id = UUID(lead[0].person_id)
            result = self.crm.log_lead_interaction(lead_id, interaction, ctx)
            return InboundResult(InboundOutcome.LOGGED_ON_LEAD, LEAD, result, lead_id, _id(lead[0].contact_id), "email")
        contact = _first(index, CONTACT, email, None)
        if contact is None:
            raise UnknownEmail("no open lead and no contact has this email address")
        contact_id = UUID(contact[0].person_id)
        result = self.crm.log_contact_interaction(contact_id, interaction, ctx)
        return InboundResult(InboundOutcome.LOGGED_ON_CONTACT, CONTACT, result, None, contact_id, "email")

    def _replayed(self, cmd: InboundLead, ctx: Context) -> InboundResult | None:
        """A retry of a keyed submission that captured a lead answers with that lead again (as
        `capture_lead` does: the same values, else `IdempotencyKeyReused`), appending nothing."""
        if cmd.idempotency_key is None:
            return None
        try:
            self.crm.get_lead(derived_id("lead", cmd.idempotency_key, ctx.key_scope))
        except LeadNotFound:
            return self._replayed_reactivation(cmd, ctx)
        return self._capture(cmd, ctx)

    def _replayed_reactivation(self, cmd: InboundLead, ctx: Context) -> InboundResult | None:
        """A retry of a keyed submission that reactivated a contact answers that again."""
        assert cmd.idempotency_key is not None
        try:
            lead = self.crm.get_lead(derived_id("reactivation", cmd.idempotency_key, ctx.key_scope))
        except LeadNotFound:
            return None
        if lead.contact_id is None:
            return None
        contact = self.crm.get_contact(lead.contact_id)
        result = CommandResult(contact.id, contact.version, None, related_id=lead.id)
        return InboundResult(InboundOutcome.REACTIVATED, CONTACT, result, lead.id, contact.id, None)

    def _capture(self, cmd: InboundLead, ctx: Context) -> InboundResult:
        result = self.crm.capture_lead(cmd, ctx)
        return InboundResult(InboundOutcome.CREATED, LEAD, result, result.id, None, None)

    def _log_on_lead(self, match: tuple[PersonRow, str], cmd: InboundLead, ctx: Context) -> InboundResult:
        person, by = match
        lead_id = UUID(person.person_id)
        result = self.crm.log_lead_interaction(lead_id, _form_submit(cmd), _submission(cmd, ctx))
        return InboundResult(InboundOutcome.LOGGED_ON_LEAD, LEAD, result, lead_id, _id(person.contact_id), by)

    def _log_on_contact(self, match: tuple[PersonRow, str], cmd: InboundLead, ctx: Context) -> InboundResult:
        person, by = match
        contact_id = UUID(person.person_id)
        result = self.crm.log_contact_interaction(contact_id, _form_submit(cmd), _submission(cmd, ctx))
        if cmd.interest is None:
            return InboundResult(InboundOutcome.LOGGED_ON_CONTACT, CONTACT, result, None, contact_id, by)
        reactivation = ReactivateContact(
            interest=cmd.interest,
            estimated_value=cmd.estimated_value,
            currency=cmd.currency,
            owner=cmd.owner,
            campaign=cmd.campaign,
            occurred_at=cmd.occurred_at,
            idempotency_key=cmd.idempotency_key,
        )
        if self._reactivation_open(contact_id):
            # their earlier reactivation lead is open, under an email or phone the form did not give
            return InboundResult(InboundOutcome.LOGGED_ON_CONTACT, CONTACT, result, None, contact_id, by)
        reactivated = self.crm.reactivate_contact(contact_id, reactivation, ctx)
        return InboundResult(InboundOutcome.REACTIVATED, CONTACT, reactivated, reactivated.related_id, contact_id, by)

    def _reactivation_open(self, contact_id: UUID) -> bool:
        open_lead_id = self.crm.get_contact(contact_id).open_lead_id
        return open_lead_id is not None and self.crm.get_lead(open_lead_id).is_open


def _first(
    index: IdentityIndex, kind: Kind, email: str | None, phone: str | None, open_only: bool = False
) -> tuple[PersonRow, str] | None:
    """The oldest record of a kind with the email, else the oldest with the phone, and which matched."""
    for by, value, find in (("email", email, index.people_with_email), ("phone", phone, index.people_with_phone)):
        if value is None:
            continue
        found = [p for p in find(kind, value) if not open_only or p.status == OPEN]
        if found:
            return found[0], by
    return None


def _id(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def _form_submit(cmd: InboundLead) -> LogInteraction:
    return LogInteraction(kind=InteractionKind.FORM_SUBMIT, detail=cmd.message, occurred_at=cmd.occurred_at)


def _submission(cmd: InboundLead, ctx: Context) -> Context:
    """The context of a submission's interaction on a known person: with an `Idempotency-Key`,
    caused by the submission (an id derived from the key), so that its retry appends nothing."""
    if cmd.idempotency_key is None:
        return ctx
    return replace(ctx, cause=str(derived_id("form", cmd.idempotency_key, ctx.key_scope)))
