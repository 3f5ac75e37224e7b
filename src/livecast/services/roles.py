"""Roles and what each may do."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    VIEWER = "viewer"
    STREAMER = "streamer"
    MODERATOR = "moderator"
    ADMIN = "admin"


STREAMING_ROLES = frozenset({Role.STREAMER, Role.MODERATOR, Role.ADMIN})
