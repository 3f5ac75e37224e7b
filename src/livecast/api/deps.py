"""FastAPI dependencies: the context, one transaction per request, and the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from livecast.context import AppContext
from livecast.errors import AuthenticationError
from livecast.ingest.live import LiveStreams
from livecast.security.tokens import API_TOKEN_PREFIX
from livecast.services.uow import UnitOfWork
from livecast.storage.models import User

_bearer = HTTPBearer(auto_error=False, description="An access token or a personal API token.")


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def get_live(request: Request) -> LiveStreams:
    live: LiveStreams = request.app.state.live
    return live


Live = Annotated[LiveStreams, Depends(get_live)]


async def get_uow(ctx: Ctx) -> AsyncIterator[UnitOfWork]:
    async with ctx.unit_of_work() as uow:
        yield uow


Uow = Annotated[UnitOfWork, Depends(get_uow)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def optional_user(ctx: Ctx, uow: Uow, credentials: Credentials) -> User | None:
    if credentials is None:
        return None
    token = credentials.credentials
    if token.startswith(API_TOKEN_PREFIX):
        user = await uow.users.user_for_api_token(token)
        await uow.session.commit()  # records last_used_at
        return user
    claims = ctx.signer.verify(token)
    return await uow.users.active_user(claims.user_id)


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise AuthenticationError("Log in first: send 'Authorization: Bearer <token>'.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
