"""OpenAPI helpers: every error is documented as a problem document."""

from __future__ import annotations

from typing import Any

from livecast.api.problems import PROBLEM_JSON
from livecast.api.schemas import Problem

_DESCRIPTIONS = {
    400: "The request is malformed or cannot be carried out as asked.",
    401: "No valid credentials.",
    403: "Not allowed for this user.",
    404: "No such resource, or not visible to this user.",
    409: "Conflicts with the current state.",
    413: "The request body is too large.",
    422: "A field is missing or invalid.",
    429: "Too many attempts.",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error codes, plus the ones any call can get."""
    wanted = sorted({*codes, 400, 413, 422})
    return {
        code: {
            "model": Problem,
            "description": _DESCRIPTIONS[code],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in wanted
    }
