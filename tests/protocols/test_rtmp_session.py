"""ServerSession: publish and play conversations fed byte by byte, the failures it reports instead
of raising, Hypothesis fuzzing, and real ffmpeg captures replayed in arbitrary slices."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livecast.protocols import amf0
from livecast.protocols.rtmp import (
    Connected,
    ConnectionFailed,
    Event,
    MediaReceived,
    Message,
    MetadataReceived,
    PlayEnded,
    PlayRequested,
    PublishEnded,
    PublishRequested,
    ServerSession,
    SessionConfig,
    SessionState,
)

from .rtmp_client import Client, ServerOutput, commands

CAPTURES = Path(__file__).parent / "captures"


class Conversation:
    """A session and a scripted client talking; ``send`` returns the server's new messages."""

    def __init__(self, *, digest: bool = True, config: SessionConfig | None = None) -> None:
        self.session = ServerSession(config)
        self.client = Client(digest=digest)
        self.output = ServerOutput()
        self.events: list[Event] = []
        self.bytes_sent = 0

    def send(self, data: bytes, *, step: int = 0) -> list[Message]:
        self.bytes_sent += len(data)
        for offset in range(0, len(data), step or len(data) or 1):
            self.session.receive_data(data[offset : offset + (step or len(data))])
        self.events += self.session.events_received()
        return self.output.feed(self.session.data_to_send())

    def flush(self) -> list[Message]:
        self.events += self.session.events_received()
        return self.output.feed(self.session.data_to_send())

    def handshake(self) -> None:
        self.send(self.client.c0c1())
        self.send(self.client.c2(self.output.handshake))

    def connected(self) -> list[Message]:
        self.handshake()
        return self.send(self.client.connect())

    def publishing(self, key: str = "testkey") -> None:
        self.connected()
        self.send(self.client.publish_sequence(key))
        self.session.accept_publish()
        self.flush()
        self.events.clear()

    def take(self) -> list[Event]:
        events, self.events = self.events, []
        return events


def status_codes(messages: list[Message]) -> list[str]:
    return [values[3]["code"] for values in commands(messages) if values[0] == "onStatus"]


# -- publish ------------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [True, False])
def test_connect_is_answered_with_window_bandwidth_chunk_size_and_result(digest: bool) -> None:
    talk = Conversation(digest=digest)
    messages = talk.connected()
    assert talk.session.digest_handshake is digest
    assert [(m.type_id, m.payload) for m in messages[:3]] == [
        (5, struct.pack(">I", 2_500_000)),
        (6, struct.pack(">IB", 2_500_000, 2)),
        (1, struct.pack(">I", 4096)),
    ]
    [result] = commands(messages)
    assert result[:2] == ["_result", 1.0]
    assert result[3]["code"] == "NetConnection.Connect.Success"
    [event] = talk.take()
    assert event == Connected(
        "live",
        "rtmp://127.0.0.1/live",
        {"app": "live", "tcUrl": "rtmp://127.0.0.1/live", "flashVer": "FMLE/3.0"},
    )
    assert talk.session.state is SessionState.CONNECTED


def test_publish_conversation_byte_by_byte() -> None:
    talk = Conversation()
    talk.connected()
    talk.take()
    messages = talk.send(talk.client.publish_sequence("key?token=1"), step=1)
    results = commands(messages)
    assert [r[:2] for r in results] == [["_result", 2.0], ["_result", 3.0], ["_result", 4.0]]
    assert results[2][3] == 1.0  # createStream's stream id
    assert talk.take() == [PublishRequested("key?token=1", "live", "live", 1)]
    assert talk.session.awaiting_decision

    talk.session.accept_publish()
    messages = talk.flush()
    assert (messages[0].type_id, messages[0].payload) == (4, struct.pack(">HI", 0, 1))
    assert status_codes(messages) == ["NetStream.Publish.Start"]
    assert messages[1].stream_id == 1

    client = talk.client
    data = (
        client.metadata({"width": 160.0, "videocodecid": 7.0})
        + client.video(0, b"\x17\x00seq")
        + client.audio(0, b"\xaf\x00")
        + client.video(0x1000000, b"\x17\x01frame")
        + client.audio(0xFFFFFFFF, b"\xaf\x01")
    )
    talk.send(data, step=3)
    assert talk.take() == [
        MetadataReceived(amf0.EcmaArray(width=160.0, videocodecid=7.0)),
        MediaReceived("video", 0, b"\x17\x00seq"),
        MediaReceived("audio", 0, b"\xaf\x00"),
        MediaReceived("video", 0x1000000, b"\x17\x01frame"),
        MediaReceived("audio", 0xFFFFFFFF, b"\xaf\x01"),
    ]
    talk.send(client.command("FCUnpublish", "key?token=1") + client.command("deleteStream", 1.0))
    assert talk.take() == [PublishEnded("key?token=1", "live")]
    assert talk.session.state is SessionState.CONNECTED


