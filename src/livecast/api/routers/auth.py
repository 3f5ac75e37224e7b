"""Registration, login and token refresh. Every endpoint here is rate limited per IP."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from livecast.api.deps import Ctx, Uow, client_ip
from livecast.api.openapi import problems
from livecast.api.schemas import LoginRequest, MeOut, RefreshRequest, RegisterRequest, TokenResponse
from livecast.api.views import me_out
from livecast.services.roles import Role
from livecast.services.users import FollowCounts, TokenPair

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account",
    responses=problems(409, 429),
)
async def register(body: RegisterRequest, request: Request, ctx: Ctx, uow: Uow) -> MeOut:
    ctx.auth_limiter.hit(client_ip(request), "registration attempts")
    user = await uow.users.register(
        body.username, body.email, body.password, Role(ctx.settings.default_role)
    )
    await uow.commit()
    return me_out(user, FollowCounts(0, 0))


@router.post(
    "/login", summary="Exchange a username and password for tokens", responses=problems(401, 429)
)
async def login(body: LoginRequest, request: Request, ctx: Ctx, uow: Uow) -> TokenResponse:
    ctx.auth_limiter.hit(client_ip(request), "login attempts")
    user = await uow.users.authenticate(body.username, body.password)
    pair = await uow.users.issue_tokens(user, ctx.signer, ctx.refresh_ttl)
    await uow.commit()
    return _tokens(pair)


@router.post(
    "/refresh",
    summary="Exchange a refresh token for a new token pair (each refresh token works once)",
    responses=problems(401, 429),
)
async def refresh(body: RefreshRequest, request: Request, ctx: Ctx, uow: Uow) -> TokenResponse:
    ctx.auth_limiter.hit(client_ip(request), "refresh attempts")
    try:
        pair = await uow.users.refresh(body.refresh_token, ctx.signer, ctx.refresh_ttl)
    finally:
        await uow.commit()  # a detected reuse revokes the token family even though we refuse
    return _tokens(pair)
