"""Database engine, sessions and migrations.

The URL picks the backend: ``sqlite+aiosqlite://`` for the embedded default (WAL mode, foreign
keys on) or ``postgresql+asyncpg://`` for production. Migrations are Alembic's, run in process.

The hot write paths (a chat room's writer, the event store) describe their transaction as a plain
function of a synchronous :class:`~sqlalchemy.orm.Session` and hand it to :class:`Transactions`.
On a SQLite file that function runs on one thread of its own over the ``sqlite3`` driver: its
statements then need no turn of the event loop each (aiosqlite answers every statement through
the loop, and a loop busy broadcasting to ten thousand sockets takes milliseconds per turn), and
the writers it serialises never meet SQLite's busy handler, which sleeps 1 to 100 ms before
trying the lock again. Elsewhere the same function runs through ``AsyncSession.run_sync``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_TIMEOUT_S = 30  # how long a SQLite connection waits for another's write lock


def create_engine(url: str, **connect_args: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_TIMEOUT_S, **connect_args}
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _ensure_sqlite_dir(url: str) -> None:
    _, _, path = url.partition(":///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


T = TypeVar("T")


class Transactions(Protocol):
    """Runs ``work`` with a session of its own and returns what it returns.

    ``work`` commits (or not) itself; the session is closed after it, rolling back whatever
    was not committed.
    """

    async def run(self, work: Callable[[Session], T]) -> T: ...

    async def close(self) -> None: ...


class LoopTransactions:
    """``work`` through ``AsyncSession.run_sync``: each statement is a turn of the event loop."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def run(self, work: Callable[[Session], T]) -> T:
        async with self.sessions() as session:
            return await session.run_sync(work)

    async def close(self) -> None:
        return None


class ThreadTransactions:
    """``work`` on one thread of its own, over a synchronous engine of the same database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="db-writer")

    async def run(self, work: Callable[[Session], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.sessions() as session:
            return work(session)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._shut)

    def _shut(self) -> None:
        self._thread.shutdown(wait=True)
        self.engine.dispose()


def transactions(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> Transactions:
    """A writer thread for a SQLite file; ``sessions`` (of ``engine``) for anything else."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return LoopTransactions(sessions)
    sync = create_sync_engine(
        url.set(drivername="sqlite"), connect_args={"timeout": SQLITE_TIMEOUT_S}
    )
    event.listen(sync, "connect", _configure_sqlite)
    return ThreadTransactions(sync)


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config  # imported when migrating: ~150 ms

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (the newest by default)."""
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(_read_revision)


def _read_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer a trivial query."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
