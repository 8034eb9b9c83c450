"""A minimal HTTP CONNECT proxy on loopback, for testing that a client really tunnels through a proxy."""

from __future__ import annotations

import base64
import binascii
import contextlib
import secrets
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Set, Tuple

from .background import BackgroundServer

# Tests must not reach the network, so tunnels may only lead back to this machine.
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: ConnectProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-tunnel are normal; don't print tracebacks for them.
        return


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, fmt: str, *args: Any) -> None:
        return

    def do_CONNECT(self) -> None:
        proxy = self.server.proxy
        if not proxy._authorised(self.headers.get("Proxy-Authorization")):
            proxy._count(rejected=True)
            self._refuse(407, {"Proxy-Authenticate": 'Basic realm="test-proxy"'})
            return
        host, _, port_text = self.path.rpartition(":")
        host = host.strip("[]")
        if host not in _LOOPBACK or not port_text.isdigit():
            proxy._count(rejected=True)
            self._refuse(403, {})
            return
        try:
            upstream = socket.create_connection((host, int(port_text)), timeout=10)
        except OSError:
            self._refuse(502, {})
            return
        proxy._count(target=self.path)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        proxy._relay(self.connection, upstream)

    def _refuse(self, status: int, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _not_supported(self) -> None:
        self._refuse(501, {})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _not_supported


class ConnectProxy(BackgroundServer):
    """A threaded CONNECT-only proxy on 127.0.0.1, optionally demanding Basic ``Proxy-Authorization``.

    ``tunnels`` counts established tunnels, ``rejected`` counts refused CONNECTs (bad credentials or a
    non-loopback target), and ``targets`` lists the ``host:port`` of each tunnel.
    """

    def __init__(self, username: Optional[str] = None, password: Optional[str] = None) -> None:
        self._credentials = None if username is None else f"{username}:{password or ''}"
        self._lock = threading.Lock()
        self._server: Optional[_ProxyServer] = None
        self._thread: Optional[threading.Thread] = None
        self._open: Set[socket.socket] = set()
        self.tunnels = 0
        self.rejected = 0
        self.targets: List[str] = []

    def start(self) -> ConnectProxy:
        """Bind an ephemeral loopback port and serve from a daemon thread."""
        self._serve(_ProxyServer(self), "connect-proxy", 0.01)
        return self

    def stop(self) -> None:
        """Stop accepting and tear down open tunnels."""
        self._shutdown()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._join()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def _authorised(self, header: Optional[str]) -> bool:
        if self._credentials is None:
            return True
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            supplied = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(supplied, self._credentials)

    def _count(self, rejected: bool = False, target: Optional[str] = None) -> None:
        with self._lock:
            if rejected:
                self.rejected += 1
            if target is not None:
                self.tunnels += 1
                self.targets.append(target)

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            self._open.update((client, upstream))
        pair: Tuple[socket.socket, socket.socket] = (client, upstream)
        try:
            client.settimeout(None)
            upstream.settimeout(None)
            while True:
                readable, _, broken = select.select(pair, [], pair, 1.0)
                if broken:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ValueError):
            # ValueError: select() on a socket that stop() already closed.
            return
        finally:
            with self._lock:
                self._open.difference_update(pair)
            with contextlib.suppress(OSError):
                upstream.close()
