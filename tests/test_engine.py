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
from audit_trail.source import Capabilities, Page, RateInfo, Window
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


def request(pacer: Pacer) -> None:
    pacer.wait(pacer.wait_needed())
    pacer.sent()


def test_pacer_spends_the_budget_then_waits_for_the_oldest_request_to_leave_the_window() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    for remaining in range(9, -1, -1):
        request(pacer)
        pacer.after_response(RateInfo(limit=10, remaining=remaining, window_seconds=60))
        clock.now += 1.0
    assert clock.slept == []
    request(pacer)  # the 11th request: the first left the window 60 s after it was sent
    assert clock.slept == [pytest.approx(50.0)]


def test_pacer_waits_a_whole_window_when_others_spent_the_budget() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    request(pacer)
    pacer.after_response(RateInfo(limit=10, remaining=0, window_seconds=60))
    request(pacer)
    assert clock.slept == [pytest.approx(60.0)]


def test_pacer_caps_a_rate_limit_window_the_api_inflates() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0, max_window=600.0)
    request(pacer)
    pacer.after_response(RateInfo(limit=10, remaining=0, window_seconds=99_999_999))
    assert pacer.wait_needed() == pytest.approx(600.0)


def test_pacer_stays_silent_for_retry_after_and_a_whole_window_without_it() -> None:
    clock = FakeClock()
    policy = RetryPolicy(default_retry_after=30.0)
    pacer = Pacer(clock=clock, sleep=clock.sleep, margin=0.0)
    assert pacer.on_rate_limited(RateLimited("429", 45.0), policy) == 45.0
    request(pacer)
    assert clock.slept == [pytest.approx(45.0)]
    # No Retry-After: the documented 30 s would land inside a 60 s penalty and restart it.
    assert pacer.on_rate_limited(RateLimited("429", None, window_seconds=60.0), policy) == 60.0
    assert pacer.on_rate_limited(RateLimited("429", None), policy) == 60.0  # the window learnt earlier
    assert pacer.on_rate_limited(RateLimited("429", 10**9), policy) == policy.retry_after_max


def test_checkpoint_state_completion_prunes_keys_the_next_overlap_cannot_return() -> None:
    state = CheckpointState(watermark_ms=None)
    for key, bucket in (("old", 0), ("edge", 540_000), ("new", 600_000), ("new2", 600_000)):
        state.remember(key, 1, bucket)
    state.remember("twins", 2, 600_000)
    state.complete_window(end_ms=660_000, overlap_ms=60_000)
    assert state.watermark_ms == 660_000
    # The next read starts at 600,000: keys of minutes wholly before it are forgotten, that minute's are kept.
    assert state.buckets == {600_000: ["new", "new2", "twins"]}
    assert state.written("edge") == 0 and state.written("old") == 0 and state.written("twins") == 2
    assert state.seen_floor_ms == 600_000
    state.complete_window(end_ms=5_000, overlap_ms=1_000)
    assert state.watermark_ms == 660_000, "the watermark never moves back"


def test_checkpoint_state_round_trips_and_rejects_unknown_versions() -> None:
    state = CheckpointState(watermark_ms=5, saved_at=1.5, seen_floor_ms=2, high_ms=4, memory={"unit": "s"})
    state.remember("a", 1, 0)
    state.remember("b", 3, 0)
    assert CheckpointState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    with pytest.raises(CheckpointError, match="reset"):
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
    with pytest.raises(CheckpointError, match="reset"):
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
    capabilities = Capabilities(retention_seconds=180 * 86400.0, max_results=10000)
    page_size = 1000
    def __init__(self) -> None:
        self.memory: Dict[str, Any] = {}

    def fetch(self, window: Window, cursor: Any, page_size: int) -> Page:
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
    assert window == Window(now - 180 * DAY_MS + 3_600_000, now - 300_000 - 1)
    assert gaps == []


def test_plan_start_date_older_than_retention_is_a_gap() -> None:
    now = 400 * DAY_MS
    window, gaps = plan(None, start_ms=now - 400 * DAY_MS)
    assert window.start_ms == now - 180 * DAY_MS + 3_600_000
    assert [g.reason for g in gaps] == ["retention"]


def test_plan_resumes_an_overlap_before_the_watermark() -> None:
    now = 400 * DAY_MS
    window, gaps = plan(now - 3_600_000)
    assert window == Window(now - 3_600_000 - 900_000, now - 300_000 - 1) and gaps == []


def test_plan_after_a_long_outage_reports_what_retention_took() -> None:
    now = 400 * DAY_MS
    _, gaps = plan(now - 300 * DAY_MS)
    assert gaps[0].reason == "retention" and gaps[0].from_ms == now - 300 * DAY_MS + 1


def test_plan_nothing_to_do_inside_the_settle_time() -> None:
    now = 400 * DAY_MS
    window, _ = plan(now - 100_000)
    assert window is not None  # the overlap reaches back past the settle time


def test_window_split_halves_share_their_middle_unit_so_no_bound_semantics_loses_it() -> None:
    left, right = Window(0, 101).split()
    assert (left.start_ms, left.end_ms, right.start_ms, right.end_ms) == (0, 51, 50, 101)
    left, right = Window(0, 10_999).split(1000)
    assert (left.end_ms, right.start_ms) == (6000, 5000)
    for width in range(3, 9):
        a, b = Window(0, width).split()
        assert a.width_ms < width and b.width_ms < width


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
