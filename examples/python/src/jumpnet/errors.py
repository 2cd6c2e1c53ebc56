"""Typed errors, one class per error family of the HTTP API.

Every error answer of a Jumpnet node is ``{"error": {"code": "<snake_case>", "message": "..."}}`` with a
status that says what went wrong (SPEC §3). :func:`error_from_response` turns such an answer into the
matching exception, so callers can write ``except jumpnet.NotFound`` instead of comparing status codes.
"""

from __future__ import annotations

import json
from typing import Dict, Optional, Type


class JumpnetError(Exception):
    """Base of every error this package raises about a call to the cluster.

    ``status`` is the HTTP status (``None`` when no answer came back), ``code`` the server's stable
    snake_case code, ``server`` the base URL that answered (or failed).
    """

    status: Optional[int] = None

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        server: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.code = code
        self.server = server
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        where = f" ({self.server})" if self.server else ""
        return f"{prefix}: {self.message}{where}" if prefix else f"{self.message}{where}"


class TLSError(JumpnetError):
    """The server's certificate did not verify (unknown CA, wrong name, expired): not retried."""


class BadRequest(JumpnetError):
    """400: malformed JSON, a missing or wrong field."""

    status = 400


class Unauthorized(JumpnetError):
    """401: no token, or a token the cluster does not know."""

    status = 401


class Forbidden(JumpnetError):
    """403: the token lacks the role the call needs (publish, consume or admin)."""

    status = 403


class NotFound(JumpnetError):
    """404: unknown topic (v1 API), consumer or member."""

    status = 404


class Conflict(JumpnetError):
    """409: an admin call that conflicts with the cluster's state (e.g. ``already_initialized``)."""

    status = 409


class TooLarge(JumpnetError):
    """413: a message or request over the node's size limits."""

    status = 413


class OffsetOutOfRange(JumpnetError):
    """416: the offset is before the log start (trimmed) or after the high watermark."""

    status = 416


class ServerError(JumpnetError):
    """Any other 5xx answer."""

    status = 500


class Unavailable(JumpnetError):
    """503: the node knows no leader or is not ready; worth retrying, possibly elsewhere."""

    status = 503


class ConnectionFailed(Unavailable):
    """No node could be reached at all (refused, reset, unreachable) before the retry budget ran out."""

    status = None


class Timeout(JumpnetError):
    """504 from the server (commit not reached in time), or no answer within the client's timeout.

    For a publish without producer id the outcome is then unknown: the message may or may not be stored.
    """

    status = 504


_BY_STATUS: Dict[int, Type[JumpnetError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    416: OffsetOutOfRange,
    503: Unavailable,
    504: Timeout,
}


def error_class(status: int) -> Type[JumpnetError]:
    """The exception class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    if status == 422:
        return BadRequest
    return JumpnetError


def error_from_response(
    status: int, body: bytes, *, server: Optional[str] = None, retry_after: Optional[float] = None
) -> JumpnetError:
    """Build the typed exception for an error answer, tolerating bodies that are not the SPEC shape."""
    code: Optional[str] = None
    message = ""
    try:
        doc = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        code = doc["error"].get("code")
        message = str(doc["error"].get("message") or "")
    elif body:
        message = body.decode("utf-8", "replace").strip()
    if not message:
        message = f"HTTP {status}"
    return error_class(status)(message, status=status, code=code, server=server, retry_after=retry_after)
