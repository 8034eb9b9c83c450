"""Faults the test servers inject on request: queued per endpoint, each firing a given number of times."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Dict, List, Optional, Tuple


@dataclasses.dataclass
class Fault:
    kind: str
    remaining: int
    path: str
    params: Dict[str, Any]


class FaultQueue:
    """Thread-safe: the server's request threads take faults while a test adds them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: List[Fault] = []

    def add(self, kind: str, count: int, path: str, params: Dict[str, Any]) -> None:
        with self._lock:
            self._faults.append(Fault(kind, count, path, dict(params)))

    def take(self, path: str, kinds: Tuple[str, ...]) -> Optional[Fault]:
        """The first queued fault of one of ``kinds`` for ``path``, counted as fired once."""
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.kind in kinds:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
