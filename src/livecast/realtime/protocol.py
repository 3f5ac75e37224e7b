"""The room wire protocol, version 1: JSON text frames, each an object with ``v`` and ``type``.

Sans-I/O: parsing client messages and encoding server messages, nothing else. The protocol
is documented with an example of every message in docs/realtime.md.
"""

from __future__ import annotations

import enum
import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from livecast.realtime.eventlog import WireEvent
from livecast.realtime.policy import Refusal
from livecast.realtime.ratelimit import Verdict

VERSION = 1
MAX_MESSAGE_BYTES = 8192
REACTIONS = ("like", "love", "fire", "clap", "wow")
MAX_TIMEOUT_SECONDS = 14 * 24 * 3600


class CloseCode(enum.IntEnum):
    """WebSocket close codes: 4000 + the HTTP status with the same meaning."""

    NORMAL = 1000
    GOING_AWAY = 1001
    MESSAGE_TOO_BIG = 1009
    BAD_REQUEST = 4400
    UNAUTHORIZED = 4401
    NOT_FOUND = 4404
    AUTH_TIMEOUT = 4408
    TOO_SLOW = 4429


class ProtocolViolation(ValueError):
    """A client message that cannot be understood; ``code`` names the problem."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# -- client → server -------------------------------------------------------------------------

Cid = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
ReactionKind = Literal["like", "love", "fire", "clap", "wow"]
Reason = Annotated[str, StringConstraints(max_length=200)]


BlockedTerm = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\t\n\r]*[^*\s][^\t\n\r]*$"
    ),
]  # one line, and something besides '*' and spaces: a term of wildcards would block everything


def _not_nullable(schema: dict[str, Any]) -> None:
    """Fields may be left out but not sent as null: say so in the JSON schema."""
    for prop in schema.get("properties", {}).values():
        options = [option for option in prop.pop("anyOf", []) if option.get("type") != "null"]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        prop.pop("default", None)


class ChatModesPatch(BaseModel):
    """Chat modes to change; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_not_nullable)

    anonymous_chat: bool | None = Field(None, description="Let viewers who are not logged in chat.")
    slow_mode_seconds: Annotated[int, Field(ge=0, le=3600)] | None = Field(
        None, description="Seconds a viewer waits between messages; 0 turns slow mode off."
    )
    followers_only: bool | None = None
    followers_min_age_minutes: Annotated[int, Field(ge=0, le=129_600)] | None = Field(
        None, description="In followers-only mode, how long a viewer must have followed."
    )
    subscribers_only: bool | None = None
    emote_only: bool | None = None
    block_links: bool | None = None
    blocked_terms: Annotated[list[BlockedTerm], Field(max_length=200)] | None = Field(
        None, description="Words refused in comments; '*' matches any characters in a word."
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> ChatModesPatch:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null; leave it out to keep its value")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    cid: Cid | None = Field(None, description="Client message id, echoed in the ack.")


class AuthMessage(_Message):
    type: Literal["auth"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class CommentMessage(_Message):
    type: Literal["comment"]
    text: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_BYTES)]


class ReactionMessage(_Message):
    type: Literal["reaction"]
    kind: ReactionKind


class LikeMessage(_Message):
    type: Literal["like"]


class ShareMessage(_Message):
    type: Literal["share"]


class PingMessage(_Message):
    type: Literal["ping"]


class _Mod(_Message):
    type: Literal["mod"]


class ModDelete(_Mod):
    action: Literal["delete"]
    seq: Annotated[int, Field(ge=1)]


class ModClear(_Mod):
    action: Literal["clear"]


class ModPin(_Mod):
    action: Literal["pin"]
    seq: Annotated[int, Field(ge=1)]
    seconds: Annotated[int, Field(ge=1, le=24 * 3600)] = 300


class ModUnpin(_Mod):
    action: Literal["unpin"]


class ModTimeout(_Mod):
    action: Literal["timeout"]
    user_id: uuid.UUID
    seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)]
    reason: Reason = ""


class ModBan(_Mod):
    action: Literal["ban"]
    user_id: uuid.UUID
    reason: Reason = ""


class ModUnban(_Mod):
    action: Literal["unban"]
    user_id: uuid.UUID


class ModSettings(_Mod):
    action: Literal["settings"]
    settings: ChatModesPatch


ModMessage = Annotated[
    ModDelete | ModClear | ModPin | ModUnpin | ModTimeout | ModBan | ModUnban | ModSettings,
    Field(discriminator="action"),
]
ClientMessage = Annotated[
    AuthMessage
    | CommentMessage
    | ReactionMessage
    | LikeMessage
    | ShareMessage
    | PingMessage
    | ModMessage,
    Field(discriminator="type"),
]
_client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


def parse(text: str) -> ClientMessage:
    """One client message, or :class:`ProtocolViolation` saying what is wrong with it."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProtocolViolation("bad_json", "Messages are JSON objects.") from exc
    if not isinstance(raw, dict):
        raise ProtocolViolation("bad_json", "Messages are JSON objects.")
    if raw.get("v", VERSION) != VERSION:
        raise ProtocolViolation("unsupported_version", f"This server speaks v{VERSION}.")
    try:
        return _client_message.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise ProtocolViolation("bad_message", f"{where}: {first['msg']}") from exc


def cid_of(text: str) -> str | None:
    """The ``cid`` of a message that failed to parse, to address the error to it."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    cid = raw.get("cid") if isinstance(raw, dict) else None
    return cid if isinstance(cid, str) and len(cid) <= 64 else None


# -- server → client -------------------------------------------------------------------------


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def batch(
    events: list[WireEvent], *, replay: bool = False, sampled: bool = False, skipped: int = 0
) -> str:
    """Several events in one frame; ``sampled`` frames left ``skipped`` chat events out."""
    message: dict[str, Any] = {"v": VERSION, "type": "batch", "events": events}
    if replay:
        message["replay"] = True
    if sampled:
        message["sampled"] = True
        message["skipped"] = skipped
    return encode(message)


def ack(
    cid: str | None, budget: Verdict, *, seq: int | None = None, duplicate: bool = False
) -> str:
    message: dict[str, Any] = {"v": VERSION, "type": "ack", "cid": cid, "ok": True}
    if seq is not None:
        message["seq"] = seq
    if duplicate:
        message["duplicate"] = True
    message["remaining"] = budget.remaining
    message["retry_after_ms"] = budget.retry_after_ms
    return encode(message)


def refusal(cid: str | None, refused: Refusal, budget: Verdict) -> str:
    return encode(
        {
            "v": VERSION,
            "type": "ack",
            "cid": cid,
            "ok": False,
            "reason": refused.reason,
            "detail": refused.detail,
            "remaining": 0 if refused.retry_after_ms else budget.remaining,
            "retry_after_ms": max(refused.retry_after_ms, budget.retry_after_ms),
        }
    )


def error(code: str, detail: str, cid: str | None = None) -> str:
    return encode({"v": VERSION, "type": "error", "cid": cid, "code": code, "detail": detail})


def message(type_: str, **fields: Any) -> str:
    return encode({"v": VERSION, "type": type_, **fields})
