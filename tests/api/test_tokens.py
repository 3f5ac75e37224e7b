"""Personal API tokens."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from livecast.context import AppContext
from livecast.storage.models import ApiToken
from tests.helpers import assert_problem, user_headers


async def test_api_token_lifecycle(client: httpx.AsyncClient, ctx: AppContext) -> None:
    alice = await user_headers(client, "alice")
    created = await client.post("/api/v1/tokens", headers=alice, json={"name": "ci deploy"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("lc_pat_")
    assert len(token) >= len("lc_pat_") + 32

    async with ctx.sessions() as session:
        stored = list(await session.scalars(select(ApiToken)))
    assert len(stored) == 1
    assert token not in (stored[0].token_hash, stored[0].prefix)

    by_token = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/users/me", headers=by_token)
    assert me.status_code == 200
    assert me.json()["username"] == "alice"

    listed = (await client.get("/api/v1/tokens", headers=alice)).json()
    assert [t["name"] for t in listed] == ["ci deploy"]
    assert "token" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=alice)
    assert revoked.status_code == 204
    assert_problem(await client.get("/api/v1/users/me", headers=by_token), 401, "revoked")
    assert (await client.get("/api/v1/tokens", headers=alice)).json() == []


async def test_cannot_revoke_someone_elses_token(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    created = (await client.post("/api/v1/tokens", headers=alice, json={"name": "a"})).json()
    assert_problem(await client.delete(f"/api/v1/tokens/{created['id']}", headers=bob), 404)
    assert len((await client.get("/api/v1/tokens", headers=alice)).json()) == 1
