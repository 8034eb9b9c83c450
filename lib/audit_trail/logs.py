"""The add-on's own log file, one per input kind, with the input's name on every line.

Nothing goes to stderr in normal operation: splunkd records stderr as ExecProcessor errors.
"""

from __future__ import annotations

import logging
import os
from typing import Any, MutableMapping, Optional, Tuple

LOG_NAMESPACE = "ta_audit_trail"


class InputLogger(logging.LoggerAdapter):
    """Prefixes every message with ``input=<name>`` so one log file can serve many inputs."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> Tuple[Any, MutableMapping[str, Any]]:
        return f"input={self.extra['input']} {msg}", kwargs


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


def quoted(text: str) -> str:
    """A value for a ``key="value"`` log field that Splunk's automatic extraction reads whole."""
    return '"' + str(text).replace('"', "'").replace("\n", " ") + '"'


def for_input(logger: logging.Logger, input_name: str) -> InputLogger:
    return InputLogger(logger, {"input": input_name})
