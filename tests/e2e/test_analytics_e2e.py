"""A stream run as a user runs it: ffmpeg publishes, players beat, people chat, the stream ends.

Then the analytics API has the summary and the time series of that run.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from livecast.testing import serve
from tests.e2e.conftest import publish_live, wait_for

pytestmark = pytest.mark.e2e


async def chat(url: str, texts: list[str]) -> None:
    async with ws_connect(url) as room:
        assert json.loads(await room.recv())["type"] == "welcome"
        for n, text in enumerate(texts):
            await room.send(json.dumps({"v": 1, "type": "comment", "cid": f"c{n}", "text": text}))
            while True:
                message = json.loads(await asyncio.wait_for(room.recv(), 10))
                if message.get("type") == "ack" and message.get("cid") == f"c{n}":
                    assert message["ok"] is True, message
                    break


def register(http: httpx.Client, name: str) -> str:
    user = {"username": name, "email": f"{name}@example.com", "password": "a fan's password"}
    http.post("/api/v1/auth/register", json=user).raise_for_status()
    login = http.post("/api/v1/auth/login", json={"username": name, "password": user["password"]})
    return str(login.json()["access_token"])


def test_a_published_stream_gets_a_summary_and_a_time_series(tmp_path: Path) -> None:
    env = {
        "LIVECAST_TRANSCODE_ENABLED": "false",
        "LIVECAST_ANALYTICS_SNAPSHOT_INTERVAL_SECONDS": "1",
        "LIVECAST_RECONNECT_GRACE_SECONDS": "30",
    }
    with serve(tmp_path, env, username="creator") as node:
        created = node.create_stream("analytics run")
        sid = created["id"]
        publisher = publish_live(f"{node.rtmp}/{created['stream_key']}", seconds=30)
        anonymous, fan = httpx.Client(base_url=node.base), httpx.Client(base_url=node.base)
        try:
            node.wait_status(sid, "live")
            beat = f"/api/v1/streams/{sid}/viewers/heartbeat"
            fan.headers["Authorization"] = f"Bearer {register(fan, 'fan')}"
            for _ in range(3):
                for player, session in ((anonymous, "player-one-0001"), (fan, "player-two-0002")):
                    body = {"session_id": session, "resolution": "640x360", "latency_ms": 1200}
                    assert player.post(beat, json=body).status_code in (200, 201)
                time.sleep(0.5)
            token = str(node.http.headers["Authorization"]).removeprefix("Bearer ")
            room = node.base.replace("http", "ws", 1) + f"/ws/streams/{sid}?token={token}"
            asyncio.run(chat(room, ["hello", "is this on?"]))
            url = f"/api/v1/streams/{sid}/analytics"

            def a_snapshot_with_ingest() -> dict[str, Any] | None:
                body = node.http.get(url, params={"interval": 1}).json()
                rates = [p["ingest_bitrate_bps"] or 0 for p in body["series"]]
                return body if sum(rate > 0 for rate in rates) >= 3 else None

            live = wait_for(a_snapshot_with_ingest, 30, "snapshots with the ingest bitrate")
            assert live["summary"]["final"] is False
            # The latest: the first second carries ffmpeg's start-up burst.
            point = [p for p in live["series"] if p["ingest_bitrate_bps"]][-1]
            assert 20 <= (point["frame_rate"] or 0) <= 40  # ffmpeg sends 30 fps
            assert (point["viewers"] or 0) >= 2
            ended = node.http.post(f"/api/v1/streams/{sid}/end")
            assert ended.status_code == 200, ended.text
        finally:
            publisher.kill()
            publisher.wait()
            anonymous.close()
            fan.close()

        final = wait_for(
            lambda: (s := node.http.get(url).json()["summary"])["final"] and s, 20, "the summary"
        )
        assert final["status"] == "ended"
        assert final["chat_messages"] == 2
        assert final["unique_chatters"] == 1
        # an anonymous player, a signed-in fan, and the creator's chat page
        assert final["unique_viewers"] == 3
        assert final["peak_concurrent_viewers"] >= 2
        assert final["total_watch_seconds"] > 0
        assert final["duration_seconds"] > 1
        assert final["engagement_rate"] == pytest.approx(1 / 3, abs=0.01)
        creator = node.http.get("/api/v1/users/me").json()["id"]
        totals = node.http.get(f"/api/v1/users/{creator}/analytics").json()
        assert (totals["streams"], totals["chat_messages"]) == (1, 2)
        assert totals["unique_viewers"] == 3
        assert [item["stream_id"] for item in totals["items"]] == [sid]
