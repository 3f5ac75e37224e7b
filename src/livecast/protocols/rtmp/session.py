"""The server side of one RTMP connection, as a sans-I/O state machine.

Feed the client's bytes to :meth:`ServerSession.receive_data`, act on
:meth:`~ServerSession.events_received`, write :meth:`~ServerSession.data_to_send` to the peer and
close the connection once :attr:`~ServerSession.should_close` is true. A peer that breaks the
protocol never makes ``receive_data`` raise: the session reports :class:`ConnectionFailed` with
the reason and ignores everything after it.
"""

from __future__ import annotations

import enum
import math
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from livecast.errors import ProtocolError
from livecast.protocols import amf0
from livecast.protocols.rtmp.chunk import TIMESTAMP_MASK, ChunkReader, ChunkWriter, Message
from livecast.protocols.rtmp.events import (
    Connected,
    ConnectionFailed,
    Event,
    MediaReceived,
    MetadataReceived,
    PlayEnded,
    PlayRequested,
    PublishEnded,
    PublishRequested,
)
from livecast.protocols.rtmp.handshake import ServerHandshake
from livecast.protocols.rtmp.messages import (
    Acknowledgement,
    Command,
    DataMessage,
    LimitType,
    MessageType,
    SetChunkSize,
    SetPeerBandwidth,
    UserControl,
    UserControlEvent,
    WindowAcknowledgementSize,
    split_aggregate,
)

__all__ = ["PlayRejectCode", "PublishRejectCode", "ServerSession", "SessionConfig", "SessionState"]

PublishRejectCode = Literal[
    "NetStream.Publish.BadName", "NetStream.Publish.Unauthorized", "NetStream.Publish.Denied"
]
PlayRejectCode = Literal[
    "NetStream.Play.StreamNotFound", "NetStream.Play.Unauthorized", "NetStream.Play.Failed"
]

# Chunk streams of what the server sends (any id works; these are the customary ones).
_CONTROL_CSID: Final = 2
_COMMAND_CSID: Final = 3
_STREAM_CSID: Final = 5  # onStatus and data messages of the media stream
_AUDIO_CSID: Final = 6
_VIDEO_CSID: Final = 7
# What a queued message costs beyond its payload, so that a flood of empty ones counts too.
_MESSAGE_COST: Final = 64


class SessionState(enum.Enum):
    HANDSHAKE = "handshake"
    CONNECTING = "connecting"  # handshake done, waiting for ``connect``
    CONNECTED = "connected"
    PUBLISH_REQUESTED = "publish requested"  # waiting for the application's decision
    PUBLISHING = "publishing"
    PLAY_REQUESTED = "play requested"
    PLAYING = "playing"
    CLOSING = "closing"  # the application refused the client; flush and close
    FAILED = "failed"  # the client broke the protocol


