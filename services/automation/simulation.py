"""What-if: replay a window of history through another set of rules and sequences, in memory,
and compare what the automation would have done with what it did.

The simulation copies nothing and writes nothing to the store. It builds an in-memory
application and replays the real log into it as commands, in log order:

The window is one of business time (`occurred_at`), as the analysts' questions are ("what would
these rules have done in March?"); the log is replayed in its own order.

1. **Before the window**, every event people (and imports, and the automation of the time) caused
   is replayed, without any automation: the records stand at the window's start as they stood.
   The team (users) is replayed whenever it was recorded.
2. **At the window's first event** the configuration under test (assignment rules, sequences)
   is put in force, and every open lead is rescored as of the start (which arms its decay timer).
3. **In the window**, only what people did is replayed; what the automation did then is left out,
   because the simulated automation decides anew. Before each event the clock moves to its
   business time, and the simulated automation reacts to what came before and fires what is due.
   Events after the window are not replayed.
4. **At the end**, the clock moves to the window's end and the automation finishes what is due;
   both sides are counted over the events of the window.

An event that cannot be replayed as it was (a person assigned a lead the simulated rules had
already given to the same rep, say) is counted as a divergence and passed over. Enrolments running
at the window's start are not continued: the new sequences apply to what happens in the window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from domain.assignment import AssignmentRule
from domain.contact import Contact
from domain.errors import DomainError, SequenceAlreadyDefined
from domain.events import is_automatic
from domain.lead import Lead
from domain.money import Money
from domain.nurture import NurtureSequence
from domain.values import ConsentChannel, InteractionKind, Meta, Stage
from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication
from services.app.commands import (
    AddUser,
    ConvertLead,
    DefineSequence,
    Merge,
    ReplaceAssignmentRules,
    RescoreLead,
    Unmerge,
    UpdateUser,
)
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
_CONFIGURING = "simulation"
_CONFIGURATION = frozenset({"workspace.assignment_rules_replaced"})
"""What the configuration under test replaces: people's changes to it in the window are not replayed."""
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
            if not is_automatic(record):
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


class WhatIf(BaseModel):
    """The configuration a simulation tries (a YAML or JSON file): what it names replaces what is
    in force for the whole window; what it leaves out stays as it was."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    assignment_rules: list[AssignmentRule] | None = None
    """The whole ordered list of assignment rules to try (an empty list: none)."""
    sequences: list[NurtureSequence] | None = None
    """Nurture sequences to try beside those in force (a name is defined once, so one in force
    cannot be tried anew: give the trial another name)."""

    @classmethod
    def load(cls, text: str) -> WhatIf:
        """Read a YAML (or JSON) text; ValueError naming what is wrong, field by field."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"not YAML: {error}") from None
        try:
            return cls.model_validate(data or {})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in e['loc']) or '(file)'}: {e['msg']}" for e in error.errors()
            )
            raise ValueError(problems) from None

    def configure(self, sim: CrmApplication, ctx: Context) -> None:
        """Put this configuration in force in the simulated application."""
        if self.assignment_rules is not None:
            sim.replace_assignment_rules(ReplaceAssignmentRules(rules=self.assignment_rules), ctx)
        for index, sequence in enumerate(self.sequences or ()):
            try:
                sim.define_sequence(DefineSequence.model_validate(sequence.model_dump()), ctx)
            except SequenceAlreadyDefined:
                raise ValueError(f"sequences.{index}.name: {sequence.name!r} is in force already") from None


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
        """Simulate the window [start, end) of business time."""
        if end <= start:
            raise ValueError("the window's end must be after its start")
        sim = self.new_app()
        clock = ManualClock(start)
        replay = _Replay(sim)
        engine: Engine | None = None
        actual: list[EventRecord] = []
        replayed = 0
        in_window = _window(start, end)
        for record in _records(self.real_log):
            if record.aggregate_type == "workspace":
                # the team as it was recorded, whenever; the configuration under test replaces the rest
                if engine is None or record.event_type not in _CONFIGURATION:
                    replay.apply(record, include_automation=True)
            elif record.occurred_at < start:
                replay.apply(record, include_automation=True)
            elif in_window(record):
                actual.append(record)
                if engine is None:
                    engine = self._start(sim, replay, clock, start)
                clock.set(max(clock(), record.occurred_at))
                _settle(*engine)
                if not is_automatic(record) and replay.apply(record, include_automation=False):
                    replayed += 1
        if engine is None:
            engine = self._start(sim, replay, clock, start)
        clock.set(max(clock(), end))
        _settle(*engine)
        report = SimulationReport(
            start=start,
            end=end,
            replayed=replayed,
            actual=Outcomes.of(iter(actual)),
            simulated=Outcomes.of(r for r in _records(self.log_of(sim)) if in_window(r)),
            divergences=replay.divergences,
            examples=replay.examples,
        )
        sim.close()
        return report

    def _start(self, sim: CrmApplication, replay: _Replay, clock: ManualClock, start: datetime) -> Engine:
        """Put the configuration under test in force, bring every open lead's score to the
        window's start (arming its decay timer), and start the simulated automation."""
        # the configuration is dated now: the simulated store's team may be set up after `start`
        setup = Context(actor=_CONFIGURING, correlation_id=_CONFIGURING)
        self.configure(sim, setup)
        _rescore_open_leads(sim, replay.open_leads, start, setup)
        runner, scheduler = self.build_engine(sim, clock)
        runner.start_positions()
        return runner, scheduler


