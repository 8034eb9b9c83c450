"""HTTP for the add-on: one pooled session per run for vendor APIs, a handler for splunkd's REST API, and a
total deadline on every call of either.

A socket timeout bounds each read, not the call: a peer that sends one byte a second never trips it. So
each call also has a deadline; when it passes, a watchdog thread shuts the call's socket down, which ends
any read or write blocked on it, and the call raises a timeout instead of returning what it got so far.

``requests`` is imported lazily (the session classes come from module ``__getattr__``): importing it prints
a notice about its optional charset detector, which must not reach splunkd's log, and ``--scheme`` needs none
of this.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from . import __version__
from .errors import DeadlineExceeded

# Vendor calls: (connect, read) per socket operation, and the whole call including the body.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 60.0)
DEFAULT_TOTAL_SECONDS = 120.0
# splunkd answers on loopback; a call that takes this long will not finish.
SPLUNKD_TOTAL_SECONDS = 30.0
# After the deadline the watchdog shuts sockets down again at this pace, for one a connection opened late.
_REPEAT_SECONDS = 0.25


@dataclass(frozen=True)
class HttpSettings:
    """``timeout`` is (connect, read) seconds per socket operation; ``total_seconds`` bounds each whole call
    (None: no total deadline); ``proxy_url`` may carry credentials; ``ca_bundle`` is a PEM path."""

    timeout: Tuple[float, float] = DEFAULT_TIMEOUT
    proxy_url: Optional[str] = None
    ca_bundle: Optional[str] = None
    user_agent: str = "TA-audit-trail"
    total_seconds: Optional[float] = DEFAULT_TOTAL_SECONDS


class Deadline:
    """A deadline for one call: registered connections have their sockets shut down when it passes.

    Use as a context manager around the call; :attr:`expired` tells afterwards whether the deadline cut it
    short (a body cut short can look complete to the HTTP layer, so callers must check). While it is
    active, connections of a :class:`DeadlineSession` register themselves with it.
    """

    _local = threading.local()

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.expired = False
        self._connections: List[Any] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="ta-audit-trail-deadline", daemon=True)

    @classmethod
    def current(cls) -> Optional[Deadline]:
        """The deadline active in this thread, if any."""
        return getattr(cls._local, "deadline", None)

    def __enter__(self) -> Deadline:
        self._previous = Deadline.current()
        Deadline._local.deadline = self
        self._watchdog.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        Deadline._local.deadline = self._previous
        with self._lock:
            self._done.set()
            self._connections.clear()

    def track(self, connection: Any) -> None:
        """Registers an ``http.client.HTTPConnection`` (its socket may be opened later)."""
        with self._lock:
            if self._done.is_set():
                return
            if not any(known is connection for known in self._connections):
                self._connections.append(connection)
            if self.expired:
                _shut_down(connection)

    def _watch(self) -> None:
        if self._done.wait(self.seconds):
            return
        while True:
            with self._lock:
                if self._done.is_set():
                    return
                self.expired = True
                for connection in self._connections:
                    _shut_down(connection)
            if self._done.wait(_REPEAT_SECONDS):
                return


def _shut_down(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    # socket.socket's own shutdown, also for an SSLSocket: SSLSocket.shutdown would first drop the TLS
    # state the blocked reader is still using. Shutting down (unlike closing) wakes a blocked recv or send.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _track_current(connection: Any) -> None:
    deadline = Deadline.current()
    if deadline is not None:
        deadline.track(connection)


# -- vendor APIs: requests ------------------------------------------------------------------------


@functools.cache
def _requests_classes() -> Dict[str, Any]:
    """Builds the requests-based classes once, on first use (see the module docstring)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class HttpDeadlineExceeded(requests.Timeout, DeadlineExceeded):
        """A vendor call had no complete answer within its total deadline (a ``requests.Timeout``)."""

        def __init__(self, host: str, seconds: float) -> None:
            requests.Timeout.__init__(self, f"request to {host}: no complete answer within {seconds:g} s")
            self.what = f"request to {host}"
            self.seconds = seconds

    # Connections register with the active deadline when they connect and when they send a request (a
    # pooled connection is reused without connecting). connect() and putrequest() are http.client's public
    # methods, which urllib3 1.26 and 2.x both call.
    class TrackedHTTPConnection(HTTPConnectionPool.ConnectionCls):  # type: ignore[name-defined,misc]
        def connect(self) -> None:
            _track_current(self)
            super().connect()

        def putrequest(self, *args: Any, **kwargs: Any) -> None:
            _track_current(self)
            super().putrequest(*args, **kwargs)

    class TrackedHTTPSConnection(HTTPSConnectionPool.ConnectionCls):  # type: ignore[name-defined,misc]
        def connect(self) -> None:
            _track_current(self)
            super().connect()

        def putrequest(self, *args: Any, **kwargs: Any) -> None:
            _track_current(self)
            super().putrequest(*args, **kwargs)

    class TrackedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = TrackedHTTPConnection

    class TrackedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = TrackedHTTPSConnection

    pool_classes = {"http": TrackedHTTPConnectionPool, "https": TrackedHTTPSConnectionPool}

    class TrackingAdapter(HTTPAdapter):
        """An HTTPAdapter whose pools (direct and through a proxy) make tracked connections."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pool_classes

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            manager.pool_classes_by_scheme = pool_classes
            return manager

    class DeadlineSession(requests.Session):
        """A ``requests.Session`` whose every call has a total deadline, body included.

        ``total_seconds`` is the default deadline (None: none). One call sets its own by passing
        ``timeout=(connect, read, total)``, through ``get``/``post``/``request`` as well as ``send``. A call
        past its deadline raises :class:`HttpDeadlineExceeded`, a ``requests.Timeout``. With ``stream=True``
        the deadline covers the call up to the response headers; the body is the caller's to bound.
        """

        def __init__(self, total_seconds: Optional[float] = DEFAULT_TOTAL_SECONDS) -> None:
            super().__init__()
            self.total_seconds = total_seconds
            self.mount("https://", TrackingAdapter())
            self.mount("http://", TrackingAdapter())

        def send(self, request: Any, **kwargs: Any) -> Any:
            total = self.total_seconds
            timeout = kwargs.get("timeout")
            if isinstance(timeout, tuple) and len(timeout) == 3:
                total = timeout[2]
                kwargs["timeout"] = (timeout[0], timeout[1])
            if total is None or Deadline.current() is not None:
                # No deadline, or a redirect followed inside a call that already has one.
                return super().send(request, **kwargs)
            stream = kwargs.pop("stream", self.stream)
            host = urlsplit(request.url).hostname or "?"
            with Deadline(total) as deadline:
                try:
                    response = super().send(request, stream=True, **kwargs)
                    if not stream:
                        response.content  # noqa: B018 - reads the body while the deadline watches
                except requests.RequestException:
                    if deadline.expired:
                        raise HttpDeadlineExceeded(host, total) from None
                    raise
                if deadline.expired:
                    response.close()
                    raise HttpDeadlineExceeded(host, total)
            return response

    return {"HttpDeadlineExceeded": HttpDeadlineExceeded, "DeadlineSession": DeadlineSession,
            "TrackingAdapter": TrackingAdapter}


def __getattr__(name: str) -> Any:
    if name in ("HttpDeadlineExceeded", "DeadlineSession", "TrackingAdapter"):
        return _requests_classes()[name]
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def build_session(settings: HttpSettings) -> Any:
    """The run's pooled session: a ``DeadlineSession`` with the input's proxy, CA bundle and deadline."""
    session = _requests_classes()["DeadlineSession"](settings.total_seconds)
    # Proxies and CA come from the input's settings only, never from the process environment,
    # so what an admin configures is exactly what is used.
    session.trust_env = False
    if settings.proxy_url:
        session.proxies = {"http": settings.proxy_url, "https": settings.proxy_url}
    session.verify = settings.ca_bundle or True
    session.headers["User-Agent"] = settings.user_agent
    return session


# -- splunkd: a splunklib handler -----------------------------------------------------------------


def splunkd_handler(total_seconds: float = SPLUNKD_TOTAL_SECONDS,
                    timeout: Optional[float] = None) -> Callable[..., Dict[str, Any]]:
    """A splunklib HTTP handler whose every call has a total deadline, body included.

    Pass it as ``handler=`` to ``splunklib.binding.Context`` or ``splunklib.client.Service``. It does what
    splunklib's default handler does (splunkd's certificate not verified) but keeps its connection alive
    between calls, reads the whole body within the deadline and raises :class:`DeadlineExceeded` when it
    passes. ``timeout`` bounds each socket operation (default: the total).
    """
    per_operation = total_seconds if timeout is None else min(timeout, total_seconds)
    # splunkd's certificate is self-signed on most instances; splunklib's handler does not verify it either.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # One kept-alive connection per splunkd address: a run saves its checkpoint after every page, and a TLS
    # handshake per save was most of the cost of a save.
    idle: Dict[Tuple[str, str, int], http.client.HTTPConnection] = {}

    def connect(scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=per_operation, context=context)
        if scheme == "http":
            return http.client.HTTPConnection(host, port, timeout=per_operation)
        msg = f"unsupported scheme: {scheme}"
        raise ValueError(msg)

    def request(url: str, message: Dict[str, Any], **_kwargs: Any) -> Dict[str, Any]:
        from splunklib.binding import ResponseReader

        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 8089
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = message.get("body") or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        # A list of byte strings is sent one after the other, as one body.
        size = len(body) if isinstance(body, bytes) else sum(len(piece) for piece in body)
        method = message.get("method", "GET")
        headers = {"Content-Length": str(size), "Host": f"[{host}]" if ":" in host else host,
                   "User-Agent": f"TA-audit-trail/{__version__}", "Accept": "*/*"}
        for key, value in message.get("headers") or ():
            headers[key] = value
        address = (parts.scheme, host, port)
        # A kept-alive connection that splunkd has meanwhile closed fails before any answer; the request is sent
        # again on a new one only where sending it twice changes nothing.
        repeatable = method in ("GET", "HEAD", "DELETE") or parts.path.endswith("/batch_save")
        reused = idle.pop(address, None)
        # The path only: a query can carry search terms, and this text reaches logs.
        what = f"splunkd {method} {parts.path}"
        while True:
            connection = reused or connect(*address)
            with Deadline(total_seconds) as deadline:
                deadline.track(connection)
                try:
                    connection.request(method, path, body, headers)
                    response = connection.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException):
                    connection.close()
                    if deadline.expired:
                        raise DeadlineExceeded(what, total_seconds) from None
                    if reused is not None and repeatable:
                        reused = None
                        continue
                    raise
            if deadline.expired:
                connection.close()
                raise DeadlineExceeded(what, total_seconds)
            if response.will_close:
                connection.close()
            else:
                stale = idle.pop(address, None)
                if stale is not None:
                    stale.close()
                idle[address] = connection
            return {"status": response.status, "reason": response.reason, "headers": response.getheaders(),
                    "body": ResponseReader(io.BytesIO(data))}

    return request


def retry_after(response: Any) -> Optional[float]:
    """The seconds a response's Retry-After header asks for, or None where it has none or one not in seconds."""
    raw = response.headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