_INACTIVE: Final = frozenset((SessionState.CLOSING, SessionState.FAILED))
_PUBLISH_STATES: Final = frozenset((SessionState.PUBLISH_REQUESTED, SessionState.PUBLISHING))
_PLAY_STATES: Final = frozenset((SessionState.PLAY_REQUESTED, SessionState.PLAYING))
_DECIDING: Final = frozenset((SessionState.PUBLISH_REQUESTED, SessionState.PLAY_REQUESTED))
_PAUSED: Final = _INACTIVE | _DECIDING


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Limits and the values the server announces after ``connect``."""

    chunk_size: int = 4096  # outgoing
    window_ack_size: int = 2_500_000
    peer_bandwidth: int = 2_500_000
    max_message_size: int = 16 * 1024 * 1024
    max_chunk_size: int = 16 * 1024 * 1024  # incoming, as the client may set it
    max_chunk_streams: int = 64
    # While the application decides on a publish or play, later messages wait (most clients
    # wait too; some send media straight away) up to this many payload bytes.
    max_backlog_bytes: int = 4 * 1024 * 1024


class ServerSession:
    """One RTMP connection seen from the server: handshake, commands, publish and play."""

    def __init__(
        self,
        config: SessionConfig | None = None,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.config = config or SessionConfig()
        self._state = SessionState.HANDSHAKE
        self._handshake = ServerHandshake(random_bytes=random_bytes)
        self._reader = ChunkReader(
            max_message_size=self.config.max_message_size,
            max_chunk_size=self.config.max_chunk_size,
            max_chunk_streams=self.config.max_chunk_streams,
        )
        self._writer = ChunkWriter()
        self._events: list[Event] = []
        self._output: list[bytes] = []
        self._bytes_received = 0
        self._acknowledged = 0  # bytes received when the last Acknowledgement was sent
        self._peer_window = 0  # the peer's Window Acknowledgement Size; 0: it wants none
        self._next_stream_id = 1
        self._media_stream_id = 0  # message stream of the current publish or play
        self._stream_name = ""  # its stream key or play name
        self._backlog: deque[Message] = deque()  # messages not handled yet, oldest first
        self._backlog_bytes = 0
        self._parse_error: str | None = None  # reported once the backlog before it is handled
        self.app = ""
        self.failure_reason: str | None = None

    # -- sans-I/O interface ------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def should_close(self) -> bool:
        """True once the connection should be closed (after sending :meth:`data_to_send`)."""
        return self._state in _INACTIVE

    @property
    def awaiting_decision(self) -> bool:
        """True while a publish or play waits for the application's answer; input is queued
        meanwhile, so an adapter may stop reading until it has answered."""
        return self._state in _DECIDING

    @property
    def digest_handshake(self) -> bool:
        """Whether the client used (and passed) the digest handshake."""
        return self._handshake.digest

    def receive_data(self, data: bytes | bytearray) -> None:
        """Process the client's next bytes, in any slicing. Never raises for bad input."""
        if self._state in _INACTIVE or self._parse_error is not None:
            return
        self._bytes_received += len(data)
        try:
            self._parse(data)
        except ProtocolError as exc:
            self._parse_error = exc.detail
        messages = self._reader.messages_received()
        self._backlog.extend(messages)
        self._backlog_bytes += sum(len(m.payload) + _MESSAGE_COST for m in messages)
        self._drain()
        if self._state not in _INACTIVE:
            self._acknowledge()

    def events_received(self) -> list[Event]:
        """Events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Bytes to write to the client, accumulated since the last call."""
        data = b"".join(self._output)
        self._output.clear()
        return data

    # -- application decisions ---------------------------------------------------------------

    def accept_publish(self) -> None:
        """Let the client of the pending :class:`PublishRequested` publish."""
        self._expect(SessionState.PUBLISH_REQUESTED, "accept_publish")
        self._send_control(UserControl(UserControlEvent.STREAM_BEGIN, self._media_stream_id))
        description = f"{self._stream_name} is now published."
        self._send_status("status", "NetStream.Publish.Start", description)
        self._set_state(SessionState.PUBLISHING)
        self._drain()

    def reject_publish(
        self,
        code: PublishRejectCode = "NetStream.Publish.BadName",
        description: str = "Publishing refused.",
    ) -> None:
        """Refuse the pending :class:`PublishRequested`; the connection is to be closed."""
        self._expect(SessionState.PUBLISH_REQUESTED, "reject_publish")
        self._send_status("error", code, description)
        self._set_state(SessionState.CLOSING)

    def accept_play(self) -> None:
        """Start the pending :class:`PlayRequested`; then send media with ``send_*``."""
        self._expect(SessionState.PLAY_REQUESTED, "accept_play")
        name = self._stream_name
        self._send_control(UserControl(UserControlEvent.STREAM_BEGIN, self._media_stream_id))
        self._send_status("status", "NetStream.Play.Reset", f"Playing and resetting {name}.")
        self._send_status("status", "NetStream.Play.Start", f"Started playing {name}.")
        self._send_data(DataMessage("|RtmpSampleAccess", [True, True]))
        self._set_state(SessionState.PLAYING)
        self._drain()

    def reject_play(
        self,
        code: PlayRejectCode = "NetStream.Play.StreamNotFound",
        description: str = "Playing refused.",
    ) -> None:
        """Refuse the pending :class:`PlayRequested`; the connection is to be closed."""
        self._expect(SessionState.PLAY_REQUESTED, "reject_play")
        self._send_status("error", code, description)
        self._set_state(SessionState.CLOSING)

    def send_metadata(self, metadata: Mapping[str, amf0.Value]) -> None:
        """Send ``onMetaData`` to the player."""
        self._expect(SessionState.PLAYING, "send_metadata")
        self._send_data(DataMessage("onMetaData", [amf0.EcmaArray(metadata)]))

    def send_audio(self, timestamp_ms: int, payload: bytes) -> None:
        """Send an audio FLV tag body; the timestamp is taken modulo 2**32."""
        self._send_media(_AUDIO_CSID, MessageType.AUDIO, timestamp_ms, payload)

    def send_video(self, timestamp_ms: int, payload: bytes) -> None:
        """Send a video FLV tag body; the timestamp is taken modulo 2**32."""
        self._send_media(_VIDEO_CSID, MessageType.VIDEO, timestamp_ms, payload)

    # -- input -------------------------------------------------------------------------------

    def _parse(self, data: bytes | bytearray) -> None:
        if self._state is SessionState.HANDSHAKE:
            self._output.append(self._handshake.receive_data(data))
            if not self._handshake.done:
                return
            self._set_state(SessionState.CONNECTING)
            data = self._handshake.leftover
        self._reader.receive_data(data)

    def _drain(self) -> None:
        """Handle queued messages until done, failed or waiting for the application."""
        backlog = self._backlog
        try:
            while backlog and self._state not in _PAUSED:
                message = backlog.popleft()
                self._backlog_bytes -= len(message.payload) + _MESSAGE_COST
                self._handle(message)
            if self._backlog_bytes > self.config.max_backlog_bytes:
                raise ProtocolError("too much data sent before the publish or play was answered")
        except ProtocolError as exc:
            self._fail(exc.detail)
            return
        if not backlog and self._parse_error is not None and self._state not in _INACTIVE:
            self._fail(self._parse_error)

    def _handle(self, message: Message) -> None:
        type_id = message.type_id
        if type_id in (MessageType.AUDIO, MessageType.VIDEO):
            self._on_media(message)
        elif type_id in (MessageType.COMMAND_AMF0, MessageType.COMMAND_AMF3):
            amf3 = type_id == MessageType.COMMAND_AMF3
            self._on_command(Command.parse(message.payload, amf3=amf3), message.stream_id)
        elif type_id in (MessageType.DATA_AMF0, MessageType.DATA_AMF3):
            self._on_data(DataMessage.parse(message.payload, amf3=type_id == MessageType.DATA_AMF3))
        elif type_id == MessageType.USER_CONTROL:
            self._on_user_control(UserControl.parse(message.payload))
        elif type_id == MessageType.WINDOW_ACKNOWLEDGEMENT_SIZE:
            self._peer_window = WindowAcknowledgementSize.parse(message.payload).size
        elif type_id == MessageType.AGGREGATE:
            for part in split_aggregate(message):
                self._handle(part)
        elif type_id == MessageType.ACKNOWLEDGEMENT:
            Acknowledgement.parse(message.payload)  # flow control is left to the transport
        elif type_id == MessageType.SET_PEER_BANDWIDTH:
            SetPeerBandwidth.parse(message.payload)
        elif type_id not in _IGNORED_TYPES:
            raise ProtocolError(f"unknown message type {type_id}")

    def _on_media(self, message: Message) -> None:
        if self._state is SessionState.PUBLISHING:  # otherwise there is no stream to put it in
            kind: Literal["audio", "video"] = (
                "audio" if message.type_id == MessageType.AUDIO else "video"
            )
            self._events.append(MediaReceived(kind, message.timestamp, message.payload))

    def _on_data(self, data: DataMessage) -> None:
        name, arguments = data.name, data.arguments
        if name == "@setDataFrame" and arguments and isinstance(arguments[0], str):
            name, arguments = arguments[0], arguments[1:]
        if (
            name == "onMetaData"
            and self._state is SessionState.PUBLISHING
            and arguments
            and isinstance(arguments[0], dict)
        ):
            self._events.append(MetadataReceived(arguments[0]))

    def _on_user_control(self, control: UserControl) -> None:
        if control.event_type == UserControlEvent.PING_REQUEST:
            self._send_control(UserControl(UserControlEvent.PING_RESPONSE, control.value))

    def _on_command(self, command: Command, stream_id: int) -> None:
        match command.name:
            case "connect":
                self._on_connect(command)
            case "releaseStream" | "FCPublish":
                self._require_connection(command.name)
                self._reply(command, None)
            case "createStream":
                self._require_connection(command.name)
                self._reply(command, float(self._next_stream_id))
                self._next_stream_id += 1
            case "publish":
                self._on_publish(command, stream_id)
            case "play":
                self._on_play(command, stream_id)
            case "FCUnpublish":
                if self._state in _PUBLISH_STATES:
                    self._end_media()
            case "closeStream":
                self._end_media()
            case "deleteStream":
                deleted = command.arguments[0] if command.arguments else None
                if deleted == float(self._media_stream_id):
                    self._end_media()
            case _:
                pass  # getStreamLength, _checkbw, FCSubscribe…: nothing to answer

    def _on_connect(self, command: Command) -> None:
        if self._state is not SessionState.CONNECTING:
            raise ProtocolError("connect sent twice")
        parameters = command.command_object if isinstance(command.command_object, dict) else {}
        app = parameters.get("app")
        tc_url = parameters.get("tcUrl")
        self.app = app if isinstance(app, str) else ""
        config = self.config
        self._send_control(WindowAcknowledgementSize(config.window_ack_size))
        self._send_control(SetPeerBandwidth(config.peer_bandwidth, LimitType.DYNAMIC))
        self._send_control(SetChunkSize(config.chunk_size))
        self._writer.chunk_size = config.chunk_size
        properties: dict[str, amf0.Value] = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}
        information: dict[str, amf0.Value] = {
            "level": "status",
            "code": "NetConnection.Connect.Success",
            "description": "Connection succeeded.",
            "objectEncoding": 0.0,
        }
        self._send_command(
            _COMMAND_CSID, Command("_result", command.transaction_id, properties, [information])
        )
        self._set_state(SessionState.CONNECTED)
        self._events.append(
            Connected(self.app, tc_url if isinstance(tc_url, str) else None, dict(parameters))
        )

    def _on_publish(self, command: Command, stream_id: int) -> None:
        name = self._start_media(command, stream_id)
        publish_type = command.arguments[1] if len(command.arguments) > 1 else "live"
        publish_type = publish_type if isinstance(publish_type, str) else "live"
        self._set_state(SessionState.PUBLISH_REQUESTED)
        self._events.append(PublishRequested(name, self.app, publish_type, stream_id))

    def _on_play(self, command: Command, stream_id: int) -> None:
        name = self._start_media(command, stream_id)
        start = command.arguments[1] if len(command.arguments) > 1 else None
        start = start if isinstance(start, float) and math.isfinite(start) else -2.0
        self._set_state(SessionState.PLAY_REQUESTED)
        self._events.append(PlayRequested(name, self.app, stream_id, start))

    def _start_media(self, command: Command, stream_id: int) -> str:
        """The stream name of a publish or play command, which connects ``stream_id``."""
        self._require_connection(command.name)
        if self._state is not SessionState.CONNECTED:
            raise ProtocolError(f"{command.name} while {self._state.value}")
        name = command.arguments[0] if command.arguments else None
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"{command.name} without a stream name")
        self._media_stream_id = stream_id
        self._stream_name = name
        return name

    def _end_media(self) -> None:
        if self._state in _PUBLISH_STATES:
            self._events.append(PublishEnded(self._stream_name, self.app))
        elif self._state in _PLAY_STATES:
            self._events.append(PlayEnded(self._stream_name, self.app))
        else:
            return
        self._set_state(SessionState.CONNECTED)

    def _require_connection(self, what: str) -> None:
        if self._state is SessionState.CONNECTING:
            raise ProtocolError(f"{what} before connect")

    def _acknowledge(self) -> None:
        window = self._peer_window
        if window and self._bytes_received - self._acknowledged >= window:
            self._acknowledged = self._bytes_received
            self._send_control(Acknowledgement(self._bytes_received & TIMESTAMP_MASK))

    # -- output ------------------------------------------------------------------------------

    def _send(self, chunk_stream_id: int, message: Message) -> None:
        self._output.append(self._writer.write(chunk_stream_id, message))

    def _send_control(
        self,
        message: WindowAcknowledgementSize
        | SetPeerBandwidth
        | SetChunkSize
        | UserControl
        | Acknowledgement,
    ) -> None:
        self._send(_CONTROL_CSID, message.to_message())

    def _send_command(self, chunk_stream_id: int, command: Command, stream_id: int = 0) -> None:
        self._send(chunk_stream_id, command.to_message(stream_id))

    def _reply(self, command: Command, result: amf0.Value) -> None:
        if command.transaction_id:  # 0 means the client expects no answer
            self._send_command(
                _COMMAND_CSID, Command("_result", command.transaction_id, None, [result])
            )

    def _send_status(self, level: str, code: str, description: str) -> None:
        info: dict[str, amf0.Value] = {
            "level": level,
            "code": code,
            "description": description,
            "details": self._stream_name,
        }
        status = Command("onStatus", 0.0, None, [info])
        self._send_command(_STREAM_CSID, status, self._media_stream_id)

    def _send_data(self, data: DataMessage) -> None:
        self._send(_STREAM_CSID, data.to_message(self._media_stream_id))

    def _send_media(self, csid: int, type_id: int, timestamp_ms: int, payload: bytes) -> None:
        self._expect(SessionState.PLAYING, "send_audio/send_video")
        timestamp = timestamp_ms & TIMESTAMP_MASK
        self._send(csid, Message(type_id, self._media_stream_id, timestamp, payload))

    # -- state -------------------------------------------------------------------------------

    def _set_state(self, state: SessionState) -> None:
        self._state = state

    def _expect(self, state: SessionState, method: str) -> None:
        if self._state is not state:
            raise RuntimeError(f"{method}() needs state {state.value!r}, not {self._state.value!r}")

    def _fail(self, reason: str) -> None:
        self.failure_reason = reason
        self._set_state(SessionState.FAILED)
        self._events.append(ConnectionFailed(reason))


# Set Chunk Size and Abort take effect inside the chunk reader; shared objects are not supported
# and their messages are dropped.
_IGNORED_TYPES: Final = frozenset(
    (
        MessageType.SET_CHUNK_SIZE,
        MessageType.ABORT,
        MessageType.SHARED_OBJECT_AMF0,
        MessageType.SHARED_OBJECT_AMF3,
    )
)
