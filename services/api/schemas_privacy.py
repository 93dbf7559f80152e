"""What the privacy routes answer with: an erasure's result and a person's export."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from domain.contact import Contact
from domain.lead import Lead
from services.api.schemas import AuditTrail, ContactPublic, LeadPublic
from services.app.application import AuditEntry, ErasureResult

_LEAD_ID = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21"
_CONTACT_ID = "7d4e2c1a-5b3f-4e8d-8c2a-9f1e0d3b6a47"


class ErasureAccepted(BaseModel):
    """A person was erased: every lead and contact of theirs now reads as erased."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": _CONTACT_ID, "version": 7, "position": 1410, "erased_ids": [_CONTACT_ID, _LEAD_ID]}]
        }
    )

    id: UUID = Field(description="the lead or contact the erasure was asked for")
    version: int = Field(description="its version after the erasure")
    position: int | None = Field(description="log position of the last `*.erased` event; null if erased before")
    erased_ids: list[UUID] = Field(description="every lead and contact of the person")

    @classmethod
    def of(cls, result: ErasureResult) -> ErasureAccepted:
        return cls(id=result.id, version=result.version, position=result.position, erased_ids=result.erased_ids)


def _example(model: type[BaseModel]) -> Any:
    return model.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index,call-overload]


class PersonExport(BaseModel):
    """Everything the CRM holds about a person (GDPR Art. 15): each of their contacts and leads
    as they stand, with its full history."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "exported_at": "2026-03-02T14:05:00Z",
                    "subject": _CONTACT_ID,
                    "contacts": [_example(ContactPublic)],
                    "leads": [_example(LeadPublic)],
                    "histories": [_example(AuditTrail)],
                }
            ]
        }
    )

    exported_at: datetime
    subject: UUID = Field(description="the contact the export was asked for")
    contacts: list[ContactPublic]
    leads: list[LeadPublic]
    histories: list[AuditTrail] = Field(description="the audit trail of every record above")

    @classmethod
    def of(
        cls,
        subject: UUID,
        records: list[Lead | Contact],
        histories: dict[UUID, list[AuditEntry]],
        exported_at: datetime,
    ) -> PersonExport:
        return cls(
            exported_at=exported_at,
            subject=subject,
            contacts=[ContactPublic.of(r) for r in records if isinstance(r, Contact)],
            leads=[LeadPublic.of(r) for r in records if isinstance(r, Lead)],
            histories=[AuditTrail.of(record_id, entries) for record_id, entries in histories.items()],
        )
