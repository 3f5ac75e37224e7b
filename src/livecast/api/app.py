"""The ASGI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import livecast
from livecast.analytics.engine import Analytics
from livecast.api.problems import install_problem_handlers
from livecast.api.routers import (
    analytics,
    auth,
    chat,
    events,
    health,
    moderation,
    room_socket,
    streams,
    tokens,
    transcode,
    users,
    viewers,
    webhooks,
)
from livecast.context import AppContext
from livecast.delivery.origin import HlsOrigin
from livecast.delivery.wire import HeldRequests
from livecast.ingest.live import LiveStreams
from livecast.observability.middleware import (
    BodyLimitMiddleware,
    ObservabilityMiddleware,
    PathDispatch,
    RequestLog,
)
from livecast.realtime.hub import Hub
from livecast.web import pages
from livecast.web.pages import STATIC_DIR

DESCRIPTION = """\
The livecast control plane. Errors are RFC 9457 `application/problem+json` documents.
Authenticate with `Authorization: Bearer <token>`, using an access token from
`POST /api/v1/auth/login` or a personal API token from `POST /api/v1/tokens`.
"""


def create_app(
    ctx: AppContext,
    live: LiveStreams | None = None,
    realtime: Hub | None = None,
    insights: Analytics | None = None,
) -> FastAPI:
    """The HTTP application for one running livecast; ``ctx`` holds its components.

    ``live`` is the node's live streams, shared with the ingest servers; ``realtime`` its
    chat rooms and viewer tracking; ``insights`` its analytics worker (not started here).
    """
    app = FastAPI(
        title="livecast",
        version=livecast.__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    app.state.live = live or LiveStreams(ctx)
    app.state.realtime = realtime or Hub(ctx)
    app.state.analytics = insights or Analytics(ctx, app.state.live, app.state.realtime)
    for module in (auth, users, tokens, streams, chat, moderation, viewers, room_socket, health):
        app.include_router(module.router)
    app.include_router(transcode.router)
    app.include_router(events.router)
    app.include_router(analytics.router)
    app.include_router(webhooks.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    install_problem_handlers(app)
    live = app.state.live
    origin = HlsOrigin(live.packagers, ctx.signer)
    app.state.origin = origin  # delivery/wire.py answers from it on the socket, past ASGI
    app.state.held_requests = HeldRequests(RequestLog(ctx.metrics))
    app.add_middleware(PathDispatch, prefixes=("/hls/", "/dash/"), target=origin)
    app.add_middleware(BodyLimitMiddleware, max_bytes=ctx.settings.max_request_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=ctx.metrics)
    return app
