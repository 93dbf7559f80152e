"""The lead routes under /v1/leads: capture, read (now, at a version, as of a time, its audit
trail), the lead's commands, and the list of leads from the pipeline read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from domain.lead import Lead
from domain.team import UNASSIGNED
from projections.people_queries import candidates_page
from services.api.deps import (
    AsOf,
    AtVersion,
    CandidatePageQuery,
    CrmDep,
    EmailFilter,
    IdempotencyKeyHeader,
    IfMatch,
    KnownAt,
    LeadOwnerFilter,
    MinPosition,
    MinScore,
    PageQuery,
    Permit,
    ReadAsOf,
    ReadModelsDep,
    SourceFilter,
    StageFilter,
)
from services.api.pagination import keyset_page
from services.api.problems import PROBLEM_RESPONSES
from services.api.read_models import BEHIND
from services.api.responses import (
    accepted,
    created,
    created_or_replayed,
    etag,
    exact_version,
    trail,
    with_etag,
    with_key,
)
from services.api.schemas import (
    UNMERGE_EXAMPLES,
    AuditTrail,
    CommandAccepted,
    LeadConverted,
    LeadPublic,
    merge_examples,
)
from services.api.schemas_people import DuplicatePage, DuplicatePair
from services.api.schemas_read_models import LeadPage, LeadSummary
from services.app.commands import (
    AssignLead,
    CaptureLead,
    ChangeConsent,
    ChangeStage,
    ConvertLead,
    DisqualifyLead,
    LogInteraction,
    Merge,
    RescoreLead,
    Unmerge,
)
from services.app.errors import LeadNotFound
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1/leads", tags=["leads"], responses=PROBLEM_RESPONSES)

_CAPTURE_EXAMPLES = {
    "web form": {
        "summary": "a lead from the web form",
        "value": {
            "name": "Ada Lovelace",
            "email": "ada@acme.example",
            "company": "Acme",
            "title": "CTO",
            "source": "web_form",
            "campaign": "spring-launch",
            "estimated_value": 1200000,
            "currency": "USD",
            "country": "GB",
        },
    },
    "for a rep": {
        "summary": "a lead given to a rep of the team at capture",
        "value": {
            "name": "Grace Hopper",
            "phone": "+1 555 010 0000",
            "source": "event",
            "owner": "rep-anna",
            "country": "us",
        },
    },
}


_INTERACTION_EXAMPLES = {
    "demo": {"summary": "a product demo held", "value": {"kind": "demo", "detail": "Showed the forecast to the CTO"}},
    "earlier": {
        "summary": "a call logged afterwards (business time)",
        "value": {"kind": "call", "occurred_at": "2026-03-02T10:30:00Z"},
    },
}
_STAGE_EXAMPLES = {"qualified": {"summary": "the lead is qualified", "value": {"stage": "qualified"}}}
_ASSIGN_EXAMPLES = {
    "to a rep": {"summary": "give the lead to a rep", "value": {"owner": "rep-anna", "reason": "territory: DACH"}}
}
_DISQUALIFY_EXAMPLES = {"no budget": {"summary": "lost: no budget", "value": {"reason": "no budget this year"}}}
_CONVERT_EXAMPLES = {
    "won": {"summary": "won at 12,000.00 USD (amounts in minor units)", "value": {"deal_value": 1200000}},
    "in euros": {"summary": "won at 9,500.00 EUR", "value": {"deal_value": 950000, "currency": "EUR"}},
}
_RESCORE_EXAMPLES = {
    "now": {"summary": "decay as of now", "value": {}},
    "as of": {"summary": "decay as of a business time", "value": {"occurred_at": "2026-03-02T00:00:00Z"}},
}

_CONSENT_EXAMPLES = {
    "opt in": {"summary": "the person agreed to receive email", "value": {"channel": "email", "granted": True}},
    "opt out": {
        "summary": "the person withdrew email consent (unsubscribed)",
        "value": {"channel": "email", "granted": False, "occurred_at": "2026-03-02T14:05:00Z"},
    },
}


@router.get("", summary="List leads (filter, look up by email, page through)", responses=BEHIND)
def list_leads(
    who: Annotated[Caller, Depends(Permit(Action.READ_PIPELINE, or_else=Action.LOOKUP_BY_EMAIL))],
    reads: ReadModelsDep,
    page: PageQuery,
    stage: StageFilter = None,
    owner: LeadOwnerFilter = None,
    source: SourceFilter = None,
    min_score: MinScore = None,
    email: EmailFilter = None,
    as_of: ReadAsOf = None,
    known_at: KnownAt = None,
    min_position: MinPosition = None,
) -> LeadPage:
    """Leads as they stand now, in lead id order, from the pipeline read model; `owner=none`
    lists the leads nobody owns; `email` finds the leads with that address (compared
    normalised, through the people read model). With `as_of` and/or `known_at`, the leads as
    they stood at `as_of` as the store knew them at `known_at` (each the fold of its events by
    then; the filters apply to the leads then; names as now). A rep sees their own leads only
    (those they own now); an analyst sees names, and emails and phones in free text, masked. A
    service may look leads up by `email` only, and sees ids, versions and stages, no personal
    data."""
    who.lookup(email)
    owner = who.owner_filter(owner)
    unassigned = owner == UNASSIGNED
    queries = reads.caught_up(min_position)
    then = {} if as_of is None and known_at is None else {"as_of": as_of, "known_at": known_at}
    rows, cursor = keyset_page(
        lambda after, limit: queries.leads(
            stage=stage.value if stage else None,
            owner=None if unassigned else owner,
            unassigned=unassigned,
            source=source.value if source else None,
            min_score=min_score,
            after=after,
            limit=limit,
            email=email,
            owner_scope=who.owner_scope,
            **then,
        ),
        page,
        key=lambda row: row.lead_id,
    )
    who.read(row.lead_id for row in rows)
    if who.looks_up_only:
        return LeadPage(items=[LeadSummary.minimal(row) for row in rows], next_cursor=cursor)
    masked = who.principal.masks_personal_data
    return LeadPage(items=[LeadSummary.of(row, masked=masked) for row in rows], next_cursor=cursor)


@router.get("/duplicates", summary="Pairs of open leads that look like one person", responses=BEHIND)
def lead_duplicates(
    who: Annotated[Caller, Depends(Permit(Action.READ_PIPELINE))],
    reads: ReadModelsDep,
    page: CandidatePageQuery,
    min_position: MinPosition = None,
) -> DuplicatePage:
    """Duplicate candidates among the open leads, from the people read model: pairs sharing a
    normalised email (the surest), an E.164 phone, or a similar name (difflib ratio >= 0.85) at
    the same company, each with its reasons and a confidence from 0 to 1, the surest first. A rep
    sees pairs of their own leads only; an analyst sees names, emails and phones masked."""
    candidates = reads.caught_up(min_position).duplicate_candidates("lead", owner=who.owner_scope)
    pairs, cursor = keyset_page(
        lambda after, limit: candidates_page(candidates, after, limit), page, key=lambda pair: pair.key
    )
    who.read(person.person_id for pair in pairs for person in (pair.first, pair.second))
    masked = who.principal.masks_personal_data
    return DuplicatePage(items=[DuplicatePair.of(pair, masked=masked) for pair in pairs], next_cursor=cursor)


@router.post(
    "", status_code=201, summary="Capture a lead", responses=created_or_replayed(CommandAccepted, "the new lead")
)
def capture_lead(
    who: Annotated[Caller, Depends(Permit(Action.CAPTURE_LEAD))],
    crm: CrmDep,
    body: Annotated[CaptureLead, Body(openapi_examples=_CAPTURE_EXAMPLES)],
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> CommandAccepted:
    """A new lead, scored at once; 201 with its `Location`. A rep's lead is their own. A retry with
    the same `Idempotency-Key` (header or body) answers 200 with the same id and appends nothing;
    the same key with other details is a 409."""
    result = crm.capture_lead(who.as_owner(with_key(body, key)), who.context())
    created(response, result, f"/v1/leads/{result.id}")
    return accepted(response, result)


@router.get("/{lead_id}", summary="A lead now, at a version, or as of a time", responses=with_etag())
def get_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.READ))],
    crm: CrmDep,
    reads: ReadModelsDep,
    response: Response,
    as_of: AsOf = None,
    version: AtVersion = None,
    known_at: KnownAt = None,
) -> LeadPublic:
    """The lead as it stands now, at `version`, or as of the business time `as_of` as known at
    `known_at` (the fold of its events in occurred_at order); its `ETag` is the version answered
    (the newest event folded). An analyst sees names, emails and phones masked. Next to the rule
    score, `win_probability` is the learned P(won) at `as_of` (now by default, also for a read at
    a version) from the pipeline read model, with each feature's contribution; null with a reason
    for a closed lead, below enough closed leads to learn from, or without read models here."""
    lead = crm.get_lead(lead_id, version=version, as_of=as_of, owner_scope=who.owner_scope, known_at=known_at)
    exact_version(lead, version, as_of or known_at, LeadNotFound(lead_id, f" at version {version}"))
    who.read([lead.id])
    response.headers["ETag"] = etag(lead.version)
    win = reads.win_probability(lead.id, as_of, known_at)
    return LeadPublic.of(lead, masked=who.principal.masks_personal_data, win_probability=win)


@router.get("/{lead_id}/history", summary="A lead's audit trail")
def get_lead_history(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.READ))],
    crm: CrmDep,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> AuditTrail:
    """Every event of the lead, oldest first (in version order): what happened, when, and who did
    it. With `as_of` and/or `known_at`, the events the lead's read then folds, in business order
    (occurred_at, ties by version): its history as of that time."""
    return trail(crm, lead_id, Lead, who, as_of, known_at)


@router.post("/{lead_id}/interactions", summary="Log an interaction (and rescore)", responses=with_etag())
def log_lead_interaction(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.LOG_INTERACTION))],
    crm: CrmDep,
    body: Annotated[LogInteraction, Body(openapi_examples=_INTERACTION_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """An email, visit, call, meeting... with the person; the lead's score follows from it."""
    return accepted(response, crm.log_lead_interaction(lead_id, body, who.context(), expected_version=expected))


