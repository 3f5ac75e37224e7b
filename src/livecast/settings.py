"""Settings: one value object from flags, `LIVECAST_*` variables, `livecast.toml` and defaults.

Precedence, highest first: command-line flags, environment variables, the TOML file, defaults.
The object is passed to every component that needs it; nothing reads the environment later.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

LogFormat = Literal["json", "console"]

CONFIG_FILE_ENV = "LIVECAST_CONFIG"
DEFAULT_CONFIG_FILE = "livecast.toml"


class Settings(BaseSettings):
    """Every setting livecast reads. Each one can be given as ``LIVECAST_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="LIVECAST_",
        extra="ignore",
        validate_default=True,
    )

    host: str = Field("127.0.0.1", description="Address the HTTP and RTMP servers bind to.")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP port (API, docs, playback).")
    rtmp_port: int = Field(1935, ge=0, le=65535, description="RTMP ingest port.")
    public_host: str = Field(
        "localhost", description="Host name put into ingest and playback URLs shown to users."
    )
    data_dir: Path = Field(Path("livecast-data"), description="Where embedded data is kept.")
    database_url: str = Field(
        "", description="SQLAlchemy async URL; default SQLite in the data dir."
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Key that signs access tokens; default: generated once into the data dir.",
    )
    log_format: LogFormat = Field("json", description="json (structured) or console (human).")
    log_level: str = Field("INFO", description="Python logging level name.")
    access_token_ttl_seconds: int = Field(900, ge=30, description="Lifetime of access tokens.")
    refresh_token_ttl_seconds: int = Field(
        30 * 24 * 3600, ge=60, description="Lifetime of refresh tokens."
    )
    min_followers_to_stream: int = Field(
        0, ge=0, description="Followers a user needs before they may go live."
    )
    default_role: Literal["viewer", "streamer"] = Field(
        "streamer", description="Role given to newly registered users."
    )
    auth_rate_limit_per_minute: int = Field(
        20, ge=1, description="Login, register and refresh attempts allowed per IP per minute."
    )
    max_request_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest HTTP request body accepted."
    )
    stream_key_attempts_per_minute: int = Field(
        10, ge=1, description="Failed stream key attempts allowed per IP per minute."
    )
    rtmp_max_connections: int = Field(1000, ge=1, description="Concurrent RTMP connections.")
    rtmp_setup_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a connection has to start publishing or playing."
    )
    rtmp_idle_timeout_seconds: float = Field(
        30.0, gt=0, description="An RTMP connection silent this long is closed."
    )
    hls_enabled: bool = Field(
        True, description="Package live streams for HLS and DASH (off: RTMP relay only)."
    )
    hls_part_target_ms: int = Field(
        333, ge=100, le=2000, description="LL-HLS part duration target, in milliseconds."
    )
    hls_segment_target_ms: int = Field(
        2000, ge=500, le=10000, description="Segment duration target; cut at the next keyframe."
    )
    hls_retention_seconds: float = Field(
        3600, ge=0, description="How long an ended stream's HLS output stays playable."
    )
    hls_memory_segments: int = Field(
        12, ge=2, description="Newest segments kept in memory; older ones spill to the data dir."
    )
    ffmpeg: str = Field(
        "", description="The ffmpeg binary for transcoding; empty: the imageio-ffmpeg one."
    )
    transcode_enabled: bool = Field(
        True, description="Transcode live streams into an ABR ladder when the budget allows."
    )
    transcode_codec: Literal["h264", "hevc", "av1"] = Field(
        "h264", description="Video codec of the transcoded rungs."
    )
    transcode_encoder: str = Field(
        "", description="An ffmpeg encoder by name (e.g. h264_nvenc); it must be present."
    )
    gpu_acceleration: bool = Field(
        False, description="Use a GPU encoder (NVENC, QSV, VAAPI) for the codec when present."
    )
    transcode_keyframe_interval_ms: int | None = Field(
        None, ge=250, description="Longest GOP of a rung; default: the segment target."
    )
    transcode_max_rungs: int = Field(4, ge=1, le=8, description="Most rungs per ladder.")
    transcode_budget: float | None = Field(
        None, gt=0, description="Node budget in megapixels/s encoded; default 60 per core."
    )
    transcode_stall_seconds: float = Field(
        10.0, gt=0, description="An encoder with no output this long is restarted."
    )
    thumbnail_interval_seconds: float = Field(
        10.0, gt=0, description="How often a live stream's thumbnail is refreshed."
    )
    reconnect_grace_seconds: float = Field(
        10.0, ge=0, description="How long a stream stays live after its publisher disconnects."
    )
    chat_max_comment_chars: int = Field(
        500, ge=1, le=5000, description="Longest chat comment accepted, in characters."
    )
    chat_burst: int = Field(5, ge=1, description="Comments a user may send at once.")
    chat_per_minute: float = Field(
        30, gt=0, description="Sustained comments per user per minute (token bucket refill)."
    )
    reactions_per_second: float = Field(
        10, gt=0, description="Sustained reactions, likes and shares per connection per second."
    )
    realtime_tick_ms: int = Field(
        50, ge=5, le=1000, description="How often a room sends its batched events."
    )
    reaction_interval_ms: int = Field(
        250, ge=10, le=10000, description="How often reaction and like/share counts go out."
    )
    ws_send_queue_soft: int = Field(
        16, ge=1, description="Frames queued for a client before its chat is sampled."
    )
    ws_send_queue_hard: int = Field(
        256, ge=2, description="Frames queued for a client before it is disconnected."
    )
    ws_auth_timeout_seconds: float = Field(
        10, gt=0, description="Time a client has to authenticate on a non-public stream."
    )
    chat_retention_days: float = Field(
        0,
        ge=0,
        description="Days after a stream ends that its chat and room events are deleted; 0: never.",
    )
    viewer_session_timeout_seconds: float = Field(
        30, gt=0, description="A viewer session with no heartbeat this long has ended."
    )
    viewer_sessions_per_ip_per_minute: int = Field(
        120, ge=1, description="New viewer sessions allowed per IP per minute."
    )
    bus_url: str = Field(
        "memory://",
        description="Bus and shared realtime state: memory:// (one node) or redis://host:port/db.",
    )
    bus_key_prefix: str = Field(
        "livecast", min_length=1, description="Prefix of every Redis key and stream livecast uses."
    )
    webhook_allow_networks: str = Field(
        "",
        description="CIDRs webhooks may reach despite being loopback/private (comma-separated).",
    )
    webhook_max_attempts: int = Field(
        8, ge=1, le=50, description="Attempts per webhook delivery before it is given up."
    )
    webhook_retry_base_seconds: float = Field(
        2.0, gt=0, description="First retry delay; it doubles per attempt, with jitter."
    )
    webhook_retry_max_seconds: float = Field(
        3600.0, gt=0, description="Longest delay between two attempts of one delivery."
    )
    webhook_failure_limit: int = Field(
        20, ge=1, description="Consecutive failed attempts after which a webhook is disabled."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a webhook receiver has to answer one attempt."
    )
    country_headers: str = Field(
        "CF-IPCountry,X-Country",
        description="Request headers giving a viewer's two-letter country, first found wins.",
    )
    analytics_snapshot_interval_seconds: float = Field(
        10, ge=1, le=3600, description="How often each live stream's analytics snapshot is taken."
    )
    analytics_retention_days: int = Field(
        30, ge=1, description="Snapshots older than this are rolled up into hourly rows."
    )
    analytics_rollup_interval_seconds: float = Field(
        3600, ge=10, description="How often the rollup of old snapshots runs."
    )
    metrics_max_stream_labels: int = Field(
        100, ge=1, le=10000, description="Most streams given their own label on per-stream gauges."
    )
    health_check_interval_seconds: float = Field(
        2, gt=0, le=60, description="How often stream health conditions are evaluated."
    )
    health_hold_seconds: float = Field(
        10, ge=0, description="How long a health condition must hold (and clear) before an event."
    )
    health_connection_lost_seconds: float = Field(
        3, ge=0, description="Publisher absence that counts as a lost connection."
    )
    health_window_seconds: float = Field(
        30, gt=0, description="Player heartbeats this recent decide latency and buffer health."
    )
    health_high_latency_ms: int = Field(
        5000, ge=1, description="Player latency (p95) above which high_latency fires."
    )
    health_buffer_underflow_ratio: float = Field(
        0.05, gt=0, le=1, description="Share of watch time spent rebuffering that fires."
    )
    health_frame_drop_ratio: float = Field(
        0.02, gt=0, le=1, description="Share of frames dropped at ingest that fires frame_drop."
    )
    health_min_frame_rate_ratio: float = Field(
        0.8, gt=0, le=1, description="Measured/declared frame rate below which frames drop."
    )
    health_bitrate_change_ratio: float = Field(
        0.5, gt=0, description="Relative ingest bitrate change that fires bitrate_change."
    )
    health_player_errors_per_minute: float = Field(
        10, gt=0, description="Player-reported errors per minute that fire an error event."
    )
    health_ingest_stall_seconds: float = Field(
        5, gt=0, description="A connected publisher sending no video this long is an error."
    )

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("webhook_allow_networks")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        import ipaddress

        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part)  # a ValueError names the bad CIDR
        return value

    @field_validator("bus_url")
    @classmethod
    def _known_bus(cls, value: str) -> str:
        if value.partition("://")[0] not in {"memory", "redis", "rediss", "unix"}:
            raise ValueError("the bus URL must be memory:// or redis://host:port/db")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'livecast.db').resolve()}"

    @property
    def ingest_base_url(self) -> str:
        """The RTMP URL a publisher points at, without the stream key."""
        return f"rtmp://{self.public_host}:{self.rtmp_port}/live"

    def signing_key(self) -> str:
        """The token signing key: configured, or generated once and kept in the data dir."""
        configured = self.secret_key.get_secret_value()
        if configured:
            return configured
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key

    def masked(self) -> dict[str, Any]:
        """The effective settings with secrets masked, for ``livecast config show``."""
        values: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else "(generated in data dir)"
            elif isinstance(value, Path):
                value = str(value)
            values[name] = value
        values["database_url"] = mask_url(self.effective_database_url)
        values["bus_url"] = mask_url(self.bus_url)
        return values


def mask_url(url: str) -> str:
    """Hide the password part of a URL such as ``postgresql://user:pw@host/db``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}://{user}{':********' if has_password else ''}@{location}"
