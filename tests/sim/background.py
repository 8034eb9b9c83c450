"""The lifecycle the test servers share: serve from a daemon thread, stop cleanly, work as context managers."""

from __future__ import annotations

import threading
from typing import Any, Optional


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

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
