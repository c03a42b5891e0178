"""One error tree for every service: a stable code, an HTTP status and whether a retry may help."""

from __future__ import annotations

from typing import Any, ClassVar


class RampartError(Exception):
    """Base of every error Rampart reports to a client or decides a message's fate by."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)

    def to_body(self) -> dict[str, Any]:
        """The documented envelope `{"error": {"code", "message", "details"}}`."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(RampartError):
    code = "VALIDATION_ERROR"
    http_status = 400
    default_message = "Invalid request parameters"


class PayloadTooLarge(ValidationFailed):
    http_status = 413
    default_message = "Request body too large"


class Unauthorized(RampartError):
    code = "UNAUTHORIZED"
    http_status = 401
    default_message = "Invalid or missing API key"


class Forbidden(RampartError):
    code = "FORBIDDEN"
    http_status = 403
    default_message = "Valid key but insufficient scope"


class NotFound(RampartError):
    code = "NOT_FOUND"
    http_status = 404
    default_message = "Not found"


class AssetNotFound(NotFound):
    code = "ASSET_NOT_FOUND"
    default_message = "Asset not found"


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"
    default_message = "Job not found"


class ApiKeyNotFound(NotFound):
    code = "API_KEY_NOT_FOUND"
    default_message = "API key not found"


class AlreadyExists(RampartError):
    code = "ALREADY_EXISTS"
    http_status = 409
    default_message = "Already exists"


class Conflict(RampartError):
    code = "CONFLICT"
    http_status = 409
    default_message = "Conflict"


class RateLimited(RampartError):
    code = "RATE_LIMITED"
    http_status = 429
    retryable = True
    default_message = "Too many requests"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, {"retry_after": retry_after})
        self.retry_after = retry_after


class ServiceUnavailable(RampartError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    retryable = True
    default_message = "A backing service is unavailable; retry shortly"


class UpstreamUnreachable(RampartError):
    """A monitored warehouse could not be reached; the check ends in error, nothing crashes."""

    code = "WAREHOUSE_UNREACHABLE"
    http_status = 502
    retryable = True
    default_message = "The data source could not be reached"


class InternalError(RampartError):
    pass


_BY_CODE: dict[str, type[RampartError]] = {}


def _register(cls: type[RampartError]) -> None:
    _BY_CODE.setdefault(cls.code, cls)
    for sub in cls.__subclasses__():
        _register(sub)


_register(RampartError)
# The base class shares INTERNAL_ERROR with InternalError; rebuild the concrete class.
_BY_CODE[InternalError.code] = InternalError


def from_wire(code: str, message: str, details: dict[str, Any] | None = None) -> RampartError:
    """Rebuild an error that crossed the bus in a reply, keeping its class where it is known."""
    cls = _BY_CODE.get(code, InternalError)
    if cls is RateLimited:
        retry_after = int((details or {}).get("retry_after", 1))
        return RateLimited(retry_after, message)
    err = cls(message, details)
    if cls is InternalError and code != InternalError.code:
        # Keep an unknown code visible rather than silently renaming it.
        err.details = {**err.details, "origin_code": code}
    return err
