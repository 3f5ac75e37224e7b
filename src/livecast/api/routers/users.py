"""Profiles, roles and follows."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from livecast.api.deps import CurrentUser, Uow
from livecast.api.openapi import problems
from livecast.api.schemas import MeOut, Page, ProfileUpdate, RoleUpdate, UserOut, UserSummary
from livecast.api.views import me_out, user_out
from livecast.storage.models import User

router = APIRouter(prefix="/api/v1/users", tags=["users"])

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")]


def _summaries(users: list[User], total: int, limit: int, offset: int) -> Page[UserSummary]:
    items = [UserSummary(id=u.id, username=u.username, display_name=u.display_name) for u in users]
    return Page[UserSummary](items=items, total=total, limit=limit, offset=offset)


@router.get("/me", summary="The logged-in user", responses=problems(401))
async def me(user: CurrentUser, uow: Uow) -> MeOut:
    return me_out(user, await uow.users.counts(user.id))


@router.patch("/me", summary="Edit your profile", responses=problems(401))
async def update_me(body: ProfileUpdate, user: CurrentUser, uow: Uow) -> MeOut:
    await uow.users.update_profile(user, body.display_name, body.bio)
    await uow.commit()
    return me_out(user, await uow.users.counts(user.id))


@router.get("/{user_id}", summary="A public profile", responses=problems(404))
async def profile(user_id: uuid.UUID, uow: Uow) -> UserOut:
    user = await uow.users.get(user_id)
    return user_out(user, await uow.users.counts(user.id))


@router.put(
    "/{user_id}/role",
    summary="Change a user's role (admins only)",
    responses=problems(401, 403, 404),
)
async def set_role(user_id: uuid.UUID, body: RoleUpdate, actor: CurrentUser, uow: Uow) -> UserOut:
    user = await uow.users.set_role(actor, user_id, body.role)
    await uow.commit()
    return user_out(user, await uow.users.counts(user.id))


@router.post(
    "/{user_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Follow a user (idempotent)",
    responses=problems(400, 401, 404),
)
async def follow(user_id: uuid.UUID, actor: CurrentUser, uow: Uow) -> None:
    await uow.users.follow(actor, user_id)
    await uow.commit()


@router.delete(
    "/{user_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unfollow a user (idempotent)",
    responses=problems(401, 404),
)
async def unfollow(user_id: uuid.UUID, actor: CurrentUser, uow: Uow) -> None:
    await uow.users.unfollow(actor, user_id)
    await uow.commit()


@router.get("/{user_id}/followers", summary="Who follows this user", responses=problems(404))
async def followers(
    user_id: uuid.UUID, uow: Uow, limit: Limit = 20, offset: Offset = 0
) -> Page[UserSummary]:
    users, total = await uow.users.follow_list(user_id, "followers", limit, offset)
    return _summaries(users, total, limit, offset)


@router.get("/{user_id}/following", summary="Whom this user follows", responses=problems(404))
async def following(
    user_id: uuid.UUID, uow: Uow, limit: Limit = 20, offset: Offset = 0
) -> Page[UserSummary]:
    users, total = await uow.users.follow_list(user_id, "following", limit, offset)
    return _summaries(users, total, limit, offset)
