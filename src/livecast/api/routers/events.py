"""A stream's stored domain events: read back with filters, or tailed live over SSE."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from livecast.api.deps import Ctx, CurrentUser, Uow
from livecast.api.openapi import problems
from livecast.api.routers.users import Limit, Offset
from livecast.api.schemas import Page
from livecast.context import AppContext
from livecast.errors import BadRequest
from livecast.events.catalog import Severity
from livecast.events.store import EventQuery, EventStore, event_json

router = APIRouter(prefix="/api/v1/streams", tags=["events"])

KEEPALIVE_SECONDS = 15.0
EventType = Annotated[str | None, Query(alias="type", max_length=48)]
_ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"  # not a Unix number, which pydantic would take
From = Annotated[
    str | None,
    Query(alias="from", pattern=_ISO, description="ISO 8601 with zone; occurred at or after."),
]
To = Annotated[
    str | None, Query(alias="to", pattern=_ISO, description="ISO 8601 with zone; occurred before.")
]


class EventOut(BaseModel):
    id: int
    type: str
    stream_id: uuid.UUID
    user_id: uuid.UUID
    severity: Severity
    occurred_at: datetime
    data: dict[str, Any]


def _store(ctx: AppContext) -> EventStore:
    assert ctx.events is not None, "build_context starts the event store"
    return ctx.events


def _query(
    stream_id: uuid.UUID,
    type_: str | None,
    severity: Severity | None,
    from_: str | None,
    to: str | None,
) -> EventQuery:
    start, end = parse_moment("from", from_), parse_moment("to", to)
    if start is not None and end is not None and start >= end:
        raise BadRequest("'from' must be before 'to'.")
    return EventQuery(stream_id, type_, severity, start, end)


def parse_moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"'{name}' is not an ISO 8601 time.") from None
    if moment.tzinfo is None:
        raise BadRequest(f"'{name}' needs a timezone, e.g. 2026-11-21T10:00:00Z.")
    try:
        return moment.astimezone(UTC)  # as it is stored; year 1 or 9999 may not fit in UTC
    except OverflowError:
        raise BadRequest(f"'{name}' is out of range.") from None


@router.get(
    "/{stream_id}/events",
    summary="A stream's events, oldest first (owner or admin)",
    responses=problems(400, 401, 403, 404),
)
async def list_events(
    stream_id: uuid.UUID,
    user: CurrentUser,
    ctx: Ctx,
    uow: Uow,
    type_: EventType = None,
    severity: Severity | None = None,
    start: From = None,
    end: To = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[EventOut]:
    await uow.streams.get_owned(stream_id, user)
    query = _query(stream_id, type_, severity, start, end)
    rows, total = await _store(ctx).find(query, limit, offset)
    items = [EventOut.model_validate(event_json(row)) for row in rows]
    return Page[EventOut](items=items, total=total, limit=limit, offset=offset)


# Not in the OpenAPI document: a response that never ends cannot be described there, and
# schema-driven fuzzers would wait on it forever. docs/events.md documents it.
@router.get("/{stream_id}/events/stream", include_in_schema=False)
async def tail_events(
    stream_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    ctx: Ctx,
    uow: Uow,
    type_: EventType = None,
    severity: Severity | None = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    await uow.streams.get_owned(stream_id, user)
    await uow.session.close()  # the tail uses short sessions of its own
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    query = EventQuery(stream_id, type_, severity)
    return StreamingResponse(
        _tail(_store(ctx), query, after, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _tail(
    store: EventStore, query: EventQuery, after: int | None, request: Request
) -> AsyncIterator[str]:
    """New events as SSE frames; without ``Last-Event-ID`` it starts at the newest event."""
    if after is None:
        after = await store.newest_id(query)
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        changed = store.changes()
        rows, _ = await store.find(dataclasses.replace(query, after_id=after), 100)
        for row in rows:
            after = row.id
            data = json.dumps(event_json(row), separators=(",", ":"))
            yield f"id: {row.id}\nevent: {row.type}\ndata: {data}\n\n"
        if not rows:
            await store.wait(changed, KEEPALIVE_SECONDS)
            if not changed.is_set():
                yield ": keepalive\n\n"
