"""Keep secrets (the bot token) out of every log record of the process.

The token is part of every Bot API URL: httpx logs those URLs at INFO, and some
python-telegram-bot exceptions quote the token. Redaction happens where records are
created (the log record factory), so it covers every logger and every handler, including
handlers added later, and exception tracebacks too.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

REDACTED = "[REDACTED]"

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def _redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def _redacting_factory(factory: Any) -> Any:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it later, as usual
            return record
        clean = _redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if _redact(text) != text:
                record.exc_text = _redact(text)
        return record

    return make_record


def protect(secret: str) -> None:
    """Replace ``secret`` with ``[REDACTED]`` in all log records from now on.

    Also raises httpx's loggers to WARNING: their INFO lines are one request URL, with the
    token, per Bot API call.
    """
    global _installed
    if not secret:
        return
    with _lock:
        _secrets.add(secret)
        if not _installed:
            logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
            _installed = True
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
