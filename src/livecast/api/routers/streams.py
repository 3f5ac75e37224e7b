"""Streams as records: create, read, edit, list, cancel, keys and the manual lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, status

from livecast.api.deps import Ctx, CurrentUser, Live, OptionalUser, Uow
from livecast.api.openapi import problems
from livecast.api.routers.users import Limit, Offset
from livecast.api.schemas import (
    EligibilityOut,
    Page,
    PlaybackToken,
    StreamCreate,
    StreamCreated,
    StreamHealth,
    StreamKey,
    StreamOut,
    StreamUpdate,
)
from livecast.api.views import stream_fields, stream_out
from livecast.context import AppContext
from livecast.domain.stream_lifecycle import StreamStatus
from livecast.errors import Conflict
from livecast.services.streams import StreamFilter, StreamService
from livecast.services.uow import UnitOfWork
from livecast.settings import Settings
from livecast.storage.models import Stream, User

router = APIRouter(prefix="/api/v1/streams", tags=["streams"])


async def _lifecycle(
    stream_id: uuid.UUID,
    user: User,
    ctx: AppContext,
    uow: UnitOfWork,
    action: Callable[[StreamService, Stream], Awaitable[Stream]],
) -> StreamOut:
    """Apply one lifecycle action to a stream the caller owns, in one transaction."""
    stream = await uow.streams.get_owned(stream_id, user)
    await action(uow.streams, stream)
    await uow.commit()
    return stream_out(stream, ctx.settings)


def _with_key(settings: Settings, key: str) -> str:
    return f"{settings.ingest_base_url}/{key}"


@router.get(
    "/eligibility",
    summary="Whether you may go live, and why not",
    responses=problems(401),
)
async def eligibility(user: CurrentUser, uow: Uow) -> EligibilityOut:
    verdict = await uow.streams.eligibility(user)
    return EligibilityOut(
        eligible=verdict.eligible,
        follower_count=verdict.follower_count,
        required=verdict.required,
        reason=verdict.reason,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a stream; the response carries its key, shown only this once",
    responses=problems(400, 401, 403),
)
async def create_stream(
    body: StreamCreate, user: CurrentUser, ctx: Ctx, uow: Uow, live: Live
) -> StreamCreated:
    stream, key = await uow.streams.create(user, body.model_dump())
    await live.check_codec(body.video_codec)  # after the role check; nothing is committed yet
    await uow.commit()
    return StreamCreated.model_validate(
        {
            **stream_fields(stream, ctx.settings),
            "stream_key": key,
            "ingest_url_with_key": _with_key(ctx.settings, key),
        }
    )


@router.get("", summary="List streams you can see, newest first", responses=problems())
async def list_streams(
    ctx: Ctx,
    uow: Uow,
    viewer: OptionalUser,
    status_: Annotated[StreamStatus | None, Query(alias="status")] = None,
    user_id: uuid.UUID | None = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[StreamOut]:
    filters = StreamFilter(status=status_, user_id=user_id, category=category, tag=tag)
    streams, total = await uow.streams.find(filters, viewer, limit, offset)
    items = [stream_out(stream, ctx.settings) for stream in streams]
    return Page[StreamOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/{stream_id}", summary="One stream", responses=problems(404))
async def get_stream(stream_id: uuid.UUID, viewer: OptionalUser, ctx: Ctx, uow: Uow) -> StreamOut:
    return stream_out(await uow.streams.get(stream_id, viewer), ctx.settings)


@router.patch(
    "/{stream_id}",
    summary="Edit a stream (owner or admin)",
    responses=problems(400, 401, 403, 404, 409),
)
async def update_stream(
    stream_id: uuid.UUID, body: StreamUpdate, user: CurrentUser, ctx: Ctx, uow: Uow, live: Live
) -> StreamOut:
    stream = await uow.streams.get_owned(stream_id, user)
    await live.check_codec(body.video_codec)
    await uow.streams.update(stream, body.changes())
    await uow.commit()
    return stream_out(stream, ctx.settings)


@router.delete(
    "/{stream_id}",
    summary="Cancel a stream that is not live",
    responses=problems(401, 403, 404, 409),
)
async def cancel_stream(stream_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow) -> StreamOut:
    return await _lifecycle(stream_id, user, ctx, uow, StreamService.cancel)


@router.post(
    "/{stream_id}/start",
    summary="Go live now (manual lifecycle)",
    responses=problems(401, 403, 404, 409),
)
async def start_stream(stream_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow) -> StreamOut:
    return await _lifecycle(stream_id, user, ctx, uow, StreamService.start)


@router.post(
    "/{stream_id}/end",
    summary="End a live stream (manual lifecycle)",
    responses=problems(401, 403, 404, 409),
)
async def end_stream(stream_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow) -> StreamOut:
    return await _lifecycle(stream_id, user, ctx, uow, StreamService.end)


@router.post(
    "/{stream_id}/key/rotate",
    summary="Replace the stream key; the old one stops working at once",
    responses=problems(400, 401, 403, 404),
)
async def rotate_key(stream_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow) -> StreamKey:
    stream = await uow.streams.get_owned(stream_id, user)
    key = await uow.streams.rotate_key(stream)
    await uow.commit()
    return StreamKey(stream_key=key, ingest_url_with_key=_with_key(ctx.settings, key))


PLAYBACK_TOKEN_TTL_SECONDS = 3600


@router.get(
    "/{stream_id}/health",
    summary="Live ingest statistics (owner or admin)",
    responses=problems(401, 403, 404, 409),
)
async def stream_health(
    stream_id: uuid.UUID, user: CurrentUser, uow: Uow, live: Live
) -> StreamHealth:
    stream = await uow.streams.get_owned(stream_id, user)
    current = live.get(stream.id)
    if current is None:
        raise Conflict(f"The stream is {stream.status} and has no live ingest on this node.")
    return StreamHealth.model_validate(current.health())


@router.post(
    "/{stream_id}/playback-token",
    summary="A token to play a non-public stream (valid one hour)",
    responses=problems(401, 404),
)
async def playback_token(
    stream_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow
) -> PlaybackToken:
    stream = await uow.streams.get(stream_id, user)
    token, expires = ctx.signer.issue_playback(stream.id, PLAYBACK_TOKEN_TTL_SECONDS)
    base = ctx.settings.ingest_base_url
    return PlaybackToken(
        token=token, expires_at=expires, rtmp_play_url=f"{base}/{stream.id}?token={token}"
    )
