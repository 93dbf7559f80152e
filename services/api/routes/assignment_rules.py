"""The assignment-rule routes under /v1/assignment-rules: read the ordered rules, replace them
as a whole. Admins and managers only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from services.api.deps import CrmDep, IfMatch, Permit
from services.api.problems import WORKSPACE_RESPONSES
from services.api.responses import etag, with_etag
from services.api.schemas_users import REPLACE_RULES_EXAMPLES, AssignmentRules
from services.app.commands import ReplaceAssignmentRules
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1/assignment-rules", tags=["assignment rules"], responses=WORKSPACE_RESPONSES)


@router.get("", summary="The assignment rules, in the order they are tried", responses=with_etag())
def get_assignment_rules(
    who: Annotated[Caller, Depends(Permit(Action.READ_ASSIGNMENT_RULES))], crm: CrmDep, response: Response
) -> AssignmentRules:
    """The rules a new lead is matched against, first match wins; the `ETag` is their version."""
    found = crm.assignment_rules()
    response.headers["ETag"] = etag(found.version)
    return AssignmentRules.of(found)


@router.put("", summary="Replace the assignment rules with a new ordered list", responses=with_etag())
def replace_assignment_rules(
    who: Annotated[Caller, Depends(Permit(Action.MANAGE_ASSIGNMENT_RULES))],
    crm: CrmDep,
    body: Annotated[ReplaceAssignmentRules, Body(openapi_examples=REPLACE_RULES_EXAMPLES)],
    expected: IfMatch,
    response: Response,
) -> AssignmentRules:
    """The list sent becomes the whole list. Each rule's name is unique, its reps are users of
    the team (each once), and a weighted rule has a positive weight for each of its reps; a rule
    that breaks one of these is a 422 naming the field (e.g. `rules.1.reps.0`) and nothing
    changes. With `If-Match` (the ETag of the rules last read), a change made meanwhile is a 409."""
    replaced = crm.replace_assignment_rules(body, who.context(), expected_version=expected)
    response.headers["ETag"] = etag(replaced.version)
    return AssignmentRules.of(replaced)
