"""The domain's error family: every broken business rule raises one of these."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded."""


class LeadClosed(DomainError):
    """A converted or disqualified lead takes no more commands."""


class LeadAlreadyConverted(LeadClosed):
    """The lead was converted into a contact and is closed."""


class LeadAlreadyDisqualified(LeadClosed):
    """The lead was disqualified and is closed."""


class InvalidStageTransition(DomainError):
    """The requested stage is not an open stage, or is the current one."""


class AlreadyAssigned(DomainError):
    """The lead already belongs to that owner."""


class DuplicatePurchase(DomainError):
    """A purchase with that order id is already recorded on the contact."""


class ConsentUnchanged(DomainError):
    """The consent for that channel already has the requested value."""


class ConsentWithdrawn(DomainError):
    """The person withdrew their consent for the channel an outbound interaction would use."""


class NoDetailsChanged(DomainError):
    """A details update must change at least one field."""


class OccurredBeforeCreation(DomainError):
    """An event cannot happen, in business time, before its aggregate was created."""


class PersonErased(DomainError):
    """The person was erased: their records keep their history but take no more commands."""


class UnknownTask(DomainError):
    """The lead or contact has no task with that id."""


class TaskAlreadyExists(DomainError):
    """A task with that id is already on the record."""


class TaskAlreadyCompleted(DomainError):
    """A completed task is done for good: it is not completed again, nor rescheduled."""


class TaskDueUnchanged(DomainError):
    """A reschedule must move the task's due time."""


class AlreadyEnrolled(DomainError):
    """The lead is enrolled in that nurture sequence already (its enrolment is still active)."""


class NotEnrolled(DomainError):
    """The lead has no active enrolment in that nurture sequence."""
