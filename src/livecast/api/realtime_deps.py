"""Dependencies of the chat, moderation and viewer endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from livecast.realtime.hub import Hub

MAX_SEQ = 2**62


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.realtime
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]
Seq = Annotated[int, Path(ge=1, le=MAX_SEQ, description="A comment's seq.")]
