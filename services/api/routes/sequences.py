"""The nurture sequence routes: define and read sequences under /v1/sequences, their statistics
from the nurture read model, and a lead's enrolment by hand under /v1/leads/{id}/enrolments."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from services.api.deps import CrmDep, IfMatch, MinPosition, Permit, ReadModelsDep, SequencePath
from services.api.problems import PROBLEM_RESPONSES, READ_MODEL_RESPONSES, documented_problem
from services.api.responses import accepted, created_at, with_etag
from services.api.schemas import CommandAccepted
from services.api.schemas_sequences import SEQUENCE_EXAMPLE, SequenceList, SequencePublic, SequenceStatsPublic
from services.app.commands import DefineSequence, EnrolInSequence, ExitSequence
from services.auth.access import Caller
from services.auth.policy import Action

SEQUENCE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    404: documented_problem("No such nurture sequence"),
    409: documented_problem("A sequence of that name exists already"),
}
ENROLMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    404: documented_problem("No such lead (or not one of yours)"),
    409: documented_problem("Already enrolled (or not enrolled), a version conflict, or a closed lead"),
    422: documented_problem("Invalid input, or a sequence that is not defined; `errors` names each field"),
}

router = APIRouter(tags=["nurture sequences"])

_DEFINE_EXAMPLES = {
    "trial follow-up": {
        "summary": "emails, a task and a score check, enrolling trial sign-ups",
        "value": SEQUENCE_EXAMPLE,
    },
    "by hand only": {
        "summary": "a sequence without an enrolment rule: leads are enrolled by hand",
        "value": {
            "name": "event-follow-up",
            "description": "After the trade fair",
            "steps": [{"wait_days": 1, "email": {"template": "fair-thanks"}}],
        },
    },
}
_ENROL_EXAMPLES = {"enrol": {"summary": "enrol the lead in a sequence", "value": {"sequence": "trial-follow-up"}}}


@router.post(
    "/v1/sequences",
    status_code=201,
    summary="Define a nurture sequence",
    responses={**PROBLEM_RESPONSES, 409: SEQUENCE_RESPONSES[409], **created_at("the sequence")},
)
def define_sequence(
    who: Annotated[Caller, Depends(Permit(Action.DEFINE_SEQUENCE))],
    crm: CrmDep,
    body: Annotated[DefineSequence, Body(openapi_examples=_DEFINE_EXAMPLES)],
    response: Response,
) -> SequencePublic:
    """A sequence is defined once: a lead's enrolment keeps a copy of the steps it was enrolled
    with, so what is under way never changes. An invalid definition is a 422 naming each field."""
    stored = crm.define_sequence(body, who.context())
    response.headers["Location"] = f"/v1/sequences/{stored.name}"
    return SequencePublic.of(stored)


@router.get(
    "/v1/sequences",
    summary="Every nurture sequence",
    responses=PROBLEM_RESPONSES,
    dependencies=[Depends(Permit(Action.READ_SEQUENCES))],
)
def list_sequences(crm: CrmDep) -> SequenceList:
    """Every sequence defined, with its steps and enrolment rule, in name order."""
    return SequenceList(items=[SequencePublic.of(stored) for stored in crm.list_sequences()])


@router.get(
    "/v1/sequences/{name}",
    summary="A nurture sequence's definition",
    responses={**PROBLEM_RESPONSES, 404: SEQUENCE_RESPONSES[404]},
    dependencies=[Depends(Permit(Action.READ_SEQUENCES))],
)
def get_sequence(name: SequencePath, crm: CrmDep) -> SequencePublic:
    """The sequence's steps and enrolment rule, who defined it and when."""
    return SequencePublic.of(crm.sequence(name))


@router.get(
    "/v1/sequences/{name}/stats",
    summary="How a nurture sequence has done",
    responses={**READ_MODEL_RESPONSES, 404: documented_problem("No such nurture sequence")},
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
)
def get_sequence_stats(
    name: SequencePath, crm: CrmDep, reads: ReadModelsDep, min_position: MinPosition = None
) -> SequenceStatsPublic:
    """Enrolments made, under way, completed and exited by reason, and the leads converted after
    being enrolled, from the nurture read model."""
    crm.sequence(name)
    return SequenceStatsPublic.of(reads.caught_up(min_position).sequence_stats(name))


@router.post(
    "/v1/leads/{lead_id}/enrolments",
    summary="Enrol a lead in a nurture sequence",
    responses={**ENROLMENT_RESPONSES, **with_etag()},
)
def enrol_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.ENROL_LEAD))],
    crm: CrmDep,
    body: Annotated[EnrolInSequence, Body(openapi_examples=_ENROL_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """By hand, also again once an earlier enrolment in the sequence ended (the rules never
    enrol a lead twice). Its first step is due after its wait, in business days."""
    return accepted(response, crm.enrol_lead(lead_id, body, who.context(), expected_version=expected))


@router.post(
    "/v1/leads/{lead_id}/enrolments/exit",
    summary="End a lead's enrolment in a nurture sequence",
    responses={**ENROLMENT_RESPONSES, **with_etag()},
)
def exit_sequence(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.ENROL_LEAD))],
    crm: CrmDep,
    body: Annotated[ExitSequence, Body(openapi_examples=_ENROL_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """The enrolment exits with reason `manual`; its remaining steps do nothing."""
    return accepted(response, crm.exit_sequence(lead_id, body, who.context(), expected_version=expected))
