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


class LeadAlreadyLinked(DomainError):
    """A lead is linked to a contact once."""


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


class InvalidField(DomainError):
    """A command's field names something the aggregate's state does not allow (a user who is not
    on the team, a rule name used twice): invalid input naming the field, like a malformed one,
    found only once the aggregate is loaded."""

    kind = "value_error"
    """Machine-readable kind of the problem (the `type` of the field error)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        """Dotted path of the field in the command, e.g. `owner` or `rules.1.reps.0`."""
        self.message = message
        super().__init__(f"{field}: {message}")


class UnknownUser(InvalidField):
    """The user named is not on the team."""

    kind = "unknown_user"


class InactiveUser(InvalidField):
    """The user named is on the team but no longer active: they take no leads."""

    kind = "inactive_user"


class DuplicateRuleName(InvalidField):
    """Two assignment rules of one list have the same name."""

    kind = "duplicate_name"


class UserAlreadyExists(DomainError):
    """A user with that id is on the team already."""


class AlreadyEnrolled(DomainError):
    """The lead is enrolled in that nurture sequence already (its enrolment is still active)."""


class NotEnrolled(DomainError):
    """The lead has no active enrolment in that nurture sequence."""


class UnknownSequence(InvalidField):
    """The nurture sequence a command names is not defined."""

    kind = "unknown_sequence"


class SequenceAlreadyDefined(DomainError):
    """A nurture sequence of that name exists already: sequences are defined once (an enrolment
    keeps a copy of the steps it was enrolled with, so a definition is never rewritten in place)."""


class RecordMerged(DomainError):
    """The lead or contact was merged into another (its survivor): it takes no commands until it
    is unmerged."""


class MergeIntoItself(InvalidField):
    """A record is merged into another record, never into itself."""

    kind = "merge_into_itself"


class HoldsMergedRecords(DomainError):
    """A survivor that holds merged duplicates is not merged itself until they are unmerged, so
    that a merge is always one step back from what it was (no chains to undo)."""


class NotMerged(DomainError):
    """Only a merged duplicate can be unmerged."""


class MergeFinal(DomainError):
    """The survivor a duplicate was merged into was converted, disqualified or erased since: the
    merge can no longer be undone."""


class TimelineConflict(DomainError):
    """A back-dated command would make a later event of the record impossible (a conversion
    dated before a later stage change, say): nothing is recorded. Names the later event."""

    def __init__(self, event_type: str, version: int, event_id: str, occurred_at: str, reason: str) -> None:
        super().__init__(
            f"the command is dated before {event_type} (version {version}, occurred_at {occurred_at}), "
            f"which would no longer be allowed after it: {reason}"
        )
        self.event_type = event_type
        self.version = version
        self.event_id = event_id
        self.occurred_at = occurred_at

    @property
    def described(self) -> dict[str, str | int]:
        """The later event that would no longer be allowed: its type, version, id and business time."""
        return {
            "event_type": self.event_type,
            "version": self.version,
            "event_id": self.event_id,
            "occurred_at": self.occurred_at,
        }
