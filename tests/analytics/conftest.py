"""Fixtures of the analytics tests: a hub and an analytics worker on a clock the test moves.

The stream's ``started_at`` and ``ended_at`` are set to the fake clock's time, so every
number the tests expect follows from the scripted join, heartbeat and leave times alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.analytics.engine import Analytics
from livecast.api.app import create_app
from livecast.context import AppContext, build_context
from livecast.realtime.hub import Hub
from livecast.settings import Settings
from livecast.storage.models import Stream
from tests.realtime.conftest import FakeClock, Person, person  # noqa: F401 - a fixture
from tests.realtime.conftest import beat as player_beat
from tests.realtime.wsclient import WsClient

API = "/api/v1"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"realtime_tick_ms": 10, "reaction_interval_ms": 20})


@pytest.fixture
async def ctx(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AppContext]:
    context = await build_context(settings, engine=engine)
    yield context
    await context.close()


class SteadyClock(FakeClock):
    """A fake clock that stands still between moves, so scripted times are exact."""

    def __init__(self) -> None:
        super().__init__()
        now = self._now.timestamp()
        self._now = datetime.fromtimestamp(now - now % 10, UTC)  # on a snapshot slot

    def now(self) -> datetime:
        return self._now


@pytest.fixture
def clock() -> SteadyClock:
    return SteadyClock()


@pytest.fixture
async def hub(ctx: AppContext, clock: FakeClock) -> AsyncIterator[Hub]:
    realtime = Hub(ctx, clock=clock, background=False)
    yield realtime
    await realtime.close()


@pytest.fixture
def app(ctx: AppContext, hub: Hub) -> FastAPI:
    return create_app(ctx, realtime=hub)


@pytest.fixture
async def analytics(app: FastAPI) -> AsyncIterator[Analytics]:
    worker: Analytics = app.state.analytics
    yield worker
    await worker.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.live.close()


@pytest.fixture
def stream(ctx: AppContext) -> Callable[..., Any]:
    async def make(owner: Person, title: str = "Analytics test") -> Stream:
        async with ctx.unit_of_work() as uow:
            user = await uow.users.get(owner.id)
            created, _ = await uow.streams.create(user, {"title": title})
            await uow.commit()
        return created

    return make


async def _move(ctx: AppContext, stream_id: uuid.UUID, start: bool, at: datetime) -> None:
    """Start or end the stream, stamped with the fake clock's ``at``."""
    async with ctx.unit_of_work() as uow:
        record = await uow.session.get(Stream, stream_id)
        assert record is not None
        if start:
            await uow.streams.start(record)
            record.started_at = at
        else:
            await uow.streams.end(record)
            record.ended_at = at
        await uow.commit()


@pytest.fixture
def go_live(ctx: AppContext, clock: FakeClock) -> Callable[..., Any]:
    """Start the stream now, by the fake clock."""

    async def start(stream_id: uuid.UUID) -> datetime:
        started = clock.now()
        await _move(ctx, stream_id, True, started)
        return started

    return start


@pytest.fixture
def end(ctx: AppContext, clock: FakeClock) -> Callable[..., Any]:
    """End the stream now, by the fake clock."""

    async def finish(stream_id: uuid.UUID) -> None:
        await _move(ctx, stream_id, False, clock.now())

    return finish


@pytest.fixture
def connect(app: FastAPI) -> Callable[..., WsClient]:
    def make(stream_id: uuid.UUID, who: Person, **query: Any) -> WsClient:
        return WsClient(app, f"/ws/streams/{stream_id}", query={"token": who.token, **query})

    return make


async def beat(
    client: httpx.AsyncClient,
    stream_id: Any,
    session_id: str,
    who: Person | None = None,
    **body: Any,
) -> httpx.Response:
    """A heartbeat that must be accepted."""
    response = await player_beat(client, stream_id, session_id, who, **body)
    assert response.status_code == 200, response.text
    return response
