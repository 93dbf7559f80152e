"""What the duplicate-candidate routes answer: pairs of leads, or of contacts, that look like one
person, from the identity index (`projections/people_queries.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from projections.people_queries import DuplicateCandidate, PersonRow
from services.api.pagination import Page
from services.auth.masking import mask_personal

_LEAD_A = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21"
_LEAD_B = "5a1c3e2f-8d4b-4f6a-9e0c-2b7d1f3a8c54"


class PersonSummary(BaseModel):
    """One side of a candidate pair, as the identity index holds it (compared forms)."""

    id: UUID
    name: str | None
    email: str | None = Field(description="normalised: stripped and lower-cased")
    phone: str | None = Field(description="E.164")
    company: str | None
    status: str = Field(description="a lead's `open`; a contact's `active`")
    created_at: datetime

    @classmethod
    def of(cls, row: PersonRow, *, masked: bool = False) -> PersonSummary:
        """The summary of an index row; an analyst's with name, email and phone masked."""
        values = {k: getattr(row, k) for k in ("name", "email", "phone", "company", "status", "created_at")}
        if masked:
            values = mask_personal(values)
        return cls.model_validate({"id": UUID(row.person_id), **values})


class DuplicatePair(BaseModel):
    """Two records that look like one person: the older first, why, and how sure."""

    first: PersonSummary
    second: PersonSummary
    reason: Literal["email", "phone", "name_company"] = Field(description="the strongest reason")
    reasons: list[Literal["email", "phone", "name_company"]] = Field(description="every reason that holds")
    confidence: float = Field(ge=0, le=1, description="0..1; a shared email is the surest reason, then a phone")
    name_similarity: float | None = Field(description="difflib ratio of the normalised names, for `name_company`")

    @classmethod
    def of(cls, candidate: DuplicateCandidate, *, masked: bool = False) -> DuplicatePair:
        """The pair's view."""
        return cls(
            first=PersonSummary.of(candidate.first, masked=masked),
            second=PersonSummary.of(candidate.second, masked=masked),
            reason=candidate.reason,
            reasons=list(candidate.reasons),
            confidence=candidate.confidence,
            name_similarity=candidate.name_similarity,
        )


def _person_example(person_id: str, email: str) -> dict[str, Any]:
    return {
        "id": person_id,
        "name": "Ada Lovelace",
        "email": email,
        "phone": None,
        "company": "Acme",
        "status": "open",
        "created_at": "2026-03-02T14:05:00Z",
    }


class DuplicatePage(Page[DuplicatePair]):
    """One page of candidate pairs, the surest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "first": _person_example(_LEAD_A, "ada@acme.example"),
                            "second": _person_example(_LEAD_B, "ada@acme.example"),
                            "reason": "email",
                            "reasons": ["email", "name_company"],
                            "confidence": 0.985,
                            "name_similarity": 1.0,
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )
