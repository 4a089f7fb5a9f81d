"""The ApiError family: Kubernetes `Status` objects as Python exceptions, both ways.

The apiserver raises these and renders them as Status bodies; the client turns
a Status body back into the same exception class.
"""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    code = 500
    reason = "InternalError"

    def __init__(self, message: str, *, kind: str = "", name: str = "", group: str = "",
                 causes: list[dict[str, str]] | None = None, status: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []
        self.status = status  # the raw Status body when this came from a server

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        status: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if details:
            status["details"] = details
        return status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code} {self.reason}: {self.message})"


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(ApiError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"


class Conflict(ApiError):
    code, reason = 409, "Conflict"


class Gone(ApiError):
    """A resourceVersion or continue token older than etcd still holds."""
    code, reason = 410, "Expired"


class RequestEntityTooLarge(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    code, reason = 422, "Invalid"


class TooManyRequests(ApiError):
    code, reason = 429, "TooManyRequests"


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(ApiError):
    code, reason = 503, "ServiceUnavailable"


class Timeout(ApiError):
    code, reason = 504, "Timeout"


class TransportError(OSError):
    """The apiserver could not be reached, or the connection broke mid-request (no Status to go by)."""


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
                                AlreadyExists, Conflict, Gone, RequestEntityTooLarge, UnsupportedMediaType,
                                Invalid, TooManyRequests, InternalError, ServiceUnavailable, Timeout)
}
_BY_CODE: dict[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
                                       405: MethodNotAllowed, 406: NotAcceptable, 409: Conflict, 410: Gone,
                                       413: RequestEntityTooLarge, 415: UnsupportedMediaType, 422: Invalid,
                                       429: TooManyRequests, 503: ServiceUnavailable, 504: Timeout}


def field_cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    """One entry of details.causes, naming the offending field as upstream does."""
    return {"reason": reason, "message": message, "field": field}


def invalid(kind: str, name: str, causes: list[dict[str, str]], group: str = "") -> Invalid:
    """422 Invalid with upstream's message shape: `Pod "x" is invalid: [field: msg, ...]`."""
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return Invalid(f'{kind} "{name}" is invalid: {summary}', kind=kind, name=name, group=group, causes=causes)


def from_status(status: dict[str, Any], http_code: int) -> ApiError:
    """Turn a Status body (or a bare HTTP failure) into the matching ApiError."""
    reason = status.get("reason", "") if isinstance(status, dict) else ""
    code = status.get("code", http_code) if isinstance(status, dict) else http_code
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or ApiError
    details = status.get("details") or {} if isinstance(status, dict) else {}
    err = cls(status.get("message", f"HTTP {http_code}") if isinstance(status, dict) else f"HTTP {http_code}",
              kind=details.get("kind", ""), name=details.get("name", ""), group=details.get("group", ""),
              causes=details.get("causes"), status=status if isinstance(status, dict) else None)
    if cls is ApiError:
        err.code, err.reason = code, reason or "Unknown"
    return err
