"""Chat over HTTP: comment history, chat modes, and the moderation of messages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from livecast.api.deps import CurrentUser, OptionalUser, Uow
from livecast.api.openapi import problems
from livecast.api.realtime_deps import MAX_SEQ, HubDep, Seq
from livecast.api.realtime_schemas import (
    ChatModesOut,
    ChatModesPatch,
    ChatUser,
    CommentOut,
    CommentPage,
    HeldOut,
    PinOut,
    PinRequest,
)
from livecast.realtime import eventlog
from livecast.realtime.moderation import Moderation, load_modes
from livecast.realtime.policy import ChatModes

router = APIRouter(prefix="/api/v1/streams", tags=["chat"])


def _modes_out(modes: ChatModes, moderator: bool) -> ChatModesOut:
    terms = list(modes.blocked_terms) if moderator else None
    return ChatModesOut(**modes.public(), blocked_terms=terms)


@router.get(
    "/{stream_id}/comments",
    summary="A page of the chat history, oldest first; deleted comments are left out",
    responses=problems(404),
)
async def comments(
    stream_id: uuid.UUID,
    viewer: OptionalUser,
    uow: Uow,
    since: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Comments after this seq.")] = 0,
    from_media_time: Annotated[
        int | None,
        Query(ge=0, le=MAX_SEQ, description="Only comments from this media time (ms) on."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CommentPage:
    stream = await uow.streams.get(stream_id, viewer)
    rows = await eventlog.read_comments(uow.session, stream.id, since, from_media_time, limit)
    items = [CommentOut.model_validate(row) for row in rows]
    next_since = items[-1].seq if len(items) == limit else None
    return CommentPage(items=items, next_since=next_since)


@router.delete(
    "/{stream_id}/comments/{seq}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a comment (moderators): it leaves the chat, the history and replays",
    responses=problems(401, 403, 404),
)
async def delete_comment(
    stream_id: uuid.UUID, seq: Seq, user: CurrentUser, uow: Uow, hub: HubDep
) -> None:
    stream = await uow.streams.get(stream_id, user)
    await Moderation(uow.session, hub.clock.now()).delete_comment(stream, user, seq)
    await uow.commit()


@router.post(
    "/{stream_id}/comments/{seq}/pin",
    summary="Pin a comment for a while (moderators)",
    responses=problems(401, 403, 404),
)
async def pin(
    stream_id: uuid.UUID, seq: Seq, body: PinRequest, user: CurrentUser, uow: Uow, hub: HubDep
) -> PinOut:
    stream = await uow.streams.get(stream_id, user)
    event = await Moderation(uow.session, hub.clock.now()).pin(
        stream, user, seq, body.duration_seconds
    )
    await uow.commit()
    return PinOut.model_validate(event)


@router.delete(
    "/{stream_id}/pin",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unpin the pinned comment (moderators)",
    responses=problems(401, 403, 404),
)
async def unpin(stream_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep) -> None:
    stream = await uow.streams.get(stream_id, user)
    await Moderation(uow.session, hub.clock.now()).unpin(stream, user)
    await uow.commit()


@router.post(
    "/{stream_id}/chat/clear",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Clear the chat (moderators): every comment so far is deleted",
    responses=problems(401, 403, 404),
)
async def clear(stream_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep) -> None:
    stream = await uow.streams.get(stream_id, user)
    await Moderation(uow.session, hub.clock.now()).clear(stream, user)
    await uow.commit()


@router.get(
    "/{stream_id}/chat/settings",
    summary="The chat modes; blocked terms are shown to moderators only",
    responses=problems(404),
)
async def chat_settings(
    stream_id: uuid.UUID, viewer: OptionalUser, uow: Uow, hub: HubDep
) -> ChatModesOut:
    stream = await uow.streams.get(stream_id, viewer)
    role = await Moderation(uow.session, hub.clock.now()).role(stream, viewer)
    return _modes_out(await load_modes(uow.session, stream.id), role.moderates)


@router.patch(
    "/{stream_id}/chat/settings",
    summary="Change chat modes (moderators); fields left out keep their value",
    responses=problems(401, 403, 404),
)
async def update_chat_settings(
    stream_id: uuid.UUID, body: ChatModesPatch, user: CurrentUser, uow: Uow, hub: HubDep
) -> ChatModesOut:
    stream = await uow.streams.get(stream_id, user)
    modes = await Moderation(uow.session, hub.clock.now()).update_modes(
        stream, user, body.changes()
    )
    await uow.commit()
    return _modes_out(modes, True)


@router.get(
    "/{stream_id}/chat/held",
    summary="Comments spam detection held for review, oldest first (moderators)",
    responses=problems(401, 403, 404),
)
async def held(
    stream_id: uuid.UUID,
    user: CurrentUser,
    uow: Uow,
    hub: HubDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HeldOut]:
    stream = await uow.streams.get(stream_id, user)
    mod = Moderation(uow.session, hub.clock.now())
    await mod.require_moderator(stream, user)
    return [
        HeldOut(
            id=row.id,
            user=ChatUser.model_validate(row.author),
            text=row.text,
            reason=row.reason,
            created_at=row.created_at,
        )
        for row in await mod.held(stream, limit)
    ]


@router.post(
    "/{stream_id}/chat/held/{held_id}/approve",
    summary="Post a held comment (moderators)",
    responses=problems(401, 403, 404),
)
async def approve(
    stream_id: uuid.UUID, held_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep
) -> CommentOut:
    stream = await uow.streams.get(stream_id, user)
    event = await Moderation(uow.session, hub.clock.now()).approve(stream, user, held_id)
    await uow.commit()
    return CommentOut.model_validate(event)


@router.delete(
    "/{stream_id}/chat/held/{held_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Reject a held comment (moderators)",
    responses=problems(401, 403, 404),
)
async def reject(
    stream_id: uuid.UUID, held_id: uuid.UUID, user: CurrentUser, uow: Uow, hub: HubDep
) -> None:
    stream = await uow.streams.get(stream_id, user)
    await Moderation(uow.session, hub.clock.now()).reject(stream, user, held_id)
    await uow.commit()
