"""Transcoding status of this node, and live thumbnails."""

from __future__ import annotations

import uuid
from email.utils import formatdate
from typing import Any

from fastapi import APIRouter, Response

from livecast.api.deps import Ctx, Live
from livecast.api.openapi import problems
from livecast.errors import AuthenticationError, NotFound

router = APIRouter(tags=["transcoding"])
THUMBNAIL_CACHE_SECONDS = 10


@router.get("/api/v1/transcode/status", summary="This node's transcoding budget and ladders")
async def transcode_status(live: Live) -> dict[str, Any]:
    if live.transcoders is None:
        return {"enabled": False, "budget": 0, "load": 0, "ladders": 0, "streams": {}}
    return {"enabled": True, **live.transcoders.status()}


@router.get(
    "/api/v1/streams/{stream_id}/thumbnail.jpg",
    summary="The live stream's latest thumbnail (JPEG, at most 640 px wide)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}, "description": "The JPEG."}, **problems(404)},
)
async def thumbnail(stream_id: uuid.UUID, live: Live, ctx: Ctx, token: str = "") -> Response:
    stream = live.get(stream_id)
    if stream is None:
        raise NotFound("This stream is not live.")
    if stream.visibility != "public":
        try:
            ctx.signer.verify_playback(token, stream_id)
        except AuthenticationError as exc:
            raise NotFound("This stream is not live.") from exc
    found = live.thumbnails.get(str(stream_id))
    if found is None:
        raise NotFound("This stream has no thumbnail yet; retry shortly.")
    visibility = "public" if stream.visibility == "public" else "private"
    return Response(
        found.jpeg,
        media_type="image/jpeg",
        headers={
            "cache-control": f"{visibility}, max-age={THUMBNAIL_CACHE_SECONDS}",
            "last-modified": formatdate(found.created, usegmt=True),
            "etag": f'"{int(found.created * 1000):x}"',
        },
    )
