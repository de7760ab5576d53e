"""Small types shared by the Graph and Exchange stand-ins: one API request, one API answer, one API error."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

Headers = CIMultiDict[str] | CIMultiDictProxy[str]
Sleeper = Callable[[float], Awaitable[None]]

# Graph and Exchange answer with this content type; aiohttp and requests read it as application/json.
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"


@dataclass
class ApiRequest:
    """One Graph request (also each inner request of a `$batch`)."""

    method: str
    path: str  # decoded, with the /v1.0 prefix, e.g. /v1.0/users/x
    segments: list[str]  # decoded path segments after /v1.0
    query: list[tuple[str, str]]  # decoded query pairs, in order
    headers: Headers
    body: Any
    claims: Mapping[str, Any]
    in_batch: bool = False
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def client_request_id(self) -> str:
        """The caller's `client-request-id`, or the request id when it sent none (as Graph does)."""
        return self.headers.get("client-request-id") or self.request_id

    @property
    def app_id(self) -> str:
        """The calling app (token `appid`)."""
        return str(self.claims.get("appid", ""))

    @property
    def roles(self) -> set[str]:
        """The token's application permissions."""
        roles = self.claims.get("roles") or []
        return {str(r) for r in roles} if isinstance(roles, list) else set()

    @property
    def key(self) -> str:
        """The string fault and latency rules match: `METHOD /v1.0/path`."""
        return f"{self.method} {self.path}"


@dataclass
class ApiResponse:
    """An answer before it becomes HTTP (or an inner `$batch` response)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    fault_ids: tuple[str, ...] = ()
    throttled: bool = False


class ApiError(Exception):
    """An error the API answers with its own body shape; `headers` adds e.g. Retry-After."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def graph_error_body(code: str, message: str, request_id: str, client_request_id: str) -> dict[str, Any]:
    """Graph's error body: code, message and innerError with date and request ids."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
