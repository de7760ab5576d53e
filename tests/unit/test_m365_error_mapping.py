"""Error bodies → typed errors, and `Retry-After` parsing (pure functions of `m365.graph/exchange/http`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from m365.errors import (
    AuthenticationFailed,
    BadRequest,
    LicenseRequired,
    M365Error,
    NotFound,
    OnPremisesMastered,
    PermissionDenied,
    Throttled,
    UnblockLimitReached,
    UpstreamUnavailable,
)
from m365.exchange import exchange_error, split_exchange_message
from m365.graph import graph_error, route_permission
from m365.http import HttpResponse, error_fields, parse_retry_after


def response(status: int, body: Any, method: str = "GET", path: str = "/v1.0/users/x",
             headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, CIMultiDictProxy(CIMultiDict(headers or {})), body, method, path)


def graph_body(code: str, message: str, request_id: str = "rid-1") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": request_id, "date": "x"}}}


def exchange_body(message: str, code: str = "BadRequest") -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


# -- Retry-After --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), (" 2.5 ", 2.5), ("0", 0.0), ("-3", 0.0), (None, None), ("", None), ("soon", None), ("nan", None),
])
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sat, 21 Nov 2026 12:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Sat, 21 Nov 2026 11:59:00 GMT", now=now) == 0.0


# -- Graph --------------------------------------------------------------------------------------------


def test_graph_403_names_permission_from_message() -> None:
    err = graph_error(response(403, graph_body(
        "Authorization_RequestDenied",
        "Calling principal does not have required MSGraph permissions AuditLog.Read.All")), route="/auditLogs/signIns")
    assert isinstance(err, PermissionDenied)
    assert err.permission == "AuditLog.Read.All"
    assert err.request_id == "rid-1"
    assert err.status == 403
    assert "AuditLog.Read.All" in str(err)


def test_graph_403_infers_permission_from_route() -> None:
    body = graph_body("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    err = graph_error(response(403, body, "POST", "/v1.0/users/u1/revokeSignInSessions"),
                      route="/users/u1/revokeSignInSessions")
    assert isinstance(err, PermissionDenied)
    assert err.permission == "User.RevokeSessions.All"
    err = graph_error(response(403, body, "PATCH"), route="/users/u1", permission="User.EnableDisableAccount.All")
    assert isinstance(err, PermissionDenied) and err.permission == "User.EnableDisableAccount.All"
    err = graph_error(response(403, None, "GET"), route="/somewhere/else")
    assert isinstance(err, PermissionDenied) and err.permission is None


@pytest.mark.parametrize(("method", "route", "permission"), [
    ("GET", "/auditLogs/signIns", "AuditLog.Read.All"),
    ("GET", "/auditLogs/directoryAudits", "AuditLog.Read.All"),
    ("GET", "/identityProtection/riskyUsers/u", "IdentityRiskyUser.Read.All"),
    ("POST", "/identityProtection/riskyUsers/confirmCompromised", "IdentityRiskyUser.ReadWrite.All"),
    ("GET", "/identityProtection/riskDetections", "IdentityRiskEvent.Read.All"),
    ("GET", "/users/u/authentication/methods", "UserAuthenticationMethod.Read.All"),
    ("GET", "/users/u/mailFolders/inbox/messageRules", "MailboxSettings.Read"),
    ("PATCH", "/users/u/mailFolders/inbox/messageRules/r", "MailboxSettings.ReadWrite"),
    ("GET", "/reports/authenticationMethods/userRegistrationDetails/u", "AuditLog.Read.All"),
    ("GET", "/security/alerts_v2", "SecurityAlert.Read.All"),
    ("GET", "/users/u/transitiveMemberOf", "GroupMember.Read.All"),
    ("GET", "/users/u", "User.Read.All"),
])
def test_route_permission_table(method: str, route: str, permission: str) -> None:
    assert route_permission(method, route) == permission


def test_graph_licence_error() -> None:
    err = graph_error(response(403, graph_body("Forbidden", "Your tenant is not licensed for this feature.")),
                      route="/identityProtection/riskyUsers/u")
    assert isinstance(err, LicenseRequired)
    assert err.license == "Microsoft Entra ID P2"


def test_graph_on_premises_mastered() -> None:
    message = ("Unable to update the specified properties for on-premises mastered Directory Sync objects or "
               "objects currently undergoing migration.")
    err = graph_error(response(400, graph_body("Request_BadRequest", message), "PATCH"), route="/users/u")
    assert isinstance(err, OnPremisesMastered)
    assert isinstance(err, BadRequest)


@pytest.mark.parametrize(("status", "kind"), [
    (400, BadRequest), (401, AuthenticationFailed), (404, NotFound), (429, Throttled), (500, UpstreamUnavailable),
    (503, UpstreamUnavailable), (409, M365Error),
])
def test_graph_status_mapping(status: int, kind: type[M365Error]) -> None:
    err = graph_error(response(status, graph_body("Code", "Some message")))
    assert type(err) is kind
    assert err.status == status
    assert err.code == "Code"


def test_graph_429_keeps_retry_after_and_header_request_id() -> None:
    err = graph_error(response(429, None, headers={"Retry-After": "12", "request-id": "hdr-rid"}))
    assert isinstance(err, Throttled)
    assert err.retry_after == 12.0
    assert err.request_id == "hdr-rid"


def test_error_fields_tolerates_odd_bodies() -> None:
    assert error_fields(None) == ("", "", None)
    assert error_fields("<html>Bad gateway</html>") == ("", "<html>Bad gateway</html>", None)
    assert error_fields({"error": "invalid_client", "error_description": "AADSTS7000215: x"}) == (
        "invalid_client", "AADSTS7000215: x", None)
    assert error_fields({"error": {"code": 5}}) == ("", "", None)


# -- Exchange -----------------------------------------------------------------------------------------


def test_split_exchange_message() -> None:
    assert split_exchange_message("|Microsoft.Exchange.Management.Tasks.ValidationException|Text here.") == (
        "Microsoft.Exchange.Management.Tasks.ValidationException", "Text here.")
    assert split_exchange_message("ex6F9304|Microsoft.Exchange.X.FooException|Other text") == (
        "Microsoft.Exchange.X.FooException", "Other text")
    assert split_exchange_message("plain text | with bar") == (None, "plain text | with bar")


def test_exchange_unblock_limit() -> None:
    message = ("|Microsoft.Exchange.Management.Tasks.ValidationException|The sender has been unblocked the maximum "
               "number of times allowed. To unblock this sender, contact Microsoft support.")
    err = exchange_error(response(400, exchange_body(message), "POST"), cmdlet="Remove-BlockedSenderAddress")
    assert isinstance(err, UnblockLimitReached)
    assert str(err).startswith("The sender has been unblocked")
    assert "|" not in str(err)
    assert err.code == "ValidationException"


def test_exchange_not_found() -> None:
    message = ("|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be "
               "performed because object 'nobody@example.com' couldn't be found on 'AM0PR01A001DC01.EURPR01A001.prod'.")
    err = exchange_error(response(404, exchange_body(message, "NotFound"), "POST"), cmdlet="Get-Mailbox")
    assert isinstance(err, NotFound)
    assert "|" not in err.message
    err = exchange_error(response(400, exchange_body("The object couldn't be found."), "POST"), cmdlet="Get-Mailbox")
    assert isinstance(err, NotFound)


def test_exchange_403_names_the_role() -> None:
    err = exchange_error(response(403, exchange_body("Access denied", "Forbidden"), "POST"),
                         cmdlet="Remove-BlockedSenderAddress")
    assert isinstance(err, PermissionDenied)
    assert err.permission == "Security Administrator or Organization Management"
    assert "Security Administrator or Organization Management" in str(err)
    err = exchange_error(response(403, exchange_body("The app lacks Exchange.ManageAsApp"), "POST"),
                         cmdlet="Get-Mailbox")
    assert isinstance(err, PermissionDenied) and err.permission == "Exchange.ManageAsApp"


@pytest.mark.parametrize(("status", "kind"), [
    (400, BadRequest), (401, AuthenticationFailed), (429, Throttled), (500, UpstreamUnavailable),
])
def test_exchange_status_mapping(status: int, kind: type[M365Error]) -> None:
    err = exchange_error(response(status, exchange_body("|Microsoft.Exchange.SomeException|Went wrong"), "POST"),
                         cmdlet="Get-Mailbox")
    assert type(err) is kind
    assert "Went wrong" in str(err) and "|Microsoft" not in str(err)


def test_graph_licence_for_sign_in_logs_is_p1() -> None:
    body = graph_body("Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                      "Neither tenant is B2C or tenant doesn't have premium license")
    err = graph_error(response(403, body, path="/v1.0/auditLogs/signIns"), route="/auditLogs/signIns")
    assert isinstance(err, LicenseRequired)
    assert err.license == "Microsoft Entra ID P1"
