"""What the inbound routes answer: where a submission landed, with ids only (the callers are
form tools and email tools, who may not read leads and contacts)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.app.inbound import InboundOutcome, InboundResult

_LEAD_ID = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21"


class InboundAccepted(BaseModel):
    """Where an inbound submission landed and what it did there."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "outcome": "logged_on_lead",
                    "kind": "lead",
                    "id": _LEAD_ID,
                    "version": 5,
                    "position": 1207,
                    "lead_id": _LEAD_ID,
                    "contact_id": None,
                    "matched_by": "email",
                }
            ]
        }
    )

    outcome: InboundOutcome = Field(
        description="`lead_created`, `logged_on_lead` (an open lead of the person), `logged_on_contact`, or "
        "`contact_reactivated` (the contact, and a new lead for the interest stated)"
    )
    kind: Literal["lead", "contact"] = Field(description="what `id` is")
    id: UUID = Field(description="the lead or contact the submission landed on")
    version: int = Field(description="its version after the submission")
    position: int | None = Field(description="log position of the last event appended; null for a replayed retry")
    lead_id: UUID | None = Field(description="the lead concerned: the new one, the existing one, or the reactivation's")
    contact_id: UUID | None = Field(description="the person's contact, when known")
    matched_by: Literal["email", "phone"] | None = Field(description="how the person was recognised; null: new")

    @classmethod
    def of(cls, landed: InboundResult) -> InboundAccepted:
        """The answer for an inbound result."""
        record_id = landed.contact_id if landed.kind == "contact" else landed.lead_id
        assert record_id is not None  # the record a submission landed on is always known
        return cls(
            outcome=landed.outcome,
            kind=landed.kind,
            id=record_id,
            version=landed.result.version,
            position=landed.result.position,
            lead_id=landed.lead_id,
            contact_id=landed.contact_id,
            matched_by=landed.matched_by,  # type: ignore[arg-type]
        )
