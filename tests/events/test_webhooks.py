"""Webhooks: signed deliveries, retries, disabling, and the SSRF guard."""

from __future__ import annotations

import ipaddress
import json
import time

import httpx
import pytest
from sqlalchemy import select

from livecast.context import AppContext
from livecast.storage.models import StoredEvent, WebhookDelivery
from livecast.webhooks.guard import AddressPolicy, WebhookRefused
from livecast.webhooks.signing import verify
from tests.events.conftest import Receiver, poll
from tests.helpers import assert_problem, login, make_admin, register, user_headers


async def _hook(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, **extra: object
) -> dict[str, object]:
    body = {"url": url, "events": ["StreamCreated", "WebhookDisabled"], **extra}
    response = await client.post("/api/v1/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def _create(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/api/v1/streams", json={"title": "Show"}, headers=headers)
    return str(response.json()["id"])


async def test_delivery_is_signed(client: httpx.AsyncClient, receiver: Receiver) -> None:
    alice = await user_headers(client, "alice")
    hook = await _hook(client, alice, receiver.url)
    listed = (await client.get("/api/v1/webhooks", headers=alice)).json()
    assert "secret" not in listed["items"][0]
    stream_id = await _create(client, alice)
    got = await receiver.next()
    timestamp = int(got.headers["x-livecast-timestamp"])
    signature = got.headers["x-livecast-signature"]
    assert verify(str(hook["secret"]), timestamp, got.body, signature, now=int(time.time()))
    assert not verify("wrong secret value!", timestamp, got.body, signature, now=int(time.time()))
    event = json.loads(got.body)
    assert (event["type"], event["stream_id"]) == ("StreamCreated", stream_id)


async def test_retries_then_success(client: httpx.AsyncClient, receiver: Receiver) -> None:
    alice = await user_headers(client, "alice")
    hook = await _hook(client, alice, receiver.url)
    receiver.statuses = [500, 503]
    await _create(client, alice)
    for _ in range(3):
        await receiver.next()
    url = f"/api/v1/webhooks/{hook['id']}/deliveries"
    # the worker records the outcome just after the receiver answered
    delivery = await poll(client, url, alice, lambda p: p["items"][0]["status"] == "delivered")
    delivery = delivery["items"][0]
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    state = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=alice)).json()
    assert state["consecutive_failures"] == 0
    assert state["enabled"]


async def test_disabled_after_repeated_failures(
    client: httpx.AsyncClient, receiver: Receiver, ctx: AppContext
) -> None:
    alice = await user_headers(client, "alice")
    failing = await _hook(client, alice, receiver.url)
    receiver.statuses = [500] * 3
    stream_id = await _create(client, alice)
    for _ in range(3):
        await receiver.next()
    assert ctx.events is not None
    events_url = f"/api/v1/streams/{stream_id}/events"
    page = await poll(
        client, f"{events_url}?type=WebhookDisabled", alice, lambda p: p["total"] == 1
    )
    event = page["items"][0]
    assert event["severity"] == "warning"
    assert event["data"] == {"webhook_id": failing["id"], "failures": 3}
    state = (await client.get(f"/api/v1/webhooks/{failing['id']}", headers=alice)).json()
    assert not state["enabled"]
    assert state["disabled_at"]

    # The owner fixes the receiver and turns the webhook back on; it delivers again.
    hook_url = f"/api/v1/webhooks/{failing['id']}"
    bob = await user_headers(client, "bob")
    assert_problem(await client.patch(hook_url, json={"enabled": True}, headers=bob), 404)
    assert_problem(await client.patch(hook_url, json={"enabled": 1}, headers=alice), 422)
    enabled = await client.patch(hook_url, json={"enabled": True}, headers=alice)
    assert enabled.status_code == 200, enabled.text
    assert enabled.json() | {"enabled": True, "consecutive_failures": 0, "disabled_at": None} == (
        enabled.json()
    )
    receiver.statuses = []
    again = await _create(client, alice)
    delivered = json.loads((await receiver.next()).body)
    assert (delivered["type"], delivered["stream_id"]) == ("StreamCreated", again)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "::1",
        "192.168.1.1",
        "224.0.0.1",
        "0.0.0.0",  # noqa: S104
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "fc00::1",
    ],
)
def test_guard_refuses_internal_addresses(address: str) -> None:
    assert not AddressPolicy().permits(ipaddress.ip_address(address))


