"""Failures to inject into the embedded demo service's next calls: for tests and demos of "Try again"."""

from __future__ import annotations

from collections import Counter

from i18n import T
from services.errors import ProvisioningError

OPERATIONS = (
    "add_user",
    "sync_users",
    "enable_calling",
    "change_user",
    "reset_device_password",
    "disable_calling",
    "delete_user",
)


class Faults:
    """Failures to inject into the next calls of an operation: for tests and demos of "Try again"."""

    def __init__(self) -> None:
        self._pending: Counter[str] = Counter()

    def fail_next(self, operation: str, times: int = 1) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        self._pending[operation] += times

    def check(self, operation: str) -> None:
        if self._pending[operation] > 0:
            self._pending[operation] -= 1
            raise ProvisioningError(
                T("The provisioning service did not answer in time. Nothing was lost; try again."),
                retryable=True,
            )