@router.post("/{lead_id}/consent", summary="Grant or withdraw consent for a channel", responses=with_etag())
def change_lead_consent(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CHANGE_CONSENT))],
    crm: CrmDep,
    body: Annotated[ChangeConsent, Body(openapi_examples=_CONSENT_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """Record what the person said about a channel; once email consent is withdrawn, logging an
    `email_sent` interaction is refused (409), and the contact the lead converts into takes the
    consent over."""
    return accepted(response, crm.change_lead_consent(lead_id, body, who.context(), expected_version=expected))


@router.post("/{lead_id}/stage", summary="Move a lead to another open stage", responses=with_etag())
def change_stage(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CHANGE_STAGE))],
    crm: CrmDep,
    body: Annotated[ChangeStage, Body(openapi_examples=_STAGE_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """An open lead moves to another open stage (closing it is `convert` or `disqualify`: 409 here)."""
    return accepted(response, crm.change_stage(lead_id, body, who.context(), expected_version=expected))


@router.post(
    "/{lead_id}/assign", summary="Give a lead to a sales rep (an active user of the team)", responses=with_etag()
)
def assign_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.ASSIGN_LEAD))],
    crm: CrmDep,
    body: Annotated[AssignLead, Body(openapi_examples=_ASSIGN_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """The lead's new owner, an active user of the team (else a 422 naming `owner`)."""
    return accepted(response, crm.assign_lead(lead_id, body, who.context(), expected_version=expected))


@router.post("/{lead_id}/disqualify", summary="Close a lead as lost", responses=with_etag())
def disqualify_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.DISQUALIFY_LEAD))],
    crm: CrmDep,
    body: Annotated[DisqualifyLead, Body(openapi_examples=_DISQUALIFY_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """The lead closes as lost, with the reason; a closed lead takes no more commands (409)."""
    return accepted(response, crm.disqualify_lead(lead_id, body, who.context(), expected_version=expected))


@router.post("/{lead_id}/convert", summary="Close a lead as won; it becomes a contact", responses=with_etag())
def convert_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.CONVERT_LEAD))],
    crm: CrmDep,
    reads: ReadModelsDep,
    body: Annotated[ConvertLead, Body(openapi_examples=_CONVERT_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> LeadConverted:
    """The lead closes as won at the deal value and becomes a new contact; a reactivation lead
    returns to its contact; a lead whose email (compared normalised) a contact has already is
    linked to that contact (`contact.lead_linked`) instead of making a second one. The answer
    names the contact (`contact_id`), the `ETag` is the lead's."""
    finder = reads.contact_finder()
    result = crm.convert_lead(lead_id, body, who.context(), expected_version=expected, find_contact=finder)
    response.headers["ETag"] = etag(result.version)
    return LeadConverted.of(result)


@router.post("/{lead_id}/rescore", summary="Apply score decay as of now", responses=with_etag())
def rescore_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.RESCORE_LEAD))],
    crm: CrmDep,
    expected: IfMatch,
    response: Response,
    body: Annotated[RescoreLead | None, Body(openapi_examples=_RESCORE_EXAMPLES)] = None,
) -> CommandAccepted:
    """The score the lead's interactions give after decay as of now (or `occurred_at`); the body may be left out."""
    cmd = body or RescoreLead()
    return accepted(response, crm.rescore_lead(lead_id, cmd, who.context(), expected_version=expected))


