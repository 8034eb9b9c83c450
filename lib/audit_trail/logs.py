"""The add-on's own log file, one per input kind, with the input's name on every line.

Nothing goes to stderr in normal operation: splunkd records stderr as ExecProcessor errors.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, MutableMapping, Optional, Tuple

LOG_NAMESPACE = "ta_audit_trail"


class InputLogger(logging.LoggerAdapter):
    """Prefixes every message with ``input=<name>`` so one log file can serve many inputs."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Tuple[Any, MutableMapping[str, Any]]:
        return f"input={(self.extra or {}).get('input', '')} {msg}", kwargs


def log_directory() -> str:
    home = os.environ.get("SPLUNK_HOME")
    if home:
        return os.path.join(home, "var", "log", "splunk")
    # Outside Splunk (a developer running the script by hand) the log lands beside the app.
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "local")


def get_logger(scheme: str, level: str = "INFO", directory: Optional[str] = None) -> logging.Logger:
    """The logger writing ``$SPLUNK_HOME/var/log/splunk/ta_audit_trail_<scheme>.log``."""
    from solnlib import log

    directory = directory or log_directory()
    os.makedirs(directory, exist_ok=True)
    log.Logs.set_context(directory=directory, namespace=LOG_NAMESPACE)
    logger = log.Logs().get_logger(scheme)
    logger.setLevel(getattr(logging, level, logging.INFO))
    # Libraries (solnlib's retry decorator, urllib3) log to the root logger, which would print to
    # stderr and surface in splunkd.log as ExecProcessor errors: send them to this file instead.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in logger.handlers:
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    return logger


# Whatever could end the quoted value or the line early: the quote itself, a backslash (which could escape
# the closing quote), every control character (C0, DEL, C1) and the Unicode line and paragraph separators.
_UNSAFE_IN_QUOTES = {ord('"'): "'", ord("\\"): "/", 0x2028: " ", 0x2029: " "}
_UNSAFE_IN_QUOTES.update({code: " " for code in (*range(0x20), *range(0x7F, 0xA0))})
_SURROGATE = re.compile("[\ud800-\udfff]")


def quoted(text: object) -> str:
    """A value for a ``key="value"`` log field that Splunk's automatic extraction reads whole.

    Whatever the value holds, it stays one field on one line: nothing in it can close the quotes, start a
    new line, or be read as another ``key=value`` pair. Unpaired surrogates become U+FFFD, which the UTF-8
    log file can hold.
    """
    value = str(text).translate(_UNSAFE_IN_QUOTES)
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return '"' + value + '"'


def for_input(logger: logging.Logger, input_name: str) -> InputLogger:
    return InputLogger(logger, {"input": input_name})
