"""The lifecycle the test servers share: serve from a daemon thread, stop cleanly, work as context managers."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Optional, TypeVar


class BackgroundServer:
    """Mixin for a test server wrapping a ``socketserver`` server; subclasses define start() and stop()."""

    _server: Optional[Any] = None
    _thread: Optional[threading.Thread] = None

    def _serve(self, server: Any, name: str, poll_interval: float) -> None:
        # A short poll keeps shutdown() cheap for tests that start many servers.
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(poll_interval,), name=name, daemon=True)
        self._thread.start()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None:
            msg = f"{type(self).__name__} not started"
            raise RuntimeError(msg)
        return int(self._server.server_address[1])

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


ConfigT = TypeVar("ConfigT")


class ConfiguredSimulator(BackgroundServer, Generic[ConfigT]):
    """A vendor simulator: a dataclass config guarded by a lock, served over TLS from a throwaway CA.

    Subclasses set ``_cfg``, ``_lock`` and, once started, ``_tls`` (a ``tls.LoopbackTLS``).
    """

    _cfg: ConfigT
    _lock: Any
    _tls: Optional[Any] = None

    @property
    def ca_path(self) -> str:
        """PEM file of the CA that signed the simulator's certificates; pass it to clients as their CA bundle."""
        if self._tls is None:
            msg = "simulator not started"
            raise RuntimeError(msg)
        return str(self._tls.ca_path)

    @property
    def config(self) -> ConfigT:
        """A snapshot of the current configuration."""
        with self._lock:
            return dataclasses.replace(self._cfg)  # type: ignore[type-var]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP(S) server for the test servers: TLS per connection, quiet about dropped clients.

    Subclasses set ``context`` (an SSL context, or None for plain HTTP) before calling ``__init__``.
    """

    daemon_threads = True
    allow_reuse_address = True
    context: Optional[ssl.SSLContext] = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the per-connection thread, so a client that never completes it
        # cannot stall the accept loop for everybody else.
        request.settimeout(30)
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed ACKs add ~40 ms
        # to every response, which would dominate benchmarks.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is None:
            super().finish_request(request, client_address)
            return
        try:
            tls_sock = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls_sock, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or drop connections are part of the tests; a traceback per case is noise.
        if not isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            super().handle_error(request, client_address)


class DispatchingHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler that logs nothing (request lines can carry tokens) and routes to ``_dispatch``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Drops the connection with a TCP RST (SO_LINGER of zero), as a crashing peer or middlebox does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