def test_input_waits_while_the_application_decides() -> None:
    talk = Conversation()
    talk.connected()
    client = talk.client
    # A client that does not wait for NetStream.Publish.Start, then gives up.
    talk.send(
        client.publish_sequence() + client.video(5, b"early") + client.command("deleteStream", 1.0)
    )
    assert [type(e) for e in talk.take()] == [Connected, PublishRequested]
    talk.session.accept_publish()
    assert talk.session.events_received() == [
        MediaReceived("video", 5, b"early"),
        PublishEnded("testkey", "live"),
    ]


def test_too_much_input_while_deciding_fails_the_connection() -> None:
    talk = Conversation(config=SessionConfig(max_backlog_bytes=1000))
    talk.connected()
    talk.send(talk.client.publish_sequence())
    talk.send(talk.client.video(0, bytes(600)))
    talk.send(talk.client.video(0, bytes(600)))
    assert talk.take()[-1] == ConnectionFailed(
        "too much data sent before the publish or play was answered"
    )


def test_reject_publish_sends_error_status_and_closes() -> None:
    talk = Conversation()
    talk.connected()
    talk.send(talk.client.publish_sequence())
    talk.session.reject_publish("NetStream.Publish.Unauthorized", "Unknown stream key.")
    messages = talk.flush()
    [status] = [values[3] for values in commands(messages) if values[0] == "onStatus"]
    assert status["level"] == "error"
    assert status["code"] == "NetStream.Publish.Unauthorized"
    assert status["description"] == "Unknown stream key."
    assert talk.session.should_close
    talk.send(talk.client.video(0, b"ignored"))
    assert [type(e) for e in talk.take()] == [Connected, PublishRequested]


def test_amf3_command_and_data_messages_are_read_as_amf0() -> None:
    talk = Conversation()
    talk.publishing()
    payload = b"\x00" + amf0.encode("@setDataFrame", "onMetaData", {"fps": 15.0})
    talk.send(talk.client.message(4, 15, payload, stream_id=1))
    command = b"\x00" + amf0.encode("closeStream", 0.0, None)
    talk.send(talk.client.message(8, 17, command, stream_id=1))
    assert talk.take() == [MetadataReceived({"fps": 15.0}), PublishEnded("testkey", "live")]


def test_aggregate_message_is_split_with_rebased_timestamps() -> None:
    talk = Conversation()
    talk.publishing()

    def tag(type_id: int, ts: int, body: bytes) -> bytes:
        header = (
            bytes((type_id,)) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        )
        return header + bytes((ts >> 24,)) + bytes(3) + body + (11 + len(body)).to_bytes(4, "big")

    aggregate = tag(9, 100, b"v1") + tag(8, 120, b"a1")
    talk.send(talk.client.message(6, 22, aggregate, stream_id=1, ts=5000))
    assert talk.take() == [MediaReceived("video", 5000, b"v1"), MediaReceived("audio", 5020, b"a1")]


def test_ping_request_is_answered() -> None:
    talk = Conversation()
    talk.connected()
    messages = talk.send(talk.client.message(2, 4, struct.pack(">HI", 6, 123456)))
    assert [(m.type_id, m.payload) for m in messages] == [(4, struct.pack(">HI", 7, 123456))]


