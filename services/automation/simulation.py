"""What-if: replay a window of history through another set of rules and sequences, in memory,
and compare what the automation would have done with what it did.

The simulation copies nothing and writes nothing to the store. It builds an in-memory
application and replays the real log into it as commands, in log order:

1. **Before the window**, every event people (and imports, and the automation of the time) caused
   is replayed, without any automation: the records stand at the window's start as they stood.
   Then the new configuration (assignment rules, sequences) is put in place, and every open lead
   is rescored as of the start (which also arms its decay timer).
2. **In the window**, only what people did is replayed; what the automation did then is left out,
   because the simulated automation decides anew. Before each event the clock moves to when it was
   recorded, and the simulated automation reacts to what came before and fires what is due.
3. **At the end**, the clock moves to the window's end and the automation finishes what is due.

An event that cannot be replayed as it was (a person assigned a lead the simulated rules had
already given to the same rep, say) is counted as a divergence and passed over. Enrolments running
at the window's start are not continued: the new sequences apply to what happens in the window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.contact import Contact
from domain.errors import DomainError
from domain.lead import Lead
from domain.money import Money
from domain.values import ConsentChannel, InteractionKind, Meta, Stage
from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication
from services.app.commands import ConvertLead, RescoreLead
from services.app.errors import ConcurrencyConflict, NotFound
from services.automation.clock import ManualClock
from services.automation.policy_runner import LogReader, PolicyRunner
from services.automation.scheduler import Scheduler

Engine = tuple[PolicyRunner, Scheduler]
BuildEngine = Callable[[CrmApplication, ManualClock], Engine]
"""(simulated application, its clock) -> the automation to simulate, on that application."""
Configure = Callable[[CrmApplication, Context], None]
"""Puts the configuration under test (rules, sequences) into the simulated application."""

_BATCH = 500
_DIVERGENCES_KEPT = 20


@dataclass(frozen=True)
class Outcomes:
    """What automation did in a window, counted from its events."""

    assignments: dict[str, int] = field(default_factory=dict)
    """Leads assigned by rule, per rep."""
    emails_requested: int = 0
    emails_skipped: int = 0
    tasks_created: int = 0
    enrolments: dict[str, int] = field(default_factory=dict)
    """Enrolments by rule, per sequence."""
    rescored: int = 0
    """Scores lowered by decay."""

    @classmethod
    def of(cls, records: Iterator[EventRecord]) -> Outcomes:
        """Count the automation's events among `records`."""
        assignments: Counter[str] = Counter()
        enrolments: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for record in records:
            if not record.actor.startswith("automation:"):
                continue
            kind = record.event_type.split(".", 1)[1]
            if kind == "assigned":
                assignments[str(record.data["owner"])] += 1
            elif kind == "nurture_enrolled":
                enrolments[str(record.data["sequence"])] += 1
            else:
                counts[kind] += 1
        return cls(
            assignments=dict(sorted(assignments.items())),
            emails_requested=counts["nurture_email_requested"],
            emails_skipped=counts["nurture_step_skipped"],
            tasks_created=counts["task_created"],
            enrolments=dict(sorted(enrolments.items())),
            rescored=counts["scored"],
        )

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON-ready data."""
        return {
            "assignments": self.assignments,
            "emails_requested": self.emails_requested,
            "emails_skipped": self.emails_skipped,
            "tasks_created": self.tasks_created,
            "enrolments": self.enrolments,
            "rescored": self.rescored,
        }


@dataclass(frozen=True)
class SimulationReport:
    """What would have happened next to what did."""

    start: datetime
    end: datetime
    replayed: int
    """Events of the window replayed into the simulation (what people did)."""
    actual: Outcomes
    simulated: Outcomes
    divergences: int
    examples: list[str]
    """The first few events that could not be replayed as they were, and why."""

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "window": {"from": self.start.isoformat(), "to": self.end.isoformat()},
            "replayed_events": self.replayed,
            "actual": self.actual.as_dict(),
            "simulated": self.simulated.as_dict(),
            "divergences": self.divergences,
            "divergence_examples": self.examples,
        }


class Simulation:
    """Replays the real log into a fresh in-memory application under another configuration."""

    def __init__(
        self,
        real_log: LogReader,
        new_app: Callable[[], CrmApplication],
        log_of: Callable[[CrmApplication], LogReader],
        build_engine: BuildEngine,
        configure: Configure,
    ) -> None:
        self.real_log = real_log
        self.new_app = new_app
        self.log_of = log_of
        self.build_engine = build_engine
        self.configure = configure

    def run(self, start: datetime, end: datetime) -> SimulationReport:
        """Simulate the window [start, end) of recording time."""
        if end <= start:
            raise ValueError("the window's end must be after its start")
        sim = self.new_app()
        clock = ManualClock(start)
        replay = _Replay(sim)
        actual: list[EventRecord] = []
        records = _records(self.real_log)
        ahead: EventRecord | None = None
        for record in records:
            if record.recorded_at >= start:
                ahead = record
                break
            replay.apply(record, include_automation=True)
        simulated_from = sim.head_position() + 1
        setup = Context(actor="simulation", correlation_id="simulation", clock=clock)
        self.configure(sim, setup)
        _rescore_open_leads(sim, replay.open_leads, start, setup)
        runner, scheduler = self.build_engine(sim, clock)
        runner.start_positions()
        replayed = 0
        pending = [ahead] if ahead is not None else []
        for record in _chain(pending, records):
            if record.recorded_at >= end:
                break
            actual.append(record)
            clock.set(max(clock(), record.recorded_at))
            _settle(runner, scheduler)
            if not record.actor.startswith("automation:") and replay.apply(record, include_automation=False):
                replayed += 1
        clock.set(max(clock(), end))
        _settle(runner, scheduler)
        simulated = Outcomes.of(r for r in _records(self.log_of(sim), simulated_from))
        report = SimulationReport(
            start=start,
            end=end,
            replayed=replayed,
            actual=Outcomes.of(iter(actual)),
            simulated=simulated,
            divergences=replay.divergences,
            examples=replay.examples,
        )
        sim.close()
        return report


def _records(read: LogReader, start: int = 1) -> Iterator[EventRecord]:
    while True:
        batch = read(start, _BATCH)
        if not batch:
            return
        yield from batch
        start = batch[-1].position + 1


def _chain(first: Sequence[EventRecord], rest: Iterator[EventRecord]) -> Iterator[EventRecord]:
    yield from first
    yield from rest


def _settle(runner: PolicyRunner, scheduler: Scheduler) -> None:
    """Let the simulated automation react and fire until nothing is left to do now."""
    while runner.catch_up() or scheduler.run_due().fired:
        pass


def _rescore_open_leads(sim: CrmApplication, lead_ids: set[UUID], at: datetime, ctx: Context) -> None:
    for lead_id in sorted(lead_ids):
        try:
            sim.rescore_lead(lead_id, RescoreLead(occurred_at=at), ctx)
        except (DomainError, NotFound):
            continue


# --- replaying recorded events as commands -----------------------------------------------------

Action = Callable[[CrmApplication, EventRecord, Meta], None]


class _Replay:
    """Turns recorded events into the commands that made them, on the simulated application."""

    def __init__(self, sim: CrmApplication) -> None:
        self.sim = sim
        self.divergences = 0
        self.examples: list[str] = []
        self.open_leads: set[UUID] = set()

    def apply(self, record: EventRecord, include_automation: bool) -> bool:
        """Replay one event; False when it is not replayed (derived, left to the automation, or
        diverged)."""
        action = _ACTIONS.get(record.event_type)
        if action is None:
            return False
        if not include_automation and record.actor.startswith("automation:"):
            return False
        meta = Meta(actor=record.actor, correlation_id=record.correlation_id, occurred_at=record.occurred_at)
        try:
            action(self.sim, record, meta)
        except (DomainError, NotFound, ConcurrencyConflict, ValueError) as error:
            self.divergences += 1
            if len(self.examples) < _DIVERGENCES_KEPT:
                self.examples.append(f"{record.event_type} at {record.position}: {error}")
            return False
        self._track(record)
        return True

    def _track(self, record: EventRecord) -> None:
        if record.event_type == "lead.captured":
            self.open_leads.add(record.aggregate_id)
        elif record.event_type in ("lead.converted", "lead.disqualified", "lead.erased"):
            self.open_leads.discard(record.aggregate_id)


def _lead(sim: CrmApplication, record: EventRecord) -> Lead:
    lead: Lead = sim.repository.get(record.aggregate_id)
    return lead


def _contact(sim: CrmApplication, record: EventRecord) -> Contact:
    contact: Contact = sim.repository.get(record.aggregate_id)
    return contact


def _on_lead(act: Callable[[Lead, Mapping[str, Any], Meta, CrmApplication], object]) -> Action:
    def replay(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
        lead = _lead(sim, record)
        act(lead, record.data, meta, sim)
        sim.commit(lead)

    return replay


def _on_contact(act: Callable[[Contact, Mapping[str, Any], Meta], object]) -> Action:
    def replay(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
        contact = _contact(sim, record)
        act(contact, record.data, meta)
        sim.commit(contact)

    return replay


def _captured(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    sim.commit(Lead.capture(lead_id=record.aggregate_id, meta=meta, model=sim.scoring, **record.data))


def _converted(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    data = record.data
    ctx = Context(actor=meta.actor, correlation_id=meta.correlation_id)
    sim.convert_lead(
        record.aggregate_id,
        ConvertLead(deal_value=data["deal_value"], currency=data["currency"], occurred_at=meta.occurred_at),
        ctx,
    )


def _contact_created(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    if record.data.get("lead_id") is not None:
        return  # made by the lead's conversion, replayed with it
    sim.commit(Contact.create(contact_id=record.aggregate_id, meta=meta, **record.data))


_ACTIONS: dict[str, Action] = {
    "lead.captured": _captured,
    "lead.interaction_logged": _on_lead(
        lambda lead, d, meta, sim: lead.log_interaction(InteractionKind(d["kind"]), d["detail"], meta, sim.scoring)
    ),
    "lead.assigned": _on_lead(lambda lead, d, meta, sim: lead.assign(d["owner"], meta)),
    "lead.stage_changed": _on_lead(lambda lead, d, meta, sim: lead.change_stage(Stage(d["stage"]), meta)),
    "lead.disqualified": _on_lead(lambda lead, d, meta, sim: lead.disqualify(d["reason"], meta)),
    "lead.converted": _converted,
    "lead.erased": _on_lead(lambda lead, d, meta, sim: lead.erase(d["reason"], meta)),
    "contact.created": _contact_created,
    "contact.details_updated": _on_contact(lambda contact, d, meta: contact.update_details(dict(d["changes"]), meta)),
    "contact.interaction_logged": _on_contact(
        lambda contact, d, meta: contact.log_interaction(InteractionKind(d["kind"]), d["detail"], meta)
    ),
    "contact.purchase_recorded": _on_contact(
        lambda contact, d, meta: contact.record_purchase(
            d["order_id"], Money(d["amount"], d["currency"]), d["quantity"], meta
        )
    ),
    "contact.reactivated": _on_contact(lambda contact, d, meta: contact.reactivate(d["lead_id"], d["interest"], meta)),
    "contact.consent_changed": _on_contact(
        lambda contact, d, meta: contact.change_consent(ConsentChannel(d["channel"]), d["granted"], meta)
    ),
    "contact.erased": _on_contact(lambda contact, d, meta: contact.erase(d["reason"], meta)),
}
"""How each recorded event is made again; event types not named here are not replayed (a
`lead.scored` follows from the replayed capture and interactions, or from the simulated decay)."""
