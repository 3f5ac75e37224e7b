"""Viewer tracking over HTTP: player heartbeats, explicit join and leave, and the list."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import func, select

from livecast.analytics.engine import Analytics
from livecast.analytics.players import PlayerBeat
from livecast.api.deps import CurrentUser, OptionalUser, Uow, client_ip
from livecast.api.openapi import problems
from livecast.api.realtime_deps import HubDep
from livecast.api.realtime_schemas import (
    HeartbeatRequest,
    JoinRequest,
    LeaveRequest,
    ViewerSessionDetail,
    ViewerSessionOut,
    ViewersOut,
)
from livecast.api.schemas import UserSummary
from livecast.domain.stream_lifecycle import StreamStatus
from livecast.errors import Conflict
from livecast.realtime.hub import Hub
from livecast.realtime.viewers import Beat, country_from
from livecast.services.uow import UnitOfWork
from livecast.storage.models import Stream, User, ViewerSession

router = APIRouter(prefix="/api/v1/streams", tags=["viewers"])

HEARTBEAT_INTERVAL_SECONDS = 10


async def _watchable(uow: UnitOfWork, stream_id: uuid.UUID, viewer: User | None) -> Stream:
    stream = await uow.streams.get(stream_id, viewer)
    if StreamStatus(stream.status) in (StreamStatus.ENDED, StreamStatus.CANCELLED):
        raise Conflict(f"The stream is {stream.status}; it has no viewers any more.")
    return stream


async def _beat(
    request: Request,
    hub: Hub,
    uow: UnitOfWork,
    stream: Stream,
    viewer: User | None,
    session_id: str,
    body: JoinRequest | HeartbeatRequest,
) -> ViewerSessionOut:
    if not hub.viewers.known(stream.id, session_id):
        hub.session_limiter.hit(client_ip(request), "new viewer sessions")
    beat = Beat(
        device_type=body.device_type,
        resolution=body.resolution,
        buffering_events=body.buffering_events,
        buffering_ms=body.buffering_ms,
        quality_changes=body.quality_changes,
    )
    country = country_from(request.headers, hub.settings.country_headers)
    viewers = await hub.viewers.beat(uow.session, stream, session_id, viewer, beat, country)
    await uow.commit()
    insights: Analytics = request.app.state.analytics
    await insights.heartbeat(
        stream.id,
        stream.user_id,
        session_id,
        PlayerBeat(
            buffering_events=body.buffering_events,
            buffering_ms=body.buffering_ms,
            quality_changes=body.quality_changes,
            errors=body.errors,
            latency_ms=body.latency_ms,
        ),
    )
    return ViewerSessionOut(
        session_id=session_id,
        viewers=viewers,
        heartbeat_interval_seconds=HEARTBEAT_INTERVAL_SECONDS,
        timeout_seconds=hub.viewers.timeout,
    )


@router.post(
    "/{stream_id}/viewers/heartbeat",
    summary="A player's heartbeat, every 10 s while it plays",
    responses=problems(404, 409, 429),
)
async def heartbeat(
    stream_id: uuid.UUID,
    body: HeartbeatRequest,
    request: Request,
    viewer: OptionalUser,
    uow: Uow,
    hub: HubDep,
) -> ViewerSessionOut:
    stream = await _watchable(uow, stream_id, viewer)
    return await _beat(request, hub, uow, stream, viewer, body.session_id, body)


@router.post(
    "/{stream_id}/join",
    summary="Start watching (for API clients that track explicitly)",
    responses=problems(404, 409, 429),
)
async def join(
    stream_id: uuid.UUID,
    body: JoinRequest,
    request: Request,
    viewer: OptionalUser,
    uow: Uow,
    hub: HubDep,
) -> ViewerSessionOut:
    stream = await _watchable(uow, stream_id, viewer)
    session_id = body.session_id or secrets.token_urlsafe(16)
    return await _beat(request, hub, uow, stream, viewer, session_id, body)


@router.post(
    "/{stream_id}/leave",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop watching; the session ends now instead of after 30 s of silence",
    responses=problems(404),
)
async def leave(
    stream_id: uuid.UUID, body: LeaveRequest, viewer: OptionalUser, uow: Uow, hub: HubDep
) -> None:
    stream = await uow.streams.get(stream_id, viewer)
    await hub.viewers.leave(uow.session, stream.id, body.session_id)
    await uow.commit()


@router.get(
    "/{stream_id}/viewers",
    summary="Counts and the active viewer sessions (the streamer or an admin)",
    responses=problems(401, 403, 404),
)
async def viewers(
    stream_id: uuid.UUID,
    user: CurrentUser,
    uow: Uow,
    hub: HubDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ViewersOut:
    stream = await uow.streams.get_owned(stream_id, user)
    active = (ViewerSession.stream_id == stream.id, ViewerSession.left_at.is_(None))
    rows = await uow.session.execute(
        select(ViewerSession, User)
        .outerjoin(User, User.id == ViewerSession.user_id)
        .where(*active)
        .order_by(ViewerSession.joined_at, ViewerSession.id)
        .limit(limit)
        .offset(offset)
    )
    total = await uow.session.scalar(select(func.count()).select_from(ViewerSession).where(*active))
    sessions = [_detail(row, owner) for row, owner in rows]
    return ViewersOut(
        concurrent=hub.viewers.concurrent(stream.id),
        peak=max(stream.peak_viewer_count, hub.viewers.concurrent(stream.id)),
        unique=await hub.viewers.unique_viewers(uow.session, stream.id),
        sessions=sessions,
        total=int(total or 0),
        limit=limit,
        offset=offset,
    )


def _detail(row: ViewerSession, user: User | None) -> ViewerSessionDetail:
    summary = (
        UserSummary(id=user.id, username=user.username, display_name=user.display_name)
        if user is not None
        else None
    )
    return ViewerSessionDetail(
        session_id=row.session_id,
        user=summary,
        joined_at=row.joined_at,
        last_seen_at=row.last_seen_at,
        watch_seconds=row.watch_seconds,
        device_type=row.device_type,
        resolution=row.resolution,
        country=row.country,
        buffering_events=row.buffering_events,
        buffering_ms=row.buffering_ms,
        quality_changes=row.quality_changes,
    )
