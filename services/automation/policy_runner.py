"""The policy runner: follows the event log and hands each event, once, to each policy that
reacts to its type, then saves the policy's position (as a projection does).

Once per event holds across crashes because of what is saved where: a policy's commands carry
the event's id as their cause, and an aggregate takes a command for a cause it already acted on
without appending (`Context.cause`). A crash after the commands but before the position is saved
makes the rerun find its work done. A policy seen for the first time starts at the head of the
log: deploying a new policy does not act on years of history."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from domain.errors import DomainError
from domain.events import AUTOMATION_ACTOR_PREFIX, event_id_of
from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication
from services.app.errors import NotFound
from services.automation.clock import Clock, system_clock
from services.automation.faults import is_infrastructure
from services.automation.policy import Policy

log = logging.getLogger("crm.automation")

LogReader = Callable[[int, int], Sequence[EventRecord]]
"""(start position, most records) -> the log's records from `start` on, in order."""


class PolicyPositions(Protocol):
    """Where each policy's position in the log is kept (the read models' tracking table)."""

    def policy_position(self, policy: str) -> int | None:
        """The last position the policy reacted to; None before its first."""
        ...

    def save_policy_position(self, policy: str, position: int) -> None:
        """Save a newer position."""
        ...


class MemoryPolicyPositions:
    """Positions kept in memory (a simulation's, which nothing must outlive)."""

    def __init__(self) -> None:
        self._positions: dict[str, int] = {}

    def policy_position(self, policy: str) -> int | None:
        """The last position the policy reacted to; None before its first."""
        return self._positions.get(policy)

    def save_policy_position(self, policy: str, position: int) -> None:
        """Save a newer position."""
        self._positions[policy] = max(position, self._positions.get(policy, 0))


def automation_context(policy: str, record: EventRecord, clock: Clock = system_clock) -> Context:
    """The context of a policy's commands for an event: its actor, the event's request, the
    event's id as the cause (so that the same reaction is never taken twice), and the clock."""
    return Context(
        actor=f"{AUTOMATION_ACTOR_PREFIX}{policy}",
        correlation_id=record.correlation_id,
        cause=str(event_id_of(record.aggregate_id, record.aggregate_version)),
        clock=clock,
    )


class PolicyRunner:
    """Hands the log's events to the policies, each at most once, in log order."""

    def __init__(
        self,
        app: CrmApplication,
        policies: Sequence[Policy],
        positions: PolicyPositions,
        read: LogReader,
        batch_size: int = 200,
        clock: Clock = system_clock,
    ) -> None:
        self.app = app
        self.clock = clock
        self.policies = list(policies)
        self.positions = positions
        self.read = read
        self.batch_size = batch_size

    def start_positions(self) -> dict[str, int]:
        """Each policy's position; a policy seen for the first time starts at the head now."""
        head: int | None = None
        positions = {}
        for policy in self.policies:
            position = self.positions.policy_position(policy.name)
            if position is None:
                head = self.app.head_position() if head is None else head
                self.positions.save_policy_position(policy.name, head)
                position = head
            positions[policy.name] = position
        return positions

    def catch_up(self) -> int:
        """React to every event after the policies' positions, up to the head; returns how many
        events were read. A failure other than a refused command stops the pass (to be retried),
        with the positions saved up to the last event fully handled."""
        if not self.policies:
            # Without a policy there is no position to start from: the whole log would be read
            # again on every pass, and the engine would never find itself idle.
            return 0
        positions = self.start_positions()
        start = min(positions.values()) + 1
        read = 0
        while True:
            records = self.read(start, self.batch_size)
            if not records:
                return read
            for record in records:
                for policy in self.policies:
                    if record.position > positions[policy.name]:
                        self._react(policy, record)
                        positions[policy.name] = record.position
            for policy in self.policies:
                self.positions.save_policy_position(policy.name, positions[policy.name])
            read += len(records)
            start = records[-1].position + 1

    def _react(self, policy: Policy, record: EventRecord) -> None:
        if record.event_type not in policy.event_types:
            return
        try:
            policy.react(record, self.app, automation_context(policy.name, record, self.clock))
        except (DomainError, NotFound) as error:
            # the record moved on before the policy got to it (closed, erased): nothing to do
            log.info("crm: policy %s passed over %s at %d: %s", policy.name, record.event_type, record.position, error)
        except Exception as error:
            if is_infrastructure(error):
                raise  # the store is down: the pass stops here and is tried again
            # a fault of the policy itself would fail the same way on every retry and hold up every
            # later event: log it with the event, and go on
            log.exception("crm: policy %s failed on %s at %d", policy.name, record.event_type, record.position)
