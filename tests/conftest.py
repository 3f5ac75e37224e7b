"""Shared fixtures: a migrated database on SQLite and, when reachable, PostgreSQL.

PostgreSQL is selected by LIVECAST_TEST_DATABASE_URL. Each test gets its own schema there, so
tests never see each other's rows. When the variable is unset or the server does not answer,
the PostgreSQL variants are skipped with the reason, and the run ends by saying so.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.api.app import create_app
from livecast.context import AppContext, build_context
from livecast.settings import Settings
from livecast.storage.db import create_engine

PG_ENV = "LIVECAST_TEST_DATABASE_URL"
_pg_status: dict[str, str | None] = {}


async def _postgres_unavailable() -> str | None:
    """None when PostgreSQL can be used, else the plain reason it cannot."""
    if "reason" in _pg_status:
        return _pg_status["reason"]
    url = os.environ.get(PG_ENV)
    reason: str | None = None
    if not url:
        reason = f"PostgreSQL tests not run: {PG_ENV} is not set"
    else:

        async def probe() -> None:
            engine = create_engine(url)
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            finally:
                await engine.dispose()

        try:
            await asyncio.wait_for(probe(), 10)
        except Exception as exc:
            reason = f"PostgreSQL tests skipped: {_safe(url)} is unreachable ({exc!r})"
    _pg_status["reason"] = reason
    return reason


def _safe(url: str) -> str:
    from livecast.settings import mask_url

    return mask_url(url)


# `make test` runs two xdist workers with --dist loadgroup. Tests in one group run on one
# worker, one after another: those sharing the Redis server (its channels and streams are
# global), and the media tests (ffmpeg, Chromium), which need a core and measure time.
_GROUPS = {
    "redis": (
        "[redis",
        "-redis",
        "tests/realtime/test_rules.py",
        "tests/realtime/test_multinode.py",
        "tests/realtime/test_two_processes.py",
        "tests/events/test_redis_stream.py",
        "tests/analytics/test_multinode.py",
    ),
    "media": ("tests/e2e/", "tests/transcode/"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = next(
            (g for g, marks in _GROUPS.items() if any(m in item.nodeid for m in marks)), None
        )
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "reason" not in _pg_status and getattr(terminalreporter.config.option, "numprocesses", 0):
        # Under xdist the workers probed PostgreSQL, not this process: probe it here too.
        asyncio.run(_postgres_unavailable())
    reason = _pg_status.get("reason")
    if reason:
        terminalreporter.write_sep("!", reason, yellow=True)
    elif "reason" in _pg_status:
        terminalreporter.write_line(f"PostgreSQL tests ran against {_safe(os.environ[PG_ENV])}")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="test-signing-key-0123456789abcdef",  # type: ignore[arg-type]
        auth_rate_limit_per_minute=1000,
        transcode_enabled=False,  # ladders run ffmpeg: only the transcode tests turn them on
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(settings.effective_database_url)
        yield engine
        await engine.dispose()
        return
    reason = await _postgres_unavailable()
    if reason:
        pytest.skip(reason)
    url = os.environ[PG_ENV]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, server_settings={"search_path": schema})
    try:
        yield engine
    finally:
        await engine.dispose()
        try:
            await _drop_schema(admin, schema)
        finally:
            await admin.dispose()


async def _drop_schema(admin: AsyncEngine, schema: str) -> None:
    """Drop a test's schema; a connection the test left holding locks there is an error.

    Waiting on such a connection would hang the run, so the wait is bounded: the holders are
    named in the failure and terminated, so the schema still goes.
    """
    try:
        async with admin.begin() as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '15s'"))
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        return
    except DBAPIError:
        pass
    async with admin.begin() as conn:
        holders = (
            await conn.execute(
                text(
                    "SELECT DISTINCT a.pid, a.state, a.query FROM pg_locks l"
                    " JOIN pg_class c ON c.oid = l.relation"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE n.nspname = :schema AND a.pid <> pg_backend_pid()"
                ),
                {"schema": schema},
            )
        ).all()
        for pid, _, _ in holders:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    async with admin.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    found = "; ".join(f"pid {pid} {state}: {query[:200]}" for pid, state, query in holders)
    raise AssertionError(f"the test left connections holding locks in its schema: {found}")


@pytest.fixture
async def ctx(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AppContext]:
    context = await build_context(settings, engine=engine)
    yield context
    await context.close()  # stops background workers before the test's database goes


@pytest.fixture
async def client(ctx: AppContext) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    # Their background tasks use the database: stop them before it goes.
    await app.state.realtime.close()
    await app.state.live.close()
