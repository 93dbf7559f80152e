"""Who may do what: the roles, the actions the API offers, the role rules in one table, and the
principal a bearer token stands for. The object-level rule (a rep works on their own leads only)
is `services.auth.access`; the application enforces it on the aggregates themselves."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    """What kind of user a token belongs to."""

    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"
    ANALYST = "analyst"
    SERVICE = "service"
    PRIVACY = "privacy"
    """The data-protection officer: reads, exports and erases a person's data, nothing else."""


class Action(StrEnum):
    """Everything the API lets a caller do, one name per kind of request."""

    READ = "read"
    CAPTURE_LEAD = "capture_lead"
    LOG_INTERACTION = "log_interaction"
    CHANGE_STAGE = "change_stage"
    ASSIGN_LEAD = "assign_lead"
    DISQUALIFY_LEAD = "disqualify_lead"
    CONVERT_LEAD = "convert_lead"
    RESCORE_LEAD = "rescore_lead"
    CREATE_CONTACT = "create_contact"
    UPDATE_CONTACT = "update_contact"
    RECORD_PURCHASE = "record_purchase"
    CHANGE_CONSENT = "change_consent"
    REACTIVATE_CONTACT = "reactivate_contact"
    READ_PIPELINE = "read_pipeline"
    """The pipeline summary and the lead list (a rep: their own leads only)."""
    READ_INSIGHTS = "read_insights"
    """Forecast, segments, contact features, the contact list and nurture sequences' statistics."""
    READ_ACCESS_LOG = "read_access_log"
    """Who read which person's data: the access log (admin only)."""
    ERASE_PERSON = "erase_person"
    """Erase a person's personal data (admin and privacy only)."""
    EXPORT_PERSON = "export_person"
    """Export everything about a person (admin and privacy only)."""
    ADD_TASK = "add_task"
    """Add a follow-up task to a lead or a contact (a rep: to their own, for themselves)."""
    CHANGE_TASK = "change_task"
    """Complete or reschedule a task (a rep: their own tasks only)."""
    READ_TASKS = "read_tasks"
    """The task list and single tasks (a rep: their own; an analyst: with free text masked)."""
    READ_USERS = "read_users"
    """The team's users (admin, manager, rep)."""
    MANAGE_USERS = "manage_users"
    """Add users to the team and change them (admin only)."""
    READ_ASSIGNMENT_RULES = "read_assignment_rules"
    """The assignment rules (admin and manager)."""
    MANAGE_ASSIGNMENT_RULES = "manage_assignment_rules"
    """Replace the assignment rules (admin and manager)."""
    DEFINE_SEQUENCE = "define_sequence"
    """Define a nurture sequence (managers and admins)."""
    READ_SEQUENCES = "read_sequences"
    """The nurture sequences' definitions."""
    ENROL_LEAD = "enrol_lead"
    """Enrol a lead in a nurture sequence by hand, or end its enrolment (a rep: their own leads)."""
    MERGE_RECORDS = "merge_records"
    """Merge a duplicate lead or contact into another, and unmerge it (admin and manager)."""
    LOOKUP_BY_EMAIL = "lookup_by_email"
    """Find leads and contacts by email: ids and minimal fields only (a service's form tools)."""
    CAPTURE_INBOUND = "capture_inbound"
    """Inbound capture: a form's lead (deduplicated), an email opened or clicked by address."""
    MANAGE_WEBHOOKS = "manage_webhooks"
    """Subscribe tools to the CRM's events, change, rotate, replay and delete them (admin only)."""
    RECORD_CAMPAIGN_COST = "record_campaign_cost"
    """Record money spent on a marketing campaign (admin and manager)."""


_PRIVACY_ACTIONS = frozenset({Action.ERASE_PERSON, Action.EXPORT_PERSON})

_ADMIN_ONLY = frozenset({Action.READ_ACCESS_LOG, Action.MANAGE_USERS, Action.MANAGE_WEBHOOKS})

_RULES_ACTIONS = frozenset({Action.READ_ASSIGNMENT_RULES, Action.MANAGE_ASSIGNMENT_RULES})

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.MANAGER: frozenset(Action) - _PRIVACY_ACTIONS - _ADMIN_ONLY,
    # A rep works their own leads (checked per object) but does not hand leads around or
    # create contacts that belong to no lead; of the read models they see their own pipeline.
    # They see who is on the team, not how leads are shared out among it.
    Role.REP: (
        frozenset(Action)
        - {Action.ASSIGN_LEAD, Action.CREATE_CONTACT, Action.READ_INSIGHTS, Action.DEFINE_SEQUENCE}
        - {Action.MERGE_RECORDS}  # a merge changes two records, often of two owners
        - {Action.CAPTURE_INBOUND}  # the forms' channel, for services: a rep captures leads as their own
        - {Action.RECORD_CAMPAIGN_COST}  # marketing spend is the managers' to book
        - _RULES_ACTIONS
        - _PRIVACY_ACTIONS
        - _ADMIN_ONLY
    ),
    # An analyst reads the tasks too (how follow-ups keep to their due times is analysis), with
    # their titles and notes masked like every other free text; they change none. They read the
    # nurture sequences' definitions too (and, through READ_INSIGHTS, their statistics).
    Role.ANALYST: frozenset(
        {Action.READ, Action.READ_PIPELINE, Action.READ_INSIGHTS, Action.READ_TASKS, Action.READ_SEQUENCES}
    ),
    Role.SERVICE: frozenset(
        {
            Action.LOG_INTERACTION,
            Action.RECORD_PURCHASE,
            Action.CREATE_CONTACT,
            Action.LOOKUP_BY_EMAIL,
            Action.CAPTURE_INBOUND,
        }
    ),
    Role.PRIVACY: frozenset({Action.READ, Action.ERASE_PERSON, Action.EXPORT_PERSON}),
}
"""The role rules, in one table."""


class AuthError(Exception):
    """A request was refused by authentication or authorization."""


class Unauthenticated(AuthError):
    """No bearer token, or one the store does not know."""


class Forbidden(AuthError):
    """The caller's role may not do this."""


@dataclass(frozen=True)
class Principal:
    """The user a token belongs to, and their role."""

    user: str
    role: Role

    def may(self, action: Action) -> bool:
        """True when the role allows the action (object-level rules come on top)."""
        return action in PERMISSIONS[self.role]

    @property
    def scoped_to_own_leads(self) -> bool:
        """Reps see and change only the leads (and the contacts of the leads) they own."""
        return self.role is Role.REP

    @property
    def masks_personal_data(self) -> bool:
        """Analysts see names, emails and phone numbers masked."""
        return self.role is Role.ANALYST


class Refusal(StrEnum):
    """Why a bearer token is refused; the reason the denial log gives."""

    UNKNOWN = "unknown_token"
    EXPIRED = "expired_token"
    REVOKED = "revoked_token"


class Authenticator(Protocol):
    """Resolves a bearer token to its principal (the token store, `services.storage.tokens`)."""

    def resolve(self, token: str) -> Principal | Refusal:
        """The principal a valid token belongs to, or why the token is refused."""
        ...