def test_acknowledgement_after_the_peers_window() -> None:
    talk = Conversation()
    talk.connected()
    talk.send(talk.client.message(2, 5, struct.pack(">I", 5000)))
    acknowledgements: list[Message] = []
    while not acknowledgements:
        before = talk.bytes_sent
        messages = talk.send(talk.client.command("FCPublish", "y" * 1000))
        acknowledgements = [m for m in messages if m.type_id == 3]
    # Sent as soon as the bytes received (handshake included) reached the window.
    assert acknowledgements[0].payload == struct.pack(">I", talk.bytes_sent)
    assert before < 5000 <= talk.bytes_sent


# -- play ---------------------------------------------------------------------------------------


def test_play_conversation() -> None:
    talk = Conversation()
    talk.connected()
    client = talk.client
    talk.send(client.command("createStream") + client.command("play", "show", -1.0, stream_id=1))
    assert talk.take()[-1] == PlayRequested("show", "live", 1, -1.0)
    talk.session.accept_play()
    messages = talk.flush()
    assert (messages[0].type_id, messages[0].payload) == (4, struct.pack(">HI", 0, 1))
    assert status_codes(messages) == ["NetStream.Play.Reset", "NetStream.Play.Start"]
    assert amf0.decode(messages[-1].payload) == ["|RtmpSampleAccess", True, True]

    talk.session.send_metadata({"width": 640.0})
    talk.session.send_video(0x1000000, b"\x17\x00seq")
    talk.session.send_audio(2**32 + 7, b"\xaf\x00")  # wraps
    talk.session.send_video(0x1000000 + 33, bytes(5000))
    sent = talk.output.feed(talk.session.data_to_send())
    assert amf0.decode(sent[0].payload) == ["onMetaData", amf0.EcmaArray(width=640.0)]
    assert [(m.type_id, m.stream_id, m.timestamp, len(m.payload)) for m in sent[1:]] == [
        (9, 1, 0x1000000, 5),
        (8, 1, 7, 2),
        (9, 1, 0x1000000 + 33, 5000),
    ]
    talk.send(client.command("closeStream", stream_id=1))
    assert talk.take() == [PlayEnded("show", "live")]


def test_reject_play() -> None:
    talk = Conversation()
    talk.connected()
    talk.send(talk.client.command("play", "missing", stream_id=1))
    talk.session.reject_play()
    assert status_codes(talk.flush()) == ["NetStream.Play.StreamNotFound"]
    assert talk.session.should_close


def test_application_misuse_raises_runtime_error() -> None:
    talk = Conversation()
    talk.connected()
    with pytest.raises(RuntimeError, match="accept_publish"):
        talk.session.accept_publish()
    with pytest.raises(RuntimeError, match="send_audio"):
        talk.session.send_audio(0, b"")


# -- failures -----------------------------------------------------------------------------------


def failure(talk: Conversation) -> str:
    events = talk.take()
    assert isinstance(events[-1], ConnectionFailed)
    assert talk.session.should_close
    return events[-1].reason


@pytest.mark.parametrize(
    ("prepare", "data", "reason"),
    [
        ("none", b"\x06", "unsupported RTMP version 6"),
        ("handshake", Client().message(3, 7, b"x"), "unknown message type 7"),
        ("handshake", Client().command("publish", "k", stream_id=1), "publish before connect"),
        ("handshake", Client().message(3, 20, b"\x02\x00\x09conn"), "truncated"),
        ("connected", Client().message(3, 20, b"\x00" + bytes(8)), "without a command name"),
        ("connected", Client().command("connect"), "connect sent twice"),
        ("connected", Client().command("publish", stream_id=1), "without a stream name"),
        ("connected", b"\x45" + bytes(7), "starts with a type 1 header"),
    ],
)
def test_bad_input_fails_the_connection_with_a_reason(
    prepare: str, data: bytes, reason: str
) -> None:
    talk = Conversation()
    if prepare == "handshake":
        talk.handshake()
    elif prepare == "connected":
        talk.connected()
    talk.send(data)
    assert reason in failure(talk)
    talk.send(talk.client.connect())  # ignored from now on
    assert talk.take() == []


