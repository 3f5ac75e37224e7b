"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from livecast.api.deps import Ctx
from livecast.api.problems import problem_response
from livecast.storage import db

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the database answers",
    responses={503: {"description": "A dependency is unavailable."}},
    response_model=Health,
)
async def readyz(ctx: Ctx) -> Response:
    try:
        await db.ping(ctx.engine)
    except Exception as exc:
        return problem_response(503, f"The database is unreachable: {type(exc).__name__}.")
    return Response(Health(status="ready").model_dump_json(), media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(ctx: Ctx) -> Response:
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
