"""One unit of work: a database session, the services over it, and events published on commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livecast.events.bus import EventBus
from livecast.events.catalog import DomainEvent
from livecast.services.streams import PENDING_EVENTS, StreamService
from livecast.services.users import UserService


class UnitOfWork:
    """Services share the session; ``commit`` also publishes the events they queued."""

    def __init__(self, session: AsyncSession, bus: EventBus, min_followers: int) -> None:
        self.session = session
        self.bus = bus
        self.min_followers = min_followers

    @property
    def users(self) -> UserService:
        return UserService(self.session)

    @property
    def streams(self) -> StreamService:
        return StreamService(self.session, self.min_followers)

    async def commit(self) -> None:
        await self.session.commit()
        events: list[DomainEvent] = self.session.info.pop(PENDING_EVENTS, [])
        for event in events:
            await self.bus.publish(event)


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession], bus: EventBus, min_followers: int
) -> AsyncIterator[UnitOfWork]:
    async with sessions() as session:
        yield UnitOfWork(session, bus, min_followers)
