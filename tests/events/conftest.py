"""Fixtures for events and webhooks: fast retries, and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from livecast.context import AppContext, build_context
from livecast.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="test-signing-key-0123456789abcdef",  # type: ignore[arg-type]
        auth_rate_limit_per_minute=1000,
        webhook_allow_networks="127.0.0.0/8",
        webhook_retry_base_seconds=0.01,
        webhook_retry_max_seconds=0.05,
        webhook_max_attempts=5,
        webhook_failure_limit=3,
        webhook_timeout_seconds=2,
    )


@pytest.fixture
async def ctx(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AppContext]:
    """The shared context; it stops its workers, and the engine fixture disposes the engine."""
    context = await build_context(settings, engine=engine)
    yield context
    await context.close()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (then 200) and records it."""

    statuses: list[int] = field(default_factory=list)
    requests: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.put_nowait(Received(headers, body))
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    async def next(self, within: float = 5) -> Received:
        return await asyncio.wait_for(self.requests.get(), within)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


async def poll(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    done: Callable[[dict[str, Any]], bool],
    within: float = 5,
) -> dict[str, Any]:
    """GET ``url`` until ``done`` holds for its JSON; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            page: dict[str, Any] = (await client.get(url, headers=headers)).json()
            if done(page):
                return page
            await asyncio.sleep(0.01)
