"""Follow-up tasks by themselves: a new web-form lead gets "call within 1 business day", and a
lead whose score crosses the qualification threshold gets "qualify".

Each task's id is derived from the policy and the event that caused it, so the task exists once
however often the policy sees that event. It belongs to the lead's owner when the policy acts
(policies see each event in order: the assignment policy has already acted on a capture)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.calendar import BusinessCalendar
from domain.lead import Lead
from domain.values import LeadSource
from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication, derived_id
from services.app.commands import AddTask

POLICY = "follow_up"
CALL_TITLE = "Call within 1 business day"
QUALIFY_TITLE = "Qualify: score reached {score}"


def task_id_for(cause: str | None, purpose: str) -> UUID:
    """The id of the task a policy made for an event: the same on every rerun."""
    return derived_id("task", f"{POLICY}:{purpose}:{cause}")


@dataclass(frozen=True)
class FollowUpPolicy:
    """Creates the follow-up tasks a rep is expected to do about new and hot leads."""

    calendar: BusinessCalendar
    qualify_score: int
    name: str = POLICY
    event_types: frozenset[str] = frozenset({"lead.captured", "lead.scored"})

    def react(self, record: EventRecord, app: CrmApplication, ctx: Context) -> None:
        """Add the task this event calls for, if any."""
        if record.event_type == "lead.captured":
            if record.data["source"] == LeadSource.WEB_FORM.value:
                self._add(app, record, ctx, "call", CALL_TITLE)
        elif record.data["previous_score"] < self.qualify_score <= record.data["score"]:
            self._add(app, record, ctx, "qualify", QUALIFY_TITLE.format(score=record.data["score"]))

    def _add(self, app: CrmApplication, record: EventRecord, ctx: Context, purpose: str, title: str) -> None:
        lead = app.get_lead(record.aggregate_id)
        if not lead.is_open:
            return
        due = self.calendar.add_business_days(record.occurred_at, 1, _owner_zone(app, lead))
        command = AddTask(title=title, due_at=due)
        app.add_lead_task(lead.id, command, ctx, task_id=task_id_for(ctx.cause, purpose))


def _owner_zone(app: CrmApplication, lead: Lead) -> str | None:
    """The time zone of the lead's owner when they are a user with one of their own, else None
    (the calendar's default): "1 business day" is counted in the day of whoever is to do it."""
    workspace = app.get_workspace()
    user = None if workspace is None or lead.owner is None else workspace.users.get(lead.owner)
    return None if user is None else user.time_zone
