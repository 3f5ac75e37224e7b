"""Which addresses a webhook may reach, checked on the addresses a name resolves to.

A receiver is refused when any address its host resolves to is not globally routable
(loopback, private, link-local, shared, multicast, unspecified, reserved…), unless an operator
allow-list (``LIVECAST_WEBHOOK_ALLOW_NETWORKS``) contains it. The caller then connects to the
address that was checked, never resolving the name again, so DNS rebinding cannot swap it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from livecast.errors import BadRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class WebhookRefused(BadRequest):
    """The receiver's address is not one webhooks may reach (also a 400 at registration)."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, ::1/128"`` as networks; a bad CIDR is a ``ValueError``."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allow: tuple[Network, ...] = ()

    def permits(self, address: IPAddress) -> bool:
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        if any(ip in net for ip in candidates for net in self.allow if ip.version == net.version):
            return True
        return all(ip.is_global and not ip.is_multicast for ip in candidates)

    def check(self, host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        found = list(addresses)
        if not found:
            raise WebhookRefused(f"{host} does not resolve to any address.")
        for address in found:
            if not self.permits(address):
                raise WebhookRefused(
                    f"{host} resolves to {address}, which webhooks may not reach "
                    "(loopback, private, link-local or reserved)."
                )
        return found

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``, all permitted, or ``WebhookRefused``."""
        literal = ip_literal(host)
        if literal is not None:
            return self.check(host, [literal])
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise WebhookRefused(f"{host} could not be resolved ({exc}).") from exc
        addresses = dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos)
        return self.check(host, addresses)


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
