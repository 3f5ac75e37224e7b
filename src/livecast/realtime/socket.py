"""The WebSocket side of a room: authentication, the welcome and replay, and the read loop.

``WS /ws/streams/{stream_id}?token=&since=&session_id=``. A token in the query (or, for a
stream that is not public, in a first ``auth`` message) identifies the user; a public stream
can be joined anonymously and read. The server sends ``welcome``, then every logged event
after ``since`` (read from the database, in pages), then ``resumed``, then the live frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from livecast.domain.stream_lifecycle import StreamStatus
from livecast.errors import (
    AuthenticationError,
    BadRequest,
    Conflict,
    LivecastError,
    NotFound,
    PermissionDenied,
)
from livecast.realtime import eventlog, protocol
from livecast.realtime.connection import Connection
from livecast.realtime.hub import Hub
from livecast.realtime.moderation import ChatRole, Moderation
from livecast.realtime.policy import Reason, Refusal, Sender
from livecast.realtime.protocol import (
    AuthMessage,
    ClientMessage,
    CloseCode,
    CommentMessage,
    LikeMessage,
    ModBan,
    ModClear,
    ModDelete,
    ModPin,
    ModSettings,
    ModTimeout,
    ModUnban,
    ModUnpin,
    PingMessage,
    ProtocolViolation,
    ReactionMessage,
    ShareMessage,
)
from livecast.realtime.room import Room
from livecast.realtime.viewers import Beat, country_from
from livecast.security.tokens import API_TOKEN_PREFIX, TokenSigner
from livecast.services.uow import UnitOfWork
from livecast.storage.models import Stream, User

log = logging.getLogger(__name__)

REPLAY_PAGE = 1000
Replay = Callable[[], Awaitable[None]]
MAX_BAD_MESSAGES = 20
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class Socket(Protocol):
    """What the handler needs of a WebSocket: livecast's own (realtime/wsserver.py), or
    Starlette's, adapted in the API layer."""

    async def send(self, text: str) -> None: ...

    def try_send(self, text: str) -> bool: ...

    async def receive(self) -> str | bytes | None:
        """The next message; None once the client has gone."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


class Refused(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def authenticate(uow: UnitOfWork, signer: TokenSigner, token: str) -> User:
    """The user behind an access token or a personal API token."""
    if token.startswith(API_TOKEN_PREFIX):
        user = await uow.users.user_for_api_token(token)
        await uow.session.commit()  # records last_used_at
        return user
    return await uow.users.active_user(signer.verify(token).user_id)


def sender_for(user: User | None, session_id: str) -> Sender:
    if user is None:
        tag = hashlib.sha256(session_id.encode()).hexdigest()[:6]
        return Sender(f"g:{session_id}", None, f"guest-{tag}", f"guest-{tag}")
    return Sender(
        f"u:{user.id}", user.id, user.username, user.display_name, site_admin=user.role == "admin"
    )


_REASONS: tuple[tuple[type[LivecastError], Reason], ...] = (
    (AuthenticationError, "login_required"),
    (PermissionDenied, "forbidden"),
    (NotFound, "not_found"),
    (BadRequest, "invalid"),
    (Conflict, "conflict"),
)


def refusal_for(exc: LivecastError) -> Refusal:
    reason: Reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), "unavailable")
    return Refusal(reason, exc.detail)


@dataclass
class _Joined:
    stream: Stream
    user: User | None


class RoomSocket:
    """One client's session with a room, from the handshake to the close."""

    def __init__(
        self, hub: Hub, socket: Socket, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> None:
        self.hub = hub
        self.socket = socket
        self.query = query
        self.headers = headers
        self.given_session = SESSION_ID.match(query.get("session_id", "")) is not None
        self.session_id = query["session_id"] if self.given_session else f"ws-{uuid.uuid4().hex}"

    async def run(self, raw_stream_id: str) -> None:
        try:
            since = self._since()
            joined = await self._authorize(raw_stream_id)
        except Refused as refused:
            await self.socket.close(refused.code, refused.reason)
            return
        await self._serve(joined, since)

    def _since(self) -> int | None:
        raw = self.query.get("since")
        if raw is None:
            return None
        if not raw.isdigit() or len(raw) > 18:
            raise Refused(CloseCode.BAD_REQUEST, "since must be a sequence number")
        return int(raw)

    # -- handshake ------------------------------------------------------------------------

    async def _authorize(self, raw_stream_id: str) -> _Joined:
        try:
            stream_id = uuid.UUID(raw_stream_id)
        except ValueError:
            raise Refused(CloseCode.NOT_FOUND, "no such stream") from None
        token = self.query.get("token")
        if token:
            return await self._as_user(stream_id, token)
        async with self.hub.ctx.unit_of_work() as uow:
            stream = await uow.session.get(Stream, stream_id)
        if stream is not None and stream.visibility == "public":
            return _Joined(stream, None)
        # Not public, or not there: wait for credentials either way, so that probing
        # without them does not tell which streams exist.
        return await self._as_user(stream_id, await self._first_auth())

    async def _first_auth(self) -> str:
        timeout = self.hub.settings.ws_auth_timeout_seconds
        try:
            raw = await asyncio.wait_for(self.socket.receive(), timeout)
        except TimeoutError:
            raise Refused(CloseCode.AUTH_TIMEOUT, "authenticate first") from None
        if raw is None:
            raise Refused(CloseCode.NORMAL, "")
        try:
            message = protocol.parse(raw) if isinstance(raw, str) else None
        except ProtocolViolation:
            message = None
        if not isinstance(message, AuthMessage):
            raise Refused(CloseCode.UNAUTHORIZED, 'send {"v":1,"type":"auth","token":...} first')
        return message.token

    async def _as_user(self, stream_id: uuid.UUID, token: str) -> _Joined:
        async with self.hub.ctx.unit_of_work() as uow:
            try:
                user = await authenticate(uow, self.hub.ctx.signer, token)
            except AuthenticationError as exc:
                raise Refused(CloseCode.UNAUTHORIZED, exc.detail[:120]) from None
            try:
                return _Joined(await uow.streams.get(stream_id, user), user)
            except NotFound:
                raise Refused(CloseCode.NOT_FOUND, "no such stream") from None

    # -- the session ----------------------------------------------------------------------

    async def _serve(self, joined: _Joined, since: int | None) -> None:
        settings, stream = self.hub.settings, joined.stream
        conn = Connection(
            self.socket,
            sender_for(joined.user, self.session_id),
            self.session_id,
            soft_limit=settings.ws_send_queue_soft,
            hard_limit=settings.ws_send_queue_hard,
            user=joined.user,
        )
        room, through = await self.hub.join(stream.id, conn)
        try:
            await self._attach(stream, joined.user)
            role = await self._role(stream, joined.user)
            await self.socket.send(self._welcome(room, conn, role, through))
            await self._run(room, conn, self._replayer(conn, stream.id, since, through))
        finally:
            room.leave(conn)
            await self._detach(stream.id)
        if conn.closing.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(conn.close_code, conn.close_reason), 1)

    async def _run(self, room: Room, conn: Connection, replay: Replay) -> None:
        """Send and receive until either side ends or the connection is told to close."""
        sending = asyncio.create_task(conn.send_loop(replay))
        reading = asyncio.create_task(self._read(room, conn))
        tasks = {sending, reading}
        try:
            await asyncio.wait({*tasks, conn.closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, ConnectionError):
                log.error("room socket failed", exc_info=result)

    def _replayer(
        self, conn: Connection, stream_id: uuid.UUID, since: int | None, through: int
    ) -> Replay:
        """Send the logged events in ``(since, through]``, in pages, then ``resumed``."""

        async def replay() -> None:
            if since is None:
                conn.last_seq = through
                return
            cursor = since
            while cursor < through:
                async with self.hub.sessions() as db:
                    events = await eventlog.read_events(db, stream_id, cursor, through, REPLAY_PAGE)
                if not events:
                    break
                await self.socket.send(protocol.batch(events, replay=True))
                cursor = events[-1]["seq"]
            conn.last_seq = max(through, since)
            await self.socket.send(protocol.message("resumed", since=since, last_seq=through))

        return replay

    def _welcome(self, room: Room, conn: Connection, role: ChatRole, through: int) -> str:
        settings, sender = self.hub.settings, conn.sender
        return protocol.message(
            "welcome",
            stream_id=str(room.stream_id),
            session_id=self.session_id,
            user=None if sender.anonymous else sender.author(),
            role=str(role),
            can_chat=not sender.anonymous or room.modes.anonymous_chat,
            last_seq=through,
            state=room.state(),
            limits={
                "max_comment_chars": settings.chat_max_comment_chars,
                "burst": settings.chat_burst,
                "per_minute": settings.chat_per_minute,
            },
        )

    async def _role(self, stream: Stream, user: User | None) -> ChatRole:
        async with self.hub.sessions() as db:
            return await Moderation(db, self.hub.clock.now()).role(stream, user)

    # -- presence -------------------------------------------------------------------------

    async def _attach(self, stream: Stream, user: User | None, hold: int = 1) -> None:
        if stream.status in (StreamStatus.ENDED, StreamStatus.CANCELLED):
            return  # chat stays open after a stream, but nobody is watching it
        country = country_from(self.headers, self.hub.settings.country_headers)
        async with self.hub.sessions() as db:
            await self.hub.viewers.beat(
                db, stream, self.session_id, user, Beat(), country, hold=hold
            )
            await db.commit()

    async def _detach(self, stream_id: uuid.UUID) -> None:
        viewers = self.hub.viewers
        if self.given_session:  # a player may share the session and keep it alive
            await viewers.release(stream_id, self.session_id)
            return
        async with self.hub.sessions() as db:
            await viewers.leave(db, stream_id, self.session_id)
            await db.commit()

    # -- messages -------------------------------------------------------------------------

    async def _read(self, room: Room, conn: Connection) -> None:
        bad = 0
        while True:
            raw = await self.socket.receive()
            if raw is None:
                return
            if isinstance(raw, bytes) or len(raw) > protocol.MAX_MESSAGE_BYTES:
                code = (
                    CloseCode.MESSAGE_TOO_BIG
                    if raw and len(raw) > protocol.MAX_MESSAGE_BYTES
                    else CloseCode.BAD_REQUEST
                )
                conn.close(code, "send JSON text messages of at most 8 KiB")
                return
            try:
                message = protocol.parse(raw)
            except ProtocolViolation as exc:
                bad += 1
                conn.send(protocol.error(exc.code, exc.detail, protocol.cid_of(raw)))
                if bad > MAX_BAD_MESSAGES:
                    conn.close(CloseCode.BAD_REQUEST, "too many malformed messages")
                    return
                continue
            await self._dispatch(room, conn, message)

    async def _dispatch(self, room: Room, conn: Connection, message: ClientMessage) -> None:
        if isinstance(message, CommentMessage):
            await room.comment(conn, message)
        elif isinstance(message, ReactionMessage):
            room.engage(conn, message.kind, message.cid)
        elif isinstance(message, LikeMessage):
            room.engage(conn, "like", message.cid)
        elif isinstance(message, ShareMessage):
            room.engage(conn, "share", message.cid)
        elif isinstance(message, PingMessage):
            conn.send(protocol.message("pong", cid=message.cid))
        elif isinstance(message, AuthMessage):
            await self._reauthenticate(room, conn, message)
        else:
            await self._moderate(room, conn, message)

    async def _reauthenticate(self, room: Room, conn: Connection, message: AuthMessage) -> None:
        """Log in on an open connection (anonymous → user), or refresh the same user."""
        try:
            joined = await self._as_user(room.stream_id, message.token)
        except Refused as refused:
            conn.send(protocol.error("auth_failed", refused.reason, message.cid))
            return
        user = joined.user
        assert user is not None
        if conn.user is not None and conn.user.id != user.id:
            conn.send(
                protocol.error("auth_failed", "This connection is another user's.", message.cid)
            )
            return
        first = conn.user is None
        conn.user, conn.sender = user, sender_for(user, self.session_id)
        if first:
            await self._attach(joined.stream, user, hold=0)
        role = await self._role(joined.stream, user)
        conn.send(
            protocol.message(
                "auth_ok", cid=message.cid, user=conn.sender.author(), role=str(role), can_chat=True
            )
        )

    async def _moderate(self, room: Room, conn: Connection, message: ClientMessage) -> None:
        budget = await room.policy.limits.peek(conn.sender.key, self.hub.clock.monotonic())
        if conn.user is None:
            refused = Refusal("login_required", "Log in to moderate.")
            conn.send(protocol.refusal(message.cid, refused, budget))
            return
        try:
            async with self.hub.ctx.unit_of_work() as uow:
                actor = await uow.users.active_user(conn.user.id)
                stream = await uow.streams.get(room.stream_id, actor)
                await _apply(Moderation(uow.session, self.hub.clock.now()), stream, actor, message)
                await uow.commit()
        except LivecastError as exc:
            conn.send(protocol.refusal(message.cid, refusal_for(exc), budget))
            return
        conn.send(protocol.ack(message.cid, budget))


async def _apply(mod: Moderation, stream: Stream, actor: User, message: ClientMessage) -> None:
    if isinstance(message, ModDelete):
        await mod.delete_comment(stream, actor, message.seq)
    elif isinstance(message, ModClear):
        await mod.clear(stream, actor)
    elif isinstance(message, ModPin):
        await mod.pin(stream, actor, message.seq, message.seconds)
    elif isinstance(message, ModUnpin):
        await mod.unpin(stream, actor)
    elif isinstance(message, ModTimeout):
        await mod.restrict(stream, actor, message.user_id, message.seconds, message.reason)
    elif isinstance(message, ModBan):
        await mod.restrict(stream, actor, message.user_id, None, message.reason)
    elif isinstance(message, ModUnban):
        await mod.unban(stream, actor, message.user_id)
    elif isinstance(message, ModSettings):
        await mod.update_modes(stream, actor, message.settings.changes())
