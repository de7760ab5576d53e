"""Typed failures of Microsoft 365 calls. Each says what is wrong in words an admin can act on."""

from __future__ import annotations


class M365Error(Exception):
    """Base class: a Microsoft 365 call failed. `code` is Microsoft's error code when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id


class AuthenticationFailed(M365Error):
    """The app could not get a token (wrong secret or certificate, unknown client, tenant mismatch)."""


class PermissionDenied(M365Error):
    """403: the app lacks a Graph application permission or an Exchange/Entra role."""

    def __init__(
        self,
        message: str,
        *,
        permission: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.permission = permission


class LicenseRequired(M365Error):
    """The tenant lacks the licence the API needs (Identity Protection needs Entra ID P2)."""

    def __init__(
        self,
        message: str,
        *,
        license: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.license = license


class NotFound(M365Error):
    """404 or an Exchange 'couldn't be found' error."""


class BadRequest(M365Error):
    """400: the request was malformed or refused as such."""


class OnPremisesMastered(BadRequest):
    """A write was refused because the user is synchronized from on-premises Active Directory."""


class UnblockLimitReached(M365Error):
    """Microsoft refuses further unblocks of this sender; only Microsoft support can unblock it now."""


class Throttled(M365Error):
    """429 that outlasted the retry budget."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after


class UpstreamUnavailable(M365Error):
    """5xx (or a connection failure) that outlasted the retry budget."""


class UpstreamTimeout(M365Error):
    """The call did not answer within its timeout."""


class NotProvisioned(M365Error):
    """The API needs something provisioned in the tenant first: Graph's message trace answers 401 until Microsoft's
    message-trace service principal (app id 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373) exists there. `what` names it."""

    def __init__(
        self,
        message: str,
        *,
        what: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.what = what


class TokenUnavailable(UpstreamUnavailable):
    """The Entra ID token endpoint gave no token because it is failing, not because it refused the app.

    A 5xx (msal's `MsalServiceError`), a timeout, a refused or dropped connection, an answer that is not JSON, or an
    OAuth `temporarily_unavailable` / `server_error`. It is an `UpstreamUnavailable` ("Microsoft 365 unreachable")
    everywhere; `/readyz` tells it apart to name the token endpoint. Never a timeout of a write: the request that
    needed the token was not sent.
    """


class TokenRefused(AuthenticationFailed):
    """The Entra ID token endpoint answered and refused the app (wrong secret, unknown client or tenant)."""
