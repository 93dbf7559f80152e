"""Score decay by itself: a lead asks, with every score it gets, to be rescored when decay will
next change its rounded score (`Lead._request_decay_timer`); this is what the timer then does."""

from __future__ import annotations

from domain.lead import DECAY_TIMER
from services.app.application import Context, CrmApplication
from services.app.commands import RescoreLead
from services.app.timers import StoredTimer

POLICY = "decay"
KIND = DECAY_TIMER


def rescore_when_due(app: CrmApplication, stored: StoredTimer, ctx: Context) -> None:
    """Rescore the lead as of the moment its score was due to change: the `lead.scored` event
    (reason `decay`) is dated then, however late the scheduler ran, so replays agree with it."""
    # the time is the CRM's own, not input: built without the check that input is not in the future
    # (a simulation's or a test's clock may run ahead of the system's)
    app.rescore_lead(stored.timer.aggregate_id, RescoreLead.model_construct(occurred_at=stored.timer.due_at), ctx)
