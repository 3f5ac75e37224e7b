"""Webhooks: register, list, read, delete, and the delivery log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import (
    AfterValidator,
    AnyUrl,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from livecast.api.deps import Ctx, CurrentUser, Uow
from livecast.api.openapi import problems
from livecast.api.routers.users import Limit, Offset
from livecast.api.schemas import Page, StrictModel
from livecast.context import webhook_policy
from livecast.storage.models import Webhook, WebhookDelivery
from livecast.webhooks.registry import WebhookRegistry, event_types

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


def _known_types(value: list[str]) -> list[str]:
    unknown = sorted(set(value) - event_types())
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)[:200]}")
    return value


EventTypes = Annotated[list[str], Field(max_length=50), AfterValidator(_known_types)]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=r"^[!-~]+$")]


class WebhookCreate(StrictModel):
    url: Annotated[AnyUrl, Field(description="http(s) URL the events are POSTed to.")]
    events: EventTypes = Field(
        default_factory=list, description="Event types to send; empty: every type."
    )
    secret: Secret | None = Field(
        None, description="Signing secret (16+ printable characters); default: generated."
    )
    is_global: bool = Field(False, strict=True, description="Every stream's events (admins only).")

    @field_validator("url")
    @classmethod
    def _short(cls, value: AnyUrl) -> AnyUrl:
        if len(str(value)) > 2048:
            raise ValueError("URL should have at most 2048 characters")
        return value


class WebhookUpdate(StrictModel):
    """Only the fields sent change. Re-enabling clears the failure count."""

    enabled: StrictBool | None = Field(
        None, description="true re-enables a webhook that was disabled after failures."
    )
    events: EventTypes | None = Field(None, description="Event types to send; empty: every type.")


class WebhookOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    url: str
    events: list[str]
    is_global: bool
    enabled: bool
    consecutive_failures: int
    disabled_at: datetime | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret; shown only in this response.")


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


def _out(hook: Webhook) -> dict[str, object]:
    return {
        "id": hook.id,
        "user_id": hook.user_id,
        "url": hook.url,
        "events": hook.event_types,
        "is_global": hook.is_global,
        "enabled": hook.enabled,
        "consecutive_failures": hook.consecutive_failures,
        "disabled_at": hook.disabled_at,
        "created_at": hook.created_at,
    }


def _delivery(row: WebhookDelivery) -> DeliveryOut:
    pending = row.status == "pending"
    return DeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook; the response carries its secret, shown only this once",
    responses=problems(400, 401, 403),
)
async def create_webhook(
    body: WebhookCreate, user: CurrentUser, ctx: Ctx, uow: Uow
) -> WebhookCreated:
    registry = WebhookRegistry(uow.session, webhook_policy(ctx.settings))
    hook = await registry.create(user, str(body.url), body.events, body.secret, body.is_global)
    await uow.commit()
    return WebhookCreated.model_validate({**_out(hook), "secret": hook.secret})


@router.get("", summary="Your webhooks (admins: all)", responses=problems(401))
async def list_webhooks(
    user: CurrentUser, ctx: Ctx, uow: Uow, limit: Limit = 20, offset: Offset = 0
) -> Page[WebhookOut]:
    registry = WebhookRegistry(uow.session, webhook_policy(ctx.settings))
    hooks, total = await registry.find(user, limit, offset)
    items = [WebhookOut.model_validate(_out(hook)) for hook in hooks]
    return Page[WebhookOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/{webhook_id}", summary="One webhook", responses=problems(401, 404))
async def get_webhook(webhook_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow) -> WebhookOut:
    registry = WebhookRegistry(uow.session, webhook_policy(ctx.settings))
    return WebhookOut.model_validate(_out(await registry.get(webhook_id, user)))


@router.patch(
    "/{webhook_id}",
    summary="Re-enable or disable a webhook, or change its event types",
    responses=problems(400, 401, 404),
)
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, user: CurrentUser, ctx: Ctx, uow: Uow
) -> WebhookOut:
    registry = WebhookRegistry(uow.session, webhook_policy(ctx.settings))
    hook = await registry.get(webhook_id, user)
    if body.events is not None:
        hook.event_types = sorted(set(body.events))
    if body.enabled is True and not hook.enabled:
        hook.enabled, hook.disabled_at, hook.consecutive_failures = True, None, 0
    elif body.enabled is False:
        hook.enabled = False
    await uow.commit()
    return WebhookOut.model_validate(_out(hook))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook and its delivery log",
    responses=problems(401, 404),
)
async def delete_webhook(webhook_id: uuid.UUID, user: CurrentUser, ctx: Ctx, uow: Uow) -> Response:
    registry = WebhookRegistry(uow.session, webhook_policy(ctx.settings))
    await uow.session.delete(await registry.get(webhook_id, user))
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    summary="A webhook's delivery log, newest first",
    responses=problems(401, 404),
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    user: CurrentUser,
    ctx: Ctx,
    uow: Uow,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[DeliveryOut]:
    registry = WebhookRegistry(uow.session, webhook_policy(ctx.settings))
    hook = await registry.get(webhook_id, user)
    rows, total = await registry.deliveries(hook, limit, offset)
    return Page[DeliveryOut](
        items=[_delivery(r) for r in rows], total=total, limit=limit, offset=offset
    )
