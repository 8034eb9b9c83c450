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
    raw = text(params, name, default) or default
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(name, f"must be https://<host>, e.g. {default}; got {raw!r}")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(name, f"must be only the scheme and host, e.g. {default}; got {raw!r}")
    return f"https://{parts.netloc}"


def proxy_url(params: Dict[str, str], name: str) -> Optional[str]:
    raw = text(params, name)
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port:
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
    if not os.path.isfile(path):
        raise ConfigError(name, f"must be the path of a readable PEM file; {path!r} does not exist")
    return path


def log_level(params: Dict[str, str], name: str) -> str:
    raw = (text(params, name) or "INFO").upper()
    if raw not in LOG_LEVELS:
        raise ConfigError(name, f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class CommonSettings:
    """Settings every audit input has, whatever its source."""

    settle_seconds: int
    overlap_seconds: int
    page_size: int
    start_ms: Optional[int]
    proxy_url: Optional[str]
    ca_bundle: Optional[str]
    log_level: str

    @classmethod
    def parse(cls, params: Dict[str, str], max_page_size: int, splunk_home: Optional[str]) -> CommonSettings:
        return cls(
            settle_seconds=integer(params, "settle_seconds", 300, 0, 86400),
            overlap_seconds=integer(params, "overlap_seconds", 900, 0, 86400),
            page_size=integer(params, "page_size", max_page_size, 1, max_page_size),
            start_ms=start_date(params, "start_date"),
            proxy_url=proxy_url(params, "proxy_url"),
            ca_bundle=ca_bundle(params, "ca_bundle", splunk_home),
            log_level=log_level(params, "log_level"),
        )
