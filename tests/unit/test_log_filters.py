"""The log stays readable and free of what people typed: the Agents SDK's per-turn noise is silenced."""

from __future__ import annotations

import logging

import pytest

from bot import SdkErrorEcho, quiet_sdk

APP_LOGGER = "microsoft_agents.hosting.core.app.agent_application"
TOKEN_CLIENT_LOGGER = "microsoft_agents.hosting.core.connector.client.user_token_client"


def test_the_sdk_echo_of_a_turn_error_is_dropped_and_its_other_lines_are_kept(
        caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger(APP_LOGGER)
    echo = SdkErrorEcho()
    logger.addFilter(echo)
    try:
        with caplog.at_level(logging.WARNING, logger=APP_LOGGER):
            logger.error("An error occurred in the AgentApplication: %s", "secret text of the error")
            logger.error(f"An error occurred in the AgentApplication: {'secret text'}")  # noqa: G004 - as the SDK logs
            logger.warning("something else")
    finally:
        logger.removeFilter(echo)
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_quiet_sdk_installs_the_filter_once_and_mutes_the_anonymous_app_id_warning() -> None:
    token_logger = logging.getLogger(TOKEN_CLIENT_LOGGER)
    app_logger = logging.getLogger(APP_LOGGER)
    level, filters = token_logger.level, list(app_logger.filters)
    try:
        quiet_sdk(anonymous=True)
        quiet_sdk(anonymous=True)
        assert sum(isinstance(f, SdkErrorEcho) for f in app_logger.filters) == 1
        assert not token_logger.isEnabledFor(logging.WARNING)
    finally:
        token_logger.setLevel(level)
        app_logger.filters[:] = filters
