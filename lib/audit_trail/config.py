"""Parsing input settings. Every error names the field and says how to fix it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Optional
from urllib.parse import urlsplit

from .errors import ConfigError
from .timefmt import parse_iso_ms

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def text(params: Dict[str, str], name: str, default: str = "") -> str:
    value = params.get(name)
    return default if value is None else str(value).strip()


def required(params: Dict[str, str], name: str, fix: str) -> str:
    value = text(params, name)
    if not value:
        raise ConfigError(name, f"is required; {fix}")
    return value


def integer(params: Dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = text(params, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be a whole number from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be from {low} to {high}, got {value}")
    return value


def https_url(params: Dict[str, str], name: str, default: str) -> str:
    import re

    raw = text(params, name, default) or default
    if "@" in raw:
        # Not repeated: user info is where a password would be. It would also let the value name one host
        # and mean another (https://good.example:443@evil.example).
        raise ConfigError(name, f"must not contain user info (user:password@); use https://<host>[:port], "
                                f"e.g. {default}")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(name, f"must be https://<host>[:port] with a numeric port, e.g. {default}; "
                                f"got {raw!r}") from None
    # A host name, or an IPv6 address in brackets, and an optional port: nothing a URL parser could read two ways.
    if parts.scheme != "https" or not re.fullmatch(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?",
                                                   parts.netloc):
        raise ConfigError(name, f"must be https://<host>, e.g. {default}; got {raw!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or port == 0:
        raise ConfigError(name, f"must be only the scheme and host, e.g. {default}; got {raw!r}")
    return f"https://{parts.netloc}"


def proxy_url(params: Dict[str, str], name: str) -> Optional[str]:
    import re

    raw = text(params, name)
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:  # a bad port, or an IPv6 address without its closing bracket
        parts, port = urlsplit(""), None
    # Host name or bracketed IPv6 address, then the port, as written after any user info.
    host_port = re.fullmatch(r"(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}", parts.netloc.rpartition("@")[2])
    if parts.scheme not in ("http", "https") or not parts.hostname or not port or not host_port:
        # The value is not repeated: it may hold a password that failed to parse.
        raise ConfigError(name, "must be http(s)://[user:password@]host:port (a password with : / ? # @ "
                                "must be percent-encoded)")
    return raw


def start_date(params: Dict[str, str], name: str) -> Optional[int]:
    raw = text(params, name)
    if not raw:
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise ConfigError(name, f"must be an ISO 8601 date or date-time such as 2026-06-01 or "
                                f"2026-06-01T00:00:00Z, got {raw!r}") from None


def ca_bundle(params: Dict[str, str], name: str, splunk_home: Optional[str]) -> Optional[str]:
    raw = text(params, name)
    if not raw:
        return None
    path = raw if os.path.isabs(raw) or not splunk_home else os.path.join(splunk_home, raw)
    if os.path.isdir(path):
        raise ConfigError(name, f"must be the path of a PEM file; {path!r} is a directory")
    if not os.path.isfile(path):
        raise ConfigError(name, f"must be the path of a readable PEM file; {path!r} does not exist")
    if not os.access(path, os.R_OK):
        raise ConfigError(name, f"must be the path of a readable PEM file; {path!r} cannot be read by the "
                                f"user Splunk runs as")
    return path


def log_level(params: Dict[str, str], name: str) -> str:
    raw = (text(params, name) or "INFO").upper()
    if raw not in LOG_LEVELS:
        raise ConfigError(name, f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Setting:
    """One argument of a modular input: its scheme entry and its default (the one ``default/inputs.conf`` ships)."""

    name: str
    title: str
    description: str
    default: str = ""
    data_type: str = "string"
    required: bool = False


#: The settings every audit input shares, declared once. A source declares only its own arguments, and may
#: give a shared one another default (``InputSpec.defaults``), e.g. a longer settle time for a slower API.
SHARED_SETTINGS = (
    Setting("start_date", "Start date", "Optional ISO 8601 date or date-time (UTC unless an offset is given) "
            "the first run starts from; default: as far back as the API holds"),
    Setting("settle_seconds", "Settle seconds", "Records newer than now minus this wait for the next run, "
            "because the API makes them visible with a delay. 0-86400", "300", "number"),
    Setting("overlap_seconds", "Overlap seconds", "Each run re-reads this much before its checkpoint to catch "
            "late records; copies already collected are dropped. 0-86400", "900", "number"),
    Setting("proxy_url", "Proxy URL", "Optional http(s)://[user:password@]host:port; the password is moved to "
            "storage/passwords on the first run"),
    Setting("ca_bundle", "CA bundle", "Optional path of a PEM CA bundle to trust (relative to $SPLUNK_HOME)"),
    Setting("log_level", "Log level", "DEBUG, INFO, WARNING or ERROR", "INFO"),
)


@dataclass(frozen=True)
class CommonSettings:
    """The shared settings of one input, parsed (see ``SHARED_SETTINGS``)."""

    settle_seconds: int
    overlap_seconds: int
    start_ms: Optional[int]
    proxy_url: Optional[str]
    ca_bundle: Optional[str]
    log_level: str

    @classmethod
    def parse(cls, params: Dict[str, str], splunk_home: Optional[str],
              defaults: Optional[Dict[str, str]] = None) -> CommonSettings:
        shipped = {s.name: s.default for s in SHARED_SETTINGS}
        shipped.update(defaults or {})
        return cls(
            settle_seconds=integer(params, "settle_seconds", int(shipped["settle_seconds"]), 0, 86400),
            overlap_seconds=integer(params, "overlap_seconds", int(shipped["overlap_seconds"]), 0, 86400),
            start_ms=start_date(params, "start_date"),
            proxy_url=proxy_url(params, "proxy_url"),
            ca_bundle=ca_bundle(params, "ca_bundle", splunk_home),
            log_level=log_level(params, "log_level"),
        )
