"""Channel moderation over HTTP: moderators, bans and timeouts, and the audit log.

Moderators and bans belong to the streamer's channel and hold in all of their streams; they
are reached through any of the channel's streams.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from livecast.api.deps import CurrentUser, Uow
from livecast.api.openapi import problems
from livecast.api.realtime_deps import HubDep
from livecast.api.realtime_schemas import AuditEntryOut, BanOut, BanRequest
from livecast.api.schemas import UserSummary
from livecast.realtime.moderation import Moderation
from livecast.storage.models import User

router = APIRouter(prefix="/api/v1/streams", tags=["moderation"])


def _summary(user: User) -> UserSummary:
    return UserSummary(id=user.id, username=user.username, display_name=user.display_name)


@router.get(
    "/{stream_id}/moderators",
    summary="The channel's moderators (moderators)",
    responses=problems(401, 403, 404),
)
async def moderators(
    stream_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep
) -> list[UserSummary]:
    stream = await uow.streams.get(stream_id, user)
    mod = Moderation(uow.session, hub.clock.now())
    await mod.require_moderator(stream, user)
    return [_summary(m) for m in await mod.moderators(stream)]


@router.put(
    "/{stream_id}/moderators/{user_id}",
    summary="Appoint a moderator of the channel (the streamer)",
    responses=problems(400, 401, 403, 404),
)
async def add_moderator(
    stream_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep
) -> UserSummary:
    stream = await uow.streams.get(stream_id, user)
    added = await Moderation(uow.session, hub.clock.now()).add_moderator(stream, user, user_id)
    await uow.commit()
    return _summary(added)


@router.delete(
    "/{stream_id}/moderators/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a moderator of the channel (the streamer)",
    responses=problems(401, 403, 404),
)
async def remove_moderator(
    stream_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep
) -> None:
    stream = await uow.streams.get(stream_id, user)
    await Moderation(uow.session, hub.clock.now()).remove_moderator(stream, user, user_id)
    await uow.commit()


@router.get(
    "/{stream_id}/bans",
    summary="Users banned or timed out from the channel's chat now (moderators)",
    responses=problems(401, 403, 404),
)
async def bans(stream_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep) -> list[BanOut]:
    stream = await uow.streams.get(stream_id, user)
    mod = Moderation(uow.session, hub.clock.now())
    await mod.require_moderator(stream, user)
    return [
        BanOut(
            user=_summary(target),
            expires_at=ban.expires_at,
            reason=ban.reason,
            created_at=ban.created_at,
        )
        for ban, target in await mod.bans(stream)
    ]


@router.put(
    "/{stream_id}/bans/{user_id}",
    summary="Ban a user from the channel's chat, or time them out (moderators)",
    responses=problems(400, 401, 403, 404),
)
async def ban(
    stream_id: uuid.UUID,
    user_id: uuid.UUID,
    body: BanRequest,
    user: CurrentUser,
    uow: Uow,
    hub: HubDep,
) -> BanOut:
    stream = await uow.streams.get(stream_id, user)
    mod = Moderation(uow.session, hub.clock.now())
    row = await mod.restrict(stream, user, user_id, body.duration_seconds, body.reason)
    target = await uow.users.get(user_id)
    await uow.commit()
    return BanOut(
        user=_summary(target),
        expires_at=row.expires_at,
        reason=row.reason,
        created_at=row.created_at,
    )


@router.delete(
    "/{stream_id}/bans/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Lift a ban or timeout (moderators)",
    responses=problems(400, 401, 403, 404),
)
async def unban(
    stream_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep
) -> None:
    stream = await uow.streams.get(stream_id, user)
    await Moderation(uow.session, hub.clock.now()).unban(stream, user, user_id)
    await uow.commit()


@router.get(
    "/{stream_id}/moderation/log",
    summary="The channel's moderation audit log, newest first (moderators)",
    responses=problems(401, 403, 404),
)
async def audit_log(
    stream_id: uuid.UUID,
    user: CurrentUser,
    uow: Uow,
    hub: HubDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditEntryOut]:
    stream = await uow.streams.get(stream_id, user)
    mod = Moderation(uow.session, hub.clock.now())
    await mod.require_moderator(stream, user)
    entries = await mod.audit_log(stream, limit, offset)
    return [AuditEntryOut.model_validate(entry, from_attributes=True) for entry in entries]
