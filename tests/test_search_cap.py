"""When a window whose search total reaches the per-search cap is split, and when it is read as it is."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from audit_trail.checkpoint import Checkpoint
from audit_trail.collector import CollectionPolicy, Collector
from audit_trail.pacing import Pacer, RetryPolicy
from audit_trail.source import TOTALS_EXACT, Capabilities, Page, Window

NOW_MS = 400 * 86_400_000
CAP = 20


class CappedSource:
    """An API returning at most ``CAP`` results per search, newest first, whose totals are clipped to it."""

    name = "capped"
    sourcetype = "capped:audit"

    def __init__(self, records: List[Dict[str, Any]], max_records_kept: Optional[int]) -> None:
        self.records = records
        self.capabilities = Capabilities(retention_seconds=180 * 86400.0, max_results=CAP, totals=TOTALS_EXACT,
                                         max_page_size=10, max_records_kept=max_records_kept)
        self.page_size = 10
        self.memory: Dict[str, Any] = {}
        self.requests: List[Window] = []

    def fetch(self, window: Window, cursor: Any, per_page: int) -> Page:
        page = cursor or 1
        self.requests.append(window)
        matches = sorted((r for r in self.records if window.start_ms <= r["t"] <= window.end_ms),
                         key=lambda r: -r["t"])[:CAP]
        more = page * per_page < len(matches)
        return Page(records=matches[(page - 1) * per_page: page * per_page], next_cursor=page + 1 if more else None,
                    total=len(matches))

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        return record.get("id")

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        return record.get("t")


class Store:
    def __init__(self) -> None:
        self.data: Dict[str, Any] = {}

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        return self.data.get(key)

    def save(self, key: str, state_json: str) -> None:
        self.data[key] = json.loads(state_json)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Sink:
    def __init__(self) -> None:
        self.written: List[str] = []

    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        if sourcetype == "capped:audit":
            self.written.append(data)

    def flush(self) -> None:
        pass


def collect(source: CappedSource) -> Sink:
    sink = Sink()
    policy = CollectionPolicy(settle_seconds=0, overlap_seconds=60, page_size=10)
    Collector(source, Checkpoint(Store(), "k"), sink, policy, RetryPolicy(), Pacer(), logging.getLogger("t"),
              wall_clock=lambda: NOW_MS / 1000).run()
    return sink


def records(count: int) -> List[Dict[str, Any]]:
    # The last ten days, as a busy tenant fills the API's record limit long before its day limit.
    return [{"id": f"r{i}", "t": NOW_MS - 10 * 86_400_000 + i * 3_600_000} for i in range(count)]


def test_a_total_at_the_cap_is_read_without_splitting_when_the_api_keeps_no_more() -> None:
    source = CappedSource(records(CAP), max_records_kept=CAP)
    sink = collect(source)
    assert len(sink.written) == CAP
    assert len(source.requests) == CAP // 10, "the pages of one search, nothing more"


def test_a_total_at_the_cap_is_split_when_the_api_may_keep_more() -> None:
    kept = records(CAP + 5)
    source = CappedSource(kept, max_records_kept=None)
    sink = collect(source)
    assert sorted(sink.written) == sorted(f'{{"id":"{r["id"]}","t":{r["t"]}}}' for r in kept)
    assert len(set(source.requests)) > 1, "the window was never split"
