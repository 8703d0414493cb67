"""The bot on its ConnecttoTeams backend with the platform and Microsoft Graph answered by the local
doubles: try the production backend, and the Global Admin sign-in, with no account anywhere.

    .venv/bin/python -m tests.ctt_local [--port 3978] [--consented]

Without --consented no tenant has allowed management by the service provider, so enabling calling
asks for a Global Admin's sign-in: the card's "Sign in as Global Admin to finish" opens the
double's simulated sign-in page, whose button sends the result to the bot's callback. The demo
world (services/seed/demo_world.json) seeds both doubles, so the playground's people are who they
are with the embedded backend. The browser tests run it (tests/test_browser_e2e.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from app import create_app
from bot.logging_setup import configure_logging
from bot.settings import Settings
from tests.ctt_double import CttDouble
from tests.ctt_world import (
    MANAGEMENT_CONSENT_ACTION,
    PROVIDER_RESELLER,
    load_demo_world,
    partners_of,
    pbx_csv,
    seed_bot_database,
    seed_graph,
    seed_platform,
)
from tests.graph_double import FakeGraph

log = logging.getLogger("ctt_local")


def ctt_settings(
    data_dir: Path, ctt: CttDouble, graph: FakeGraph, port: int, consented: set[str], **extra: Any
) -> Settings:
    """Settings for the bot on the doubles (started); writes the provider's two files to data_dir."""
    world = load_demo_world()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "pbx.csv").write_text(pbx_csv(world), encoding="utf-8")
    partners = [p.model_dump(mode="json") for p in partners_of(world)]
    (data_dir / "partners.json").write_text(json.dumps({"partners": partners}), encoding="utf-8")
    values = {
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "PROVISIONING_BACKEND": "connecttoteams",
        "CTT_BASE_URL": ctt.url,
        "CTT_CLIENT_ID": ctt.client_id,
        "CTT_CLIENT_SECRET": ctt.client_secret,
        "CTT_API_USERNAME": ctt.username,
        "CTT_API_PASSWORD": ctt.password,
        "CTT_RESELLER_ID": str(PROVIDER_RESELLER),
        "CTT_CONSENTED_TENANTS": ",".join(sorted(consented)),
        "CTT_CALLBACK_URL": f"http://127.0.0.1:{port}/api/ctt/callback",
        "CTT_MANAGEMENT_CONSENT_ACTION": MANAGEMENT_CONSENT_ACTION,
        "GRAPH_CLIENT_ID": graph.client_id,
        "GRAPH_CLIENT_SECRET": graph.client_secret,
        "GRAPH_BASE_URL": graph.base_url,
        "PBX_DIRECTORY_FILE": str(data_dir / "pbx.csv"),
        "PARTNERS_FILE": str(data_dir / "partners.json"),
    }
    return Settings(_env_file=None, **(values | extra))


async def prepare_bot_database(settings: Settings) -> None:
    """The bot's record of the demo world's phone users (Megan and Alex of Contoso), as if the bot
    had configured them: with calling on, Contoso's first sync is known to be done."""
    await seed_bot_database(settings.database_url, load_demo_world())


def customer_tenants() -> set[str]:
    return {t["tenant_id"] for t in load_demo_world()["tenants"] if t["kind"] == "customer"}


async def start_doubles(consented: set[str], *, own_portal: bool = False) -> tuple[CttDouble, FakeGraph]:
    """The platform and Graph doubles seeded with the demo world, started; `own_portal`: the
    sign-in links point at the double's simulated sign-in page (a browser can open them)."""
    world = load_demo_world()
    ctt, graph = CttDouble(), FakeGraph()
    seed_platform(ctt, world)
    seed_graph(graph, world)
    ctt.consent = set(consented)
    await ctt.start()
    await graph.start()
    if own_portal:
        ctt.portal = ctt.url
    return ctt, graph


async def serve(port: int, consented: bool, data_dir: Path) -> None:
    tenants = customer_tenants() if consented else set()
    ctt, graph = await start_doubles(tenants, own_portal=True)
    settings = ctt_settings(
        data_dir, ctt, graph, port, tenants, LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO")
    )
    await prepare_bot_database(settings)
    runner = web.AppRunner(create_app(settings, msal_http_client=graph.http_client()), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    log.info(
        "bot on http://127.0.0.1:%d/api/messages, ConnecttoTeams double on %s, Graph double on %s, %s",
        port,
        ctt.url,
        graph.base_url,
        "every customer tenant consented" if consented else "no tenant consented: Global Admin sign-in",
    )
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()
        await ctt.stop()
        await graph.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3978")))
    parser.add_argument("--consented", action="store_true", help="every customer tenant has consented")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "data/ctt-local")))
    args = parser.parse_args()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "text"))
    asyncio.run(serve(args.port, args.consented, args.data_dir))


if __name__ == "__main__":
    main()
