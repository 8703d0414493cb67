"""Files people send in the personal chat (bulk add, issue 18). Teams delivers a file as an attachment
of type `application/vnd.microsoft.teams.file.download.info` whose `content.downloadUrl` is a
short-lived, pre-authenticated link on the person's OneDrive (SharePoint). The bot fetches it only
from the https hosts of FILE_DOWNLOAD_HOSTS (and their subdomains) and, in local mode (no app id,
loopback only), from loopback too, so it can be tried offline; never follows a redirect; reads at
most the file limit; and never logs the link (it grants access to the file)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.loopback import is_loopback_url
from i18n import T
from services.errors import DomainError
from services.requests.batch_file import MAX_BYTES

log = logging.getLogger(__name__)

FILE_INFO = "application/vnd.microsoft.teams.file.download.info"
TIMEOUT_SECONDS = 15.0


class FileRefused(DomainError):
    """The file cannot be fetched (not from Teams, too big, gone): the text says what to do."""


def sent_files(attachments: list[Any] | None) -> list[tuple[str, str]]:
    """(name, download URL) of each file attachment of an activity."""
    found = []
    for attachment in attachments or []:
        content_type = getattr(attachment, "content_type", None)
        content = getattr(attachment, "content", None)
        if content_type != FILE_INFO or not isinstance(content, dict):
            continue
        url = content.get("downloadUrl")
        if isinstance(url, str) and url:
            found.append((str(getattr(attachment, "name", None) or "file"), url))
    return found


class FileDownloads:
    """Implements dialogs.ports.Downloads over the bot's aiohttp session."""

    def __init__(
        self, session: aiohttp.ClientSession, hosts: tuple[str, ...], *, allow_loopback: bool
    ) -> None:
        self._session = session
        self._hosts = tuple(h.lower() for h in hosts)
        self._allow_loopback = allow_loopback

    def allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if self._allow_loopback and is_loopback_url(url):
            return True
        return parts.scheme == "https" and any(host == h or host.endswith("." + h) for h in self._hosts)

    async def fetch(self, url: str) -> bytes:
        if not self.allowed(url):
            log.warning("refused to download a file from a host not in FILE_DOWNLOAD_HOSTS")
            raise FileRefused(
                T("The bot only reads files sent in this chat from Teams. Send the file again here.")
            )
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        try:
            async with self._session.get(url, allow_redirects=False, timeout=timeout) as response:
                if response.status != 200:
                    raise FileRefused(
                        T(
                            "Teams did not give the file (HTTP {status}). Send it again.",
                            status=response.status,
                        )
                    )
                # Past the limit it stops: the file's reader says it is too big.
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > MAX_BYTES:
                        break
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError):
            raise FileRefused(T("The file could not be fetched from Teams. Send it again.")) from None