def _window(start: datetime, end: datetime) -> Callable[[EventRecord], bool]:
    return lambda record: start <= record.occurred_at < end


def _records(read: LogReader, start: int = 1) -> Iterator[EventRecord]:
    while True:
        batch = read(start, _BATCH)
        if not batch:
            return
        yield from batch
        start = batch[-1].position + 1


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
        if not include_automation and is_automatic(record):
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
        elif record.event_type in ("lead.converted", "lead.disqualified", "lead.erased", "lead.merged_into"):
            self.open_leads.discard(record.aggregate_id)
        elif record.event_type == "lead.unmerged":
            self.open_leads.add(record.aggregate_id)


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


def _merged(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    # the survivor's `absorbed` is made with it, in the same append, and so is not replayed itself
    merge = sim.merge_lead if record.aggregate_type == "lead" else sim.merge_contact
    merge(record.aggregate_id, Merge(into=record.data["survivor_id"], occurred_at=meta.occurred_at), _in_context(meta))


def _unmerged(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    unmerge = sim.unmerge_lead if record.aggregate_type == "lead" else sim.unmerge_contact
    unmerge(record.aggregate_id, Unmerge(occurred_at=meta.occurred_at), _in_context(meta))


def _contact_created(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    if record.data.get("lead_id") is not None:
        return  # made by the lead's conversion, replayed with it
    sim.commit(Contact.create(contact_id=record.aggregate_id, meta=meta, **record.data))


def _in_context(meta: Meta) -> Context:
    return Context(actor=meta.actor, correlation_id=meta.correlation_id)


def _user_added(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    d = record.data
    fields = {k: d[k] for k in ("name", "role", "active", "away", "daily_capacity", "time_zone")}
    sim.add_user(AddUser(id=d["user_id"], **fields, occurred_at=meta.occurred_at), _in_context(meta))


def _user_updated(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    update = UpdateUser(**record.data["changes"], occurred_at=meta.occurred_at)
    sim.update_user(record.data["user_id"], update, _in_context(meta))


def _sequence_defined(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    definition = {name: record.data[name] for name in ("name", "description", "steps", "enrol_when")}
    sim.define_sequence(DefineSequence.model_validate(definition), _in_context(meta))


def _rules_replaced(sim: CrmApplication, record: EventRecord, meta: Meta) -> None:
    if meta.actor == _CONFIGURING:
        return
    sim.replace_assignment_rules(ReplaceAssignmentRules(rules=record.data["rules"]), _in_context(meta))


_ACTIONS: dict[str, Action] = {
    "workspace.user_added": _user_added,
    "workspace.user_updated": _user_updated,
    "workspace.assignment_rules_replaced": _rules_replaced,
    "workspace.sequence_defined": _sequence_defined,
    "lead.captured": _captured,
    "lead.interaction_logged": _on_lead(
        lambda lead, d, meta, sim: lead.log_interaction(InteractionKind(d["kind"]), d["detail"], meta, sim.scoring)
    ),
    "lead.assigned": _on_lead(lambda lead, d, meta, sim: lead.assign(d["owner"], meta, d.get("reason"))),
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
    "lead.merged_into": _merged,
    "lead.unmerged": _unmerged,
    "contact.merged_into": _merged,
    "contact.unmerged": _unmerged,
}
"""How each recorded event is made again; event types not named here are not replayed (a
`lead.scored` follows from the replayed capture and interactions, or from the simulated decay)."""
