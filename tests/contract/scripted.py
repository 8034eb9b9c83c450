"""A scripted audit API and a source for it, with every quirk the contract must survive as a knob.

The API holds rows with hidden true times and answers searches by bounds at its own resolution; the source
implements the engine's contract over it with the engine's own cursors (offset with relisting, page numbers,
walk-back), exactly as a vendor module would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from audit_trail.paging import OffsetCursor, cut_times, offset_step, walk_back
from audit_trail.source import (
    ASCENDING,
    AT_CAP_CONTINUE,
    AT_CAP_SPLIT,
    DESCENDING,
    TOTALS_ABSENT,
    TOTALS_EXACT,
    TOTALS_UNRELIABLE,
    UNORDERED,
    Capabilities,
    Page,
    Window,
)


@dataclass
class ApiQuirks:
    ids: bool = True
    bound_ms: int = 1  # the unit search bounds are given in (the API widens to it)
    time_ms: int = 1  # the unit of the times rows carry
    order: str = DESCENDING
    totals: str = TOTALS_EXACT
    cap: Optional[int] = None  # the most rows one search returns
    paging: str = "page"  # "page" numbers, "offset", or "walk_back" (newest rows of a range, then the next range)
    end_inclusive: bool = True
    unstable_ties: bool = False  # rows of equal time in a new order on every request
    page_clamp: Optional[int] = None  # the API serves at most this many rows per page whatever is asked
    max_window_seconds: Optional[float] = None  # the source reads a backfill in windows this wide


@dataclass
class Row:
    true_ms: int
    body: Dict[str, Any]
    visible_from_request: int = 0  # the row exists from this request on (inserted while paging)


@dataclass
class ScriptedApi:
    quirks: ApiQuirks
    rows: List[Row] = field(default_factory=list)
    requests: int = 0
    seed: int = 7
    on_request: Optional[Callable[[ScriptedApi], None]] = None

    def add(self, true_ms: int, body: Dict[str, Any], visible_from_request: int = 0) -> Dict[str, Any]:
        unit = self.quirks.time_ms
        body = dict(body)
        body["t"] = true_ms - true_ms % unit
        if self.quirks.ids:
            body.setdefault("id", f"r{len(self.rows)}")
        else:
            body.pop("id", None)
        self.rows.append(Row(true_ms, body, visible_from_request))
        return body

    def search(self, start_ms: int, end_ms: int) -> List[Dict[str, Any]]:
        """All visible rows in the widened bounds, in the API's order."""
        self.requests += 1
        if self.on_request is not None:
            self.on_request(self)
        q = self.quirks
        lo = start_ms - start_ms % q.bound_ms
        hi = end_ms - end_ms % q.bound_ms
        matches = [r for r in self.rows if r.visible_from_request <= self.requests
                   and lo <= r.body["t"] and (r.body["t"] <= hi + q.bound_ms - 1 if q.end_inclusive
                                              else r.body["t"] < hi)]
        rng = random.Random(self.seed * 1_000_003 + (self.requests if q.unstable_ties else 0))
        keyed = [(rng.random(), i, r) for i, r in enumerate(matches)]
        if q.order == UNORDERED:
            # A fixed order that has nothing to do with time (stable from request to request).
            stable = random.Random(self.seed)
            salt = {id(r): stable.random() for r in self.rows}
            keyed.sort(key=lambda k: salt[id(k[2])])
        else:
            sign = 1 if q.order == ASCENDING else -1
            keyed.sort(key=lambda k: (sign * k[2].body["t"], k[0] if q.unstable_ties else k[1]))
        return [dict(k[2].body) for k in keyed]


class ScriptedSource:
    """The engine's view of a :class:`ScriptedApi`."""

    name = "scripted"
    sourcetype = "scripted:audit"

    def __init__(self, api: ScriptedApi, page_size: int = 50) -> None:
        self.api = api
        q = api.quirks
        self.page_size = page_size
        self.memory: Dict[str, Any] = {}
        at_cap = AT_CAP_CONTINUE if q.paging == "walk_back" else AT_CAP_SPLIT
        totals = q.totals if q.paging != "walk_back" else TOTALS_ABSENT
        self.capabilities = Capabilities(bound_resolution_ms=q.bound_ms, time_resolution_ms=q.time_ms, order=q.order,
                                         totals=totals, max_results=q.cap, at_cap=at_cap, max_page_size=1000,
                                         retention_seconds=400 * 86400.0,
                                         max_window_seconds=q.max_window_seconds)

    def _request(self, window: Window) -> Tuple[int, int]:
        """Bounds that cover ``window`` whether the API's end bound is inclusive or exclusive."""
        unit = self.api.quirks.bound_ms
        return window.start_ms, window.end_ms + unit

    def fetch(self, window: Window, cursor: Any, page_size: int) -> Page:
        q = self.api.quirks
        if q.paging == "walk_back":
            return self._walk_back(window, cursor)
        start, end = self._request(window)
        matches = self.api.search(start, end)
        if q.cap is not None:
            matches = matches[: q.cap]
        size = min(page_size, q.page_clamp or page_size)
        total = len(matches)
        if q.totals == TOTALS_UNRELIABLE:
            total = min(size, len(matches))  # counts only the page
        reported = None if q.totals == TOTALS_ABSENT else total
        if q.paging == "page":
            page_no = cursor or 1
            chunk = matches[(page_no - 1) * size: page_no * size]
            # Only an empty page ends a listing whose totals mean nothing.
            more = page_no * size < len(matches) if q.totals == TOTALS_EXACT else bool(chunk)
            return Page(records=chunk, next_cursor=page_no + 1 if more else None, total=reported)
        offset_cursor: Optional[OffsetCursor] = cursor
        offset = offset_cursor.offset if offset_cursor else 0
        chunk = matches[offset: offset + size]
        step = offset_step(offset_cursor, self._times(chunk), q.order, q.time_ms)
        requests = 1
        if step.oversized_tie and size < self.capabilities.max_page_size and not q.page_clamp:
            # One unit of time fills the page: ask again for the largest page, so it is listed whole.
            matches = self.api.search(start, end)
            requests += 1
            chunk = matches[offset: offset + self.capabilities.max_page_size]
            step = offset_step(offset_cursor, self._times(chunk), q.order, q.time_ms)
        return Page(records=chunk[step.keep_from:], next_cursor=step.next_cursor, total=reported,
                    relisted=step.relisted, moved=step.moved, requests=requests)

    def _times(self, rows: List[Dict[str, Any]]) -> List[Optional[int]]:
        return cut_times([self.record_time_ms(r) for r in rows], self.api.quirks.time_ms)

    def _walk_back(self, window: Window, cursor: Any) -> Page:
        q = self.api.quirks
        cap = q.cap or 10**9
        batch_end = cursor if cursor is not None else window.end_ms
        start, end = self._request(Window(window.start_ms, batch_end))
        rows = self.api.search(start, end)[:cap]  # newest first
        oldest = min((r["t"] for r in rows), default=None)
        next_end, relisted, unreachable = walk_back(window, batch_end, end, oldest, len(rows), cap, q.time_ms)
        return Page(records=rows, next_cursor=next_end, relisted=relisted, unreachable=unreachable)

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        return record.get("id")

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        value = record.get("t")
        return value if isinstance(value, int) else None

    def check_access(self) -> None:
        return None

    def close(self) -> None:
        return None
