"""Turn driver exceptions into a short code and a message that never carries a secret."""

from __future__ import annotations

import socket

from rampart_contracts.errors import UpstreamUnreachable


def classify(exc: BaseException, host: str) -> UpstreamUnreachable:
    """Map a connection failure to `UpstreamUnreachable` with `details.error_code`."""
    name = type(exc).__name__
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, TimeoutError) or "timeout" in lowered or "timed out" in lowered:
        code, message = "TIMEOUT", f"connection to {host} timed out"
    elif isinstance(exc, socket.gaierror) or "name or service not known" in lowered or \
            "temporary failure in name resolution" in lowered:
        code, message = "HOST_NOT_FOUND", f"host {host} could not be resolved"
    elif isinstance(exc, ConnectionRefusedError) or "refused" in lowered or \
            "can't connect" in lowered:
        code, message = "CONNECTION_REFUSED", f"connection to {host} was refused"
    elif "password" in lowered or "authentication" in lowered or "access denied" in lowered \
            or name in {"InvalidPasswordError", "InvalidAuthorizationSpecificationError"}:
        code, message = "AUTH_FAILED", "authentication failed for the configured user"
    elif "does not exist" in lowered or "unknown database" in lowered or \
            name == "InvalidCatalogNameError":
        code, message = "DATABASE_NOT_FOUND", "the configured database does not exist"
    elif isinstance(exc, OSError):
        code, message = "NETWORK_ERROR", f"network error reaching {host}"
    else:
        code, message = "CONNECTION_FAILED", f"could not connect to {host} ({name})"
    return UpstreamUnreachable(message, {"error_code": code})
