"""One HTTP attempt to a webhook receiver, pinned to an address the guard permitted.

The URL's host is resolved and every address checked; the request then goes to the first
checked address, with the name in the Host header and (for https) as the TLS SNI and the
certificate name, so the name is never resolved again between the check and the connection.
"""

from __future__ import annotations

import ipaddress

import httpx

from livecast.webhooks.guard import AddressPolicy, WebhookRefused


async def post(
    client: httpx.AsyncClient,
    policy: AddressPolicy,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> httpx.Response:
    """POST ``body`` to ``url``; ``WebhookRefused`` when its address may not be reached."""
    target = httpx.URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise WebhookRefused(f"{url} is not an http or https URL.")
    port = target.port or (443 if target.scheme == "https" else 80)
    addresses = await policy.resolve(target.host, port)
    address = addresses[0]
    pinned = target.copy_with(host=str(address))
    host_header = target.host if target.port is None else f"{target.host}:{target.port}"
    if isinstance(address, ipaddress.IPv6Address) and target.host == str(address):
        host_header = f"[{target.host}]" + (f":{target.port}" if target.port else "")
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = client.build_request(
        "POST",
        pinned,
        content=body,
        headers={**headers, "Host": host_header},
        extensions=extensions,
    )
    return await client.send(request)


def new_client(timeout: float) -> httpx.AsyncClient:
    # No proxies from the environment (a proxy would connect by name, after our check) and no
    # redirects (a redirect could point anywhere).
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "livecast-webhooks"},
    )
