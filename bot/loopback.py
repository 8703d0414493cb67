"""What counts as this machine: with no app id (local mode) the bot listens, answers and fetches
files only on loopback addresses."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """An http(s) URL whose host is this machine."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and is_loopback((parts.hostname or "").lower())
    except ValueError:
        return False
