"""Server-rendered pages. Every piece of user text goes through ``html.escape``."""

from __future__ import annotations

import uuid
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from livecast.api.deps import OptionalUser, Uow
from livecast.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"
HLS_JS = STATIC_DIR / "vendor" / "hls.min.js"
# ?player= on the watch page: the script that plays, and the manifest it is given.
PLAYERS = {
    "hls": ("/static/vendor/hls.min.js", "/hls/{id}/master.m3u8"),
    "dash": ("/static/vendor/dash.all.min.js", "/dash/{id}/manifest.mpd"),
}

# connect-src names ws: and wss: because CSP Level 2 browsers do not count them as 'self'.
CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'"
)

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · livecast</title>
<link rel="stylesheet" href="/static/watch.css">
</head>
<body>
<main>
  <header>
    <h1 id="title">{title}</h1>
    <p class="meta"><span id="status" class="status {status}">{status}</span>
      <span id="owner">{owner}</span>
      <span id="latency" aria-live="polite"></span></p>
  </header>
  <video id="video" controls muted autoplay playsinline data-stream-id="{stream_id}"
         data-player="{player}" data-src="{src}" data-api="/api/v1/streams/{stream_id}"></video>
  <p id="message" class="message" hidden></p>
  <section id="engagement" class="engagement" data-stream-id="{stream_id}">
    <p class="counters"><span id="viewers">0</span> watching ·
      <button type="button" id="like" class="counter">♥ <span id="likes">0</span></button>
      <button type="button" id="share" class="counter">↗ <span id="shares">0</span></button></p>
    <p id="reactions" class="reactions"></p>
  </section>
  <section class="description"><p>{description}</p></section>
</main>
<aside id="chat" class="chat" aria-label="Chat">
  <div id="pinned" class="pinned" hidden></div>
  <ol id="comments" class="comments" aria-live="polite"></ol>
  <p id="chat-status" class="chat-status" aria-live="polite"></p>
  <form id="post" class="post" hidden>
    <input id="text" name="text" maxlength="500" autocomplete="off" placeholder="Say something">
    <button type="submit" id="send">Send</button>
  </form>
  <form id="login" class="login" hidden>
    <input id="username" name="username" autocomplete="username" placeholder="username" required>
    <input id="password" name="password" type="password" autocomplete="current-password"
           placeholder="password" required>
    <button type="submit">Log in to chat</button>
  </form>
  <p class="whoami"><span id="me"></span>
    <button type="button" id="logout" hidden>Log out</button></p>
</aside>
<script src="{player_js}"></script>
<script src="/static/watch.js"></script>
<script src="/static/chat.js"></script>
</body>
</html>
"""


@router.get("/watch/{stream_id}", response_class=HTMLResponse)
async def watch(
    stream_id: uuid.UUID, request: Request, uow: Uow, viewer: OptionalUser
) -> HTMLResponse:
    try:
        stream = await uow.streams.get(stream_id, viewer)
    except NotFound:
        return HTMLResponse(_not_found(), status_code=404)
    token = request.query_params.get("token", "")
    player = request.query_params.get("player", "hls")
    if player not in PLAYERS:
        player = "hls"
    player_js, manifest = PLAYERS[player]
    src = manifest.format(id=stream.id) + (f"?token={token}" if token else "")
    page = _PAGE.format(
        title=escape(stream.title),
        status=escape(stream.status),
        owner=escape(stream.owner.display_name or stream.owner.username),
        description=escape(stream.description),
        stream_id=stream.id,
        src=escape(src, quote=True),
        player=player,
        player_js=player_js,
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": CSP})


def _not_found() -> str:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Not found · livecast</title>"
        "<p>There is no stream here, or it is not visible to you.</p></html>"
    )
