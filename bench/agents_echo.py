"""Baseline 4: the Microsoft 365 Agents SDK's own echo agent, as its samples host it (aiohttp,
`jwt_authorization_middleware` with anonymous access, `CloudAdapter.process`, an `ActivityHandler`)."""

from __future__ import annotations

import logging
import sys
import warnings

from aiohttp import web
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import ActivityHandler, AgentAuthConfiguration, MessageFactory, TurnContext


class EchoAgent(ActivityHandler):
    async def on_message_activity(self, turn: TurnContext) -> None:
        await turn.send_activity(MessageFactory.text(f"echo: {turn.activity.text}"))


def main(port: int) -> None:
    # Anonymous mode logs a warning on every turn: the benchmark does not read this process's output.
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")
    adapter = CloudAdapter(
        connection_manager=MsalConnectionManager(
            connections_configurations={"SERVICE_CONNECTION": AgentAuthConfiguration(anonymous_allowed=True)}
        )
    )
    agent = EchoAgent()

    async def messages(request: web.Request) -> web.Response:
        return await adapter.process(request, agent)

    app = web.Application(middlewares=[jwt_authorization_middleware])
    app["agent_configuration"] = AgentAuthConfiguration(anonymous_allowed=True)
    app.router.add_post("/api/messages", messages)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
