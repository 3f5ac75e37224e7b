"""``WS /ws/streams/{stream_id}``: a stream's room (protocol in docs/realtime.md)."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from livecast.realtime.hub import Hub
from livecast.realtime.socket import RoomSocket

router = APIRouter()


class StarletteSocket:
    """Starlette's WebSocket as the room handler's :class:`~livecast.realtime.socket.Socket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send(self, text: str) -> None:
        try:
            await self.websocket.send_text(text)
        except (RuntimeError, WebSocketDisconnect) as exc:  # the client is gone
            raise ConnectionError(str(exc)) from exc

    def try_send(self, text: str) -> bool:
        return False  # an ASGI send is always awaited: the connection queues instead

    async def receive(self) -> str | bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # closed already
            await self.websocket.close(code, reason)


@router.websocket("/ws/streams/{stream_id}")
async def room(websocket: WebSocket, stream_id: str) -> None:
    hub: Hub = websocket.app.state.realtime
    await websocket.accept()
    session = RoomSocket(hub, StarletteSocket(websocket), websocket.query_params, websocket.headers)
    await session.run(stream_id)
