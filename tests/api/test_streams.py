"""Streams as records: create, read, edit, list, visibility, lifecycle, keys, eligibility."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from livecast.context import AppContext
from livecast.storage.models import Stream
from tests.helpers import assert_problem, make_admin, register, row_counts, user_headers


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"title": "My stream", **fields}
    response = await client.post("/api/v1/streams", headers=headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_shows_key_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    alice = await user_headers(client, "alice")
    created = await create(
        client, alice, title="Launch day", category="tech", tags=["Python", "live"], record=True
    )
    key = created["stream_key"]
    assert key.startswith("lc_sk_")
    assert len(key) - len("lc_sk_") >= 32  # 24 random bytes, URL-safe: 192 bits
    assert created["status"] == "idle"
    assert created["tags"] == ["python", "live"]
    assert created["ingest_url"] == "rtmp://localhost:1935/live"
    assert created["ingest_url_with_key"] == f"rtmp://localhost:1935/live/{key}"
    assert created["playback_url"] == f"/hls/{created['id']}/master.m3u8"

    fetched = (await client.get(f"/api/v1/streams/{created['id']}")).json()
    assert "stream_key" not in fetched
    assert key not in str(fetched)
    assert fetched["ingest_url"] == "rtmp://localhost:1935/live"
    assert fetched["username"] == "alice"

    async with ctx.sessions() as session:
        row = await session.scalar(select(Stream))
    assert row is not None
    assert key not in row.stream_key_hash
    assert len(row.stream_key_hash) == 64


async def test_scheduled_stream(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    created = await create(client, alice, scheduled_at=when)
    assert created["status"] == "scheduled"
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert_problem(
        await client.post(
            "/api/v1/streams", headers=alice, json={"title": "x", "scheduled_at": past}
        ),
        400,
        "future",
    )
    naive = await client.post(
        "/api/v1/streams", headers=alice, json={"title": "x", "scheduled_at": "2030-01-01T10:00:00"}
    )
    assert_problem(naive, 422, "scheduled_at")
    # Unscheduling makes it ready to go live now.
    patched = await client.patch(
        f"/api/v1/streams/{created['id']}", headers=alice, json={"scheduled_at": None}
    )
    assert patched.json()["status"] == "idle"


async def test_manual_lifecycle_and_refused_transitions(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    stream = await create(client, alice)
    sid = stream["id"]
    assert_problem(
        await client.post(f"/api/v1/streams/{sid}/end", headers=alice),
        409,
        "Cannot end a stream that is idle",
    )
    started = await client.post(f"/api/v1/streams/{sid}/start", headers=alice)
    assert started.status_code == 200
    assert started.json()["status"] == "live"
    assert started.json()["started_at"] is not None
    assert_problem(
        await client.delete(f"/api/v1/streams/{sid}", headers=alice),
        409,
        "Cannot cancel a stream that is live",
    )
    ended = await client.post(f"/api/v1/streams/{sid}/end", headers=alice)
    assert ended.json()["status"] == "ended"
    assert ended.json()["ended_at"] is not None
    assert_problem(await client.post(f"/api/v1/streams/{sid}/start", headers=alice), 409, "final")

    other = await create(client, alice)
    cancelled = await client.delete(f"/api/v1/streams/{other['id']}", headers=alice)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"


async def test_list_filters_and_pagination(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    a1 = await create(client, alice, title="a1", category="music", tags=["jazz"])
    await create(client, alice, title="a2", category="tech")
    b1 = await create(client, bob, title="b1", category="music", tags=["rock"])
    await client.post(f"/api/v1/streams/{a1['id']}/start", headers=alice)
    await client.post(f"/api/v1/streams/{b1['id']}/start", headers=bob)

    async def titles(query: str) -> list[str]:
        response = await client.get(f"/api/v1/streams?{query}")
        assert response.status_code == 200, response.text
        return sorted(item["title"] for item in response.json()["items"])

    assert await titles("status=live") == ["a1", "b1"]
    assert await titles("category=music") == ["a1", "b1"]
    assert await titles("tag=jazz") == ["a1"]
    assert await titles(f"user_id={a1['user_id']}") == ["a1", "a2"]
    assert await titles("status=live&tag=rock") == ["b1"]
    page = (await client.get("/api/v1/streams?limit=2&offset=0")).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    rest = (await client.get("/api/v1/streams?limit=2&offset=2")).json()
    assert len(rest["items"]) == 1
    assert_problem(await client.get("/api/v1/streams?status=bogus"), 422, "status")
    assert_problem(await client.get("/api/v1/streams?limit=1000"), 422, "limit")


async def test_visibility_hides_existence(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    private = await create(client, alice, title="secret", visibility="private")
    followers_only = await create(client, alice, title="fans", visibility="followers")

    for sid in (private["id"], followers_only["id"]):
        assert_problem(await client.get(f"/api/v1/streams/{sid}"), 404)
        assert_problem(await client.get(f"/api/v1/streams/{sid}", headers=bob), 404)
        assert_problem(
            await client.patch(f"/api/v1/streams/{sid}", headers=bob, json={"title": "x"}), 404
        )
    assert (await client.get("/api/v1/streams", headers=bob)).json()["total"] == 0

    alice_id = private["user_id"]
    await client.post(f"/api/v1/users/{alice_id}/follow", headers=bob)
    assert (
        await client.get(f"/api/v1/streams/{followers_only['id']}", headers=bob)
    ).status_code == 200
    assert_problem(await client.get(f"/api/v1/streams/{private['id']}", headers=bob), 404)
    assert [
        s["title"] for s in (await client.get("/api/v1/streams", headers=bob)).json()["items"]
    ] == ["fans"]
    assert (await client.get("/api/v1/streams", headers=alice)).json()["total"] == 2


async def test_someone_elses_stream_is_403_and_unchanged(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    stream = await create(client, alice)
    sid = stream["id"]
    before = await row_counts(ctx)
    for method, path, body in [
        ("PATCH", f"/api/v1/streams/{sid}", {"title": "pwned"}),
        ("DELETE", f"/api/v1/streams/{sid}", None),
        ("POST", f"/api/v1/streams/{sid}/start", None),
        ("POST", f"/api/v1/streams/{sid}/key/rotate", None),
    ]:
        response = await client.request(method, path, headers=bob, json=body)
        assert_problem(response, 403, "owner")
    assert (await client.get(f"/api/v1/streams/{sid}")).json()["title"] == "My stream"
    assert await row_counts(ctx) == before
    # An admin may act on any stream.
    await make_admin(ctx, "bob")
    patched = await client.patch(f"/api/v1/streams/{sid}", headers=bob, json={"title": "moderated"})
    assert patched.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 141}, "title"),
        ({"title": 42}, "title"),
        ({"title": "ok", "quality": "4k"}, "quality"),
        ({"title": "ok", "visibility": "secret"}, "visibility"),
        ({"title": "ok", "dvr_window": -1}, "dvr_window"),
        ({"title": "ok", "tags": ["has space"]}, "tags"),
        ({"title": "ok", "record": "maybe"}, "record"),
        ({"title": "ok", "status": "live"}, "status"),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, Any], field: str
) -> None:
    alice = await user_headers(client, "alice")
    before = await row_counts(ctx)
    assert_problem(await client.post("/api/v1/streams", headers=alice, json=body), 422, field)
    assert await row_counts(ctx) == before


async def test_huge_title_is_refused_before_parsing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    alice = await user_headers(client, "alice")
    before = await row_counts(ctx)
    response = await client.post(
        "/api/v1/streams", headers=alice, json={"title": "x" * (10 * 1024 * 1024)}
    )
    assert_problem(response, 413, "larger than")
    assert await row_counts(ctx) == before


async def test_patch_rules(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    stream = await create(client, alice, tags=["a", "b"])
    sid = stream["id"]
    assert_problem(
        await client.patch(f"/api/v1/streams/{sid}", headers=alice, json={"title": None}),
        422,
        "title cannot be null",
    )
    patched = await client.patch(
        f"/api/v1/streams/{sid}",
        headers=alice,
        json={"title": "New", "tags": ["b", "c"], "quality": "720p", "category": None},
    )
    assert patched.status_code == 200
    assert patched.json()["tags"] == ["b", "c"]
    assert patched.json()["quality"] == "720p"
    await client.post(f"/api/v1/streams/{sid}/start", headers=alice)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert_problem(
        await client.patch(f"/api/v1/streams/{sid}", headers=alice, json={"scheduled_at": future}),
        409,
        "Cannot schedule a stream that is live",
    )


async def test_key_rotation(client: httpx.AsyncClient, ctx: AppContext) -> None:
    alice = await user_headers(client, "alice")
    stream = await create(client, alice)
    rotated = await client.post(f"/api/v1/streams/{stream['id']}/key/rotate", headers=alice)
    assert rotated.status_code == 200
    new_key = rotated.json()["stream_key"]
    assert new_key != stream["stream_key"]
    async with ctx.sessions() as session:
        from livecast.services.streams import StreamService

        service = StreamService(session, 0)
        assert await service.by_key(stream["stream_key"]) is None
        found = await service.by_key(new_key)
        assert found is not None
        assert str(found.id) == stream["id"]


async def test_eligibility_threshold(client: httpx.AsyncClient, ctx: AppContext) -> None:
    ctx.settings.min_followers_to_stream = 2
    alice = await user_headers(client, "alice")
    eligibility = (await client.get("/api/v1/streams/eligibility", headers=alice)).json()
    assert eligibility == {
        "eligible": False,
        "follower_count": 0,
        "required": 2,
        "reason": "Need 2 followers to go live (you have 0).",
    }
    assert_problem(
        await client.post("/api/v1/streams", headers=alice, json={"title": "x"}),
        403,
        "Need 2 followers to go live (you have 0)",
    )
    alice_id = (await client.get("/api/v1/users/me", headers=alice)).json()["id"]
    fans = [await user_headers(client, name) for name in ("fan_one", "fan_two")]
    for fan in fans:
        await client.post(f"/api/v1/users/{alice_id}/follow", headers=fan)
    stream = await create(client, alice)
    # Checked again on start: losing a follower in between blocks going live.
    await client.delete(f"/api/v1/users/{alice_id}/follow", headers=fans[0])
    assert_problem(
        await client.post(f"/api/v1/streams/{stream['id']}/start", headers=alice),
        403,
        "Need 2 followers to go live (you have 1)",
    )
    assert (await client.get(f"/api/v1/streams/{stream['id']}")).json()["status"] == "idle"


async def test_viewers_cannot_create_streams(client: httpx.AsyncClient, ctx: AppContext) -> None:
    ctx.settings.default_role = "viewer"
    viewer = await user_headers(client, "victor")
    assert_problem(
        await client.post("/api/v1/streams", headers=viewer, json={"title": "x"}),
        403,
        "role (viewer)",
    )


async def test_unknown_stream_and_anonymous_mutation(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"/api/v1/streams/{uuid.uuid4()}"), 404)
    assert_problem(await client.post("/api/v1/streams", json={"title": "x"}), 401)
    await register(client, "alice")
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "nothing at")
    assert_problem(await client.put("/api/v1/streams"), 405)
