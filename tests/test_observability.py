"""Request ids, metrics and structured logs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from livecast.observability.logging import JsonFormatter, request_id_var


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/users/00000000-0000-0000-0000-000000000000")
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    labels = 'method="GET",route="/api/v1/users/{user_id}",status="404"'
    assert f"livecast_http_requests_total{{{labels}}} 1.0" in text
    assert (
        'livecast_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}'
        in text
    )


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    assert made.headers["x-request-id"] != "bad id with spaces\n"
    assert len(made.headers["x-request-id"]) == 32


async def test_readyz_reports_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_readyz_is_503_when_database_is_gone(client: httpx.AsyncClient, ctx: object) -> None:
    from livecast.context import AppContext

    assert isinstance(ctx, AppContext)
    from livecast.storage.db import create_engine

    await ctx.engine.dispose()
    ctx.engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/nothing")
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("livecast.test", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    record.route = "/r"
    token = request_id_var.set("rid-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "hello x"
    assert line["request_id"] == "rid-1"
    assert line["route"] == "/r"
    assert line["level"] == "info"
