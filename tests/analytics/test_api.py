"""A stream run end to end through the API: viewers, chat, end; then its analytics.

Times are scripted on the fake clock (t seconds after the start): every session heartbeats
every 10 s from its join; the analytics worker ticks every 5 s. Expected numbers:

  bob    tab 1 [0, 115), tab 2 [55, 175)  -> watched [0, 175): 175 s
  carol  [30, 85), again [145, 240)       -> 55 + 95 = 150 s
  guest  [100, 130): silent after 130, so the sweep ends the session at its last heartbeat
  => 5 views, 3 unique, peak 2, watch 355 s, average 355 / 240, average watch 355 / 3.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from livecast.analytics.engine import Analytics
from livecast.context import AppContext
from livecast.realtime.hub import Hub
from livecast.storage.models import Follow
from tests.analytics.conftest import API, beat
from tests.helpers import assert_problem
from tests.realtime.conftest import FakeClock, Person

# session -> (who, join, leave or None: stays; "silent": stops heartbeating at 130)
SESSIONS: dict[str, tuple[str, int, int | None]] = {
    "bob-tab-0001": ("bob", 0, 115),
    "bob-tab-0002": ("bob", 55, 175),
    "carol-000001": ("carol", 30, 85),
    "guest-000001": ("guest", 100, 135),
    "carol-000002": ("carol", 145, None),
}
LATENCY = {"bob": 2000, "carol": 4000, "guest": 3000}


def _active(t: int) -> list[str]:
    return [
        sid
        for sid, (_, join, leave) in SESSIONS.items()
        if join <= t and (leave is None or t < leave)
    ]


async def _chat(connect: Any, stream_id: uuid.UUID, who: Person, session: str, **acts: Any) -> None:
    """``who`` comments, likes, reacts and shares over the room socket of their session."""
    async with connect(stream_id, who, session_id=session) as ws:
        await ws.recv()
        for n, text in enumerate(acts.get("comments", ())):
            await ws.send(type="comment", cid=f"{session}-{n}", text=text)
            assert (await ws.ack(f"{session}-{n}"))["ok"] is True
        for kind in acts.get("reactions", ()):
            await ws.send(type="reaction", kind=kind)
        if acts.get("like"):
            await ws.send(type="like")
        if acts.get("share"):
            await ws.send(type="share")
        want = acts["counters"]
        await ws.event(
            lambda e: e["type"] == "counters" and (e["likes"], e["shares"]) == want, within=10
        )


async def test_a_stream_run_end_to_end_gives_exact_analytics(
    ctx: AppContext,
    hub: Hub,
    analytics: Analytics,
    client: httpx.AsyncClient,
    clock: FakeClock,
    person: Any,
    stream: Any,
    go_live: Any,
    end: Any,
    connect: Any,
) -> None:
    alice: Person = await person("alice")
    people = {"bob": await person("bob", "viewer"), "carol": await person("carol", "viewer")}
    dave: Person = await person("dave", "viewer")
    erin: Person = await person("erin", "viewer")
    show = await stream(alice)
    started = await go_live(show.id)
    async with ctx.sessions() as db:  # a follow from before the stream does not count
        db.add(
            Follow(
                follower_id=erin.id, followee_id=alice.id, created_at=started - timedelta(days=40)
            )
        )
        await db.commit()

    for t in range(0, 245, 5):
        for sid in _active(t):
            who, join, _ = SESSIONS[sid]
            silent = who == "guest" and t > 130
            if (t - join) % 10 == 0 and not silent:
                extra = (
                    {"buffering_ms": 1000, "buffering_events": 1}
                    if (sid, t) == ("bob-tab-0001", 40)
                    else {}
                )
                await beat(client, show.id, sid, people.get(who), latency_ms=LATENCY[who], **extra)
        for sid, (who, _, leave) in SESSIONS.items():
            if leave == t and who != "guest":
                left = await client.post(
                    f"{API}/streams/{show.id}/leave",
                    json={"session_id": sid},
                    headers=people[who].headers,
                )
                assert left.status_code == 204, left.text
        if t == 0:
            await _chat(
                connect,
                show.id,
                people["bob"],
                "bob-tab-0001",
                comments=["hello", "again"],
                reactions=["fire", "fire"],
                like=True,
                counters=(1, 0),
            )
        if t == 30:
            await _chat(
                connect,
                show.id,
                people["carol"],
                "carol-000001",
                comments=["hi"],
                share=True,
                counters=(1, 1),
            )
        if t == 60:
            followed = await client.post(f"{API}/users/{alice.id}/follow", headers=dave.headers)
            assert followed.status_code == 204, followed.text
        if t == 165:
            expired = await hub.viewers.sweep()
            assert [s.session_id for s in expired] == ["guest-000001"]
        if t == 240:
            await end(show.id)
        await analytics.tick()
        clock.advance(5)

    url = f"{API}/streams/{show.id}/analytics"
    aligned = started.replace(microsecond=0).isoformat()
    response = await client.get(url, params={"from": aligned}, headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    summary = body["summary"]
    assert summary["final"] is True
    assert summary["duration_seconds"] == pytest.approx(240, abs=0.01)
    assert (summary["total_views"], summary["unique_viewers"]) == (5, 3)
    assert summary["peak_concurrent_viewers"] == 2
    assert summary["median_concurrent_viewers"] == 1
    assert summary["total_watch_seconds"] == pytest.approx(355, abs=0.01)
    assert summary["average_concurrent_viewers"] == pytest.approx(355 / 240, abs=0.001)
    assert summary["average_watch_seconds"] == pytest.approx(355 / 3, abs=0.01)
    assert summary["retention"] == [
        {"minute": 0, "viewers": 3, "share": 1.0},
        {"minute": 1, "viewers": 2, "share": 0.6667},
        {"minute": 2, "viewers": 2, "share": 0.6667},
        {"minute": 3, "viewers": 0, "share": 0.0},  # bob, the longest, watched 175 s
    ]
    # bob joined in minute 0 and watched minutes 0-2; carol 0-1 and 2-3; the guest minutes 1-2.
    assert summary["cohorts"] == [
        {"minute": 0, "joined": 2, "remaining": [2, 2, 2, 1]},
        {"minute": 1, "joined": 1, "remaining": [1, 1, 0]},
    ]
    assert (summary["chat_messages"], summary["unique_chatters"]) == (3, 2)
    assert summary["chat_messages_per_minute"] == pytest.approx(0.75, abs=0.001)
    assert summary["reactions"] == {"like": 0, "love": 0, "fire": 2, "clap": 0, "wow": 0}
    assert (summary["likes"], summary["shares"], summary["followers_gained"]) == (1, 1, 1)
    assert (summary["engaged_viewers"], summary["engagement_rate"]) == (2, 0.6667)

    points = {p["time"]: p for p in body["series"]}
    assert body["interval_seconds"] == 10
    assert len(body["series"]) == 23  # every 10 s while live: taken at 10 s, 20 s … 230 s
    at_50 = points[_iso(started, 50)]
    assert (at_50["viewers"], at_50["heartbeats"]) == (2, 2)
    assert (at_50["latency_avg_ms"], at_50["latency_p95_ms"]) == (3000, 4000)
    assert (at_50["buffer_health"], at_50["rebuffer_events"]) == (0.95, 1)
    assert at_50["quality_score"] == 80.0  # 5 % rebuffering costs 20 points
    at_110 = points[_iso(started, 110)]
    assert (at_110["viewers"], at_110["heartbeats"]) == (2, 3)
    assert at_110["ingest_bitrate_bps"] is None  # published through the API: no ingest

    creator = await client.get(f"{API}/users/{alice.id}/analytics", headers=alice.headers)
    assert creator.status_code == 200, creator.text
    overall = creator.json()
    assert (overall["streams"], overall["total_views"], overall["unique_viewers"]) == (1, 5, 3)
    assert overall["total_watch_seconds"] == pytest.approx(355, abs=0.01)
    assert overall["average_concurrent_viewers"] == pytest.approx(355 / 240, abs=0.001)
    assert (overall["chat_messages"], overall["unique_chatters"]) == (3, 2)
    assert (overall["followers_gained"], overall["engagement_rate"]) == (1, 0.6667)
    assert [item["stream_id"] for item in overall["items"]] == [str(show.id)]

    minutes = await client.get(url, params={"from": aligned, "interval": 60}, headers=alice.headers)
    per_minute = minutes.json()["series"]
    # The live count holds the silent guest until the sweep at 165 s: 3 at 145-160 s. The
    # summary, from the sessions, knows the guest left at its last heartbeat.
    assert [p["viewers_peak"] for p in per_minute] == [2, 2, 3, 1]
    assert [p["samples"] for p in per_minute] == [5, 6, 6, 6]


def _iso(started: Any, seconds: int) -> str:
    moment = started.replace(microsecond=0) + timedelta(seconds=seconds)
    return moment.isoformat().replace("+00:00", "Z")


async def test_only_the_streamer_and_admins_read_analytics(
    client: httpx.AsyncClient, person: Any, stream: Any, go_live: Any, clock: FakeClock
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", "viewer")
    root: Person = await person("root", "admin")
    show = await stream(alice)
    await go_live(show.id)
    clock.advance(1)
    url = f"{API}/streams/{show.id}/analytics"
    assert_problem(await client.get(url, headers=bob.headers), 403, "owner")
    assert_problem(await client.get(url), 401)
    assert_problem(
        await client.get(f"{API}/streams/{uuid.uuid4()}/analytics", headers=alice.headers), 404
    )
    assert (await client.get(url, headers=root.headers)).status_code == 200
    mine = await client.get(url, headers=alice.headers)
    assert mine.status_code == 200, mine.text
    assert mine.json()["summary"]["final"] is False

    creator = f"{API}/users/{alice.id}/analytics"
    assert_problem(await client.get(creator, headers=bob.headers), 403, "creator")
    assert_problem(
        await client.get(f"{API}/users/{uuid.uuid4()}/analytics", headers=bob.headers), 404
    )
    assert (await client.get(creator, headers=root.headers)).json()["streams"] == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 400),
        ({"from": "2026-01-01T00:00:00"}, 400),  # no timezone
        ({"from": "2020-01-01T00:00:00Z", "interval": 1}, 400),  # too many points
        ({"from": "0001-01-01T00:00:00+05:00"}, 400),  # before year 1 in UTC
        ({"interval": 0}, 422),
        ({"interval": "1.5"}, 422),
        ({"interval": "true"}, 422),
    ],
)
async def test_bad_ranges_are_refused(
    client: httpx.AsyncClient, person: Any, stream: Any, params: dict[str, Any], status: int
) -> None:
    alice: Person = await person("alice")
    show = await stream(alice)
    response = await client.get(
        f"{API}/streams/{show.id}/analytics", params=params, headers=alice.headers
    )
    assert_problem(response, status)
    period = {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    too_long = await client.get(
        f"{API}/users/{alice.id}/analytics", params=period, headers=alice.headers
    )
    assert_problem(too_long, 400, "366 days")
    early = {"to": "0001-01-01T00:00:00Z"}
    assert_problem(
        await client.get(f"{API}/users/{alice.id}/analytics", params=early, headers=alice.headers),
        400,
        "out of range",
    )
