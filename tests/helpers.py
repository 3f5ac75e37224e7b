"""Small helpers the API tests share."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from livecast.context import AppContext
from livecast.storage.models import Base

PASSWORD = "correct horse battery"


async def register(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def user_headers(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Register ``username`` and return the Authorization header of a fresh login."""
    await register(client, username)
    tokens = await login(client, username)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def make_admin(ctx: AppContext, username: str) -> None:
    from livecast.storage.models import User

    async with ctx.sessions() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.role = "admin"
        await session.commit()


async def row_counts(ctx: AppContext) -> dict[str, int]:
    """How many rows every table holds, to prove a refused request changed nothing."""
    counts: dict[str, int] = {}
    async with ctx.sessions() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    """The response is a problem document with ``status`` whose detail mentions ``fragments``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body
