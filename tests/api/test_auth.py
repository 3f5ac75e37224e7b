"""Registration, login, refresh, token expiry and forgery, rate limits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select

from livecast.context import AppContext
from livecast.security.tokens import TokenSigner
from livecast.storage.models import User
from tests.helpers import PASSWORD, assert_problem, login, register, row_counts


async def test_register_login_and_me(client: httpx.AsyncClient) -> None:
    created = await register(client, "Alice")
    assert created["username"] == "alice"
    assert created["role"] == "streamer"
    assert "password" not in str(created)
    tokens = await login(client, "alice")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_token"].startswith("lc_rt_")
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"


async def test_password_is_stored_as_argon2id(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await register(client, "bob")
    async with ctx.sessions() as session:
        user = await session.scalar(select(User).where(User.username == "bob"))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_duplicate_username_or_email_is_409(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await register(client, "carol")
    before = await row_counts(ctx)
    same_name = await client.post(
        "/api/v1/auth/register",
        json={"username": "CAROL", "email": "other@example.com", "password": PASSWORD},
    )
    assert_problem(same_name, 409, "username")
    same_email = await client.post(
        "/api/v1/auth/register",
        json={"username": "carol2", "email": "Carol@Example.com", "password": PASSWORD},
    )
    assert_problem(same_email, 409, "email")
    assert await row_counts(ctx) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": PASSWORD}, "username"),
        ({"username": "ab", "email": "a@example.com", "password": PASSWORD}, "username"),
        ({"username": "dave", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"username": "dave", "email": "d@example.com", "password": "short"}, "password"),
        ({"username": 5, "email": "d@example.com", "password": PASSWORD}, "username"),
        ({"username": "dave", "email": "d@example.com", "password": PASSWORD, "x": 1}, "x"),
    ],
)
async def test_register_validation_names_the_field(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, object], field: str
) -> None:
    before = await row_counts(ctx)
    problem = assert_problem(await client.post("/api/v1/auth/register", json=body), 422, field)
    assert any(error["field"] == field for error in problem["errors"])
    assert await row_counts(ctx) == before


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    await register(client, "erin")
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "erin", "password": "not the password"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "not the password"}
    )
    assert_problem(wrong, 401, "Wrong username or password")
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    await register(client, "frank")
    first = await login(client, "frank")
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    # Reusing the first token means it leaked: refused, and the rotated one dies with it.
    reuse = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert_problem(reuse, 401, "already used")
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated})
    assert_problem(after, 401)


async def test_forged_and_expired_tokens_are_401(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    created = await register(client, "grace")
    user_id = uuid.UUID(created["id"])
    forged = TokenSigner("some-other-key-that-is-long-enough", 900).issue(user_id, "admin")
    expired = ctx.signer.issue(user_id, "streamer", now=datetime.now(UTC) - timedelta(hours=1))
    none_alg = jwt.encode({"sub": str(user_id), "exp": 9999999999}, key=None, algorithm="none")
    for token, message in [
        (forged, "invalid"),
        (expired, "expired"),
        (none_alg, "invalid"),
        ("garbage", "invalid"),
    ]:
        response = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert_problem(response, 401, message)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_login_is_rate_limited_per_ip(client: httpx.AsyncClient, ctx: AppContext) -> None:
    from livecast.security.ratelimit import RateLimiter

    ctx.auth_limiter = RateLimiter(3, 60)
    statuses = []
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/login", json={"username": "nobody", "password": "whatever1"}
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert_problem(response, 429, "Too many login attempts")


async def test_malformed_body_is_a_clear_400(client: httpx.AsyncClient, ctx: AppContext) -> None:
    before = await row_counts(ctx)
    response = await client.post(
        "/api/v1/auth/register",
        content=b"\x03\xff\x7fd",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "UTF-8 encoded JSON")
    broken = await client.post(
        "/api/v1/auth/register",
        content=b'{"username": ',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(broken, 422, "JSON")
    assert await row_counts(ctx) == before
