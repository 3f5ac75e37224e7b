"""Users: registration, credentials, tokens, profiles and follows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from livecast.errors import AuthenticationError, BadRequest, Conflict, NotFound, PermissionDenied
from livecast.security.passwords import hash_password_async, verify_password_async
from livecast.security.tokens import (
    API_TOKEN_PREFIX,
    REFRESH_TOKEN_PREFIX,
    TokenSigner,
    digest,
    new_secret,
)
from livecast.services.roles import Role
from livecast.storage.models import ApiToken, Follow, RefreshToken, User


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class FollowCounts:
    followers: int
    following: int


class UserService:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db

    async def register(
        self, username: str, email: str, password: str, role: Role = Role.VIEWER
    ) -> User:
        username, email = username.lower(), email.lower()
        taken = await self.db.scalar(
            select(User.username).where((User.username == username) | (User.email == email))
        )
        if taken is not None:
            field = "username" if taken == username else "email"
            raise Conflict(f"That {field} is already registered.")
        user = User(
            username=username,
            email=email,
            password_hash=await hash_password_async(password),
            role=str(role),
            display_name=username,
        )
        self.db.add(user)
        try:
            await self.db.flush()
        except IntegrityError as exc:  # a concurrent registration won the race
            raise Conflict("That username or email is already registered.") from exc
        return user

    async def authenticate(self, username: str, password: str) -> User:
        user = await self.db.scalar(select(User).where(User.username == username.lower()))
        ok = await verify_password_async(user.password_hash if user else None, password)
        if user is None or not ok:
            raise AuthenticationError("Wrong username or password.")
        if user.disabled:
            raise AuthenticationError("This account is disabled.")
        return user

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.db.get(User, user_id)
        if user is None:
            raise NotFound("No user with that id.")
        return user

    async def active_user(self, user_id: uuid.UUID) -> User:
        """The user behind a credential; a deleted or disabled account fails authentication."""
        user = await self.db.get(User, user_id)
        if user is None or user.disabled:
            raise AuthenticationError("This account no longer exists or is disabled.")
        return user

    async def update_profile(self, user: User, display_name: str | None, bio: str | None) -> User:
        if display_name is not None:
            user.display_name = display_name
        if bio is not None:
            user.bio = bio
        await self.db.flush()
        return user

    async def set_role(self, actor: User, target_id: uuid.UUID, role: Role) -> User:
        if actor.role != Role.ADMIN:
            raise PermissionDenied("Only an admin can change roles.")
        target = await self.get(target_id)
        target.role = str(role)
        await self.db.flush()
        return target

    # -- tokens ---------------------------------------------------------------------------

    async def issue_tokens(
        self,
        user: User,
        signer: TokenSigner,
        refresh_ttl: timedelta,
        family_id: uuid.UUID | None = None,
    ) -> TokenPair:
        refresh = new_secret(REFRESH_TOKEN_PREFIX)
        self.db.add(
            RefreshToken(
                user_id=user.id,
                token_hash=digest(refresh),
                family_id=family_id or uuid.uuid4(),
                expires_at=datetime.now(UTC) + refresh_ttl,
            )
        )
        await self.db.flush()
        return TokenPair(signer.issue(user.id, user.role), refresh, signer.ttl_seconds)

    async def refresh(
        self, refresh_token: str, signer: TokenSigner, refresh_ttl: timedelta
    ) -> TokenPair:
        """Exchange a refresh token for a new pair; each refresh token works once.

        Presenting an already-used token means it leaked: the whole family is revoked.
        """
        now = datetime.now(UTC)
        stored = await self.db.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
        )
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise AuthenticationError("The refresh token is invalid or expired; log in again.")
        if stored.used_at is not None:
            await self.db.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == stored.family_id)
                .values(revoked_at=now)
            )
            raise AuthenticationError("The refresh token was already used; log in again.")
        stored.used_at = now
        user = await self.active_user(stored.user_id)
        return await self.issue_tokens(user, signer, refresh_ttl, stored.family_id)

    async def create_api_token(
        self, user: User, name: str, expires_in_days: int | None
    ) -> tuple[ApiToken, str]:
        secret = new_secret(API_TOKEN_PREFIX)
        expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
        token = ApiToken(
            user_id=user.id,
            name=name,
            token_hash=digest(secret),
            prefix=secret[: len(API_TOKEN_PREFIX) + 4],
            expires_at=expires,
        )
        self.db.add(token)
        await self.db.flush()
        return token, secret

    async def list_api_tokens(self, user: User) -> list[ApiToken]:
        rows = await self.db.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at)
        )
        return list(rows)

    async def revoke_api_token(self, user: User, token_id: uuid.UUID) -> None:
        token = await self.db.get(ApiToken, token_id)
        if token is None or token.user_id != user.id or token.revoked_at is not None:
            raise NotFound("No API token with that id.")
        token.revoked_at = datetime.now(UTC)
        await self.db.flush()

    async def user_for_api_token(self, secret: str) -> User:
        now = datetime.now(UTC)
        token = await self.db.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
        if token is None or token.revoked_at is not None:
            raise AuthenticationError("The API token is invalid or revoked.")
        if token.expires_at is not None and token.expires_at <= now:
            raise AuthenticationError("The API token has expired.")
        token.last_used_at = now
        return await self.active_user(token.user_id)

    # -- follows --------------------------------------------------------------------------

    async def follow(self, follower: User, followee_id: uuid.UUID) -> None:
        if follower.id == followee_id:
            raise BadRequest("You cannot follow yourself.")
        await self.get(followee_id)
        exists = await self.db.get(Follow, (follower.id, followee_id))
        if exists is None:
            try:
                async with self.db.begin_nested():
                    self.db.add(Follow(follower_id=follower.id, followee_id=followee_id))
            except IntegrityError:  # followed concurrently: the outcome is the same
                pass

    async def unfollow(self, follower: User, followee_id: uuid.UUID) -> None:
        await self.get(followee_id)
        follow = await self.db.get(Follow, (follower.id, followee_id))
        if follow is not None:
            await self.db.delete(follow)
            await self.db.flush()

    async def is_following(self, follower_id: uuid.UUID, followee_id: uuid.UUID) -> bool:
        return await self.db.get(Follow, (follower_id, followee_id)) is not None

    async def counts(self, user_id: uuid.UUID) -> FollowCounts:
        followers = await self.db.scalar(
            select(func.count()).select_from(Follow).where(Follow.followee_id == user_id)
        )
        following = await self.db.scalar(
            select(func.count()).select_from(Follow).where(Follow.follower_id == user_id)
        )
        return FollowCounts(int(followers or 0), int(following or 0))

    async def follow_list(
        self,
        user_id: uuid.UUID,
        direction: Literal["followers", "following"],
        limit: int,
        offset: int,
    ) -> tuple[list[User], int]:
        """A page of the users who follow ``user_id`` ("followers") or whom it follows."""
        await self.get(user_id)
        if direction == "followers":
            joined, anchor = Follow.follower_id, Follow.followee_id
        else:
            joined, anchor = Follow.followee_id, Follow.follower_id
        query = (
            select(User)
            .join(Follow, joined == User.id)
            .where(anchor == user_id)
            .order_by(Follow.created_at.desc(), User.id)
        )
        counts = await self.counts(user_id)
        total = counts.followers if direction == "followers" else counts.following
        return list(await self.db.scalars(query.limit(limit).offset(offset))), total
