"""The one base of the CRM's events: what every event says besides its own facts."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate


class CrmEvent(Aggregate.Event):
    """An event of a lead or a contact. Besides the aggregate's id, its version and the recording
    time (`timestamp`), every event says who caused it (`actor`: a user id, `system`, ...), in which
    request (`correlation_id`), and when it happened in business time (`occurred_at`), which
    imports set in the past and as-of queries follow."""

    actor: str
    correlation_id: str
    occurred_at: datetime
