"""Signed access tokens (JWT) and opaque secrets that are stored only as hashes.

Access tokens are short-lived HS256 JWTs. Refresh tokens, personal API tokens and stream keys
are random opaque strings with a recognisable prefix; the database keeps their SHA-256 digest.
They carry at least 192 random bits, so a fast hash is the right tool (no offline guessing is
feasible) and lookups stay indexed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from livecast.errors import AuthenticationError

STREAM_KEY_PREFIX = "lc_sk_"
API_TOKEN_PREFIX = "lc_pat_"  # noqa: S105 - a public prefix
REFRESH_TOKEN_PREFIX = "lc_rt_"  # noqa: S105 - a public prefix
_ALGORITHM = "HS256"
_ISSUER = "livecast"


def new_secret(prefix: str) -> str:
    """A fresh opaque secret: ``prefix`` + 32 URL-safe characters (192 random bits)."""
    return prefix + secrets.token_urlsafe(24)


def digest(secret: str) -> str:
    """The hex SHA-256 digest under which a secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    expires_at: datetime


class TokenSigner:
    """Issues and verifies access tokens with one signing key."""

    def __init__(self, key: str, ttl_seconds: int) -> None:
        self._key = key
        self._ttl = timedelta(seconds=ttl_seconds)

    @property
    def ttl_seconds(self) -> int:
        return int(self._ttl.total_seconds())

    def issue(self, user_id: uuid.UUID, role: str, now: datetime | None = None) -> str:
        return self._encode(
            {"sub": str(user_id), "role": role, "typ": "access"},
            now or datetime.now(UTC),
            self._ttl,
        )

    def issue_playback(
        self, stream_id: uuid.UUID, ttl_seconds: int, now: datetime | None = None
    ) -> tuple[str, datetime]:
        """A token that lets its bearer play one stream until it expires."""
        issued = now or datetime.now(UTC)
        ttl = timedelta(seconds=ttl_seconds)
        token = self._encode({"sub": str(stream_id), "typ": "playback"}, issued, ttl)
        return token, datetime.fromtimestamp(int((issued + ttl).timestamp()), UTC)

    def verify_playback(self, token: str, stream_id: uuid.UUID) -> None:
        """Raise :class:`AuthenticationError` unless ``token`` grants playback of ``stream_id``."""
        claims = self._decode(token, "playback token")
        if claims.get("typ") != "playback" or claims.get("sub") != str(stream_id):
            raise AuthenticationError("The playback token is not valid for this stream.")

    def verify(self, token: str) -> AccessClaims:
        claims = self._decode(token, "access token")
        try:
            if claims.get("typ") != "access":
                raise ValueError("not an access token")
            return AccessClaims(
                user_id=uuid.UUID(str(claims["sub"])),
                role=str(claims.get("role", "viewer")),
                expires_at=datetime.fromtimestamp(int(str(claims["exp"])), UTC),
            )
        except (ValueError, TypeError) as exc:
            raise AuthenticationError("The access token is invalid.") from exc

    def _encode(self, claims: dict[str, str], issued: datetime, ttl: timedelta) -> str:
        full = {
            **claims,
            "iss": _ISSUER,
            "iat": int(issued.timestamp()),
            "exp": int((issued + ttl).timestamp()),
        }
        return jwt.encode(full, self._key, algorithm=_ALGORITHM)

    def _decode(self, token: str, what: str) -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["sub", "exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError(f"The {what} has expired; get a new one.") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"The {what} is invalid.") from exc
        return claims