def test_guard_allows_public_and_allow_listed() -> None:
    assert AddressPolicy().permits(ipaddress.ip_address("93.184.216.34"))
    allow = AddressPolicy((ipaddress.ip_network("127.0.0.0/8"),))
    assert allow.permits(ipaddress.ip_address("127.0.0.1"))
    assert not allow.permits(ipaddress.ip_address("10.0.0.1"))


async def test_guard_checks_resolved_names() -> None:
    with pytest.raises(WebhookRefused, match="localhost resolves to"):
        await AddressPolicy().resolve("localhost", 80)
    with pytest.raises(WebhookRefused):
        await AddressPolicy().resolve("[::1]", 80)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/x", "http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/"]
)
async def test_registration_refuses_internal_literals(client: httpx.AsyncClient, url: str) -> None:
    alice = await user_headers(client, "alice")
    # the test settings allow 127.0.0.0/8; the default policy is checked above
    response = await client.post("/api/v1/webhooks", json={"url": url}, headers=alice)
    if url.startswith("http://127."):
        assert response.status_code == 201
    else:
        assert_problem(response, 400, "may not reach")


async def test_delivery_to_a_name_resolving_to_loopback_is_refused(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    alice = await user_headers(client, "alice")
    hook = await _hook(client, alice, f"http://localhost:{receiver.port}/hook")
    await _create(client, alice)
    url = f"/api/v1/webhooks/{hook['id']}/deliveries"
    page = await poll(client, url, alice, lambda p: bool(p["items"] and p["items"][0]["attempts"]))
    items = page["items"]
    # localhost may resolve to ::1 first, which the 127.0.0.0/8 allow-list does not cover
    assert items[0]["last_error"] is None or "may not reach" in items[0]["last_error"]


async def test_only_admins_register_global_hooks(client: httpx.AsyncClient) -> None:
    alice = await user_headers(client, "alice")
    body = {"url": "https://example.com/hook", "is_global": True}
    assert_problem(await client.post("/api/v1/webhooks", json=body, headers=alice), 403)


async def test_deliveries_go_to_the_owner_global_hooks_and_wanted_types_only(
    client: httpx.AsyncClient, ctx: AppContext, receiver: Receiver
) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    await register(client, "root")
    await make_admin(ctx, "root")
    root = {"Authorization": f"Bearer {(await login(client, 'root'))['access_token']}"}
    mine = await _hook(client, alice, receiver.url)
    others = await _hook(client, bob, receiver.url)
    everyone = await _hook(client, root, receiver.url, is_global=True)
    picky = await _hook(client, alice, receiver.url, events=["StreamEnded"])
    stream_id = await _create(client, alice)
    for _ in range(2):  # alice's hook and the global one
        event = json.loads((await receiver.next()).body)
        assert (event["type"], event["stream_id"]) == ("StreamCreated", stream_id)

    async def deliveries(hook: dict[str, object], headers: dict[str, str]) -> list[object]:
        url = f"/api/v1/webhooks/{hook['id']}/deliveries"
        items: list[object] = (await client.get(url, headers=headers)).json()["items"]
        return items

    await poll(client, f"/api/v1/webhooks/{everyone['id']}/deliveries", root, lambda p: p["items"])
    assert len(await deliveries(mine, alice)) == 1
    assert len(await deliveries(everyone, root)) == 1
    assert await deliveries(others, bob) == []  # another user's stream
    assert await deliveries(picky, alice) == []  # an event type it did not ask for


async def test_a_batch_of_several_streams_events_is_routed_per_stream(
    client: httpx.AsyncClient, ctx: AppContext, receiver: Receiver
) -> None:
    alice = await user_headers(client, "alice")
    bob = await user_headers(client, "bob")
    hooks = {"alice": await _hook(client, alice, receiver.url)}
    hooks["bob"] = await _hook(client, bob, receiver.url)
    streams = {await _create(client, alice): "alice", await _create(client, bob): "bob"}
    for _ in range(2):
        await receiver.next()
    async with ctx.sessions() as session:
        rows = list(
            await session.scalars(select(StoredEvent).where(StoredEvent.type == "StreamCreated"))
        )
    assert len(rows) == 2
    assert ctx.webhooks is not None
    await ctx.webhooks.enqueue(rows)  # both streams' events in one batch, delivered again
    async with ctx.sessions() as session:
        found = (
            await session.execute(
                select(WebhookDelivery.webhook_id, StoredEvent.stream_id).join(
                    StoredEvent, StoredEvent.id == WebhookDelivery.event_id
                )
            )
        ).all()
    owners = {str(hook["id"]): name for name, hook in hooks.items()}
    assert len(found) == 4
    assert all(owners[str(hook_id)] == streams[str(stream_id)] for hook_id, stream_id in found)
