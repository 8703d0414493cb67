"""Logging: one place configures it; a filter redacts secrets from every record."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

SECRET_KEYS = r"(?:password|passwd|secret|token|authorization|client_secret|api_key|rePassword)"
_PATTERNS = [
    # key=value, key: value, "key": "value" (JSON, form bodies, reprs)
    re.compile(rf"""(?i)(["']?{SECRET_KEYS}["']?\s*[:=]\s*)(["']?)([^"'\s,&}}]+)(\2)"""),
    # Authorization: Bearer xxx / Basic xxx
    re.compile(r"(?i)\b(bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})"),
]
REDACTED = "[redacted]"


def redact(text: str) -> str:
    # Bearer/Basic credentials first: "Authorization: Bearer <jwt>" must lose the jwt, not the word.
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}", text)


class RedactSecrets(logging.Filter):
    """Rewrites the message (and exception text) of every record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in (
            "activity_type",
            "name",
            "tenant",
            "conversation",
            "duration_ms",
            "outcome",
            "request_id",
        ):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(data)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    install_redaction()


def install_redaction() -> None:
    """Redact at the source: records from every logger pass the filter, whatever handler takes them."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_redacting", False):
        return
    redactor = RedactSecrets()

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        redactor.filter(record)
        return record

    make._redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)
