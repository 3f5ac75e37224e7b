"""Fixtures of the realtime tests: a hub on a clock the test moves, an app, and helpers.

Every test that builds a context runs on both backends of the bus and the shared state:
``memory://`` and Redis (``LIVECAST_TEST_REDIS_URL``, default redis://127.0.0.1:6379/0), each
test under its own key prefix. When Redis does not answer, the Redis variants are skipped
with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.api.app import create_app
from livecast.context import AppContext, build_context
from livecast.events import redis_bus
from livecast.events.catalog import DomainEvent
from livecast.realtime.hub import Hub
from livecast.settings import Settings
from livecast.storage.models import Stream, User
from tests.realtime.wsclient import WsClient


class FakeClock:
    """Both clocks of the realtime code, moved only by the test."""

    def __init__(self) -> None:
        self._mono = 1000.0
        self._now = datetime.now(UTC)  # near the real clock, which stamps started_at

    def monotonic(self) -> float:
        return self._mono

    def now(self) -> datetime:
        self._now += timedelta(microseconds=1)  # time moves on, so stored times stay ordered
        return self._now

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._now += timedelta(seconds=seconds)


REDIS_ENV = "LIVECAST_TEST_REDIS_URL"
_redis_status: dict[str, str | None] = {}


def redis_url() -> str:
    return os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")


async def redis_unavailable() -> str | None:
    """None when Redis answers, else the plain reason the Redis variants are skipped."""
    if "reason" not in _redis_status:
        client = redis_bus.connect(redis_url())
        try:
            await asyncio.wait_for(client.ping(), 5)
            _redis_status["reason"] = None
        except Exception as exc:
            _redis_status["reason"] = f"Redis tests skipped: {redis_url()} is unreachable ({exc!r})"
        finally:
            await client.aclose()
    return _redis_status["reason"]


async def drop_prefix(prefix: str) -> None:
    client = redis_bus.connect(redis_url())
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def bus_url(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """The bus URL and key prefix of a test: in-process, or Redis under a fresh prefix."""
    if request.param == "memory":
        yield "memory://", "livecast"
        return
    reason = await redis_unavailable()
    if reason:
        pytest.skip(reason)
    prefix = f"lctest-{uuid.uuid4().hex[:12]}"
    yield redis_url(), prefix
    await drop_prefix(prefix)


@pytest.fixture
def settings(settings: Settings, bus_url: tuple[str, str]) -> Settings:
    url, prefix = bus_url
    return settings.model_copy(
        update={
            "realtime_tick_ms": 10,
            "reaction_interval_ms": 50,
            "bus_url": url,
            "bus_key_prefix": prefix,
        }
    )


@pytest.fixture
async def ctx(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AppContext]:
    context = await build_context(settings, engine=engine)
    yield context
    await context.close()  # the bus, Redis, and the background workers that use the database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def hub(ctx: AppContext, clock: FakeClock) -> AsyncIterator[Hub]:
    realtime = Hub(ctx, clock=clock, background=False)
    yield realtime
    await realtime.close()


@pytest.fixture
def app(ctx: AppContext, hub: Hub) -> FastAPI:
    return create_app(ctx, realtime=hub)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def bus_events(ctx: AppContext) -> list[DomainEvent]:
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    ctx.bus.subscribe(record)
    return seen


@dataclass
class Person:
    user: User
    token: str

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def person(ctx: AppContext) -> Callable[..., Any]:
    """Make a user straight in the database (no password hashing: tests stay fast)."""

    async def make(name: str, role: str = "streamer") -> Person:
        async with ctx.sessions() as session:
            user = User(
                username=name,
                email=f"{name}@example.com",
                password_hash="not-a-hash",
                role=role,
                display_name=name.title(),
            )
            session.add(user)
            await session.commit()
        return Person(user, ctx.signer.issue(user.id, role))

    return make


@pytest.fixture
def stream(ctx: AppContext) -> Callable[..., Any]:
    """Make a stream of ``owner``; ``live`` starts it (which posts the system event)."""

    async def make(owner: Person, *, visibility: str = "public", live: bool = False) -> Stream:
        async with ctx.unit_of_work() as uow:
            user = await uow.users.get(owner.id)
            created, _ = await uow.streams.create(
                user, {"title": "Room test", "visibility": visibility}
            )
            if live:
                await uow.streams.start(created)
            await uow.commit()
        return created

    return make


@pytest.fixture
def connect(app: FastAPI) -> Callable[..., Any]:
    """Open a room connection; the test must leave it with ``async with`` or disconnect."""

    def make(
        stream_id: uuid.UUID | str,
        person: Person | None = None,
        *,
        capacity: int = 100_000,
        headers: dict[str, str] | None = None,
        **query: Any,
    ) -> WsClient:
        if person is not None:
            query.setdefault("token", person.token)
        path = f"/ws/streams/{stream_id}"
        return WsClient(app, path, query=query, headers=headers, capacity=capacity)

    return make


async def beat(
    client: httpx.AsyncClient,
    stream_id: Any,
    session_id: str,
    who: Person | None = None,
    **body: Any,
) -> httpx.Response:
    """A player's heartbeat as ``who`` (anonymous when None); ``headers=`` adds headers."""
    headers = {**(who.headers if who else {}), **body.pop("headers", {})}
    return await client.post(
        f"/api/v1/streams/{stream_id}/viewers/heartbeat",
        headers=headers,
        json={"session_id": session_id, **body},
    )


async def eventually(predicate: Callable[[], bool], within: float = 10, what: str = "") -> None:
    """Wait until ``predicate`` holds, checking as the event loop runs; never a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.005)