# -- proxy URLs -------------------------------------------------------------------------------------


def _host_port(netloc: str) -> str:
    """The ``host[:port]`` of a netloc exactly as written (an IPv6 address keeps its brackets)."""
    return netloc.rpartition("@")[2]


def proxy_with_password(proxy_url: str, password: str) -> str:
    """Puts ``password`` back into a proxy URL whose password was masked in the stanza."""
    parts = urlsplit(proxy_url)
    user = parts.username or ""
    netloc = f"{quote(unquote(user), safe='')}:{quote(password, safe='')}@{_host_port(parts.netloc)}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def split_proxy_password(proxy_url: str) -> Tuple[str, Optional[str]]:
    """Returns the proxy URL with its password replaced by the mask, and the password (None if none)."""
    from .secrets import MASK

    parts = urlsplit(proxy_url)
    if parts.password is None or parts.password == MASK:
        return proxy_url, None
    masked = urlunsplit((parts.scheme, f"{parts.username}:{MASK}@{_host_port(parts.netloc)}", parts.path,
                         parts.query, parts.fragment))
    return masked, unquote(parts.password)


def url_host(url: str) -> str:
    """The lower-cased ``host[:port]`` of a URL (or of a bare ``host:port``), for binding secrets to it.

    Never raises and never includes user info, so it can run on a value no one has validated yet; a
    default port (443 for https, 80 for http) is dropped so that writing it or not names the same place.
    """
    scheme, separator, rest = (url or "").strip().partition("://")
    if not separator:
        scheme, rest = "https", scheme
    # User info first: a password may hold an unencoded / or #, never an @ that would not end it.
    rest = _host_port(rest)
    for end in "/?#":
        rest = rest.partition(end)[0]
    host_port = rest.lower()
    default = {"https": ":443", "http": ":80"}.get(scheme.lower())
    if default and host_port.endswith(default):
        host_port = host_port[: -len(default)]
    return host_port
