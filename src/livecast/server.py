"""The ``livecast serve`` process: every component in one event loop, stopped gracefully.

Components run side by side in one ``asyncio.TaskGroup``: today the HTTP server; the RTMP
ingest and media workers join it in later releases. SIGINT and SIGTERM stop them in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Generator

import uvicorn

from livecast.analytics.engine import Analytics
from livecast.api.app import create_app
from livecast.context import build_context
from livecast.delivery.wire import OriginHttpProtocol
from livecast.ingest.live import LiveStreams
from livecast.ingest.metrics import IngestCollector
from livecast.ingest.rtmp_server import RtmpLimits, RtmpServer
from livecast.realtime.hub import Hub
from livecast.realtime.wsserver import RoomWebSocketProtocol
from livecast.settings import Settings

log = logging.getLogger(__name__)


class _HttpServer(uvicorn.Server):
    """uvicorn, minus its signal handling: we own it, so every component stops on a signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(settings: Settings, *, started: float | None = None) -> None:
    ctx = await build_context(settings)
    live = LiveStreams(ctx)
    rtmp = RtmpServer(
        live,
        settings.host,
        settings.rtmp_port,
        RtmpLimits(
            max_connections=settings.rtmp_max_connections,
            setup_timeout=settings.rtmp_setup_timeout_seconds,
            idle_timeout=settings.rtmp_idle_timeout_seconds,
        ),
    )
    ctx.metrics.registry.register(IngestCollector(live, rtmp))
    realtime = Hub(ctx)
    insights = Analytics(ctx, live, realtime)
    app = create_app(ctx, live, realtime, insights)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=10,
        ws=RoomWebSocketProtocol,  # rooms on the wire, not through ASGI (see wsserver.py)
        http=OriginHttpProtocol,  # the origin answers on the wire too (see delivery/wire.py)
    )
    server = _HttpServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with asyncio.TaskGroup() as tasks:
            http = tasks.create_task(server.serve(), name="http")
            ingest = tasks.create_task(rtmp.serve(), name="rtmp")
            await live.recover()
            insights.start()
            tasks.create_task(_announce(server, settings, started), name="announce")
            waiter = tasks.create_task(stop.wait(), name="signals")
            await asyncio.wait({http, ingest, waiter}, return_when=asyncio.FIRST_COMPLETED)
            log.info("shutting down")
            server.should_exit = True
            ingest.cancel()
            waiter.cancel()
    finally:
        await insights.close()
        await live.close()
        await realtime.close()
        await ctx.close()
        log.info("stopped")


async def _announce(server: uvicorn.Server, settings: Settings, started: float | None) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.02)
    base = f"http://{settings.host}:{settings.http_port}"
    extra = {"startup_ms": round((time.perf_counter() - started) * 1000)} if started else {}
    log.info("livecast is ready", extra={"url": base, **extra})
    if sys.stderr.isatty() or settings.log_format == "console":
        print(
            f"\n  livecast is running\n"
            f"    API docs   {base}/docs\n"
            f"    Health     {base}/healthz\n"
            f"    Metrics    {base}/metrics\n"
            f"    RTMP       {settings.ingest_base_url}/<stream_key>\n"
            f"    Data       {settings.data_dir.resolve()}\n",
            file=sys.stderr,
            flush=True,
        )


# How long a thread may keep the GIL while another wants it (Python's default is 5 ms).
# Database threads (aiosqlite's, and the room writers' thread on SQLite: storage/db.py) need the
# GIL between their statements; with a busy event loop each of those waited up to 5 ms for it.
GIL_SWITCH_INTERVAL_S = 0.0005


def run(settings: Settings) -> None:
    """Run ``serve`` on uvloop when available."""
    started = time.perf_counter()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        asyncio.run(serve(settings, started=started))
    else:
        uvloop.run(serve(settings, started=started))
