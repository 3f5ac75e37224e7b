"""Webhooks as records: register, list, read, delete, and read a webhook's delivery log."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from livecast.errors import NotFound, PermissionDenied
from livecast.events import codec
from livecast.security.tokens import new_secret
from livecast.services.roles import Role
from livecast.storage.models import User, Webhook, WebhookDelivery
from livecast.webhooks.guard import AddressPolicy, WebhookRefused, ip_literal

SECRET_PREFIX = "lc_whs_"  # noqa: S105 - a prefix, not a secret


def event_types() -> frozenset[str]:
    """Every event type a webhook can ask for."""
    return frozenset(codec.event_classes()) - {"ViewersCounted", "RoomEventsAppended"}


def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse what can be refused before resolving: bad schemes, credentials, bad IP literals.

    Names are checked on every delivery, on the addresses they resolve to then.
    """
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise WebhookRefused(f"{url!r} is not a URL.") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise WebhookRefused("The URL must be http:// or https:// with a host.")
    if target.userinfo:
        raise WebhookRefused("The URL must not carry credentials; use the signing secret.")
    literal = ip_literal(target.host)
    if literal is not None:
        policy.check(target.host, [literal])


class WebhookRegistry:
    def __init__(self, db: AsyncSession, policy: AddressPolicy) -> None:
        self.db = db
        self.policy = policy

    async def create(
        self, owner: User, url: str, types: list[str], secret: str | None, is_global: bool
    ) -> Webhook:
        if is_global and owner.role != Role.ADMIN:
            raise PermissionDenied("Only an admin can register a global webhook.")
        check_url(url, self.policy)
        hook = Webhook(
            id=uuid.uuid4(),
            user_id=owner.id,
            is_global=is_global,
            url=url,
            secret=secret or new_secret(SECRET_PREFIX),
            event_types=sorted(set(types)),
            enabled=True,
            consecutive_failures=0,
        )
        self.db.add(hook)
        await self.db.flush()
        return hook

    async def get(self, webhook_id: uuid.UUID, user: User) -> Webhook:
        hook = await self.db.get(Webhook, webhook_id)
        if hook is None or (hook.user_id != user.id and user.role != Role.ADMIN):
            raise NotFound("No webhook with that id.")
        return hook

    async def find(self, user: User, limit: int, offset: int) -> tuple[list[Webhook], int]:
        mine = [] if user.role == Role.ADMIN else [Webhook.user_id == user.id]
        total = await self.db.scalar(select(func.count()).select_from(Webhook).where(*mine))
        rows = await self.db.scalars(
            select(Webhook)
            .where(*mine)
            .order_by(Webhook.created_at, Webhook.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), int(total or 0)

    async def deliveries(
        self, hook: Webhook, limit: int, offset: int
    ) -> tuple[list[WebhookDelivery], int]:
        where = WebhookDelivery.webhook_id == hook.id
        total = await self.db.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
        rows = await self.db.scalars(
            select(WebhookDelivery)
            .where(where)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), int(total or 0)
