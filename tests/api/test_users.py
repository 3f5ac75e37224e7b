"""Profiles, roles and follows."""

from __future__ import annotations

import uuid

import httpx

from livecast.context import AppContext
from tests.helpers import assert_problem, make_admin, register, row_counts, user_headers


async def test_public_profile_and_counts(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    bob_id = (await client.get("/api/v1/users/me", headers=bob)).json()["id"]
    alice_id = (await client.get("/api/v1/users/me", headers=alice)).json()["id"]

    assert (await client.post(f"/api/v1/users/{bob_id}/follow", headers=alice)).status_code == 204
    # Following twice is the same as once.
    assert (await client.post(f"/api/v1/users/{bob_id}/follow", headers=alice)).status_code == 204

    profile = (await client.get(f"/api/v1/users/{bob_id}")).json()
    assert profile["follower_count"] == 1
    assert profile["following_count"] == 0
    assert "email" not in profile
    followers = (await client.get(f"/api/v1/users/{bob_id}/followers")).json()
    assert [u["username"] for u in followers["items"]] == ["alice"]
    assert followers["total"] == 1
    following = (await client.get(f"/api/v1/users/{alice_id}/following")).json()
    assert [u["username"] for u in following["items"]] == ["bob"]

    assert (await client.delete(f"/api/v1/users/{bob_id}/follow", headers=alice)).status_code == 204
    assert (await client.get(f"/api/v1/users/{bob_id}")).json()["follower_count"] == 0


async def test_follow_errors(client: httpx.AsyncClient, ctx: AppContext) -> None:
    alice = await user_headers(client, "alice")
    alice_id = (await client.get("/api/v1/users/me", headers=alice)).json()["id"]
    before = await row_counts(ctx)
    assert_problem(
        await client.post(f"/api/v1/users/{alice_id}/follow", headers=alice), 400, "yourself"
    )
    assert_problem(await client.post(f"/api/v1/users/{uuid.uuid4()}/follow", headers=alice), 404)
    assert_problem(await client.post(f"/api/v1/users/{alice_id}/follow"), 401)
    assert_problem(await client.get("/api/v1/users/not-a-uuid"), 422, "user_id")
    assert await row_counts(ctx) == before


async def test_profile_edit(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    response = await client.patch(
        "/api/v1/users/me", headers=alice, json={"display_name": "Alice A.", "bio": "<b>hi</b>"}
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice A."
    assert response.json()["bio"] == "<b>hi</b>"  # stored as text; escaped where rendered


async def test_only_admins_change_roles(client: httpx.AsyncClient, ctx: AppContext) -> None:
    alice = await user_headers(client, "alice")
    bob_id = (await register(client, "bob"))["id"]
    assert_problem(
        await client.put(f"/api/v1/users/{bob_id}/role", headers=alice, json={"role": "admin"}),
        403,
        "admin",
    )
    await make_admin(ctx, "alice")
    changed = await client.put(
        f"/api/v1/users/{bob_id}/role", headers=alice, json={"role": "moderator"}
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "moderator"
    assert_problem(
        await client.put(f"/api/v1/users/{bob_id}/role", headers=alice, json={"role": "god"}),
        422,
        "role",
    )
