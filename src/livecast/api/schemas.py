"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from livecast.domain.stream_lifecycle import StreamStatus
from livecast.services.roles import Role

Visibility = Literal["public", "followers", "private"]
VideoCodec = Literal["h264", "hevc", "av1"]
Quality = Literal["144p", "240p", "360p", "480p", "720p", "1080p", "1440p", "2160p"]

_CONTROL = {chr(c) for c in range(32)} - {"\n", "\t"} | {chr(127)}


def _no_control_chars(value: str) -> str:
    if any(ch in _CONTROL for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Username = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_]{3,32}$", min_length=3, max_length=32)
]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=140),
    AfterValidator(_not_blank),
    AfterValidator(_no_control_chars),
]
Description = Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_control_chars)]
Category = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Tag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Tags = Annotated[list[Tag], Field(max_length=10)]
DvrWindow = Annotated[int, Field(strict=True, ge=0, le=24 * 3600)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- auth -----------------------------------------------------------------------------------


class RegisterRequest(StrictModel):
    username: Username
    email: Email
    password: Password


class LoginRequest(StrictModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class RefreshRequest(StrictModel):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token kind, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")


# -- users ----------------------------------------------------------------------------------


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str
    bio: str
    role: Role
    created_at: datetime
    follower_count: int
    following_count: int


class MeOut(UserOut):
    email: str


class ProfileUpdate(StrictModel):
    display_name: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
            AfterValidator(_no_control_chars),
        ]
        | None
    ) = None
    bio: Description | None = None


class RoleUpdate(StrictModel):
    role: Role


class UserSummary(BaseModel):
    id: uuid.UUID
    username: str
    display_name: str


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# -- API tokens -----------------------------------------------------------------------------


class ApiTokenCreate(StrictModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    expires_in_days: Annotated[int, Field(strict=True, ge=1, le=3650)] | None = None


class ApiTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the token, to recognise it.")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The token itself. It is shown only once.")


# -- streams --------------------------------------------------------------------------------


class StreamCreate(StrictModel):
    title: Title
    description: Description = ""
    category: Category | None = None
    tags: Tags = Field(default_factory=list)
    visibility: Visibility = "public"
    quality: Quality = "1080p"
    video_codec: VideoCodec | None = Field(
        None,
        description="Codec of the transcoded rungs: h264, hevc or av1; null: the node's default. "
        "A codec this node cannot encode is refused here.",
    )
    record: StrictBool = False
    dvr_window: DvrWindow = Field(
        7200, description="Seconds viewers can seek back; the playlist keeps this window."
    )
    low_latency: StrictBool = True
    scheduled_at: AwareDatetime | None = Field(
        None, description="When the stream is planned to start; omit to be ready to go live now."
    )


_NOT_NULL = (
    "title",
    "description",
    "tags",
    "visibility",
    "quality",
    "record",
    "dvr_window",
    "low_latency",
)


def _drop_null_options(schema: dict[str, Any]) -> None:
    """Advertise only the fields that accept null as nullable in the OpenAPI schema."""
    for name in _NOT_NULL:
        prop = schema["properties"][name]
        options = [opt for opt in prop.pop("anyOf", []) if opt.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        prop.pop("default", None)


class StreamUpdate(StrictModel):
    """Only the fields sent are changed. category and scheduled_at may be set to null."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_options)

    title: Title | None = None
    description: Description | None = None
    category: Category | None = None
    tags: Tags | None = None
    visibility: Visibility | None = None
    quality: Quality | None = None
    video_codec: VideoCodec | None = None
    record: StrictBool | None = None
    dvr_window: DvrWindow | None = None
    low_latency: StrictBool | None = None
    scheduled_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _nulls_only_where_allowed(self) -> StreamUpdate:
        for name in _NOT_NULL:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class StreamOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    title: str
    description: str
    category: str | None
    tags: list[str]
    visibility: Visibility
    status: StreamStatus
    quality: Quality
    video_codec: VideoCodec | None = Field(description="null: the node's default codec.")
    record: bool
    dvr_window: int
    low_latency: bool
    scheduled_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    key_rotated_at: datetime | None
    viewer_count: int
    peak_viewer_count: int
    ingest_url: str = Field(description="The RTMP server URL; append your stream key.")
    playback_url: str


class StreamCreated(StreamOut):
    stream_key: str = Field(description="The stream key. It is shown only once.")
    ingest_url_with_key: str


class StreamKey(BaseModel):
    stream_key: str
    ingest_url_with_key: str


class EligibilityOut(BaseModel):
    eligible: bool
    follower_count: int
    required: int
    reason: str | None


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None


class PlaybackToken(BaseModel):
    token: str
    expires_at: datetime
    rtmp_play_url: str = Field(description="Pull the live stream over RTMP with this URL.")


class StreamHealth(BaseModel):
    """Live ingest statistics; rates are over the last few seconds."""

    stream_id: uuid.UUID
    publishing: bool = Field(description="False during the reconnect grace window.")
    uptime_seconds: float
    reconnects: int
    video_bitrate_bps: int
    audio_bitrate_bps: int
    frame_rate: float
    keyframe_interval_ms: int | None
    av_drift_ms: int | None = Field(description="Newest video timestamp minus newest audio one.")
    video_units: int
    audio_units: int
    timestamp_jumps: int = Field(
        description="Timestamps that jumped or went back and were rebased."
    )
    timestamps_clamped: int
    dropped_units: int = Field(
        description="Media not usable: before its codec config, or unsupported."
    )
    reader_drops: int = Field(description="Units dropped for readers that fell behind.")
    players: int
    tracks: dict[str, dict[str, Any]]
    metadata: dict[str, Any]
