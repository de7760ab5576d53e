"""Issue 18, item 6: an anonymous bot (the demo: no Bot Framework credentials) listens on loopback by default.

`python bot.py` in demo mode used to listen on 0.0.0.0, so anyone on the network could act as a security admin of
the demo tenant. The default now depends on the mode; `HOST` still wins, and then `bot.main` logs a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import bot
from config import CLIENT_ID_ENV, CLIENT_SECRET_ENV, LEGACY_NAMES, Settings

APP_ID = "11111111-2222-4333-8444-555555555555"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"DATA_DIR": str(tmp_path), **extra}


def test_anonymous_mode_listens_on_loopback_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path), dotenv_path=tmp_path / "absent.env")
    assert not settings.bot_auth_enabled
    assert settings.host == "127.0.0.1"
    assert settings.exposure_warning() == ""
    assert Settings(data_dir=tmp_path).host == "127.0.0.1"  # built directly (tests, tools): the same default


def test_authenticated_mode_listens_on_every_interface_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path, **{CLIENT_ID_ENV: APP_ID, CLIENT_SECRET_ENV: "s"}),
                                 dotenv_path=tmp_path / "absent.env")
    assert settings.bot_auth_enabled and settings.host == "0.0.0.0"
    assert settings.exposure_warning() == ""


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "[::1]"])
def test_a_loopback_host_is_no_exposure(tmp_path: Path, host: str) -> None:
    assert Settings.from_env(env(tmp_path, HOST=host), dotenv_path=tmp_path / "absent.env").exposure_warning() == ""


def test_host_overrides_the_default_and_is_warned_about(tmp_path: Path) -> None:
    settings = Settings.from_env(env(tmp_path, HOST="0.0.0.0", PORT="4000"), dotenv_path=tmp_path / "absent.env")
    assert settings.host == "0.0.0.0"
    warning = settings.exposure_warning()
    assert "0.0.0.0" in warning and "4000" in warning and "security admins" in warning


def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str]) -> dict[str, Any]:
    """Run `bot.main()` with `environ` and no server; the keywords `web.run_app` got."""
    for name in (CLIENT_ID_ENV, CLIENT_SECRET_ENV, "HOST", "M365_CLIENT_ID", *LEGACY_NAMES):
        monkeypatch.delenv(name, raising=False)
    for name, value in env(tmp_path, **environ).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env of the working tree
    served: dict[str, Any] = {}
    monkeypatch.setattr(bot, "create_app", lambda settings: settings)
    monkeypatch.setattr(bot.web, "run_app", lambda app, **kwargs: served.update(kwargs))
    assert bot.main([]) == 0
    return served


def test_main_binds_the_demo_to_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot"):
        served = serve(monkeypatch, tmp_path, {})
    assert served["host"] == "127.0.0.1"
    assert "anonymous mode" not in caplog.text


def test_main_warns_when_host_exposes_an_anonymous_bot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bot"):
        served = serve(monkeypatch, tmp_path, {"HOST": "0.0.0.0"})
    assert served["host"] == "0.0.0.0"
    warnings = [r for r in caplog.records if "anonymous mode" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
