"""What the HTTP API answers with: public views of leads, contacts, command results and audit
trails (the read models' views are `services.api.schemas_read_models`). Request bodies are the
command models of `services.app.commands`, not copies of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.contact import Contact
from domain.lead import Lead
from services.api.schemas_scoring import WIN_PROBABILITY_EXAMPLE, WinProbabilityPublic
from services.app.application import AuditEntry, CommandResult
from services.auth.masking import mask_personal

_LEAD_ID = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21"
_CONTACT_ID = "7d4e2c1a-5b3f-4e8d-8c2a-9f1e0d3b6a47"
_WHEN = "2026-03-02T14:05:00Z"


class CommandAccepted(BaseModel):
    """What a command did."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": _LEAD_ID, "version": 4, "position": 1207, "related_id": None}]}
    )

    id: UUID = Field(description="the lead or contact the command acted on")
    version: int = Field(description="its version after the command; send it back as `If-Match`")
    position: int | None = Field(
        description="log position of the last event appended; null when nothing was appended (a retry)"
    )
    related_id: UUID | None = Field(
        default=None, description="the contact a conversion made or joined, or the lead a reactivation opened"
    )

    @classmethod
    def of(cls, result: CommandResult) -> CommandAccepted:
        return cls(**_accepted_fields(result))


def _accepted_fields(result: CommandResult) -> dict[str, Any]:
    return {"id": result.id, "version": result.version, "position": result.position, "related_id": result.related_id}


class LeadConverted(CommandAccepted):
    """A converted lead and the contact it became."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": _LEAD_ID, "version": 9, "position": 1290, "related_id": _CONTACT_ID, "contact_id": _CONTACT_ID}
            ]
        }
    )

    contact_id: UUID = Field(
        description="the contact the lead became, returned to, or was linked to (a contact with its email)"
    )

    @classmethod
    def of(cls, result: CommandResult) -> LeadConverted:
        assert result.related_id is not None  # a conversion always names its contact
        return cls(**_accepted_fields(result), contact_id=result.related_id)


class ContactReactivated(CommandAccepted):
    """A reactivated contact and the new lead that follows its new interest up."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": _CONTACT_ID, "version": 6, "position": 1302, "related_id": _LEAD_ID, "lead_id": _LEAD_ID}
            ]
        }
    )

    lead_id: UUID = Field(description="the new lead")

    @classmethod
    def of(cls, result: CommandResult) -> ContactReactivated:
        assert result.related_id is not None  # a reactivation always opens a lead
        return cls(**_accepted_fields(result), lead_id=result.related_id)


