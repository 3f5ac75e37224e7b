"""One documented exception hierarchy for livecast.

Every error livecast raises on purpose derives from :class:`LivecastError`. The HTTP layer maps
each class to a status code and an RFC 9457 problem document; protocol adapters map them to a
closed connection and a log line. Library errors are translated at the edge with ``raise … from``.
"""

from __future__ import annotations


class LivecastError(Exception):
    """Base of every error livecast raises deliberately."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(LivecastError, ValueError):
    """The request is well formed but its content is unacceptable."""

    status = 400
    title = "Bad request"


class AuthenticationError(LivecastError):
    """No credentials, or credentials that are invalid or expired."""

    status = 401
    title = "Authentication required"


class PermissionDenied(LivecastError):
    """The caller is known but may not do this."""

    status = 403
    title = "Forbidden"


class NotFound(LivecastError, LookupError):
    """The resource does not exist, or the caller may not know that it exists."""

    status = 404
    title = "Not found"


class Conflict(LivecastError):
    """The request conflicts with the current state of the resource."""

    status = 409
    title = "Conflict"


class InvalidTransition(Conflict):
    """A stream lifecycle transition that the state machine refuses."""

    title = "Invalid stream transition"


class RateLimited(LivecastError):
    """Too many attempts; ``retry_after`` seconds until the next one is allowed."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ProtocolError(LivecastError, ValueError):
    """A protocol peer sent bytes that violate the protocol; its connection is closed."""

    status = 400
    title = "Protocol error"
