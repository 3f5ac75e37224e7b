"""Password hashing with argon2id."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# One hasher per process is fine: it holds parameters only, no state.
_HASHER = PasswordHasher()  # argon2id with the library's recommended (RFC 9106 low-memory) costs


@functools.cache
def _dummy_hash() -> str:
    """A real hash, verified against when the user does not exist, so that "no such user" and
    "wrong password" take the same time. Made on first use: it costs a hash, ~100 ms."""
    return _HASHER.hash("livecast-timing-equaliser")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still costs one verification."""
    try:
        return (
            _HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """Hash off the event loop: argon2 deliberately costs tens of milliseconds."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
