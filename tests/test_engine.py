"""The engine's decisions, in isolation: time parsing, backoff, pacing, checkpoint state, window planning."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from audit_trail.checkpoint import (
    Checkpoint,
    CheckpointState,
    FileCheckpointStore,
    ResilientCheckpointStore,
    checkpoint_key,
)
from audit_trail.collector import CollectionPolicy, Collector
from audit_trail.errors import CheckpointError, RateLimited, RetriableSourceError, RetriesExhausted
from audit_trail.pacing import Pacer, RetryPolicy
from audit_trail.source import Page, RateInfo, SourceLimits, Window
from audit_trail.timefmt import format_iso_ms, parse_iso_ms

DAY_MS = 86_400_000


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: List[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-08-06T10:50:19.442Z", 1722941419442),
    ("2024-08-06T10:50:19.442123Z", 1722941419442),
    ("2024-08-06T10:50:19Z", 1722941419000),
    ("2024-08-06T10:50:19.4Z", 1722941419400),
    ("2024-08-06T12:50:19.442+02:00", 1722941419442),
    ("2024-08-06", 1722902400000),
])
def test_parse_iso_ms(text: str, expected: int) -> None:
    assert parse_iso_ms(text) == expected


def test_format_iso_ms_round_trips() -> None:
    assert format_iso_ms(1722941419442) == "2024-08-06T10:50:19.442Z"
    assert parse_iso_ms(format_iso_ms(5)) == 5


@pytest.mark.parametrize("bad", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-08-06T10:50"[:-3] + "xx"])
def test_parse_iso_ms_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_ms(bad)


def test_retry_policy_backs_off_exponentially_with_a_cap_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=6, backoff_factor=2.0, backoff_max=10.0, jitter=0.0)
    waits = []
    error = RetriableSourceError("HTTP 503")
    for _ in range(5):
        policy = policy.increment(error)
        waits.append(policy.backoff_seconds())
    assert waits == [2.0, 4.0, 8.0, 10.0, 10.0]
    with pytest.raises(RetriesExhausted) as raised:
        policy.increment(error)
    assert raised.value.cause is error and raised.value.attempts == 6


def test_retry_policy_is_a_value() -> None:
    base = RetryPolicy()
    assert base.increment(RetriableSourceError("x")).attempts == 1
    assert base.attempts == 0


def test_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(backoff_factor=4.0, jitter=0.25).increment(RetriableSourceError("x"))
    assert policy.backoff_seconds(rand=lambda: 0.0) == 4.0
    assert policy.backoff_seconds(rand=lambda: 0.999) == pytest.approx(4.999)


def test_pacer_spends_the_budget_then_waits_for_the_oldest_request_to_leave_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    for remaining in range(9, -1, -1):
        pacer.before_request()
        pacer.after_response(RateInfo(limit=10, remaining=remaining, window_seconds=60))
        clock.now += 1.0
    assert clock.slept == []
    pacer.before_request()  # the 11th request: the first left the window 60 s after it was sent
    assert clock.slept == [pytest.approx(50.0)]


def test_pacer_waits_a_whole_window_when_others_spent_the_budget() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    pacer.before_request()
    pacer.after_response(RateInfo(limit=10, remaining=0, window_seconds=60))
    pacer.before_request()
    assert clock.slept == [pytest.approx(60.0)]


def test_pacer_stays_silent_for_retry_after_and_a_whole_window_without_it() -> None:
    clock = FakeClock()
    policy = RetryPolicy(default_retry_after=30.0)
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    assert pacer.on_rate_limited(RateLimited("429", 45.0), policy) == 45.0
    pacer.before_request()
    assert clock.slept == [pytest.approx(45.0)]
    # No Retry-After: the documented 30 s would land inside a 60 s penalty and restart it.
    assert pacer.on_rate_limited(RateLimited("429", -1.0, window_seconds=60.0), policy) == 60.0
    assert pacer.on_rate_limited(RateLimited("429", -1.0), policy) == 60.0  # the window learnt earlier
    assert pacer.stats.rate_limited == 3


def test_checkpoint_state_completion_prunes_ids_the_next_overlap_cannot_return() -> None:
    state = CheckpointState(watermark_ms=None)
    for record_id, window_end in (("old", 1_000), ("edge", 9_000), ("new", 10_000), ("new2", 10_000)):
        state.remember(record_id, window_end)
    state.complete_window(end_ms=10_000, overlap_ms=1_000)
    assert state.watermark_ms == 10_000
    assert state.seen == {9_000: {"edge"}, 10_000: {"new", "new2"}}
    assert state.has_seen("edge") and not state.has_seen("old") and state.seen_count() == 3
    state.complete_window(end_ms=5_000, overlap_ms=1_000)
    assert state.watermark_ms == 10_000, "the watermark never moves back"


def test_checkpoint_state_round_trips_and_rejects_unknown_versions() -> None:
    state = CheckpointState(watermark_ms=5, seen={4: {"a", "b"}}, saved_at=1.5, seen_floor_ms=2, high_ms=4)
    assert CheckpointState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    with pytest.raises(CheckpointError, match="reset the checkpoint"):
        CheckpointState.from_dict({"version": 99})
    with pytest.raises(CheckpointError):
        CheckpointState.from_dict([1, 2])


def test_checkpoint_keys_are_safe_and_unique() -> None:
    assert checkpoint_key("ringcentral_audit", "prod") == "ringcentral_audit_prod"
    a, b = checkpoint_key("s", "a/b"), checkpoint_key("s", "a?b")
    assert a != b and "/" not in a and "?" not in b


def test_file_store_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = FileCheckpointStore(str(tmp_path))
    assert store.load("k") is None
    store.save("k", json.dumps({"version": 1, "watermark_ms": 1}))
    store.save("k", json.dumps({"version": 1, "watermark_ms": 2}))
    assert store.load("k") == {"version": 1, "watermark_ms": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]
    (tmp_path / "k.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="reset the input"):
        store.load("k")


class MemoryStore:
    def __init__(self, fail: bool = False) -> None:
        self.data: Dict[str, Any] = {}
        self.fail = fail

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        if self.fail:
            raise OSError("kv down")
        return self.data.get(key)

    def save(self, key: str, state_json: str) -> None:
        if self.fail:
            raise OSError("kv down")
        self.data[key] = json.loads(state_json)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def test_resilient_store_prefers_the_newer_copy_and_survives_a_failing_kvstore(tmp_path: Path) -> None:
    kv = MemoryStore()
    files = FileCheckpointStore(str(tmp_path))
    logger = logging.getLogger("test")
    store = ResilientCheckpointStore(lambda: kv, files, logger)
    store.save("k", json.dumps({"version": 1, "saved_at": 1.0, "watermark_ms": 1}))
    assert kv.data["k"]["watermark_ms"] == 1 and files.load("k")["watermark_ms"] == 1
    kv.fail = True
    flaky = ResilientCheckpointStore(lambda: kv, files, logger)
    flaky.save("k", json.dumps({"version": 1, "saved_at": 2.0, "watermark_ms": 2}))
    kv.fail = False
    recovered = ResilientCheckpointStore(lambda: kv, files, logger)
    assert recovered.load("k")["watermark_ms"] == 2, "the stale KV copy must not win"


class PlanSource:
    name = "fake"
    sourcetype = "fake:audit"
    limits = SourceLimits(retention_seconds=180 * 86400.0, max_results_per_search=10000, max_page_size=1000)

    def search(self, window: Window, page: int, per_page: int) -> Page:
        raise AssertionError("planning must not search")


def plan(watermark: Optional[int], start_ms: Optional[int] = None, now_ms: int = 400 * DAY_MS) -> Any:
    checkpoint = Checkpoint(MemoryStore(), "k")
    checkpoint.state.watermark_ms = watermark
    policy = CollectionPolicy(settle_seconds=300, overlap_seconds=900, retention_margin_seconds=3600,
                              start_ms=start_ms)
    collector = Collector(PlanSource(), checkpoint, None, policy, RetryPolicy(), Pacer(), logging.getLogger("t"),
                          wall_clock=lambda: now_ms / 1000)
    return collector.plan()


def test_plan_first_run_reads_as_far_back_as_the_api_holds_without_a_gap() -> None:
    now = 400 * DAY_MS
    window, gaps = plan(None)
    assert window == Window(now - 180 * DAY_MS + 3_600_000, now - 300_000)
    assert gaps == []


def test_plan_start_date_older_than_retention_is_a_gap() -> None:
    now = 400 * DAY_MS
    window, gaps = plan(None, start_ms=now - 400 * DAY_MS)
    assert window.start_ms == now - 180 * DAY_MS + 3_600_000
    assert [g.reason for g in gaps] == ["retention"]


def test_plan_resumes_an_overlap_before_the_watermark() -> None:
    now = 400 * DAY_MS
    window, gaps = plan(now - 3_600_000)
    assert window == Window(now - 3_600_000 - 900_000, now - 300_000) and gaps == []


def test_plan_after_a_long_outage_reports_what_retention_took() -> None:
    now = 400 * DAY_MS
    _, gaps = plan(now - 300 * DAY_MS)
    assert gaps[0].reason == "retention" and gaps[0].from_ms == now - 300 * DAY_MS + 1


def test_plan_nothing_to_do_inside_the_settle_time() -> None:
    now = 400 * DAY_MS
    window, _ = plan(now - 100_000)
    assert window is not None  # the overlap reaches back past the settle time


def test_window_split_halves_share_their_middle_so_no_bound_semantics_loses_it() -> None:
    left, right = Window(0, 101).split()
    assert (left.start_ms, left.end_ms, right.start_ms, right.end_ms) == (0, 51, 50, 101)
    assert Window(0, 3).splittable and not Window(0, 2).splittable
    for width in range(3, 9):
        a, b = Window(0, width).split()
        assert a.width_ms < width and b.width_ms < width


class ScriptedSource:
    """An audit source answering from a list of records, with knobs for API quirks."""

    name = "scripted"
    sourcetype = "scripted:audit"
    limits = SourceLimits(retention_seconds=180 * 86400.0, max_results_per_search=10000, max_page_size=1000)

    def __init__(self, records: List[Dict[str, Any]], server_page_cap: Optional[int] = None,
                 moving_total: bool = False, exclusive: bool = False, unstable_ties: bool = False,
                 cap: Optional[int] = None, floor_ms: int = 0) -> None:
        self.records = records
        self.server_page_cap = server_page_cap
        self.moving_total = moving_total
        self.exclusive = exclusive          # both bounds exclusive
        self.unstable_ties = unstable_ties  # same-millisecond records reordered on every request
        self.cap = cap                      # results reachable per search, totalFound clipped to it
        self.floor_ms = floor_ms            # the start bound rounded down to this granularity
        self.calls = 0

    def search(self, window: Window, page: int, per_page: int) -> Page:
        self.calls += 1
        size = min(per_page, self.server_page_cap or per_page)
        start = window.start_ms - window.start_ms % self.floor_ms if self.floor_ms else window.start_ms
        if self.exclusive:
            matches = [r for r in self.records if start < r["t"] < window.end_ms]
        else:
            matches = [r for r in self.records if start <= r["t"] <= window.end_ms]
        matches.sort(key=lambda r: r["id"], reverse=self.unstable_ties and self.calls % 2 == 0)
        matches.sort(key=lambda r: -r["t"])  # stable: ties keep the id order, reversed on every other request
        if self.cap is not None:
            matches = matches[: self.cap]
        chunk = matches[(page - 1) * size: page * size]
        total_found = len(matches) + (self.calls if self.moving_total else 0)
        return Page(records=chunk, total_pages=-(-len(matches) // size), total_found=total_found, per_page=size)

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        return record.get("id")

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        return record.get("t")


class ListSink:
    def __init__(self) -> None:
        self.events: List[tuple] = []

    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        self.events.append((json.loads(data), time_ms, sourcetype))

    def flush(self) -> None:
        pass


def collect(source: ScriptedSource, store: MemoryStore, now_ms: int, page_size: int = 1000,
            overlap_seconds: float = 60) -> tuple:
    sink = ListSink()
    checkpoint = Checkpoint(store, "k")
    policy = CollectionPolicy(settle_seconds=0, overlap_seconds=overlap_seconds, page_size=page_size)
    collector = Collector(source, checkpoint, sink, policy, RetryPolicy(), Pacer(), logging.getLogger("t"),
                          wall_clock=lambda: now_ms / 1000)
    result = collector.run()
    return [e[0] for e in sink.events if e[2] == "scripted:audit"], result


def test_an_api_capping_the_page_size_below_the_request_is_paged_to_the_end() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 1000 - i} for i in range(250)]
    written, result = collect(ScriptedSource(records, server_page_cap=100), MemoryStore(), now)
    assert sorted(r["id"] for r in written) == sorted(r["id"] for r in records)
    assert result.windows[0].pages == 3


def test_a_window_whose_totals_never_settle_keeps_its_watermark_and_is_read_again() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 1000 - i} for i in range(30)]
    store = MemoryStore()
    written, result = collect(ScriptedSource(records, moving_total=True), store, now, page_size=10)
    assert result.windows[0].status == "partial" and "reads the window again" in result.windows[0].error
    assert store.data["k"]["watermark_ms"] is None
    assert len(written) == 30
    again, second = collect(ScriptedSource(records), store, now + 1000, page_size=10)
    assert again == [] and second.windows[0].status == "complete"
    assert second.windows[0].duplicates_dropped == 30


def ids(records: List[Dict[str, Any]]) -> List[str]:
    return sorted(r["id"] for r in records)


def test_split_windows_lose_nothing_with_exclusive_bounds() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 5 * DAY_MS + i * 7} for i in range(12000)]
    written, result = collect(ScriptedSource(records, exclusive=True), MemoryStore(), now)
    assert ids(written) == ids(records)
    assert len(result.windows) >= 2


def test_a_capped_total_found_still_splits_the_window() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 5 * DAY_MS + i * 11} for i in range(25)]
    source = ScriptedSource(records, cap=10)
    source.limits = SourceLimits(retention_seconds=180 * 86400.0, max_results_per_search=10, max_page_size=1000)
    written, _ = collect(source, MemoryStore(), now)
    assert ids(written) == ids(records)


def test_same_millisecond_records_reordered_between_requests_are_all_read() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"tie{i:02d}", "t": now - DAY_MS} for i in range(15)]
    records += [{"id": f"r{i}", "t": now - 2 * DAY_MS - i} for i in range(5)]
    written, _ = collect(ScriptedSource(records, unstable_ties=True), MemoryStore(), now, page_size=10)
    assert ids(written) == ids(records)


def test_records_returned_from_before_the_window_are_not_written_twice() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 3_600_000 + i * 60_000} for i in range(60)]
    store = MemoryStore()
    source = ScriptedSource(records, floor_ms=DAY_MS)  # the API rounds the start down to the day
    first, _ = collect(source, store, now)
    second, _ = collect(source, store, now + 300_000)
    third, _ = collect(source, store, now + 600_000)
    assert ids(first) == ids(records) and second == [] and third == []


def test_raising_the_overlap_does_not_rewrite_forgotten_records() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 1_800_000 + i * 10_000} for i in range(150)]
    store = MemoryStore()
    first, _ = collect(ScriptedSource(records), store, now, overlap_seconds=60)
    second, _ = collect(ScriptedSource(records), store, now + 600_000, overlap_seconds=60)
    third, _ = collect(ScriptedSource(records), store, now + 700_000, overlap_seconds=3600)
    assert ids(first) == ids(records) and second == [] and third == []


def test_a_checkpoint_from_a_clock_that_ran_ahead_restarts_at_the_newest_record_written() -> None:
    now = 400 * DAY_MS
    early = [{"id": f"e{i}", "t": now - 600_000 + i} for i in range(5)]
    store = MemoryStore()
    collect(ScriptedSource(early), store, now + DAY_MS)  # the clock was a day ahead
    idle, _ = collect(ScriptedSource(early), store, now + 60_000)  # back to the right time, nothing new
    assert idle == []
    assert store.data["k"]["watermark_ms"] <= now + 60_000, "the recovery is saved, not redone each poll"
    later = [{"id": f"l{i}", "t": now + 60_000 + i} for i in range(5)]
    written, result = collect(ScriptedSource(early + later), store, now + 120_000)
    assert ids(written) == ids(later)
    assert result.windows and result.windows[0].status == "complete"


@pytest.mark.parametrize("text", [
    "2024-08-06T10:50:19.442Z", "1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "2026-11-23T00:00:00.001Z",
])
def test_the_event_time_fast_path_agrees_with_the_general_parser(text: str) -> None:
    from datetime import datetime, timezone

    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert parse_iso_ms(text) == round(moment.timestamp() * 1000)
    assert parse_iso_ms(text) == parse_iso_ms(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("bad", ["2024-02-30T10:50:19.442Z", "2024-08-06T24:00:00.000Z", "2024-08-06T10:60:19.442Z",
                                 "2024-08-06T10:50:1x.442Z", "2024-08-06T10-50-19.442Z"])
def test_the_event_time_fast_path_rejects_what_the_general_parser_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_iso_ms(bad)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    def save(self, key: str, state_json: str) -> None:
        self.saves += 1
        super().save(key, state_json)


def test_an_idle_poll_leaves_the_checkpoint_alone_until_it_lags_an_hour() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 10_000 - i} for i in range(3)]
    store = CountingStore()
    collect(ScriptedSource(records), store, now)
    saves, watermark = store.saves, store.data["k"]["watermark_ms"]
    idle, _ = collect(ScriptedSource(records), store, now + 300_000)
    assert idle == [] and store.saves == saves and store.data["k"]["watermark_ms"] == watermark
    late = [{"id": "late", "t": now + 200_000}]
    found, _ = collect(ScriptedSource(records + late), store, now + 600_000)
    assert ids(found) == ["late"], "the wider window still reads what arrived meanwhile"
    collect(ScriptedSource(records + late), store, now + 600_000 + 2 * 3_600_000)
    assert store.data["k"]["watermark_ms"] == now + 600_000 + 2 * 3_600_000


def test_heap_fragmentation_limit_applies_on_glibc_linux() -> None:
    import platform

    from audit_trail.allocator import limit_heap_fragmentation

    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert limit_heap_fragmentation() is expected
    assert limit_heap_fragmentation() is expected  # idempotent


def test_a_split_window_hands_its_gap_and_requests_to_the_summaries_that_are_reported() -> None:
    now = 400 * DAY_MS
    records = [{"id": f"r{i}", "t": now - 5 * DAY_MS + i * 7} for i in range(12000)]
    source = ScriptedSource(records)
    sink = ListSink()
    checkpoint = Checkpoint(MemoryStore(), "k")
    policy = CollectionPolicy(settle_seconds=0, overlap_seconds=60, start_ms=now - 400 * DAY_MS)
    result = Collector(source, checkpoint, sink, policy, RetryPolicy(), Pacer(), logging.getLogger("t"),
                       wall_clock=lambda: now / 1000).run()
    assert len(result.windows) >= 2
    assert [g.reason for w in result.windows for g in w.gaps] == ["retention"]
    assert sum(w.requests for w in result.windows) == source.calls, "every request is in some summary"
