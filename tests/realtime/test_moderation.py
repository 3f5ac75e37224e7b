"""Moderation: roles, each action and chat mode, spam detection, and the audit log."""

from __future__ import annotations

from typing import Any

import httpx

from livecast.events.catalog import DomainEvent, ModerationAction
from tests.helpers import assert_problem
from tests.realtime.conftest import Person, eventually
from tests.realtime.wsclient import WsClient

API = "/api/v1/streams"


async def say(ws: WsClient, cid: str, text: str) -> dict[str, Any]:
    await ws.send(type="comment", cid=cid, text=text)
    return await ws.ack(cid)


async def mod(ws: WsClient, cid: str, **command: Any) -> dict[str, Any]:
    await ws.send(type="mod", cid=cid, **command)
    return await ws.ack(cid)


async def test_moderators_delete_pin_and_clear_and_the_audit_log_says_so(
    person: Any,
    stream: Any,
    connect: Any,
    client: httpx.AsyncClient,
    clock: Any,
    bus_events: list[DomainEvent],
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    carol: Person = await person("carol", role="viewer")
    room = await stream(alice)
    url = f"{API}/{room.id}"
    assert (
        await client.put(f"{url}/moderators/{bob.id}", headers=alice.headers)
    ).status_code == 200
    assert_problem(
        await client.put(f"{url}/moderators/{carol.id}", headers=bob.headers), 403, "streamer"
    )
    mods = await client.get(f"{url}/moderators", headers=bob.headers)
    assert [m["username"] for m in mods.json()] == ["bob"]

    async with connect(room.id, bob) as b, connect(room.id, carol) as c:
        assert (await b.recv())["role"] == "moderator"
        await c.recv()
        first = await say(c, "c1", "first")
        second = await say(c, "c2", "second")

        refused = await mod(c, "nope", action="delete", seq=first["seq"])
        assert (refused["ok"], refused["reason"]) == (False, "forbidden")
        assert (await mod(b, "d1", action="delete", seq=first["seq"]))["ok"] is True
        deleted = await c.event(lambda e: e["type"] == "deleted")
        assert deleted["comment_seq"] == first["seq"]
        assert (await mod(b, "d2", action="delete", seq=first["seq"]))["reason"] == "not_found"

        assert (await mod(b, "p1", action="pin", seq=second["seq"], seconds=60))["ok"] is True
        pin = await c.event(lambda e: e["type"] == "pin")
        assert pin["comment"]["text"] == "second"
        assert pin["expires_at"].endswith("Z")
        async with connect(room.id) as late:
            assert (await late.recv())["state"]["pinned"]["comment"]["seq"] == second["seq"]
        clock.advance(61)
        expired = await c.event(lambda e: e["type"] == "unpin")
        assert expired == {**expired, "comment_seq": second["seq"], "reason": "expired"}

        pinned = await client.post(
            f"{url}/comments/{second['seq']}/pin", headers=bob.headers, json={}
        )
        assert pinned.status_code == 200, pinned.text
        assert (await c.event(lambda e: e["type"] == "pin"))["seq"] > expired["seq"]
        assert (await client.delete(f"{url}/pin", headers=bob.headers)).status_code == 204
        unpinned = await c.event(lambda e: e["type"] == "unpin")
        assert unpinned["comment_seq"] == second["seq"]
        third = await say(c, "c3", "third")
        assert (
            await client.delete(f"{url}/comments/{third['seq']}", headers=bob.headers)
        ).status_code == 204
        assert (await c.event(lambda e: e["type"] == "deleted"))["comment_seq"] == third["seq"]
        assert_problem(
            await client.delete(f"{url}/comments/{third['seq']}", headers=carol.headers), 403
        )

        assert (await mod(b, "p2", action="pin", seq=second["seq"]))["ok"] is True
        assert (await mod(b, "x", action="clear"))["ok"] is True
        clear = await c.event(lambda e: e["type"] == "clear")
        assert clear["through_seq"] >= second["seq"]
        assert await c.event(lambda e: e["type"] == "unpin" and "reason" not in e)

    history = await client.get(f"{url}/comments")
    assert history.json() == {"items": [], "next_since": None}
    audit = await client.get(f"{url}/moderation/log", headers=alice.headers)
    assert audit.status_code == 200, audit.text
    actions = [(e["action"], e["actor"]) for e in audit.json()]
    assert actions == [
        ("clear", "bob"),
        ("pin", "bob"),
        ("delete", "bob"),
        ("unpin", "bob"),
        ("pin", "bob"),
        ("pin", "bob"),
        ("delete", "bob"),
        ("moderator_add", "alice"),
    ]
    assert audit.json()[6]["details"] == {"text": "first"}
    assert audit.json()[6]["target"] == "carol"
    # Each action is also a ModerationAction event (stored, and sent to webhooks).
    ids = {"alice": alice.id, "bob": bob.id}
    taken = [
        (e.action, e.user_id, e.automatic) for e in bus_events if isinstance(e, ModerationAction)
    ]
    assert taken == [(action, ids[actor], False) for action, actor in reversed(actions)]
    deletion = next(e for e in bus_events if isinstance(e, ModerationAction))
    assert deletion.stream_id == room.id
    assert_problem(await client.get(f"{url}/moderation/log", headers=carol.headers), 403)
    assert_problem(await client.get(f"{url}/moderation/log"), 401)

    assert (
        await client.delete(f"{url}/moderators/{bob.id}", headers=alice.headers)
    ).status_code == 204
    assert_problem(await client.get(f"{url}/moderators", headers=bob.headers), 403)


async def test_timeouts_and_bans(
    person: Any, stream: Any, connect: Any, client: httpx.AsyncClient, clock: Any
) -> None:
    alice: Person = await person("alice")
    bob: Person = await person("bob", role="viewer")
    carol: Person = await person("carol", role="viewer")
    room = await stream(alice)
    url = f"{API}/{room.id}"
    await client.put(f"{url}/moderators/{bob.id}", headers=alice.headers)
    for seconds in (0, 14 * 24 * 3600 + 1):
        bad = await client.put(
            f"{url}/bans/{carol.id}", headers=bob.headers, json={"duration_seconds": seconds}
        )
        assert_problem(bad, 422, "duration_seconds")
    assert_problem(await client.put(f"{url}/bans/{alice.id}", headers=bob.headers, json={}), 403)
    assert_problem(await client.put(f"{url}/bans/{bob.id}", headers=carol.headers, json={}), 403)

    async with connect(room.id, carol) as c:
        await c.recv()
        timeout = await client.put(
            f"{url}/bans/{carol.id}",
            headers=bob.headers,
            json={"duration_seconds": 60, "reason": "calm down"},
        )
        assert timeout.status_code == 200, timeout.text
        assert timeout.json()["expires_at"] is not None
        notice = await c.event(lambda e: e["type"] == "timeout")
        assert notice["user"]["name"] == "carol"
        assert notice["seconds"] == 60
        refused = await say(c, "t1", "am I muted?")
        assert refused["reason"] == "timed_out"
        assert 59_000 < refused["retry_after_ms"] <= 60_001
        clock.advance(61)
        assert (await say(c, "t2", "back again"))["ok"] is True

        async with connect(room.id, bob) as b:
            await b.recv()
            assert (await mod(b, "ban", action="ban", user_id=str(carol.id), reason="spam"))["ok"]
            await c.event(lambda e: e["type"] == "ban")
            assert (await say(c, "b1", "hello?"))["reason"] == "banned"
            bans = (await client.get(f"{url}/bans", headers=bob.headers)).json()
            assert [(x["user"]["username"], x["expires_at"]) for x in bans] == [("carol", None)]
            assert (await mod(b, "unban", action="unban", user_id=str(carol.id)))["ok"]
            await c.event(lambda e: e["type"] == "unban")
            clock.advance(2)
            assert (await say(c, "b2", "thanks"))["ok"] is True
            self_ban = await mod(b, "self", action="timeout", user_id=str(bob.id), seconds=5)
            assert self_ban["reason"] == "invalid"

    actions = [
        e["action"] for e in (await client.get(f"{url}/moderation/log", headers=bob.headers)).json()
    ]
    assert actions[:3] == ["unban", "ban", "timeout"]


async def test_a_ban_holds_even_when_this_node_did_not_hear_of_it(
    person: Any, stream: Any, connect: Any, ctx: Any, hub: Any
) -> None:
    """Bans are checked again in the writer's transaction: another node may have set one."""
    from livecast.storage.models import ChatBan

    alice: Person = await person("alice")
    carol: Person = await person("carol", role="viewer")
    room = await stream(alice)
    async with connect(room.id, carol) as c:
        await c.recv()
        async with ctx.sessions() as session:
            session.add(ChatBan(channel_id=alice.id, user_id=carol.id, reason="elsewhere"))
            await session.commit()
        assert (await say(c, "x", "sneaky"))["reason"] == "banned"


async def test_chat_modes(
    person: Any, stream: Any, connect: Any, client: httpx.AsyncClient, clock: Any
) -> None:
    alice: Person = await person("alice")
    carol: Person = await person("carol", role="viewer")
    room = await stream(alice)
    url = f"{API}/{room.id}/chat/settings"

    async def modes(**changes: Any) -> None:
        response = await client.patch(url, headers=alice.headers, json=changes)
        assert response.status_code == 200, response.text

    async with connect(room.id, carol) as c, connect(room.id, alice) as a:
        await c.recv()
        await a.recv()

        async def changed() -> None:
            await c.event(lambda e: e["type"] == "chat_settings" and e["seq"] > seen[0])
            seen[0] = c.events("chat_settings")[-1]["seq"]

        seen = [0]
        await modes(slow_mode_seconds=10)
        await changed()
        assert (await say(c, "s1", "one"))["ok"] is True
        slow = await say(c, "s2", "two")
        assert slow["reason"] == "slow_mode"
        assert 9000 < slow["retry_after_ms"] <= 10_001
        assert (await say(a, "a1", "streamers are exempt"))["ok"] is True
        assert (await say(a, "a2", "from slow mode"))["ok"] is True
        clock.advance(10)
        assert (await say(c, "s3", "three"))["ok"] is True

        await modes(slow_mode_seconds=0, followers_only=True, followers_min_age_minutes=10)
        await changed()
        assert (await say(c, "f1", "let me in"))["reason"] == "followers_only"
        assert (
            await client.post(f"/api/v1/users/{alice.id}/follow", headers=carol.headers)
        ).status_code == 204
        young = await say(c, "f2", "following now")
        assert young["reason"] == "followers_only"
        assert young["retry_after_ms"] > 500_000
        clock.advance(11 * 60)
        assert (await say(c, "f3", "long enough"))["ok"] is True

        await modes(followers_only=False, subscribers_only=True)
        await changed()
        assert (await say(c, "sub1", "hello"))["reason"] == "subscribers_only"
        assert (await say(a, "sub2", "the streamer still can"))["ok"] is True

        await modes(subscribers_only=False, emote_only=True)
        await changed()
        clock.advance(5)
        assert (await say(c, "e1", "words"))["reason"] == "emote_only"
        assert (await say(c, "e2", "🔥 :wave: 👍🏽"))["ok"] is True

        await modes(emote_only=False, blocked_terms=["spam*", "bad word"], block_links=True)
        await changed()
        clock.advance(5)
        assert (await say(c, "w1", "SPAMMER alert"))["reason"] == "blocked_term"
        assert (await say(c, "w2", "a Bad  Word here"))["reason"] == "blocked_term"
        assert (await say(c, "w3", "visit example.com now"))["reason"] == "links_blocked"
        assert (await say(c, "w4", "spa m is fine"))["ok"] is True

    public = (await client.get(url, headers=carol.headers)).json()
    assert public["blocked_terms"] is None
    assert public["block_links"] is True
    private = (await client.get(url, headers=alice.headers)).json()
    assert private["blocked_terms"] == ["spam*", "bad word"]
    assert_problem(await client.patch(url, headers=carol.headers, json={"emote_only": True}), 403)
    assert_problem(await client.patch(url, json={"emote_only": True}), 401)
    assert_problem(
        await client.patch(url, headers=alice.headers, json={"blocked_terms": ["**"]}), 422
    )


async def test_spam_is_dropped_or_held_for_review(
    person: Any,
    stream: Any,
    connect: Any,
    client: httpx.AsyncClient,
    clock: Any,
    bus_events: list[DomainEvent],
) -> None:
    alice: Person = await person("alice")
    carol: Person = await person("carol", role="viewer")
    room = await stream(alice)
    url = f"{API}/{room.id}/chat/held"
    async with connect(room.id, carol) as c, connect(room.id, alice) as a:
        await c.recv()
        await a.recv()
        assert (await say(c, "r1", "same old"))["ok"] is True
        clock.advance(3)
        repeated = await say(c, "r2", "Same  old")
        assert (repeated["ok"], repeated["reason"]) == (False, "duplicate_message")

        held = await say(c, "caps", "WHY IS NOBODY ANSWERING ME")
        assert (held["ok"], held["reason"]) == (False, "held_for_review")
        clock.advance(3)
        links = await say(c, "links", "a.com b.com c.com d.com")
        assert links["reason"] == "held_for_review"

        def holds() -> list[ModerationAction]:
            return [e for e in bus_events if isinstance(e, ModerationAction)]

        await eventually(lambda: len(holds()) == 2, what="two automatic holds announced")
        assert [(e.action, e.automatic, e.user_id, e.target_user_id) for e in holds()] == [
            ("hold", True, alice.id, carol.id),
            ("hold", True, alice.id, carol.id),
        ]
        queue = (await client.get(url, headers=alice.headers)).json()
        assert [(h["reason"], h["user"]["name"]) for h in queue] == [
            ("caps", "carol"),
            ("link_spam", "carol"),
        ]
        approved = await client.post(f"{url}/{queue[0]['id']}/approve", headers=alice.headers)
        assert approved.status_code == 200, approved.text
        shown = await a.event(lambda e: e["type"] == "comment" and e["text"].startswith("WHY"))
        assert shown["seq"] == approved.json()["seq"]
        assert shown["cid"] == "caps"
        assert (
            await client.delete(f"{url}/{queue[1]['id']}", headers=alice.headers)
        ).status_code == 204
        assert (await client.get(url, headers=alice.headers)).json() == []
        assert_problem(await client.get(url, headers=carol.headers), 403)

        for n in range(20):  # steady posting at the rate limit becomes a flood
            clock.advance(1.5)
            ack = await say(c, f"f{n}", f"message number {n}")
            if not ack["ok"]:
                break
        assert ack["reason"] == "flooding"
        assert n > 10

    log = (await client.get(f"{API}/{room.id}/moderation/log", headers=alice.headers)).json()
    assert [(e["action"], e["actor"]) for e in log] == [
        ("reject", "alice"),
        ("approve", "alice"),
        ("hold", None),
        ("hold", None),
    ]
