"""One pooled HTTP session per run, with the admin's proxy and CA bundle, and a timeout on every call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple
from urllib.parse import quote, unquote, urlsplit, urlunsplit


@dataclass(frozen=True)
class HttpSettings:
    """``timeout`` is (connect, read) seconds; ``proxy_url`` may carry credentials; ``ca_bundle`` a PEM path."""

    timeout: Tuple[float, float] = (10.0, 60.0)
    proxy_url: Optional[str] = None
    ca_bundle: Optional[str] = None
    user_agent: str = "TA-audit-trail"


def build_session(settings: HttpSettings) -> Any:
    import requests

    session = requests.Session()
    # Proxies and CA come from the input's settings only, never from the process environment,
    # so what an admin configures is exactly what is used.
    session.trust_env = False
    if settings.proxy_url:
        session.proxies = {"http": settings.proxy_url, "https": settings.proxy_url}
    session.verify = settings.ca_bundle or True
    session.headers["User-Agent"] = settings.user_agent
    return session


def proxy_with_password(proxy_url: str, password: str) -> str:
    """Puts ``password`` back into a proxy URL whose password was masked in the stanza."""
    parts = urlsplit(proxy_url)
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_proxy_password(proxy_url: str) -> Tuple[str, Optional[str]]:
    """Returns the proxy URL with its password replaced by the mask, and the password (None if none)."""
    from .secrets import MASK

    parts = urlsplit(proxy_url)
    if parts.password is None or parts.password == MASK:
        return proxy_url, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    masked = urlunsplit((parts.scheme, f"{parts.username}:{MASK}@{host}", parts.path, parts.query, parts.fragment))
    return masked, unquote(parts.password)
