"""The delivery worker: a pending row per (event, webhook), attempted until it succeeds.

Stored events arrive from the :class:`EventStore`; each matching enabled webhook gets a
``webhook_deliveries`` row. The worker claims due rows (an optimistic update of
``next_attempt_at``, so several nodes never send one row twice at once), posts them, and records
the outcome. A failure schedules the next attempt after an exponential backoff with jitter; a
webhook whose attempts failed ``failure_limit`` times in a row is disabled and a
:class:`WebhookDisabled` event says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livecast.events.bus import EventBus
from livecast.events.catalog import WebhookDisabled
from livecast.events.store import event_json
from livecast.storage.models import StoredEvent, Stream, Webhook, WebhookDelivery
from livecast.webhooks import sender
from livecast.webhooks.guard import AddressPolicy, WebhookRefused
from livecast.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

log = logging.getLogger(__name__)

_BATCH = 50
_IDLE_SECONDS = 5.0  # look for due rows at least this often (other nodes' enqueues)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 3600.0
    failure_limit: int = 20
    timeout_seconds: float = 10.0

    def delay(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: doubling, capped, with "equal jitter"."""
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** (attempts - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _now() -> datetime:
    return datetime.now(UTC)


class WebhookDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        policy: AddressPolicy,
        retry: RetryPolicy,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.policy = policy
        self.retry = retry
        self._wake = asyncio.Event()
        self._client = sender.new_client(retry.timeout_seconds)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def close(self) -> None:
        """Stop after the current iteration, so no query is cut off holding a connection."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                async with asyncio.timeout(10):
                    await asyncio.shield(self._task)
            except TimeoutError:  # a delivery hung past its own timeout: cut it off
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._client.aclose()

    # -- enqueueing -------------------------------------------------------------------------

    async def enqueue(self, rows: Sequence[StoredEvent]) -> None:
        """An EventStore listener: a delivery for every enabled webhook that wants the event.

        Two queries per batch of events, whatever its size: the streams' owners, then the
        enabled webhooks that are global or belong to one of them."""
        if not rows:
            return
        async with self.sessions() as session:
            stream_ids = {row.stream_id for row in rows}
            found = await session.execute(
                select(Stream.id, Stream.user_id).where(Stream.id.in_(stream_ids))
            )
            owners: dict[uuid.UUID, uuid.UUID] = {sid: owner for sid, owner in found.all()}
            hooks = list(
                await session.scalars(
                    select(Webhook).where(
                        Webhook.enabled.is_(True),
                        or_(Webhook.is_global.is_(True), Webhook.user_id.in_(set(owners.values()))),
                    )
                )
            )
            added = 0
            for row in rows:
                owner = owners.get(row.stream_id)
                for hook in hooks:
                    if not (hook.is_global or hook.user_id == owner):
                        continue
                    if hook.event_types and row.type not in hook.event_types:
                        continue
                    session.add(
                        WebhookDelivery(webhook_id=hook.id, event_id=row.id, event_type=row.type)
                    )
                    added += 1
            if added:
                await session.commit()
                self._wake.set()

    # -- the worker -------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                claimed = await self._claim_due()
            except Exception:
                log.exception("could not read due webhook deliveries")
                claimed = []
            if claimed:
                await asyncio.gather(*(self._attempt(d) for d in claimed))
                continue
            if self._stopping:
                break
            self._wake.clear()
            try:
                delay = await self._until_next_due()
            except Exception:  # a database hiccup must not end the worker
                log.exception("could not read the next webhook delivery time")
                delay = _IDLE_SECONDS
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _until_next_due(self) -> float:
        async with self.sessions() as session:
            due = await session.scalar(
                select(WebhookDelivery.next_attempt_at)
                .where(WebhookDelivery.status == "pending")
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(1)
            )
        if due is None:
            return _IDLE_SECONDS
        return min(_IDLE_SECONDS, max(0.0, (due - _now()).total_seconds()))

    async def _claim_due(self) -> list[uuid.UUID]:
        now = _now()
        lease = now + timedelta(seconds=self.retry.timeout_seconds + 30)
        claimed: list[uuid.UUID] = []
        async with self.sessions() as session:
            due = (
                await session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                    .where(
                        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
                    )
                    .order_by(WebhookDelivery.next_attempt_at)
                    .limit(_BATCH)
                )
            ).all()
            for delivery_id, when in due:
                result = await session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery_id, WebhookDelivery.next_attempt_at == when
                    )
                    .values(next_attempt_at=lease)
                )
                if getattr(result, "rowcount", 0) == 1:
                    claimed.append(delivery_id)
            await session.commit()
        return claimed

    async def _attempt(self, delivery_id: uuid.UUID) -> None:
        try:
            async with self.sessions() as session:
                delivery = await session.get(WebhookDelivery, delivery_id)
                if delivery is None:
                    return
                hook = await session.get(Webhook, delivery.webhook_id)
                event = await session.get(StoredEvent, delivery.event_id)
                if hook is None or event is None or not hook.enabled:
                    delivery.status, delivery.completed_at = "cancelled", _now()
                    await session.commit()
                    return
                status, error = await self._send(hook, event, delivery)
                disabled = self._record(hook, delivery, event.stream_id, status, error)
                await session.commit()
                if disabled is not None:
                    await self.bus.publish(disabled)
        except Exception:
            log.exception("webhook delivery failed unexpectedly", extra={"id": str(delivery_id)})

    async def _send(
        self, hook: Webhook, event: StoredEvent, delivery: WebhookDelivery
    ) -> tuple[int | None, str | None]:
        body = json.dumps(event_json(event), separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(hook.secret, timestamp, body),
            "X-Livecast-Event": event.type,
            "X-Livecast-Delivery": str(delivery.id),
        }
        try:
            response = await sender.post(self._client, self.policy, hook.url, body, headers)
        except WebhookRefused as exc:
            return None, exc.detail
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"the receiver answered {response.status_code}"

    def _record(
        self,
        hook: Webhook,
        delivery: WebhookDelivery,
        stream_id: uuid.UUID,
        status: int | None,
        error: str | None,
    ) -> WebhookDisabled | None:
        now = _now()
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = status, error
        if error is None:
            delivery.status, delivery.completed_at = "delivered", now
            hook.consecutive_failures = 0
            return None
        if delivery.attempts >= self.retry.max_attempts:
            delivery.status, delivery.completed_at = "failed", now
        else:
            delivery.next_attempt_at = now + timedelta(seconds=self.retry.delay(delivery.attempts))
        hook.consecutive_failures += 1
        if hook.consecutive_failures < self.retry.failure_limit:
            return None
        hook.enabled, hook.disabled_at = False, now
        log.warning("webhook disabled", extra={"webhook": str(hook.id), "url": hook.url})
        return WebhookDisabled(
            stream_id=stream_id,
            user_id=hook.user_id,
            webhook_id=hook.id,
            failures=hook.consecutive_failures,
        )
