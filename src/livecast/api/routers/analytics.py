"""Analytics of a stream (time series and summary) and of a creator (across their streams).

Only the streamer and admins may read them: 403 for anyone else, and 404 for a stream the
caller may not even see. docs/analytics.md defines every number.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from livecast.analytics import series, summary
from livecast.analytics.engine import Analytics
from livecast.api.analytics_schemas import (
    PointOut,
    StreamAnalyticsOut,
    SummaryOut,
    UserAnalyticsOut,
)
from livecast.api.deps import CurrentUser, Uow
from livecast.api.openapi import problems
from livecast.api.routers.events import From, To, parse_moment
from livecast.errors import BadRequest, PermissionDenied
from livecast.services.roles import Role

router = APIRouter(tags=["analytics"])

MAX_POINTS = 10_000
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
Interval = Annotated[
    int | None,
    Query(
        ge=1,
        le=86_400,
        description="Seconds per point; default the snapshot interval (10 s).",
    ),
]


def _analytics(request: Request) -> Analytics:
    found: Analytics = request.app.state.analytics
    return found


def _range(
    from_: str | None, to: str | None, default_start: datetime, default_end: datetime
) -> tuple[datetime, datetime]:
    start = parse_moment("from", from_) or default_start
    end = parse_moment("to", to) or default_end
    if start >= end:
        raise BadRequest("'from' must be before 'to'.")
    return start, end


@router.get(
    "/api/v1/streams/{stream_id}/analytics",
    summary="A stream's analytics: snapshot time series and summary (owner or admin)",
    responses=problems(400, 401, 403, 404),
)
async def stream_analytics(
    stream_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    uow: Uow,
    start: From = None,
    end: To = None,
    interval: Interval = None,
) -> StreamAnalyticsOut:
    stream = await uow.streams.get_owned(stream_id, user)
    analytics = _analytics(request)
    now = analytics.clock.now()
    step = interval or max(1, round(analytics.interval))
    slack = timedelta(seconds=analytics.interval)  # the newest snapshot is stamped ahead
    begin, until = _range(
        start, end, stream.started_at or stream.created_at, (stream.ended_at or now) + slack
    )
    if (until - begin).total_seconds() / step > MAX_POINTS:
        raise BadRequest(f"That is more than {MAX_POINTS} points: widen 'interval'.")
    points = await series.series(uow.session, stream.id, begin, until, step)
    found = await summary.read_summary(uow.session, stream, now)
    return StreamAnalyticsOut(
        stream_id=stream.id,
        start=begin,
        end=until,
        interval_seconds=step,
        series=[PointOut.model_validate(point) for point in points],
        summary=SummaryOut.model_validate(found),
    )


@router.get(
    "/api/v1/users/{user_id}/analytics",
    summary="A creator's analytics across the streams they took live in a period (self or admin)",
    responses=problems(400, 401, 403, 404),
)
async def user_analytics(
    user_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    uow: Uow,
    start: From = None,
    end: To = None,
) -> UserAnalyticsOut:
    creator = await uow.users.get(user_id)
    if creator.id != user.id and user.role != Role.ADMIN:
        raise PermissionDenied("Only the creator or an admin can read their analytics.")
    now = _analytics(request).clock.now()
    until = parse_moment("to", end) or now
    try:
        default_start = until - DEFAULT_PERIOD
    except OverflowError:
        raise BadRequest("'to' is out of range.") from None
    begin, until = _range(start, end, default_start, until)
    if until - begin > MAX_PERIOD:
        raise BadRequest("The period is longer than 366 days.")
    found = await summary.creator_summary(uow.session, creator.id, begin, until, now)
    return UserAnalyticsOut.model_validate(found)
