"""RFC 9457 problem documents for every error the HTTP API returns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from livecast.errors import AuthenticationError, LivecastError, RateLimited

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class PayloadTooLarge(LivecastError):
    status = 413
    title = "Request body too large"


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def describe_validation_errors(errors: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """A sentence naming each bad field, and the same as a list for programs."""
    fields: list[dict[str, str]] = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        name = ".".join(location) or "body"
        message = str(error.get("msg", "is invalid"))
        fields.append({"field": name, "message": message})
    sentence = "; ".join(f"{item['field']}: {item['message']}" for item in fields[:5])
    if len(fields) > 5:
        sentence += f"; and {len(fields) - 5} more"
    return f"The request is invalid. {sentence}.", fields


async def _livecast_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LivecastError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return problem_response(
        exc.status, exc.detail, title=exc.title, instance=request.url.path, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail, fields = describe_validation_errors(exc.errors())
    return problem_response(
        422, detail, title="Validation failed", instance=request.url.path, errors=fields
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = "The request body could not be read: send UTF-8 encoded JSON."
    elif exc.status_code == 404 and detail == "Not Found":
        detail = f"There is nothing at {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    return problem_response(exc.status_code, detail, instance=request.url.path, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(
        500, "An unexpected error occurred; it has been logged.", instance=request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LivecastError, _livecast_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