@router.post("/{lead_id}/merge", summary="Merge a duplicate lead into another (its survivor)")
def merge_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.MERGE_RECORDS))],
    crm: CrmDep,
    body: Annotated[Merge, Body(openapi_examples=merge_examples("lead"))],
    expected: IfMatch,
    response: Response,
) -> CommandAccepted:
    """The lead (a duplicate) is merged into `into` (the survivor), both in one append: the
    duplicate takes no commands until it is unmerged (409), leaves the read models' figures, and
    the survivor's figures count it (docs/read-models.md). `If-Match` is the duplicate's version;
    `related_id` is the survivor."""
    return accepted(response, crm.merge_lead(lead_id, body, who.context(), expected_version=expected))


@router.post("/{lead_id}/unmerge", summary="Undo a merged lead's merge")
def unmerge_lead(
    lead_id: UUID,
    who: Annotated[Caller, Depends(Permit(Action.MERGE_RECORDS))],
    crm: CrmDep,
    expected: IfMatch,
    response: Response,
    body: Annotated[Unmerge | None, Body(openapi_examples=UNMERGE_EXAMPLES)] = None,
) -> CommandAccepted:
    """The merged lead and its survivor stand, and count, exactly as before the merge (events
    only: nothing is deleted). `If-Match` is the duplicate's version."""
    cmd = body or Unmerge()
    return accepted(response, crm.unmerge_lead(lead_id, cmd, who.context(), expected_version=expected))
