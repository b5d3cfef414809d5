"""Access logs without the tokens of /c/, /u/ and /reset/ (a password-reset link).

A token opens a contact's unsubscribe page and tells which recipient clicked: a log line must
not hand them to whoever reads the logs. `strip_tokens` is applied to gunicorn's access log
(`GunicornLogger`, set in gunicorn.conf.py, which gunicorn reads from the working directory)
and to werkzeug's (the development server), installed by create_app().
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

_TOKEN = re.compile(r"/([cu]|reset)/[A-Za-z0-9._~%-]+")


def strip_tokens(text: str) -> str:
    """'GET /c/2n9c-7.6qItklAi9QdAVzFT HTTP/1.1' -> 'GET /c/*** HTTP/1.1'."""
    return _TOKEN.sub(r"/\1/***", text)


class GunicornLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The request line, the path, the Referer, the raw URI in the environ: every text a format may use.
        return {key: strip_tokens(value) if isinstance(value, str) else value for key, value in atoms.items()}


class _StripTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(strip_tokens(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = strip_tokens(record.msg)
        return True


def install_werkzeug_filter() -> None:
    """werkzeug logs each request as '"GET /c/… HTTP/1.1" 302 -'; once per process."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, _StripTokens) for f in logger.filters):
        logger.addFilter(_StripTokens())