class LeadPublic(BaseModel):
    """A lead as it stands (now, at a version, or as of a time)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _LEAD_ID,
                    "version": 5,
                    "name": "Ada Lovelace",
                    "email": "ada@acme.example",
                    "phone": None,
                    "company": "Acme",
                    "title": "CTO",
                    "source": "web_form",
                    "campaign": "spring-launch",
                    "estimated_value": 1200000,
                    "currency": "USD",
                    "owner": "alice",
                    "country": "GB",
                    "stage": "qualified",
                    "stage_entered_at": _WHEN,
                    "score": 57,
                    "score_breakdown": {"fit.title": 20.0, "engagement": 37.0},
                    "score_model_version": "v1",
                    "interaction_count": 3,
                    "last_interaction_at": _WHEN,
                    "captured_at": "2026-02-20T09:00:00Z",
                    "contact_id": None,
                    "interest": None,
                    "converted_contact_id": None,
                    "deal_value": None,
                    "disqualified_reason": None,
                    "closed_at": None,
                    "consents": {"email": True, "sms": False},
                    "merged_into": None,
                    "absorbed": [],
                    "win_probability": WIN_PROBABILITY_EXAMPLE,
                }
            ]
        }
    )

    id: UUID
    version: int
    name: str
    email: str | None
    phone: str | None
    company: str | None
    title: str | None
    source: str
    campaign: str | None
    estimated_value: int | None = Field(description="minor units")
    currency: str
    owner: str | None
    country: str | None = Field(description="ISO 3166-1 alpha-2, e.g. GB; null when not known")
    stage: str
    stage_entered_at: datetime
    score: int
    score_breakdown: dict[str, float]
    score_model_version: str | None
    interaction_count: int
    last_interaction_at: datetime | None
    captured_at: datetime
    contact_id: UUID | None = Field(description="the contact a reactivation lead came from")
    interest: str | None
    converted_contact_id: UUID | None
    deal_value: int | None = Field(description="minor units")
    disqualified_reason: str | None
    closed_at: datetime | None
    consents: dict[str, bool] = Field(
        description="per channel: true granted, false withdrawn; a channel never stated is absent"
    )
    merged_into: UUID | None = Field(
        default=None, description="the lead this one was merged into, while it is merged (it takes no commands)"
    )
    absorbed: list[UUID] = Field(default_factory=list, description="the duplicates merged into this lead")
    win_probability: WinProbabilityPublic | None = Field(
        default=None,
        description="the learned P(won) at the time read (naive Bayes over closed leads; docs/read-models.md), "
        "next to the rule-based `score`",
    )

    @classmethod
    def of(cls, lead: Lead, *, masked: bool = False, win_probability: WinProbabilityPublic | None = None) -> LeadPublic:
        personal: dict[str, Any] = {
            "name": lead.name,
            "email": lead.email,
            "phone": lead.phone,
            "company": lead.company,
            "title": lead.title,
            "campaign": lead.campaign,
            "interest": lead.interest,
            "disqualified_reason": lead.disqualified_reason,
        }
        if masked:
            personal = mask_personal(personal)
        return cls(
            id=lead.id,
            version=lead.version,
            **personal,
            source=lead.source.value,
            estimated_value=lead.estimated_value,
            currency=lead.currency,
            owner=lead.owner,
            country=lead.country,
            stage=lead.stage.value,
            stage_entered_at=lead.stage_entered_at,
            score=lead.score,
            score_breakdown=lead.score_breakdown,
            score_model_version=lead.score_model_version,
            interaction_count=len(lead.interactions),
            last_interaction_at=max((i.occurred_at for i in lead.interactions), default=None),
            captured_at=lead.captured_at,
            contact_id=lead.contact_id,
            converted_contact_id=lead.converted_contact_id,
            deal_value=lead.deal_value,
            closed_at=lead.closed_at,
            consents=dict(lead.consents),
            merged_into=lead.merged_into,
            absorbed=sorted(lead.absorbed, key=str),
            win_probability=win_probability,
        )


class ContactPublic(BaseModel):
    """A contact as it stands (now, at a version, or as of a time)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _CONTACT_ID,
                    "version": 4,
                    "name": "Ada Lovelace",
                    "email": "ada@acme.example",
                    "phone": None,
                    "company": "Acme",
                    "title": "CTO",
                    "external_id": None,
                    "lead_id": _LEAD_ID,
                    "created_at": _WHEN,
                    "consents": {"email": True},
                    "purchase_count": 2,
                    "lifetime_value": {"USD": 259800},
                    "first_purchase_at": "2026-03-10T10:00:00Z",
                    "last_purchase_at": "2026-04-02T16:30:00Z",
                    "last_interaction_at": None,
                    "reactivated_lead_ids": [],
                    "merged_into": None,
                    "absorbed": [],
                }
            ]
        }
    )

    id: UUID
    version: int
    name: str
    email: str | None
    phone: str | None
    company: str | None
    title: str | None
    external_id: str | None
    lead_id: UUID | None = Field(description="the lead the contact was converted from")
    created_at: datetime
    consents: dict[str, bool]
    purchase_count: int
    lifetime_value: dict[str, int] = Field(description="minor units per currency")
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    last_interaction_at: datetime | None
    reactivated_lead_ids: list[UUID]
    merged_into: UUID | None = Field(
        default=None, description="the contact this one was merged into, while it is merged (it takes no commands)"
    )
    absorbed: list[UUID] = Field(default_factory=list, description="the duplicates merged into this contact")

    @classmethod
    def of(cls, contact: Contact, *, masked: bool = False) -> ContactPublic:
        personal: dict[str, Any] = {
            "name": contact.name,
            "email": contact.email,
            "phone": contact.phone,
            "company": contact.company,
            "title": contact.title,
        }
        if masked:
            personal = mask_personal(personal)
        return cls(
            id=contact.id,
            version=contact.version,
            **personal,
            external_id=contact.external_id,
            lead_id=contact.lead_id,
            created_at=contact.created_at,
            consents=dict(contact.consents),
            purchase_count=contact.purchase_count,
            lifetime_value=dict(contact.lifetime_value),
            first_purchase_at=contact.first_purchase_at,
            last_purchase_at=contact.last_purchase_at,
            last_interaction_at=contact.last_interaction_at,
            reactivated_lead_ids=list(contact.reactivated_lead_ids),
            merged_into=contact.merged_into,
            absorbed=list(contact.absorbed),
        )


