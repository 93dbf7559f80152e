"""The team routes under /v1/users: add a user, list and read them, change some of a user's
fields. Admins manage the team; admins, managers and reps read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from services.api.deps import CrmDep, Permit, UserPath
from services.api.problems import WORKSPACE_RESPONSES
from services.api.responses import created_at
from services.api.schemas_users import ADD_USER_EXAMPLES, UPDATE_USER_EXAMPLES, UserList, UserPublic
from services.app.commands import AddUser, UpdateUser
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1/users", tags=["users"], responses=WORKSPACE_RESPONSES)


@router.post("", status_code=201, summary="Add a user to the team", responses=created_at("the user"))
def add_user(
    who: Annotated[Caller, Depends(Permit(Action.MANAGE_USERS))],
    crm: CrmDep,
    body: Annotated[AddUser, Body(openapi_examples=ADD_USER_EXAMPLES)],
    response: Response,
) -> UserPublic:
    """A new user, who can then own leads and be a rep of assignment rules; 409 when the id is
    taken. Bearer tokens are issued apart (`crm token issue --user ID --role ROLE`)."""
    user = crm.add_user(body, who.context())
    response.headers["Location"] = f"/v1/users/{user.id}"
    return UserPublic.of(user)


@router.get("", summary="The team's users")
def list_users(who: Annotated[Caller, Depends(Permit(Action.READ_USERS))], crm: CrmDep) -> UserList:
    """Every user of the team, in id order."""
    return UserList.of(crm.users())


@router.get("/{user_id}", summary="A user of the team")
def get_user(user_id: UserPath, who: Annotated[Caller, Depends(Permit(Action.READ_USERS))], crm: CrmDep) -> UserPublic:
    """The user's role, whether they are active, their daily capacity and time zone."""
    return UserPublic.of(crm.get_user(user_id))


@router.patch("/{user_id}", summary="Change some of a user's fields")
def update_user(
    user_id: UserPath,
    who: Annotated[Caller, Depends(Permit(Action.MANAGE_USERS))],
    crm: CrmDep,
    body: Annotated[UpdateUser, Body(openapi_examples=UPDATE_USER_EXAMPLES)],
) -> UserPublic:
    """Only the fields sent change (null clears the daily capacity or the time zone); a change
    that changes nothing records nothing. A user is never removed: one who left is made inactive."""
    return UserPublic.of(crm.update_user(user_id, body, who.context()))
