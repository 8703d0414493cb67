"""Composition root: read settings, build the database, services, adapter and bot; `python app.py` serves."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from aiohttp import web
from microsoft_agents.hosting.aiohttp import CloudAdapter

from bot.auth import BotCredentials, BotFrameworkTokens, auth_configuration
from bot.background import BackgroundWork
from bot.chat import ProactiveMessenger, RefusedReplies
from bot.connector import PROACTIVE_RETRY, KeepAliveClientFactory
from bot.files import FileDownloads
from bot.logging_setup import configure_logging, install_redaction
from bot.loopback import is_loopback
from bot.settings import Settings
from bot.teams_bot import PhoneConnectorBot
from bot.web import RUNTIME, Runtime, add_routes, on_turn_error
from dialogs.add_user import AddUserConversation
from dialogs.approvals import ApprovalConversation
from dialogs.bulk import BulkConversation
from dialogs.consent import ConsentConversation
from dialogs.language import LanguageConversation
from dialogs.main_menu import MainMenu
from dialogs.notifications import Notifier
from dialogs.phone_users import PhoneUsersConversation
from services.db import Database
from services.directory import Directory, EmbeddedDirectory
from services.notify.conversations import ConversationBook
from services.notify.outbox import Outbox
from services.provisioning.connecttoteams import (
    ConnectToTeamsConfig,
    ConnectToTeamsProvisioningService,
    ConsentCallbacks,
    SqlPhoneUserRecords,
    SqlTenantStates,
    parse_admin_callback,
)
from services.provisioning.embedded import EmbeddedProvisioningService
from services.provisioning.graph import GraphClient, GraphConfig, GraphDirectory
from services.provisioning.partners import Partners, load_partners
from services.provisioning.pbx_directory import FilePbxDirectory
from services.provisioning.protocol import ProvisioningService
from services.requests.service import RequestService
from services.seed_data import load_world

log = logging.getLogger("app")

SETTINGS = web.AppKey("settings", Settings)


@dataclass
class Parts:
    """Everything built at start; tests look inside (e.g. the provisioning state)."""

    database: Database
    provisioning: ProvisioningService
    requests: RequestService
    add_user: AddUserConversation
    background: BackgroundWork
    notifier: Notifier
    outbox: Outbox


PARTS = web.AppKey("parts", Parts)


MSAL_HTTP_CLIENT = web.AppKey("msal_http_client", object)


def create_app(settings: Settings, *, msal_http_client: object | None = None) -> web.Application:
    """`msal_http_client` lets tests answer Entra ID token requests locally."""
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[MSAL_HTTP_CLIENT] = msal_http_client
    app.cleanup_ctx.append(_build)
    add_routes(app)
    return app


async def _build(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    install_redaction()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    await database.migrate()
    provisioning: ProvisioningService
    directory: Directory
    closers: list = []
    if settings.provisioning_backend == "connecttoteams":
        provisioning, directory, closers = await _connecttoteams(settings, database, app[MSAL_HTTP_CLIENT])
    else:
        await load_world(database)
        if settings.extra_world_file:
            await load_world(database, settings.extra_world_file)
        provisioning = EmbeddedProvisioningService(
            database,
            delay_seconds=settings.embedded_delay_seconds,
            options_ttl_seconds=settings.form_options_cache_seconds,
        )
        directory = EmbeddedDirectory(database, role_ttl_seconds=settings.role_cache_seconds)
    requests = RequestService(
        database,
        provisioning,
        directory,
        lease_seconds=settings.pipeline_lease_seconds,
        sip_auth_suffix=settings.sip_auth_id_suffix,
        sip_auth_editable=settings.sip_auth_id_editable,
    )
    tokens: BotFrameworkTokens | None = None
    credentials: BotCredentials | None = None
    if settings.authenticated:
        tokens = BotFrameworkTokens(
            settings.APP_ID, settings.APP_TENANTID, key_refresh_seconds=settings.signing_key_refresh_seconds
        )
        credentials = BotCredentials(
            auth_configuration(
                settings.APP_ID, settings.APP_PASSWORD, settings.APP_TYPE, settings.APP_TENANTID
            ),
            http_client=app[MSAL_HTTP_CLIENT],
        )
    # One keep-alive HTTP session for every reply, card update and proactive message.
    connector_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    proactive = PROACTIVE_RETRY.model_copy(
        update={"timeout_seconds": settings.proactive_send_timeout_seconds}
    )
    adapter = CloudAdapter(
        channel_service_client_factory=KeepAliveClientFactory(connector_session, credentials, proactive)
    )
    adapter.on_turn_error = on_turn_error
    background = BackgroundWork()
    messenger = ProactiveMessenger(
        adapter, settings.APP_ID, settings.trusted_service_url_hosts, settings.authenticated
    )
    outbox = Outbox(database, lease_seconds=settings.outbox_lease_seconds)
    # A reply the channel refuses during a turn goes to the outbox instead of being lost.
    adapter.use(RefusedReplies(outbox))
    notifier = Notifier(
        requests,
        ConversationBook(database, max_per_tenant=settings.max_conversations_per_tenant),
        outbox,
        messenger,
        provisioning,
        reminder_after=timedelta(hours=settings.reminder_after_hours),
        expiry_days=settings.request_expiry_days,
        poll_seconds=settings.outbox_poll_seconds,
        concurrency=settings.outbox_concurrency,
    )
    add_user = AddUserConversation(
        requests, provisioning, messenger, background, notifier, parse_sign_in=parse_admin_callback
    )
    approvals = ApprovalConversation(requests, notifier, background)
    # A person's choice of language is kept by the notifier, which knows each person's conversation.
    phone_users = PhoneUsersConversation(requests, provisioning)
    downloads = FileDownloads(
        connector_session, settings.file_download_hosts, allow_loopback=not settings.authenticated
    )
    bulk = BulkConversation(
        requests, messenger, background, notifier, downloads, concurrency=settings.bulk_concurrency
    )
    menu = MainMenu(
        requests,
        add_user,
        approvals,
        provisioning,
        LanguageConversation(notifier),
        phone_users,
        bulk,
        ConsentConversation(provisioning),
    )
    bot = PhoneConnectorBot(directory, menu, add_user, approvals, notifier, phone_users, bulk)
    app[RUNTIME] = Runtime(
        adapter=adapter,
        bot=bot,
        readiness={
            "database": database.ping,
            "provisioning": provisioning.ping,
            **({"bot_token": credentials.ping} if credentials is not None else {}),
        },
        tokens=tokens,
        # The platform's callback: on its backend, consent answers too (the rest is a sign-in).
        admin_sign_in=ConsentCallbacks(provisioning, add_user.admin_signed_in)
        if isinstance(provisioning, ConnectToTeamsProvisioningService)
        else add_user.admin_signed_in,
    )
    app[PARTS] = Parts(database, provisioning, requests, add_user, background, notifier, outbox)
    if database.is_sqlite:
        taken = await requests.take_over_leases()
        if taken:
            log.info("took over %d request(s) the last process left leased", taken)
    resumed = await add_user.resume_interrupted()
    if resumed:
        log.info("resuming %d request(s) interrupted by the last stop", resumed)
    if await bulk.resume():
        log.info("resuming bulk adds with rows still waiting")
    # Everything built so far lives as long as the process: out of the collector's sight, a full
    # collection scans only what turns create (it scanned ~all of it: 85-146 ms pauses, the p99).
    gc.freeze()
    sender = asyncio.get_running_loop().create_task(notifier.run_forever(), name="outbox-sender")
    sweeper = asyncio.get_running_loop().create_task(
        _resume_periodically(add_user, settings.pipeline_lease_seconds / 2), name="pipeline-sweeper"
    )
    yield
    sweeper.cancel()
    await background.drain(grace_seconds=settings.shutdown_grace_seconds)
    await requests.release_leases()
    await notifier.stop()
    try:
        await asyncio.wait_for(sender, timeout=max(1.0, settings.shutdown_grace_seconds))
    except (TimeoutError, asyncio.CancelledError):
        sender.cancel()
    await connector_session.close()
    for close in closers:
        await close()
    await database.close()


async def _connecttoteams(settings: Settings, database: Database, msal_http_client: object | None):
    """The production backend: the platform's API, Graph for users and admins, the provider's files."""
    graph = GraphClient(
        GraphConfig(
            client_id=settings.graph_client_id or settings.APP_ID,
            client_secret=settings.graph_client_secret.get_secret_value() or settings.APP_PASSWORD,
            authority_host=settings.graph_authority_host,
            base_url=settings.graph_base_url,
        ),
        http_client=msal_http_client,
    )
    records = SqlPhoneUserRecords(database)  # its table comes with the migrations
    partners = load_partners(settings.partners_file) if settings.partners_file else Partners()
    assert settings.pbx_directory_file is not None  # checked by Settings
    provisioning = ConnectToTeamsProvisioningService(
        ConnectToTeamsConfig(
            base_url=settings.ctt_base_url,
            client_id=settings.ctt_client_id,
            client_secret=settings.ctt_client_secret,
            api_username=settings.ctt_api_username,
            api_password=settings.ctt_api_password,
            reseller_id=settings.ctt_reseller_id or None,
            request_timeout_seconds=settings.ctt_timeout_seconds,
            max_attempts=settings.ctt_max_attempts,
            backoff_base_seconds=settings.ctt_backoff_base_seconds,
            backoff_max_seconds=settings.ctt_backoff_max_seconds,
            retry_after_max_seconds=settings.ctt_retry_after_max_seconds,
            consented_tenant_ids=settings.ctt_consented_tenant_ids,
            admin_callback_url=settings.ctt_callback_url or None,
            management_consent_action_type=settings.ctt_management_consent_action or None,
        ),
        users=graph,
        pbx=FilePbxDirectory(settings.pbx_directory_file),
        records=records,
        tenant_states=SqlTenantStates(database),  # consent and first sync per tenant (migration 0013)
        partners=partners,
    )
    await graph.start()
    await provisioning.start()
    directory = GraphDirectory(graph, partners, customers=provisioning)
    return provisioning, directory, [provisioning.close, graph.close]


async def _resume_periodically(add_user: AddUserConversation, every_seconds: float) -> None:
    """Several instances: take over pipelines whose instance died (their lease ran out)."""
    while True:
        await asyncio.sleep(every_seconds)
        try:
            await add_user.resume_interrupted()
        except Exception:
            log.warning("could not look for interrupted requests", exc_info=True)


def main() -> int:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if (
        not settings.authenticated
        and not is_loopback(settings.host)
        and not settings.allow_unauthenticated_network
    ):
        log.error(
            "No MicrosoftAppId is set, so requests are not authenticated: refusing to listen on "
            "%s. Set MicrosoftAppId/MicrosoftAppPassword, or HOST=127.0.0.1 for local use "
            "(or ALLOW_UNAUTHENTICATED_NETWORK=true if you really mean it).",
            settings.host,
        )
        return 2
    if settings.authenticated:
        mode = "authenticated: every request needs a valid Bot Framework token"
    elif is_loopback(settings.host):
        mode = "local mode: NO authentication, loopback only"
    else:
        mode = "UNAUTHENTICATED on the network (ALLOW_UNAUTHENTICATED_NETWORK=true)"
    log.info("Teams Phone Connector bot on http://%s:%d/api/messages, %s", settings.host, settings.port, mode)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
