"""The Microsoft 365 Agents SDK quickstart echo agent, as Microsoft's sample writes it, in one file.

Source: github.com/microsoft/Agents, samples/python/quickstart/src/{agent.py,start_server.py,main.py}
at commit 7ddb1c52eea671d5a6a58f8489222fc217fef063 (agent.py last changed in 39a23879c5f313d8e4de04389fbb01e82d8195c1).
Only changes: the three files are concatenated (imports merged), and PORT is read as an int.
Anonymous local run (what the sample README calls "localhost, anonymous mode") needs a SERVICE_CONNECTION
that allows anonymous requests, e.g.:
    CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED=true PORT=3978 python -m bench.echo_bot

This is the turn and start-up baseline of bench/turns.py and bench/startup.py (issue 14): Microsoft's code, kept
as Microsoft wrote it (their logging at INFO, their `load_dotenv()`, the deprecated `adapter=` argument), so the
comparison is against the SDK as its own quickstart runs it. The benches wait for its GET /readiness.
"""
# ruff: noqa  -- vendored sample, kept verbatim (import order, unused imports and all) so it stays comparable.
# Copyright (c) Microsoft Corporation. All rights reserved.
# Licensed under the MIT License.

# --- main.py (logging part) ---
import logging
ms_agents_logger = logging.getLogger("microsoft_agents")
ms_agents_logger.addHandler(logging.StreamHandler())
ms_agents_logger.setLevel(logging.INFO)

# --- agent.py ---
import os.path as path
import re
import sys
import traceback
from dotenv import load_dotenv

from os import environ
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    Authorization,
    AgentApplication,
    TurnState,
    TurnContext,
    MemoryStorage,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.activity import load_configuration_from_env

load_dotenv()
agents_sdk_config = load_configuration_from_env(environ)

STORAGE = MemoryStorage()
CONNECTION_MANAGER = MsalConnectionManager(**agents_sdk_config)
ADAPTER = CloudAdapter(connection_manager=CONNECTION_MANAGER)
AUTHORIZATION = Authorization(STORAGE, CONNECTION_MANAGER, **agents_sdk_config)


AGENT_APP = AgentApplication[TurnState](
    storage=STORAGE, adapter=ADAPTER, authorization=AUTHORIZATION, **agents_sdk_config
)


@AGENT_APP.conversation_update("membersAdded")
async def on_members_added(context: TurnContext, _state: TurnState):
    await context.send_activity(
        "Welcome to the empty agent! "
        "This agent is designed to be a starting point for your own agent development."
    )
    return True


@AGENT_APP.message(re.compile(r"^hello$"))
async def on_hello(context: TurnContext, _state: TurnState):
    await context.send_activity("Hello!")


@AGENT_APP.activity("message")
async def on_message(context: TurnContext, _state: TurnState):
    await context.send_activity(f"you said: {context.activity.text}")


@AGENT_APP.error
async def on_error(context: TurnContext, error: Exception):
    # This check writes out errors to console log .vs. app insights.
    # NOTE: In production environment, you should consider logging this to Azure
    #       application insights.
    print(f"\n [on_turn_error] unhandled error: {error}", file=sys.stderr)
    traceback.print_exc()

    # Send a message to the user
    await context.send_activity("The bot encountered an error or bug.")


# --- start_server.py ---
from microsoft_agents.hosting.core import AgentAuthConfiguration
from microsoft_agents.hosting.aiohttp import (
    start_agent_process,
    jwt_authorization_middleware,
)
from aiohttp.web import Request, Response, Application, run_app


def start_server(
    agent_application: AgentApplication, auth_configuration: AgentAuthConfiguration
):
    async def entry_point(req: Request) -> Response:
        agent: AgentApplication = req.app["agent_app"]
        adapter: CloudAdapter = req.app["adapter"]
        return await start_agent_process(
            req,
            agent,
            adapter,
        )

    async def liveness_check(req: Request) -> Response:
        return Response(text="OK", status=200)

    async def readiness_check(req: Request) -> Response:
        return Response(text="OK", status=200)

    APP = Application(middlewares=[jwt_authorization_middleware])
    APP.router.add_post("/api/messages", entry_point)
    APP.router.add_get("/liveness", liveness_check)
    APP.router.add_get("/readiness", readiness_check)
    APP["agent_configuration"] = auth_configuration
    APP["agent_app"] = agent_application
    APP["adapter"] = agent_application.adapter

    try:
        run_app(APP, host="0.0.0.0", port=int(environ.get("PORT", 8088)))
    except Exception as error:
        raise error


# --- main.py ---
if __name__ == "__main__":
    start_server(
        agent_application=AGENT_APP,
        auth_configuration=CONNECTION_MANAGER.get_default_connection_configuration(),
    )
