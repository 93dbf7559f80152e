"""The read models as the routes reach them: 503 when this server does not serve them, and
read-your-writes (wait until the projections applied a log position, else 503), for tasks even
without a position."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.task_queries import TaskRow
from services.api.problems import READ_MODEL_RESPONSES, InvalidQuery, ReadModelBehind, ReadModelsUnavailable
from services.api.schemas_scoring import WinProbabilityPublic
from services.app.application import ContactFinder, CrmApplication, TaskLocator
from services.app.queries import ReadModelQueries

READ_WAIT_SECONDS = 2.0
"""How long a read-model route waits for the projections to reach `min_position` before 503."""

BEHIND: dict[int | str, dict[str, Any]] = {503: READ_MODEL_RESPONSES[503]}
"""The extra response of a route outside the read-model router that reads a read model."""

WaitFor = Callable[[int, float], bool]
"""(position, timeout in seconds) -> True once every projection applied the position."""


class ReadModelGate:
    """`read_models` (None when this server does not serve them) for the routes of one app;
    `wait_for(position, timeout)` tells when the projections feeding them have applied a
    position (by default: the read-model store's own positions)."""

    def __init__(
        self,
        crm: CrmApplication,
        read_models: ReadModelQueries | None,
        wait_for: WaitFor | None,
        read_wait_seconds: float,
    ) -> None:
        self.crm = crm
        self.read_models = read_models
        self.wait_for = wait_for
        self.read_wait_seconds = read_wait_seconds

    def queries(self) -> ReadModelQueries:
        """The read models as they are (503 when this server does not serve them)."""
        if self.read_models is None:
            raise ReadModelsUnavailable("this server does not serve the read models")
        return self.read_models

    def positions(self) -> dict[str, int]:
        """The log position each projection has applied."""
        return self.queries().positions()

    def caught_up(self, min_position: int | None) -> ReadModelQueries:
        """Read your writes: the read models once they applied `min_position`; 422 for a
        position the log has not reached, 503 when the projections do not get there in time."""
        models = self.queries()
        if not min_position:
            return models
        head = self.crm.head_position()
        if min_position > head:
            raise InvalidQuery("min_position", f"{min_position} is past the head of the log ({head})", "past_head")
        wait = self.wait_for or models.wait
        if not wait(min_position, self.read_wait_seconds):
            raise ReadModelBehind(min_position, models.positions())
        return models

    def applied(self, position: int) -> bool:
        """Wait (up to the read wait) until the read models applied a position; never raises
        for being behind: False when they did not get there in time."""
        models = self.queries()
        wait = self.wait_for or models.wait
        return wait(position, self.read_wait_seconds)

    def win_probability(self, lead_id: UUID, as_of: datetime | None, known_at: datetime | None) -> WinProbabilityPublic:
        """A lead's learned win probability at `as_of` (now by default) as known at `known_at`,
        from the read models as they are; null and why when this server does not serve them."""
        if self.read_models is None:
            return WinProbabilityPublic.unavailable("this server does not serve the read models")
        return WinProbabilityPublic.of(self.read_models.win_probability(lead_id, as_of, known_at))

    def contact_finder(self) -> ContactFinder | None:
        """Which contact has an email, as the people read model says once it applied the head of
        the log (what a conversion links a lead to); None when this server has no read models."""
        if self.read_models is None:
            return None

        def find(email: str) -> UUID | None:
            found = self.caught_up(self.crm.head_position()).people_with_email("contact", email)
            return UUID(found[0].person_id) if found else None

        return find

    def task(self, task_id: UUID, min_position: int | None) -> TaskRow | None:
        """A task as the read models hold it once they applied `min_position`. One they do not
        hold is looked for again once they applied the head of the log, so that a task just added
        is found without a position (its `Location` followed at once, a completion right after);
        only then is it unknown. The wait is the read-your-writes wait, 503 when it runs out."""
        found = self.caught_up(min_position).find_task(task_id)
        if found is None:
            found = self.caught_up(self.crm.head_position()).find_task(task_id)
        return found

    def task_locator(self, min_position: int | None) -> TaskLocator:
        """Where a task is, for the application's task commands, as `task` finds it."""

        def locate(task_id: UUID) -> tuple[str, UUID] | None:
            found = self.task(task_id, min_position)
            return None if found is None else (found.aggregate_type, UUID(found.aggregate_id))

        return locate
