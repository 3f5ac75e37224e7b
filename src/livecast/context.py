"""The shared components of one running livecast, built once from Settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from livecast.events.bus import EventBus, MemoryBus
from livecast.events.redis_bus import RedisBus, connect
from livecast.events.store import EventStore
from livecast.observability.metrics import Metrics
from livecast.security.ratelimit import RateLimiter
from livecast.security.tokens import TokenSigner
from livecast.services.uow import UnitOfWork, unit_of_work
from livecast.settings import Settings
from livecast.storage import db
from livecast.webhooks.dispatcher import RetryPolicy, WebhookDispatcher
from livecast.webhooks.guard import AddressPolicy, parse_networks

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    transactions: db.Transactions  # the hot write paths' transactions (see storage/db.py)
    signer: TokenSigner
    bus: EventBus
    metrics: Metrics = field(default_factory=Metrics)
    auth_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(20, 60))
    redis: Redis | None = None  # with LIVECAST_BUS_URL=redis://: presence and rate limits too
    events: EventStore | None = None  # stores every event this node publishes
    webhooks: WebhookDispatcher | None = None
    owns_engine: bool = True  # False when the caller passed the engine in: it disposes it

    @property
    def refresh_ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.refresh_token_ttl_seconds)

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A session with the services over it; ``commit`` publishes the queued events."""
        return unit_of_work(self.sessions, self.bus, self.settings.min_followers_to_stream)

    def start_events(self) -> None:
        """Store every event this node publishes and deliver it to the webhooks that want it."""
        self.events = EventStore(self.sessions, self.transactions, self.bus)
        self.webhooks = WebhookDispatcher(
            self.sessions, self.bus, webhook_policy(self.settings), retry_policy(self.settings)
        )
        self.events.listen(self.webhooks.enqueue)
        self.webhooks.start()

    async def close(self) -> None:
        """Stop the workers, then the bus, Redis and the database, each within a bound.

        A step that overruns is logged by name and the next one still runs, so one stuck
        component cannot hold the process (or a test's teardown) forever.
        """
        if self.events is not None:  # first: what it still stores may be sent to webhooks
            await _bounded("events", self.events.close())
        if self.webhooks is not None:
            await _bounded("webhooks", self.webhooks.close())
        await _bounded("bus", self.bus.close())
        await _bounded("database writer", self.transactions.close())
        if self.redis is not None:
            await _bounded("redis", self.redis.aclose())
        if self.owns_engine:
            await _bounded("database", self.engine.dispose())


async def _bounded(step: str, work: Coroutine[Any, Any, None], seconds: float = 15) -> None:
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        log.error("shutdown step overran; going on", extra={"step": step, "seconds": seconds})


async def build_context(
    settings: Settings, *, engine: AsyncEngine | None = None, migrate: bool = True
) -> AppContext:
    """Connect to the database (migrating it to the newest schema) and wire the components.

    ``engine`` overrides the one the settings describe (tests use it to pin a schema, and
    several contexts may share it); whoever passes it in disposes it.
    """
    owns_engine = engine is None
    engine = engine or db.create_engine(settings.effective_database_url)
    if migrate:
        await db.upgrade(engine)
    bus, redis = await open_bus(settings)
    sessions = db.session_factory(engine)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        transactions=db.transactions(engine, sessions),
        signer=TokenSigner(settings.signing_key(), settings.access_token_ttl_seconds),
        bus=bus,
        auth_limiter=RateLimiter(settings.auth_rate_limit_per_minute, 60),
        redis=redis,
        owns_engine=owns_engine,
    )
    ctx.start_events()
    return ctx


def webhook_policy(settings: Settings) -> AddressPolicy:
    return AddressPolicy(parse_networks(settings.webhook_allow_networks))


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.webhook_max_attempts,
        base_seconds=settings.webhook_retry_base_seconds,
        max_seconds=settings.webhook_retry_max_seconds,
        failure_limit=settings.webhook_failure_limit,
        timeout_seconds=settings.webhook_timeout_seconds,
    )


async def open_bus(settings: Settings) -> tuple[EventBus, Redis | None]:
    """The bus ``LIVECAST_BUS_URL`` names, and the Redis client behind it if there is one."""
    if settings.bus_url.startswith("memory://"):
        return MemoryBus(), None
    redis = connect(settings.bus_url)
    bus = RedisBus(redis, settings.bus_key_prefix)
    try:
        await bus.start()
    except BaseException:
        await redis.aclose()
        raise
    return bus, redis
