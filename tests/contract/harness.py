"""Runs an audit source through the real engine poll after poll, as one input would, and counts what it wrote.

Each poll is a new Collector over the same checkpoint store (a restart between polls), with a clock the test
moves. The sink keeps every event written, so a case can assert nothing was lost and nothing repeated.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from audit_trail.checkpoint import Checkpoint
from audit_trail.collector import CollectionPolicy, Collector, RunResult
from audit_trail.pacing import Pacer, RetryPolicy


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except clause of the engine catches it."""


class MemoryStore:
    def __init__(self) -> None:
        self.data: Dict[str, str] = {}
        self.kill_on_save: Optional[int] = None  # the n-th save from now raises Killed before storing
        self.saves = 0

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        raw = self.data.get(key)
        return json.loads(raw) if raw is not None else None

    def save(self, key: str, state_json: str) -> None:
        self.saves += 1
        if self.kill_on_save is not None:
            self.kill_on_save -= 1
            if self.kill_on_save == 0:
                self.kill_on_save = None
                raise Killed
        self.data[key] = state_json

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


@dataclass
class ListSink:
    events: List[Dict[str, Any]] = field(default_factory=list)
    summaries: List[Dict[str, Any]] = field(default_factory=list)
    flushed: int = 0

    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        target = self.summaries if sourcetype.endswith(":collection") else self.events
        target.append(json.loads(data))

    def flush(self) -> None:
        self.flushed = len(self.events)

    def close(self) -> None:
        return None


@dataclass
class Input:
    """One input's life: polls against a source, with a store that survives restarts."""

    make_source: Callable[[], Any]
    now_ms: int
    settle_seconds: float = 0
    overlap_seconds: float = 3600
    start_ms: Optional[int] = None
    page_size: int = 50
    max_requests: int = 5000
    store: MemoryStore = field(default_factory=MemoryStore)
    sink: ListSink = field(default_factory=ListSink)
    results: List[RunResult] = field(default_factory=list)

    def poll(self, advance_seconds: float = 0, max_requests: Optional[int] = None) -> RunResult:
        self.now_ms += int(advance_seconds * 1000)
        source = self.make_source()
        checkpoint = Checkpoint(self.store, "k", clock=lambda: self.now_ms / 1000)
        checkpoint.probe()
        source.memory = checkpoint.state.memory
        policy = CollectionPolicy(settle_seconds=self.settle_seconds, overlap_seconds=self.overlap_seconds,
                                  page_size=self.page_size, start_ms=self.start_ms, min_split_ms=1,
                                  max_requests=max_requests or self.max_requests)
        collector = Collector(source, checkpoint, self.sink, policy, RetryPolicy(max_attempts=2, backoff_factor=0),
                              Pacer(sleep=lambda _s: None), logging.getLogger("contract"),
                              wall_clock=lambda: self.now_ms / 1000, input_name="contract")
        result = collector.run()
        self.results.append(result)
        return result

    def written(self) -> Counter:
        return Counter(json.dumps(e, sort_keys=True) for e in self.sink.events)


def expected(rows: List[Dict[str, Any]]) -> Counter:
    return Counter(json.dumps(r, sort_keys=True) for r in rows)


def assert_exactly(inp: Input, rows: List[Dict[str, Any]], repeats_allowed: int = 0) -> None:
    got, want = inp.written(), expected(rows)
    lost = want - got
    extra = got - want
    assert not lost, f"{sum(lost.values())} rows lost, e.g. {list(lost)[:2]}"
    assert sum(extra.values()) <= repeats_allowed, f"{sum(extra.values())} rows repeated, e.g. {list(extra)[:2]}"
