"""Device passwords: 8 letters and digits, at least one of each, from `secrets`."""

from __future__ import annotations

import secrets
import string

LENGTH = 8
ALPHABET = string.ascii_letters + string.digits


def generate_device_password() -> str:
    """A new password for a PBX device; the caller sends it on and never keeps it."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if is_valid_device_password(candidate):
            return candidate


def is_valid_device_password(value: str) -> bool:
    return (
        len(value) == LENGTH
        and all(c in ALPHABET for c in value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )
