"""The collection loop: plan windows, page through each, drop what was already written, emit, checkpoint.

Guarantees, whatever the API's sort order or bound inclusivity:
- a record is written at most once per input: its id is remembered in the checkpoint, which is
  committed after each page has been written and flushed (a crash between pages replays nothing);
- a record is not skipped: the watermark only moves when a whole window has been read, each window
  re-reads ``overlap`` before the watermark, and a window whose totals moved while it was paged is
  paged again.
What the API itself no longer holds (retention, per-search result cap) is reported as a gap in the
collection summary instead of being silently missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, List, Optional, Set, Tuple

from .checkpoint import Checkpoint
from .emit import EventSink
from .errors import (
    AuditTrailError,
    RateLimited,
    RetriableSourceError,
    RetriesExhausted,
)
from .logs import quoted
from .pacing import Pacer, RetryPolicy
from .source import AuditSource, Page, Window
from .summary import Gap, WindowSummary
from .timefmt import format_iso_ms


@dataclass(frozen=True)
class CollectionPolicy:
    """How far back and how close to now to read.

    ``settle_seconds``: records newer than now minus this wait for the next run (ingestion delay).
    ``overlap_seconds``: each run re-reads this much before the watermark; ids already written are
    dropped. ``retention_margin_seconds`` keeps requests clear of the API's retention edge, where a
    request could be rejected or race the purge. ``max_passes`` bounds re-paging a window whose totals
    moved while it was read. ``start_ms`` is where a first run begins (None: as far back as the API holds).
    ``idle_commit_seconds``: a window that wrote nothing leaves the checkpoint as it was (the next run
    just reads a slightly wider window, in the same one request) until the watermark lags this much,
    which spares the KV store a write on every idle poll.
    """

    settle_seconds: float = 300.0
    overlap_seconds: float = 900.0
    page_size: int = 1000
    retention_margin_seconds: float = 3600.0
    max_passes: int = 3
    start_ms: Optional[int] = None
    idle_commit_seconds: float = 3600.0


class RunAborted(AuditTrailError):
    """The run stops early; what was written so far is checkpointed."""


@dataclass
class RunResult:
    windows: List[WindowSummary] = field(default_factory=list)
    records_emitted: int = 0
    error: Optional[BaseException] = None


def content_id(record: Any) -> str:
    """A stand-in id for a record that has none: the hash of its canonical JSON."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Collector:
    def __init__(
        self,
        source: AuditSource,
        checkpoint: Checkpoint,
        sink: EventSink,
        policy: CollectionPolicy,
        retry: RetryPolicy,
        pacer: Pacer,
        logger: logging.Logger,
        wall_clock: Callable[[], float] = time.time,
        on_window: Optional[Callable[[WindowSummary], None]] = None,
        input_name: str = "",
    ) -> None:
        self.input_name = input_name
        self.source = source
        self.checkpoint = checkpoint
        self.sink = sink
        self.policy = policy
        self.retry = retry
        self.pacer = pacer
        self.logger = logger
        self.wall_clock = wall_clock
        self.on_window = on_window
        self.summary_sourcetype = source.sourcetype + ":collection"

    # -- planning ---------------------------------------------------------------------------------

    def plan(self) -> Tuple[Optional[Window], List[Gap]]:
        """The window this run reads, and what is already beyond the API's reach."""
        now_ms = int(self.wall_clock() * 1000)
        end_ms = now_ms - int(self.policy.settle_seconds * 1000)
        limits = self.source.limits
        floor_ms = now_ms - int((limits.retention_seconds - self.policy.retention_margin_seconds) * 1000)
        gaps: List[Gap] = []
        watermark = self.checkpoint.state.watermark_ms
        if watermark is None:
            start_ms = floor_ms
            if self.policy.start_ms is not None:
                if self.policy.start_ms < floor_ms:
                    gaps.append(Gap("retention", self.policy.start_ms, floor_ms - 1, None))
                else:
                    start_ms = self.policy.start_ms
        else:
            state = self.checkpoint.state
            if watermark > end_ms:
                # The clock was ahead when the checkpoint was written. Everything up to the newest record
                # written was read then, so restart there rather than wait for the clock to catch up.
                restart = min(state.high_ms if state.high_ms is not None else end_ms, end_ms)
                self.logger.warning("action=clock_behind_checkpoint watermark=%s end=%s restart_from=%s",
                                    format_iso_ms(watermark), format_iso_ms(end_ms), format_iso_ms(restart))
                state.watermark_ms = watermark = restart
                state.seen_floor_ms = restart
                self.checkpoint.commit()  # once decided, not again on every idle poll
            start_ms = watermark - int(self.policy.overlap_seconds * 1000)
            if state.seen_floor_ms is not None and start_ms < state.seen_floor_ms:
                # The overlap grew since ids were last forgotten: reading further back would repeat records.
                start_ms = state.seen_floor_ms
            if start_ms < floor_ms:
                if watermark < floor_ms:
                    gaps.append(Gap("retention", watermark + 1, floor_ms - 1, None))
                start_ms = floor_ms
        if start_ms > end_ms:
            return None, gaps
        return Window(start_ms, end_ms), gaps

    # -- running ----------------------------------------------------------------------------------

    def run(self) -> RunResult:
        result = RunResult()
        window, gaps = self.plan()
        if window is None:
            self.logger.info("action=nothing_to_collect reason=settle_not_elapsed")
            return result
        pending: Deque[Window] = deque([window])
        # A window that is split is not reported itself: what it found (gaps) and spent (its probe request)
        # is carried into the next window's summary.
        carried: Optional[WindowSummary] = None
        while pending:
            current = pending.popleft()
            summary = WindowSummary.start(current, self.source.name, self.wall_clock())
            summary.input_name = self.input_name
            summary.gaps.extend(gaps)
            gaps = []
            if carried is not None:
                summary.carry_over(carried)
            try:
                split = self._collect_window(current, summary)
            except AuditTrailError as exc:
                summary.finish(self.wall_clock(), status="partial" if summary.records_emitted else "failed",
                               error=_describe(exc))
                self._report(summary, result)
                result.error = exc
                return result
            if split is not None:
                # Older half first, so the watermark can advance as each half completes.
                pending.extendleft(reversed(split))
                carried = summary
                self.logger.info(
                    "action=window_split window_from=%s window_to=%s total_found=%s cap=%d",
                    summary.window_from, summary.window_to, summary.total_found,
                    self.source.limits.max_results_per_search,
                )
                continue
            summary.finish(self.wall_clock(), status="complete")
            self._report(summary, result)
            carried = None
        return result

    def _report(self, summary: WindowSummary, result: RunResult) -> None:
        result.windows.append(summary)
        result.records_emitted += summary.records_emitted
        self.sink.write(json.dumps(summary.to_event(), separators=(",", ":")), int(summary.finished_at * 1000),
                        self.summary_sourcetype)
        self.sink.flush()
        level = logging.INFO if summary.status == "complete" else logging.ERROR
        self.logger.log(
            level,
            "action=window_%s window_from=%s window_to=%s pages=%d requests=%d records_emitted=%d "
            "total_found=%s duplicates_dropped=%d malformed_records=%d retries=%d rate_limited=%d gaps=%d%s",
            summary.status, summary.window_from, summary.window_to, summary.pages, summary.requests,
            summary.records_emitted, summary.total_found, summary.duplicates_dropped, summary.malformed_records,
            summary.retries, summary.rate_limited, len(summary.gaps),
            f" error={quoted(summary.error)}" if summary.error else "",
        )
        if self.on_window is not None:
            self.on_window(summary)

    def _collect_window(self, window: Window, summary: WindowSummary) -> Optional[Tuple[Window, Window]]:
        for attempt in range(1, self.policy.max_passes + 1):
            outcome = self._page_through(window, summary, splittable=True)
            if outcome.split is not None:
                return outcome.split
            if not outcome.moved:
                break
            self.logger.warning(
                "action=window_repaged reason=totals_moved pass=%d window_from=%s window_to=%s",
                attempt, summary.window_from, summary.window_to,
            )
        else:
            # Records kept arriving inside the window: what was written is remembered, but the
            # watermark stays, so the next run reads this window again.
            passes = self.policy.max_passes
            msg = f"the API's totals changed on each of {passes} passes; the next run reads the window again"
            raise RunAborted(msg)
        for tie_ms in sorted(outcome.ties):
            self._reread_tie(tie_ms, window, summary)
        watermark = self.checkpoint.state.watermark_ms
        if (summary.records_emitted == 0 and watermark is not None
                and window.end_ms - watermark < self.policy.idle_commit_seconds * 1000):
            return None
        self.checkpoint.state.complete_window(window.end_ms, int(self.policy.overlap_seconds * 1000))
        self.checkpoint.commit()
        return None

    def _page_through(self, window: Window, summary: WindowSummary, splittable: bool,
                      seen_as_of: Optional[Window] = None, per_page: Optional[int] = None) -> _Pass:
        """Reads every page of ``window`` once, writing what is new."""
        cap = self.source.limits.max_results_per_search
        per_page = per_page or min(self.policy.page_size, self.source.limits.max_page_size)
        outcome = _Pass()
        page_no = 1
        first_total: Optional[int] = None
        previous_times: Set[int] = set()
        while True:
            page = self._fetch(window, page_no, per_page, summary)
            if page_no == 1:
                first_total = page.total_found
                if first_total is not None and self._beyond_reach(first_total, cap):
                    if splittable and window.splittable:
                        outcome.split = window.split()
                        return outcome
                    if first_total > cap:
                        summary.gaps.append(Gap("record_cap", window.start_ms, window.end_ms, first_total - cap))
            elif page.total_found is not None and page.total_found != first_total:
                outcome.moved = True
            if page.total_found is not None:
                summary.total_found = page.total_found
            times = self._write_page(page, seen_as_of or window, summary, outcome)
            # A millisecond on both sides of a page boundary: if the API orders same-millisecond records
            # differently from one request to the next, some of them may have been on neither page.
            outcome.ties |= previous_times & times
            previous_times = times
            last = self._last_page(page, page_no, per_page, cap)
            if not page.records and isinstance(page.total_pages, int) and page_no < page.total_pages:
                outcome.moved = True  # pages vanished under us: read the window again
            # Dropped before the next request, so a long backfill never holds two parsed pages at once.
            del page
            if last:
                return outcome
            page_no += 1

    def _reread_tie(self, tie_ms: int, window: Window, summary: WindowSummary) -> None:
        """Reads the millisecond around a page-boundary tie until a pass finds nothing new.

        The largest page the API allows puts a tie of up to that many records in one response,
        whatever order the API gives them.
        """
        around = Window(tie_ms - 1, tie_ms + 1)
        for _ in range(self.policy.max_passes):
            outcome = self._page_through(around, summary, splittable=False, seen_as_of=window,
                                         per_page=self.source.limits.max_page_size)
            if not outcome.written:
                return
        self.logger.warning("action=tie_unsettled at=%s", format_iso_ms(tie_ms))

    def _beyond_reach(self, total_found: int, cap: int) -> bool:
        """Whether a window totalling ``total_found`` may hold records one search cannot return."""
        if total_found != cap:
            return total_found > cap
        # A total at the cap may be clipped to it, unless the API keeps no more records than that.
        kept = self.source.limits.max_records_kept
        return kept is None or kept > cap

    @staticmethod
    def _last_page(page: Page, page_no: int, per_page: int, cap: int) -> bool:
        if not page.records:
            return True
        effective = page.per_page or per_page
        # Results past the cap are unreachable whatever the paging says.
        if page_no * effective >= cap:
            return True
        # The API's page count is authoritative; a short page only ends paging when there is none,
        # since an API that caps the page size below the one asked for returns only "short" pages.
        if isinstance(page.total_pages, int):
            return page_no >= page.total_pages
        return len(page.records) < effective

    def _fetch(self, window: Window, page_no: int, per_page: int, summary: WindowSummary) -> Page:
        policy = self.retry.reset()
        rate_limited = 0
        while True:
            self.pacer.before_request()
            summary.requests += 1
            try:
                page = self.source.search(window, page_no, per_page)
            except RateLimited as exc:
                rate_limited += 1
                summary.rate_limited += 1
                quiet = self.pacer.on_rate_limited(exc, self.retry)
                summary.rate_limit_wait_seconds += quiet
                self.logger.warning(
                    "action=rate_limited group=%s code=%s retry_after=%.1f count=%d",
                    exc.group or "-", exc.code or "-", quiet, rate_limited,
                )
                if rate_limited > self.retry.max_rate_limited:
                    msg = f"rate limited {rate_limited} times in a row; resuming next interval"
                    raise RunAborted(msg) from exc
                continue
            except RetriableSourceError as exc:
                policy = policy.increment(exc)
                summary.retries += 1
                wait = self.pacer.on_transient(exc, policy)
                self.logger.warning(
                    "action=retrying status=%s code=%s attempt=%d wait=%.1f error=%s",
                    exc.status or "-", exc.code or "-", policy.attempts, wait, exc,
                )
                continue
            self.pacer.after_response(page.rate)
            summary.pages += 1
            return page

    def _write_page(self, page: Page, window: Window, summary: WindowSummary, outcome: _Pass) -> Set[int]:
        """Writes the page's new records; returns the record times on the page."""
        state = self.checkpoint.state
        written = 0
        times: Set[int] = set()
        high = state.high_ms
        source = self.source
        for record in page.records:
            record_id = source.record_id(record) if isinstance(record, dict) else None
            record_ms = source.record_time_ms(record) if isinstance(record, dict) else None
            if record_id is None or record_ms is None:
                summary.malformed_records += 1
                self.logger.warning(
                    "action=malformed_record missing=%s", "id" if record_id is None else "eventTime",
                )
            if record_ms is not None:
                times.add(record_ms)
            key = record_id if record_id is not None else content_id(record)
            if state.has_seen(key):
                summary.duplicates_dropped += 1
                continue
            # The API's JSON, every field kept, compact; key order as received.
            data = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
            self.sink.write(data, record_ms, source.sourcetype)
            # Remembered as of the window's end, not the record's own time: an API that returned it for
            # this window (coarse bounds, late arrival, no time at all) may return it for any read that
            # reaches this window again.
            state.remember(key, window.end_ms)
            if record_ms is not None and (high is None or record_ms > high):
                high = record_ms
            written += 1
        summary.records_emitted += written
        outcome.written += written
        if written:
            state.high_ms = high
            self.sink.flush()
            self.checkpoint.commit()
        return times


@dataclass
class _Pass:
    """What one read through a window found."""

    moved: bool = False
    split: Optional[Tuple[Window, Window]] = None
    ties: Set[int] = field(default_factory=set)
    written: int = 0


def _describe(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, RetriesExhausted) else exc
    return f"{type(cause).__name__}: {exc}"
