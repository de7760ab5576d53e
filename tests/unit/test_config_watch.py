"""Settings of the restriction watch: WATCH_INTERVAL_MINUTES and NOTIFY_AFFECTED_USER, and .env.example."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ROOT, Settings, SettingsError


def test_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert settings.watch_interval_minutes == 1  # a new restriction is alerted within a minute
    assert settings.notify_affected_user is False


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), (" 15 ", 15), ("1440", 1440)])
def test_interval(tmp_path: Path, raw: str, expected: int) -> None:
    settings = Settings.from_env({"WATCH_INTERVAL_MINUTES": raw}, dotenv_path=tmp_path / "none.env")
    assert settings.watch_interval_minutes == expected


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("TRUE", True), ("1", True), ("yes", True),
                                               ("on", True), ("false", False), ("0", False), ("no", False),
                                               ("", False)])
def test_notify_affected_user(tmp_path: Path, raw: str, expected: bool) -> None:
    settings = Settings.from_env({"NOTIFY_AFFECTED_USER": raw}, dotenv_path=tmp_path / "none.env")
    assert settings.notify_affected_user is expected


@pytest.mark.parametrize(("env", "message"), [
    ({"WATCH_INTERVAL_MINUTES": "0"}, "WATCH_INTERVAL_MINUTES must be between 1 and 1440"),
    ({"WATCH_INTERVAL_MINUTES": "1441"}, "WATCH_INTERVAL_MINUTES must be between 1 and 1440"),
    ({"WATCH_INTERVAL_MINUTES": "-5"}, "WATCH_INTERVAL_MINUTES must be between"),
    ({"WATCH_INTERVAL_MINUTES": "five"}, "WATCH_INTERVAL_MINUTES must be an integer"),
    ({"WATCH_INTERVAL_MINUTES": "2.5"}, "WATCH_INTERVAL_MINUTES must be an integer"),
    ({"NOTIFY_AFFECTED_USER": "maybe"}, "NOTIFY_AFFECTED_USER must be true or false"),
])
def test_bad_values_are_refused(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env, dotenv_path=tmp_path / "none.env")


def test_a_direct_bad_interval_is_refused_too() -> None:
    with pytest.raises(SettingsError, match="WATCH_INTERVAL_MINUTES"):
        Settings().replace(watch_interval_minutes=0)


def test_env_example_documents_them() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "\nWATCH_INTERVAL_MINUTES=1\n" in example
    assert "\nNOTIFY_AFFECTED_USER=false\n" in example
    settings = Settings.from_env({}, dotenv_path=ROOT / ".env.example")
    assert (settings.watch_interval_minutes, settings.notify_affected_user) == (1, False)
