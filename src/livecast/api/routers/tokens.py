"""Personal API tokens for automation: create, list, revoke."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from livecast.api.deps import CurrentUser, Uow
from livecast.api.openapi import problems
from livecast.api.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenOut
from livecast.storage.models import ApiToken

router = APIRouter(prefix="/api/v1/tokens", tags=["api tokens"])


def _out(token: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a personal API token (shown once)",
    responses=problems(401),
)
async def create_token(body: ApiTokenCreate, user: CurrentUser, uow: Uow) -> ApiTokenCreated:
    token, secret = await uow.users.create_api_token(user, body.name, body.expires_in_days)
    await uow.commit()
    return ApiTokenCreated(**_out(token).model_dump(), token=secret)


@router.get("", summary="Your active API tokens", responses=problems(401))
async def list_tokens(user: CurrentUser, uow: Uow) -> list[ApiTokenOut]:
    return [_out(token) for token in await uow.users.list_api_tokens(user)]


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API token",
    responses=problems(401, 404),
)
async def revoke_token(token_id: uuid.UUID, user: CurrentUser, uow: Uow) -> None:
    await uow.users.revoke_api_token(user, token_id)
    await uow.commit()
