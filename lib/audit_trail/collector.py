"""The collection loop: plan a window, page through it with the source's cursor, write what is new, checkpoint.

Guarantees, whatever the API's order, bound inclusivity or time resolution:
- nothing is written twice: the checkpoint counts the copies written of each record key (its id, or a hash of
  its content where the API gives none), and is committed after each page has been written and flushed;
- identical rows are genuine repeats: *k* identical rows in one listing are *k* events, and a later
  overlapping read writes only the copies beyond those already written (a multiset difference);
- nothing is skipped: the watermark only moves when a whole window has been read; each run re-reads
  ``overlap`` before it; a window whose listing moved while it was paged is read again; a unit of time still
  open (a second, for an API with one-second times) is left to the next run.
What the API itself no longer holds (retention, per-search result cap) is reported as a gap in the
collection summary instead of being silently missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, Union

from .checkpoint import Checkpoint, bucket_of
from .emit import EventSink
from .errors import (
    AuditTrailError,
    RateLimited,
    RetriableSourceError,
    RetriesExhausted,
    WorkPending,
)
from .logs import quoted
from .pacing import Pacer, RetryPolicy
from .source import AT_CAP_SPLIT, TOTALS_ABSENT, TOTALS_EXACT, AuditSource, Page, Window
from .summary import Gap, WindowSummary
from .timefmt import format_iso_ms


@dataclass(frozen=True)
class CollectionPolicy:
    """How far back and how close to now to read, and how much one run may spend.

    ``settle_seconds``: records newer than now minus this wait for the next run (ingestion delay).
    ``overlap_seconds``: each run re-reads this much before the watermark; copies already written are
    dropped. ``retention_margin_seconds`` keeps requests clear of the API's retention edge, where a
    request could be rejected or race the purge. ``max_passes`` bounds re-reading a window whose listing
    moved while it was read. ``start_ms`` is where a first run begins (None: as far back as the API holds).
    ``idle_commit_seconds``: a window that wrote nothing leaves the checkpoint as it was (the next run
    just reads a slightly wider window, in the same one request) until the watermark lags this much.
    ``min_split_ms``: the narrowest window split to get under a per-search cap; narrower, the excess is a gap.
    ``max_requests`` and ``max_run_seconds``: a run's budget; past either it stops between pages, checkpointed.
    """

    settle_seconds: float = 300.0
    overlap_seconds: float = 900.0
    page_size: int = 1000
    retention_margin_seconds: float = 3600.0
    max_passes: int = 3
    start_ms: Optional[int] = None
    idle_commit_seconds: float = 3600.0
    min_split_ms: int = 1000
    max_requests: int = 5000
    max_run_seconds: Optional[float] = None
    default_backfill_ms: int = 30 * 86_400_000  # a first run's reach where the API documents no retention


class RunAborted(AuditTrailError):
    """The run stops early; what was written so far is checkpointed."""


class RunStopped(RunAborted):
    """The run used its budget, reached its deadline or was asked to stop; the next run resumes."""


@dataclass
class RunResult:
    windows: List[WindowSummary] = field(default_factory=list)
    records_emitted: int = 0
    error: Optional[BaseException] = None


def content_key(record: Any, time_ms: Optional[int] = None) -> str:
    """The key of a record without an id: a hash of its canonical JSON and its time (identical rows share it;
    the time tells apart rows whose text is the same but whose instant is not, as in a repeated local hour).

    128 bits of SHA-256, base64: every key of a window is in each checkpoint saved while it is read, so the key's
    length is most of a checkpoint's size; at 128 bits a collision among a billion rows is still unthinkable.
    """
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if time_ms is not None:
        canonical += f"@{time_ms}"
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()[:16]
    return "c:" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class _Listing:
    """Copies of each content key seen so far in one read through a window, grouped by record time.

    A time holding one copy of one key keeps just that key: most times do, and a 50,000-row export would
    otherwise hold 50,000 one-entry dicts until its window is done.
    """

    def __init__(self) -> None:
        self._by_time: Dict[Optional[int], Union[str, Dict[str, int]]] = {}

    def add(self, time_ms: Optional[int], key: str) -> int:
        group = self._by_time.get(time_ms)
        if group is None:
            self._by_time[time_ms] = key
            return 1
        if isinstance(group, str):
            group = self._by_time[time_ms] = {group: 1}
        copies = group.get(key, 0) + 1
        group[key] = copies
        return copies

    def forget(self, window: Window) -> None:
        for time_ms in [t for t in self._by_time if t is not None and window.contains(t)]:
            del self._by_time[time_ms]


@dataclass
class _Pass:
    """What one read through a window found."""

    moved: bool = False
    split: Optional[Tuple[Window, Window]] = None
    ties: Set[int] = field(default_factory=set)
    written: int = 0


@dataclass(frozen=True)
class _Planned:
    window: Window
    parent_total: Optional[int] = None  # the total of the window this one was split from
    sibling: Optional[Window] = None  # the other half of that window


class Collector:
    def __init__(
        self,
        source: AuditSource,
        checkpoint: Checkpoint,
        sink: EventSink,
        policy: CollectionPolicy,
        retry: RetryPolicy,
        pacer: Pacer,
        logger: Any,
        wall_clock: Callable[[], float] = time.time,
        input_name: str = "",
        monotonic: Callable[[], float] = time.monotonic,
        stop_requested: Callable[[], bool] = lambda: False,
    ) -> None:
        self.input_name = input_name
        self.source = source
        self.caps = source.capabilities
        self.checkpoint = checkpoint
        self.sink = sink
        self.policy = policy
        self.retry = retry
        self.pacer = pacer
        self.logger = logger
        self.wall_clock = wall_clock
        self.monotonic = monotonic
        self.stop_requested = stop_requested
        self.summary_sourcetype = source.sourcetype + ":collection"
        self._requests = 0
        self._deadline: Optional[float] = None

    # -- planning ---------------------------------------------------------------------------------

    def plan(self) -> Tuple[Optional[Window], List[Gap]]:
        """The window this run reads, and what is already beyond the API's reach."""
        now_ms = int(self.wall_clock() * 1000)
        unit = self.caps.time_resolution_ms
        # The unit of time that is still open is left to the next run: a row may yet appear in it.
        end_ms = _align_down(now_ms - int(self.policy.settle_seconds * 1000), unit) - 1
        floor_ms: Optional[int] = None
        if self.caps.retention_seconds is not None:
            floor_ms = now_ms - int((self.caps.retention_seconds - self.policy.retention_margin_seconds) * 1000)
        gaps: List[Gap] = []
        state = self.checkpoint.state
        watermark = state.watermark_ms
        if watermark is not None and watermark > end_ms and state.high_ms is None:
            # The clock was ahead and no record was ever written (each one moves high_ms): reading from where a
            # first run starts can write nothing twice, and skips nothing.
            self.logger.warning("action=clock_behind_checkpoint watermark=%s end=%s restart_from=first_run",
                                format_iso_ms(watermark), format_iso_ms(end_ms))
            state.watermark_ms = watermark = None
            state.seen_floor_ms = None
        if watermark is None and state.first_start_ms is not None:
            # A first run that did not finish: start where it started, so what it saved (a walk, a pending
            # export) still lines up with the window.
            start_ms = state.first_start_ms
        elif watermark is None:
            start_ms = floor_ms if floor_ms is not None else end_ms - self.policy.default_backfill_ms
            if self.policy.start_ms is not None:
                if floor_ms is not None and self.policy.start_ms < floor_ms:
                    gaps.append(Gap("retention", self.policy.start_ms, floor_ms - 1, None))
                else:
                    start_ms = self.policy.start_ms
        else:
            if watermark > end_ms:
                # The clock was ahead when the checkpoint was written. Everything up to the newest record
                # written was read then, so restart there rather than wait for the clock to catch up.
                restart = min(state.high_ms if state.high_ms is not None else end_ms, end_ms)
                self.logger.warning("action=clock_behind_checkpoint watermark=%s end=%s restart_from=%s",
                                    format_iso_ms(watermark), format_iso_ms(end_ms), format_iso_ms(restart))
                state.watermark_ms = watermark = restart
                state.seen_floor_ms = restart if state.seen_floor_ms is None else min(state.seen_floor_ms, restart)
                self.checkpoint.commit()  # once decided, not again on every idle poll
            start_ms = _align_down(watermark - int(self.policy.overlap_seconds * 1000), unit)
            if state.seen_floor_ms is not None and start_ms < state.seen_floor_ms:
                # The overlap grew since keys were last forgotten: reading further back would repeat records.
                start_ms = state.seen_floor_ms
            if floor_ms is not None and start_ms < floor_ms:
                if watermark < floor_ms:
                    gaps.append(Gap("retention", watermark + 1, floor_ms - 1, None))
                start_ms = floor_ms
        if start_ms > end_ms:
            return None, gaps
        if state.watermark_ms is None:
            state.first_start_ms = start_ms
        return Window(start_ms, end_ms), gaps

    # -- running ----------------------------------------------------------------------------------

    def run(self) -> RunResult:
        result = RunResult()
        self._requests = 0
        if self.policy.max_run_seconds is not None:
            self._deadline = self.monotonic() + self.policy.max_run_seconds
        memory_before = json.dumps(self.checkpoint.state.memory, sort_keys=True)
        window, gaps = self.plan()
        if window is None:
            self.logger.info("action=nothing_to_collect reason=settle_not_elapsed")
            self._save_memory(memory_before)
            return result
        pending: Deque[_Planned] = deque(_Planned(w) for w in self._chop(window))
        probed = False
        # A window that is split is not reported itself: what it found (gaps) and spent (its probe request)
        # is carried into the next window's summary.
        carried: Optional[WindowSummary] = None
        while pending:
            planned = pending.popleft()
            current = planned.window
            summary = WindowSummary.start(current, self.source.name, self.wall_clock())
            summary.input_name = self.input_name
            summary.gaps.extend(gaps)
            gaps = []
            if carried is not None:
                summary.carry_over(carried)
            try:
                if not probed:
                    # Proven writable before the first event: a page written but never checkpointed repeats.
                    self.checkpoint.probe()
                    probed = True
                split = self._collect_window(planned, summary)
            except Exception as exc:
                if not isinstance(exc, AuditTrailError):
                    # A bug or a library's own exception: the window still gets its failed summary (type only: a
                    # third-party message could quote request details), and the run's boundary logs it.
                    summary.finish(self.wall_clock(), status="partial" if summary.records_emitted else "failed",
                                   error=f"unexpected {type(exc).__name__}")
                    self._report(summary, result)
                    raise
                if isinstance(exc, (RunStopped, WorkPending)):
                    status = "stopped"
                else:
                    status = "partial" if summary.records_emitted else "failed"
                summary.finish(self.wall_clock(), status=status, error=_describe(exc))
                self._report(summary, result)
                result.error = exc
                self._save_memory(memory_before)
                return result
            if split is not None:
                # Older half first, so the watermark can advance as each half completes.
                left, right = split
                total = summary.total_found
                pending.extendleft([_Planned(right, total, left), _Planned(left, total, right)])
                carried = summary
                self.logger.info(
                    "action=window_split window_from=%s window_to=%s total_found=%s cap=%s",
                    summary.window_from, summary.window_to, summary.total_found, self.caps.max_results,
                )
                continue
            summary.finish(self.wall_clock(), status="complete")
            self._report(summary, result)
            carried = None
        self._save_memory(memory_before)
        return result

    def _chop(self, window: Window) -> List[Window]:
        """The window as consecutive windows no wider than the source finds worth reading in one go."""
        if self.caps.max_window_seconds is None:
            return [window]
        unit = max(self.caps.bound_resolution_ms, self.caps.time_resolution_ms)
        width = max(unit, _align_down(int(self.caps.max_window_seconds * 1000), unit))
        windows = []
        start = window.start_ms
        while window.end_ms - start + 1 > width:
            end = _align_down(start + width, unit) - 1
            if end < start:
                break
            windows.append(Window(start, end))
            start = end + 1
        windows.append(Window(start, window.end_ms))
        return windows

    def _save_memory(self, before: str) -> None:
        """Commits what the source learned this run (a proven setting, a pending job) even on an idle poll."""
        if json.dumps(self.checkpoint.state.memory, sort_keys=True) != before:
            self.checkpoint.commit()

    def _report(self, summary: WindowSummary, result: RunResult) -> None:
        if getattr(self.source, "pages_are_batches", False):
            summary.batches = summary.pages
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

    def _collect_window(self, planned: _Planned, summary: WindowSummary) -> Optional[Tuple[Window, Window]]:
        window = planned.window
        for attempt in range(1, self.policy.max_passes + 1):
            outcome = self._page_through(window, summary, planned)
            if outcome.split is not None:
                return outcome.split
            if not outcome.moved:
                break
            self.logger.warning(
                "action=window_reread reason=listing_moved pass=%d window_from=%s window_to=%s",
                attempt, summary.window_from, summary.window_to,
            )
        else:
            # Records kept arriving inside the window: what was written is remembered, but the
            # watermark stays, so the next run reads this window again.
            passes = self.policy.max_passes
            msg = f"the API's listing changed on each of {passes} passes; the next run reads the window again"
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

    def _split_or_gap(self, window: Window, total: int, planned: Optional[_Planned],
                      summary: WindowSummary) -> Optional[Tuple[Window, Window]]:
        """Halves a window holding more than one search returns, or reports what cannot be reached."""
        cap = self.caps.max_results or total
        unit = max(self.caps.bound_resolution_ms, 1)
        consistent = self._totals_add_up(total, planned, summary)
        if window.width_ms >= max(self.policy.min_split_ms, 2 * unit) and consistent:
            return window.split(unit)
        why = "the window is as narrow as splitting goes" if consistent else "its halves each report the whole"
        self.logger.warning("action=record_cap_gap window_from=%s window_to=%s total_found=%d cap=%d reason=%s",
                            summary.window_from, summary.window_to, total, cap, quoted(why))
        if total > cap:
            summary.gaps.append(Gap("record_cap", window.start_ms, window.end_ms, total - cap))
        return None

    def _totals_add_up(self, total: int, planned: Optional[_Planned], summary: WindowSummary) -> bool:
        """False when a half reports as many records as the window it was split from, and so does the other half:
        the API's total does not depend on the window, and splitting would go on to the floor width everywhere.
        A half holding all of its window's records is legitimate (its sibling is then empty), so only then is the
        sibling's total asked for, in one request. Totals at the cap may be clipped and prove nothing."""
        cap = self.caps.max_results
        if planned is None or planned.sibling is None or planned.parent_total is None or cap is None:
            return True
        if planned.parent_total <= cap or total < planned.parent_total:
            return True
        sibling = self._fetch(planned.sibling, None, 1, summary).total
        return not sibling

    def _page_through(self, window: Window, summary: WindowSummary, planned: Optional[_Planned] = None,
                      splittable: bool = True, page_size: Optional[int] = None, defer_ties: bool = True) -> _Pass:
        """Reads every page of ``window`` once, writing what is new."""
        caps = self.caps
        size = page_size or min(self.policy.page_size, caps.max_page_size)
        outcome = _Pass()
        listing = _Listing()
        cursor: Any = None
        first = True
        first_total: Optional[int] = None
        previous_times: Set[int] = set()
        previous_fingerprint: Optional[str] = None
        while True:
            page = self._fetch(window, cursor, size, summary)
            if first:
                first_total = page.total
                if first_total is not None and caps.totals != TOTALS_ABSENT:
                    # Set before a split, whose halves compare their totals with it.
                    summary.total_found = first_total
                if (splittable and first_total is not None and caps.at_cap == AT_CAP_SPLIT
                        and caps.max_results is not None and self._beyond_reach(first_total)):
                    outcome.split = self._split_or_gap(window, first_total, planned, summary)
                    if outcome.split is not None:
                        return outcome
            elif caps.totals == TOTALS_EXACT and page.total is not None and page.total != first_total:
                outcome.moved = True
            if page.total is not None and caps.totals != TOTALS_ABSENT:
                summary.total_found = page.total
            # A unit of time on both sides of a page boundary: if the API orders equal times differently from
            # one request to the next, some of its rows may be on neither page and others on both. Where one
            # request can hold that unit, its rows without ids on the later page are left to a re-read of the
            # unit alone, which lists it whole (a repeat of a row without an id would be taken for a second
            # copy); rows with ids are deduplicated by id, and the re-read finds those that were on no page.
            deferred: Set[int] = set()
            if caps.ties_isolable and not first and defer_ties:
                deferred = previous_times
                if page.relisted is not None:
                    relisted = page.relisted
                    deferred = {t for t in deferred if not relisted.contains(t)}
            times, fingerprint, rows = self._write_page(page, window, listing, summary, outcome, deferred)
            if rows and fingerprint == previous_fingerprint and page.relisted is None:
                msg = "the API returned the same page twice in a row; its paging is broken, so the window stops here"
                raise RunAborted(msg)
            previous_fingerprint = fingerprint
            if caps.ties_isolable and not first:
                outcome.ties |= (deferred if defer_ties else previous_times) & times
            previous_times = times
            outcome.moved = outcome.moved or page.moved
            if page.unreachable is not None:
                lost = page.unreachable
                self.logger.warning("action=record_cap_gap window_from=%s window_to=%s reason=%s",
                                    format_iso_ms(lost.start_ms), format_iso_ms(lost.end_ms),
                                    quoted("one unit of time holds more rows than one search returns"))
                summary.gaps.append(Gap("record_cap", lost.start_ms, lost.end_ms, None))
            cursor = page.next_cursor
            # Dropped before the next request, so a long backfill never holds two parsed pages at once.
            del page
            first = False
            if cursor is None:
                return outcome

    def _reread_tie(self, tie_ms: int, window: Window, summary: WindowSummary) -> None:
        """Reads the unit of time around a page-boundary tie, in pages as large as the API allows, until a pass
        finds nothing new (a tie no larger than one page then comes back whole, in whatever order)."""
        unit = self.caps.time_resolution_ms
        around = Window(max(window.start_ms, tie_ms), min(window.end_ms, tie_ms + unit - 1))
        for _ in range(self.policy.max_passes):
            outcome = self._page_through(around, summary, splittable=False, page_size=self.caps.max_page_size,
                                         defer_ties=False)
            if not outcome.written:
                return
        self.logger.warning("action=tie_unsettled at=%s", format_iso_ms(tie_ms))
        # Rows of that unit may have been on no page of any pass: say so in the summary, not only in the log.
        summary.gaps.append(Gap("tie_unsettled", around.start_ms, around.end_ms, None))

    def _beyond_reach(self, total: int) -> bool:
        """Whether a window totalling ``total`` may hold records one search cannot return."""
        cap = self.caps.max_results
        if cap is None or total < cap:
            return False
        if total > cap:
            return True
        # A total at the cap may be clipped to it, unless the API keeps no more records than that.
        kept = self.caps.max_records_kept
        return kept is None or kept > cap

    def _check_budget(self) -> None:
        if self.stop_requested():
            msg = "splunkd asked the input to stop; the next run resumes from the checkpoint"
            raise RunStopped(msg)
        if self._requests >= self.policy.max_requests:
            msg = f"the run used its budget of {self.policy.max_requests} requests; the next run resumes"
            raise RunStopped(msg)
        if self._deadline is not None and self.monotonic() >= self._deadline:
            msg = f"the run reached its {self.policy.max_run_seconds:.0f} s deadline; the next run resumes"
            raise RunStopped(msg)

    def _fetch(self, window: Window, cursor: Any, page_size: int, summary: WindowSummary) -> Page:
        policy = self.retry
        rate_limited = 0
        while True:
            self._check_budget()
            self._pace()
            self._requests += 1
            try:
                page = self.source.fetch(window, cursor, page_size)
            except RateLimited as exc:
                rate_limited += 1
                summary.requests += 1
                summary.rate_limited += 1
                quiet = self.pacer.on_rate_limited(exc, self.retry)
                summary.rate_limit_wait_seconds += quiet
                self.logger.warning(
                    "action=rate_limited group=%s code=%s retry_after=%.1f count=%d",
                    quoted(exc.group or "-"), quoted(exc.code or "-"), quiet, rate_limited,
                )
                if rate_limited > self.retry.max_rate_limited:
                    msg = f"rate limited {rate_limited} times in a row; resuming next interval"
                    raise RunAborted(msg) from exc
                continue
            except RetriableSourceError as exc:
                summary.requests += 1
                policy = policy.increment(exc)
                summary.retries += 1
                wait = self.pacer.on_transient(exc, policy)
                self.logger.warning(
                    "action=retrying status=%s code=%s attempt=%d wait=%.1f error=%s",
                    exc.status or "-", quoted(exc.code or "-"), policy.attempts, wait, quoted(str(exc)),
                )
                continue
            summary.requests += page.requests
            self.pacer.after_response(page.rate)
            summary.pages += 1
            return page

    def _pace(self) -> None:
        """Waits as long as the API's rate limits ask (capped by the pacer), logged before it starts."""
        wait = self.pacer.wait_needed()
        if wait > 0:
            if self._deadline is not None and self.monotonic() + wait > self._deadline:
                msg = (f"the API asks for a {wait:.0f} s pause, past the run's {self.policy.max_run_seconds:.0f} s "
                       "deadline; the next run resumes")
                raise RunStopped(msg)
            if wait >= 1.0:
                self.logger.info("action=waiting seconds=%.1f reason=rate_limit", wait)
            self.pacer.wait(wait)
            self._check_budget()
        self.pacer.sent()

    def _write_page(self, page: Page, window: Window, listing: _Listing, summary: WindowSummary,
                    outcome: _Pass, deferred: Set[int]) -> Tuple[Set[int], str, int]:
        """Writes the page's new rows, except those of ``deferred`` units of time (re-read on their own later);
        returns the record times on the page, a fingerprint of it and its row count."""
        state = self.checkpoint.state
        if page.relisted is not None:
            listing.forget(page.relisted)
        written = 0
        rows = 0
        times: Set[int] = set()
        digest = hashlib.sha256()
        high = state.high_ms
        source = self.source
        sourcetype = source.sourcetype
        bulky = frozenset(getattr(source, "bulky_fields", ()))
        forgotten_before = window.end_ms - int(self.policy.overlap_seconds * 1000)
        timeless_bucket = bucket_of(window.end_ms + 2 * self.caps.bound_resolution_ms
                                    + int(self.policy.overlap_seconds * 1000))
        try:
            for record in page.records:
                rows += 1
                is_dict = isinstance(record, dict)
                record_id = source.record_id(record) if is_dict else None
                record_ms = source.record_time_ms(record) if is_dict else None
                # Every row counts in the page's fingerprint, those outside the window or left to a tie's re-read
                # too: two pages of other windows' rows must not read as the same page twice.
                key = record_id if record_id is not None else content_key(record, record_ms)
                digest.update(key.encode("utf-8", "surrogatepass"))
                if record_ms is None:
                    summary.malformed_records += 1
                    self.logger.warning("action=malformed_record missing=%s",
                                        "record_time" if is_dict else "json_object")
                elif not window.contains(record_ms):
                    continue  # coarse bounds: another window's row
                else:
                    times.add(record_ms)
                    if record_id is None and record_ms in deferred:
                        continue
                copies = 1 if record_id is not None else listing.add(record_ms, key)
                if state.written(key) >= copies:
                    summary.duplicates_dropped += 1
                    continue
                # The API's row, every field kept, compact; key order as received, except that bulky fields go last:
                # Splunk's automatic JSON extraction stops after the first few thousand bytes, and the identifying
                # fields must be inside them. (Key order carries no meaning in JSON: the row parses the same.)
                if bulky and is_dict and not bulky.isdisjoint(record):
                    record = {**{k: v for k, v in record.items() if k not in bulky},
                              **{k: v for k, v in record.items() if k in bulky}}
                data = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
                self.sink.write(data, record_ms, sourcetype)
                # Kept for as long as a later read can return it: by its own time, or, without one, for as long as
                # reads widened to the API's bounds can still reach this window.
                state.remember(key, copies,
                               bucket_of(record_ms, forgotten_before) if record_ms is not None else timeless_bucket)
                if record_ms is not None and (high is None or record_ms > high):
                    high = record_ms
                written += 1
        finally:
            # The page's rows are released before the checkpoint is serialised, so the two never share the heap.
            page.records = ()
            # A page whose rows stop coming part-way (a stream cut, a malformed row) keeps what it wrote: flushed
            # and counted in the checkpoint, or the next run would write those rows again.
            summary.records_emitted += written
            outcome.written += written
            if written:
                state.high_ms = high
                self.sink.flush()
                self.checkpoint.commit()
        return times, digest.hexdigest(), rows


def _align_down(time_ms: int, unit: int) -> int:
    return time_ms - time_ms % unit


def _describe(exc: BaseException) -> str:
    cause = exc.cause if isinstance(exc, RetriesExhausted) else exc
    return f"{type(cause).__name__}: {exc}"
