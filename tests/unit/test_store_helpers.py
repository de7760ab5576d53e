"""Pure helpers of the store, and the PostgreSQL skip/fail rule of the test fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from store.audit import format_table, parse_duration
from store.audit_log import redact
from store.bot_state import key_hash
from store.db import normalize_url
from store.models import UTCDateTime
from store.records import AuditEntry
from tests import store_fixtures


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("7d", timedelta(days=7)),
     ("45s", timedelta(seconds=45)), ("2w", timedelta(weeks=2)), (" 7D ", timedelta(days=7))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "-1d", "1.5h", "7 days", "1y"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_redact_secret_looking_keys_at_any_depth() -> None:
    given = {
        "password": "p", "newPassword": "p", "client_secret": "s", "accessToken": "t", "Authorization": "Bearer",
        "reason": "phished", "rules": [{"name": "rule", "refresh_token": "t"}], "count": 3,
        "forceChangePasswordNextSignIn": True, "bypass_reason": "approved",
    }
    assert redact(given) == {
        "password": "[redacted]", "newPassword": "[redacted]", "client_secret": "[redacted]",
        "accessToken": "[redacted]", "Authorization": "[redacted]",
        "reason": "phished", "rules": [{"name": "rule", "refresh_token": "[redacted]"}], "count": 3,
        "forceChangePasswordNextSignIn": True, "bypass_reason": "approved",
    }
    assert given["password"] == "p"  # a copy, not in place


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        ("sqlite+aiosqlite:////abs/bot.db", "sqlite+aiosqlite:////abs/bot.db"),
        ("postgresql://u:p@db:5432/bot", "postgresql+asyncpg://u:p@db:5432/bot"),
        ("postgres://u@db/bot", "postgresql+asyncpg://u@db/bot"),
        ("postgresql+asyncpg://u@db/bot", "postgresql+asyncpg://u@db/bot"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://u@db/bot", "postgresql+psycopg2://u@db/bot"])
def test_normalize_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(url)


def test_key_hash_is_fixed_length() -> None:
    assert len(key_hash("a")) == len(key_hash("x" * 10_000)) == 64
    assert key_hash("a") != key_hash("A")


def test_datetimes_must_be_aware_and_come_back_utc() -> None:
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.engine import make_url

    column = UTCDateTime()
    cet = timezone(timedelta(hours=1))
    stored = column.process_bind_param(datetime(2025, 1, 1, 10, 0, tzinfo=cet), sqlite.dialect())
    assert stored == datetime(2025, 1, 1, 9, 0)
    assert column.process_result_value(stored, sqlite.dialect()) == datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    postgres = make_url("postgresql+asyncpg://").get_dialect()()
    on_postgres = column.process_bind_param(datetime(2025, 1, 1, 10, 0, tzinfo=cet), postgres)
    assert on_postgres == datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2025, 1, 1), sqlite.dialect())


def test_format_table_escapes_and_truncates() -> None:
    entry = AuditEntry(
        id=1, at=datetime(2025, 11, 28, 9, 30, tzinfo=UTC), actor_id="id", actor_upn="AlexW@example.com",
        actor_name="Alex", tenant_id="t", action="disable_rule", target="Rule \x1b]0;owned\x07" + "x" * 100,
        case_id="9b1f3e2a-0000", parameters={}, outcome="failed", error="boom\ntrace", correlation_id="c" * 36,
    )
    lines = format_table([entry]).splitlines()
    assert lines[1].startswith("2025-11-28 09:30:00  failed")
    assert "\\x1b]0;owned\\x07" in lines[1] and "\x1b" not in lines[1]
    assert "…" in lines[1] and "boom" in lines[1] and "trace" not in lines[1]
    assert lines[-1] == "(1 row)"
    assert format_table([]).splitlines()[-1] == "(0 rows)"


async def test_unreachable_postgres_skips_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        await store_fixtures._check_postgres("postgresql://nobody@127.0.0.1:1/none")
    assert "TEST_POSTGRES_URL" in str(skipped.value) and "start PostgreSQL" in str(skipped.value)


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
async def test_unreachable_postgres_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        await store_fixtures._check_postgres("postgresql://nobody@127.0.0.1:1/none")


def test_asyncpg_starting_up_behind_sqlalchemys_adapter_is_an_outage() -> None:
    """After a PostgreSQL restart the first connections get "the database system is starting up": asyncpg's
    `CannotConnectNowError`, wrapped by SQLAlchemy's adapter `Error` inside a plain `DBAPIError` (seen in the soak)."""
    import asyncpg
    from sqlalchemy import exc as sa_exc

    from store.db import outage_reason

    class AdapterError(Exception):
        """Stands in for `sqlalchemy.dialects.postgresql.asyncpg.AsyncAdapt_asyncpg_dbapi.Error`."""

    try:
        try:
            raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
        except asyncpg.exceptions.CannotConnectNowError as driver:
            raise AdapterError("the database system is starting up") from driver
    except AdapterError as adapter:
        wrapped = sa_exc.DBAPIError("SELECT 1", None, adapter)
    assert outage_reason(wrapped) == "unreachable"
    assert outage_reason(sa_exc.DBAPIError("SELECT 1", None, AdapterError("syntax error"))) is None
