"""Turning stored records into response bodies."""

from __future__ import annotations

from livecast.api.schemas import MeOut, StreamOut, UserOut
from livecast.services.roles import Role
from livecast.services.users import FollowCounts
from livecast.settings import Settings
from livecast.storage.models import Stream, User


def user_out(user: User, counts: FollowCounts) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        bio=user.bio,
        role=Role(user.role),
        created_at=user.created_at,
        follower_count=counts.followers,
        following_count=counts.following,
    )


def me_out(user: User, counts: FollowCounts) -> MeOut:
    return MeOut(**user_out(user, counts).model_dump(), email=user.email)


def stream_fields(stream: Stream, settings: Settings) -> dict[str, object]:
    return {
        "id": stream.id,
        "user_id": stream.user_id,
        "username": stream.owner.username,
        "title": stream.title,
        "description": stream.description,
        "category": stream.category,
        "tags": [row.tag for row in stream.tags],
        "visibility": stream.visibility,
        "status": stream.status,
        "quality": stream.quality,
        "video_codec": stream.video_codec,
        "record": stream.record,
        "dvr_window": stream.dvr_window,
        "low_latency": stream.low_latency,
        "scheduled_at": stream.scheduled_at,
        "created_at": stream.created_at,
        "started_at": stream.started_at,
        "ended_at": stream.ended_at,
        "key_rotated_at": stream.key_rotated_at,
        "viewer_count": stream.viewer_count,
        "peak_viewer_count": stream.peak_viewer_count,
        "ingest_url": settings.ingest_base_url,
        "playback_url": f"/hls/{stream.id}/master.m3u8",
    }


def stream_out(stream: Stream, settings: Settings) -> StreamOut:
    return StreamOut.model_validate(stream_fields(stream, settings))
