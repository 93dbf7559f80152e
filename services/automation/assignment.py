"""Assignment by rule: a lead captured without an owner goes to a rep chosen by the first
matching assignment rule (`domain.assignment.choose_rep`), and its `lead.assigned` event carries
the rule's name as its reason. With no matching rule, or nobody available, it stays unassigned
(`GET /v1/leads?owner=none` lists it).

The choice needs the reps' workload: open leads per rep and the leads each got since their own
day began (read from the pipeline read model), and, per rule, its last pick (the rule's rep who
was given a lead most recently today). The read model is read again at most once per
`refresh_seconds` of the automation's clock, after waiting until it shows the policy's own last assignment; between
reads, each choice is added to the snapshot (`Workload.picked`), so a burst of captures is
shared out as it would be one at a time."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.assignment import AssignmentRule, LeadProfile, RepLoad, RuleHistory, Workload, choose_rep
from domain.team import User
from projections.event_record import EventRecord
from projections.pipeline_queries import Reader, assignments_since, last_assignments_since, open_leads_by_owner
from services.app.application import Context, CrmApplication
from services.app.commands import AssignLead

POLICY = "assignment"

WaitFor = Callable[[int, float], bool]
"""(log position, timeout in seconds) -> True once the read models applied the position."""

READ_MODEL_WAIT_SECONDS = 10.0


@dataclass
class AssignmentPolicy:
    """Gives each new lead without an owner to a rep, by the workspace's assignment rules."""

    reader: Reader
    wait_for: WaitFor
    default_zone: str = "UTC"
    refresh_seconds: float = 1.0
    name: str = POLICY
    event_types: frozenset[str] = frozenset({"lead.captured"})
    _snapshot: Workload | None = field(default=None, repr=False)
    _read_at: datetime | None = field(default=None, repr=False)
    _last_written: int = field(default=0, repr=False)

    def react(self, record: EventRecord, app: CrmApplication, ctx: Context) -> None:
        """Assign the captured lead when it has no owner and a rule takes it."""
        if record.data.get("owner") is not None:
            return
        workspace = app.get_workspace()
        if workspace is None or not workspace.assignment_rules:
            return
        lead = app.get_lead(record.aggregate_id)
        if lead.owner is not None or not lead.is_open:
            return
        now = ctx.clock() if ctx.clock is not None else record.recorded_at
        rules, team = workspace.assignment_rules, workspace.users
        workload = self._workload(rules, team, now)
        choice = choose_rep(rules, team, LeadProfile.of(lead), workload)
        if choice is None:
            return
        result = app.assign_lead(lead.id, AssignLead(owner=choice.rep, reason=choice.rule), ctx)
        if result.position is not None:
            self._last_written = result.position
        self._snapshot = workload.picked(choice)

    def _workload(self, rules: Sequence[AssignmentRule], team: Mapping[str, User], now: datetime) -> Workload:
        # by the automation's clock, so that a simulated day reads its own workload
        age = None if self._read_at is None else (now - self._read_at).total_seconds()
        if self._snapshot is not None and age is not None and 0 <= age < self.refresh_seconds:
            return self._snapshot
        if self._last_written:
            self.wait_for(self._last_written, READ_MODEL_WAIT_SECONDS)
        self._snapshot = read_workload(self.reader, rules, team, now, self.default_zone)
        self._read_at = now
        return self._snapshot


def read_workload(
    reader: Reader, rules: Sequence[AssignmentRule], team: Mapping[str, User], now: datetime, default_zone: str
) -> Workload:
    """Who has how much now, from the pipeline read model: open leads and today's assignments per
    rep (today in the rep's own time zone), and each rule's last pick today."""
    reps = sorted({rep for rule in rules for rep in rule.reps if rep in team})
    day_starts = {rep: team[rep].day_start(now, default_zone) for rep in reps}
    open_leads = open_leads_by_owner(reader)
    today = assignments_since(reader, day_starts)
    latest = last_assignments_since(reader, day_starts)
    histories = {}
    for rule in rules:
        picked = [rep for rep in rule.reps if rep in latest]
        last = max(picked, key=lambda rep: latest[rep]) if picked else None
        histories[rule.name] = RuleHistory(last_pick=last, picks={rep: today.get(rep, 0) for rep in rule.reps})
    loads = {rep: RepLoad(assigned_today=today.get(rep, 0), open_leads=open_leads.get(rep, 0)) for rep in reps}
    return Workload(reps=loads, rules=histories)