def test_messages_before_a_parse_error_are_handled_first() -> None:
    talk = Conversation()
    talk.publishing()
    talk.send(talk.client.video(1, b"ok") + b"\x45" + bytes(7))
    first, second = talk.take()
    assert first == MediaReceived("video", 1, b"ok")
    assert isinstance(second, ConnectionFailed)
    assert "starts with a type 1 header" in second.reason


# -- properties ---------------------------------------------------------------------------------


def ready_session() -> tuple[ServerSession, bytes]:
    talk = Conversation()
    talk.publishing()
    return talk.session, talk.client.video(0, b"x")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 50))
def test_arbitrary_bytes_after_publish_never_raise(data: bytes, step: int) -> None:
    session, _ = ready_session()
    for offset in range(0, len(data), step):
        session.receive_data(data[offset : offset + step])
    events = session.events_received()
    failed = [event for event in events if isinstance(event, ConnectionFailed)]
    assert len(failed) <= 1
    assert not failed or events[-1] is failed[0]


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200))
def test_arbitrary_bytes_from_the_first_byte_never_raise(data: bytes) -> None:
    session = ServerSession()
    session.receive_data(b"\x03" + data)
    session.receive_data(bytes(3100) + data)
    for event in session.events_received():
        assert isinstance(event, ConnectionFailed | Connected)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22]), st.binary(max_size=40)
        ),
        max_size=8,
    )
)
def test_well_chunked_but_arbitrary_messages_never_raise(messages: list[tuple[int, bytes]]) -> None:
    session, _ = ready_session()
    client = Client()
    for type_id, payload in messages:
        session.receive_data(client.message(3, type_id, payload, stream_id=1))
    session.events_received()
    session.data_to_send()


# -- real captures ------------------------------------------------------------------------------


def replay(capture: bytes, slices: list[int]) -> tuple[ServerSession, list[Event]]:
    """Feed ``capture`` cut at the given slice sizes (repeated), accepting the publish."""
    session = ServerSession()
    events: list[Event] = []
    offset = 0
    index = 0
    while offset < len(capture):
        size = slices[index % len(slices)]
        session.receive_data(capture[offset : offset + size])
        offset += size
        index += 1
        for event in session.events_received():
            events.append(event)
            if isinstance(event, PublishRequested):
                session.accept_publish()
                events += session.events_received()
    return session, events


def summary(events: list[Event]) -> list[Any]:
    return [
        (event.kind, event.timestamp_ms, len(event.payload))
        if isinstance(event, MediaReceived)
        else type(event).__name__
        for event in events
    ]


@pytest.mark.parametrize("name", ["ffmpeg_publish.bin", "ffmpeg_publish_offset.bin"])
def test_ffmpeg_capture_replays_identically_in_any_slicing(name: str) -> None:
    capture = (CAPTURES / name).read_bytes()
    session, whole = replay(capture, [len(capture)])
    assert session.digest_handshake  # ffmpeg uses the digest handshake
    connected, requested, metadata = [e for e in whole if not isinstance(e, MediaReceived)][:3]
    assert isinstance(connected, Connected)
    assert connected.app == "live"
    assert connected.tc_url is not None
    assert connected.tc_url.startswith("rtmp://127.0.0.1:")
    assert requested == PublishRequested("testkey", "live", "live", 1)
    assert isinstance(metadata, MetadataReceived)
    assert metadata.metadata["width"] == 160.0
    assert summary(whole)[-1] == "PublishEnded"
    media = [e for e in whole if isinstance(e, MediaReceived)]
    assert {e.kind for e in media} == {"audio", "video"}
    assert len(media) > 50
    rng = random.Random(name)
    for slices in ([1], [7, 1400, 3], [rng.randint(1, 5000) for _ in range(50)]):
        assert summary(replay(capture, slices)[1]) == summary(whole)


def test_offset_capture_uses_timestamps_above_24_bits() -> None:
    _, events = replay((CAPTURES / "ffmpeg_publish_offset.bin").read_bytes(), [4096])
    stamps = [e.timestamp_ms for e in events if isinstance(e, MediaReceived)]
    late = [ts for ts in stamps if ts]  # the sequence headers are stamped 0
    assert len(late) > 50
    assert min(late) > 2**24
    assert max(late) - min(late) < 1200  # about one second: no delta went astray
