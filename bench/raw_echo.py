"""Baseline 2: raw aiohttp doing the same work (read the activity, POST one reply, shared session)."""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web


def main(port: int) -> None:
    session: aiohttp.ClientSession | None = None

    async def start(_app: web.Application) -> None:
        nonlocal session
        session = aiohttp.ClientSession()

    async def stop(_app: web.Application) -> None:
        if session:
            await session.close()

    async def messages(request: web.Request) -> web.Response:
        activity = await request.json()
        reply = {
            "type": "message",
            "text": f"echo: {activity.get('text')}",
            "conversation": activity["conversation"],
            "from": activity["recipient"],
            "recipient": activity["from"],
            "replyToId": activity.get("id"),
        }
        url = f"{activity['serviceUrl'].rstrip('/')}/v3/conversations/{activity['conversation']['id']}/activities/{activity['id']}"
        assert session is not None
        async with session.post(url, json=reply) as resp:
            await resp.read()
        return web.Response(status=201)

    app = web.Application()
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_post("/api/messages", messages)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