class AuditEntryPublic(BaseModel):
    """One event of an aggregate's audit trail."""

    version: int
    event_type: str = Field(examples=["lead.stage_changed"])
    occurred_at: datetime = Field(description="business time")
    recorded_at: datetime = Field(description="when the event was stored")
    actor: str = Field(examples=["alice"])
    correlation_id: str = Field(description="the request (X-Request-ID) that caused it")
    data: dict[str, Any] = Field(examples=[{"stage": "qualified", "previous_stage": "contacted"}])

    @classmethod
    def of(cls, entry: AuditEntry, *, masked: bool = False) -> AuditEntryPublic:
        data = mask_personal(entry.data) if masked else entry.data
        return cls(**{**entry.model_dump(exclude={"data"}), "data": data})


class AuditTrail(BaseModel):
    """Every event of one lead or contact, in version order (read as of a time: the events folded
    then, in business order)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _LEAD_ID,
                    "entries": [
                        {
                            "version": 1,
                            "event_type": "lead.captured",
                            "occurred_at": _WHEN,
                            "recorded_at": _WHEN,
                            "actor": "alice",
                            "correlation_id": "4f9c2b8e1d0a4c6f",
                            "data": {"name": "Ada Lovelace", "source": "web_form"},
                        }
                    ],
                }
            ]
        }
    )

    id: UUID
    entries: list[AuditEntryPublic]

    @classmethod
    def of(cls, aggregate_id: UUID, entries: list[AuditEntry], *, masked: bool = False) -> AuditTrail:
        return cls(id=aggregate_id, entries=[AuditEntryPublic.of(e, masked=masked) for e in entries])


class Health(BaseModel):
    """The process answers (liveness: nothing else is asked, the database least of all)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = Field(examples=["ok"])


class Readiness(BaseModel):
    """The event store answers and the read models follow the log."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "head_position": 3359, "lag": {"pipeline": 0, "segments": 2}}]
        }
    )

    status: Literal["ready"] = Field(examples=["ready"])
    head_position: int = Field(description="log position of the newest event", examples=[3359])
    lag: dict[str, int] = Field(
        description="per read model kept by this process, events appended but not applied yet "
        "(empty when Kafka consumers keep them)",
        examples=[{"pipeline": 0, "segments": 2}],
    )


UNMERGE_EXAMPLES: dict[str, Any] = {
    "now": {"summary": "undo the merge now; the body may be left out", "value": {}},
}
"""The unmerge routes' body example (leads and contacts alike)."""


def merge_examples(kind: str) -> dict[str, Any]:
    """The merge route's body example for a `kind` ("lead" or "contact")."""
    return {
        "merge": {
            "summary": f"this {kind} duplicates another: merge it into that one",
            "value": {"into": "3f1c9a52-0d7e-4b8a-9a36-5d2f7c1e8b40"},
        },
    }
