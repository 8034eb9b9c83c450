"""The source contract, proven on scripted APIs: whatever the API's ids, resolution, order, totals, cap and
paging, and whatever happens between polls (restarts, a SIGKILL, rows arriving late or while a window is
paged, identical rows), every row is written exactly once (a SIGKILL may repeat the one page it interrupted).

The same cases run against the real sources over their simulators in test_contract_sources.py.
"""

from __future__ import annotations

import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from audit_trail.source import (
    ASCENDING,
    DAY_MS,
    DESCENDING,
    SECOND_MS,
    TOTALS_ABSENT,
    TOTALS_EXACT,
    TOTALS_UNRELIABLE,
    UNORDERED,
)
from tests.contract.harness import Input, Killed, assert_exactly
from tests.contract.scripted import ApiQuirks, ScriptedApi, ScriptedSource

NOW_MS = 400 * DAY_MS + 13 * 3_600_000 + 123  # mid-afternoon, off any round second

# Realistic combinations of what the APIs this add-on serves do (and what they might turn out to do).
PROFILES: Dict[str, ApiQuirks] = {
    # RingCentral: ids, millisecond bounds and times, exact totals, page numbers, a per-search cap.
    "ids-ms-unordered-exact-pages-cap": ApiQuirks(ids=True, order=UNORDERED, totals=TOTALS_EXACT, cap=120),
    "ids-ms-desc-absent-pages": ApiQuirks(ids=True, order=DESCENDING, totals=TOTALS_ABSENT, unstable_ties=True),
    "ids-day-asc-exclusive-offset": ApiQuirks(ids=True, bound_ms=DAY_MS, order=ASCENDING, totals=TOTALS_ABSENT,
                                             paging="offset", end_inclusive=False),
    # LivePerson: no ids, whole-day bounds, one-second times, offset paging, totals that may count the page.
    "noid-day-1s-asc-unreliable-offset": ApiQuirks(ids=False, bound_ms=DAY_MS, time_ms=SECOND_MS, order=ASCENDING,
                                                   totals=TOTALS_UNRELIABLE, paging="offset", unstable_ties=True,
                                                   max_window_seconds=86400.0),
    # (A page clamped below a tie block can only be exact where equal times keep their order.)
    "noid-day-1s-desc-exact-offset-clamped": ApiQuirks(ids=False, bound_ms=DAY_MS, time_ms=SECOND_MS,
                                                       order=DESCENDING, totals=TOTALS_EXACT, paging="offset",
                                                       page_clamp=30, end_inclusive=False),
    "noid-ms-unordered-exact-pages": ApiQuirks(ids=False, order=UNORDERED, totals=TOTALS_EXACT),
    "noid-1s-desc-absent-pages-unstable": ApiQuirks(ids=False, bound_ms=SECOND_MS, time_ms=SECOND_MS,
                                                    order=DESCENDING, totals=TOTALS_ABSENT, unstable_ties=True),
    # Resolver: no ids, the newest rows of a range up to a cap, walked back by end time.
    "noid-1s-walk-back-cap": ApiQuirks(ids=False, bound_ms=SECOND_MS, time_ms=SECOND_MS, order=DESCENDING,
                                       paging="walk_back", cap=100),
    "noid-ms-walk-back-cap-exclusive": ApiQuirks(ids=False, order=DESCENDING, paging="walk_back", cap=100,
                                                 end_inclusive=False),
}

# Where rows inserted behind the cursor cannot be noticed in the same pass (no order to see a shift by, no
# exact total), they are caught by the next poll's overlap instead.
ORDERED = {k for k, q in PROFILES.items() if q.order != UNORDERED}


def rows_for(api: ScriptedApi, n: int, start_ms: int, end_ms: int, seed: int) -> List[Dict[str, Any]]:
    """``n`` distinct rows, a tie block larger than a page, and identical rows (genuine repeats)."""
    rng = random.Random(seed)
    written = [api.add(rng.randrange(start_ms, end_ms), {"actor": f"u{i % 7}", "change": f"c{seed}-{i}"})
               for i in range(n)]
    tie = rng.randrange(start_ms, end_ms)
    written += [api.add(tie, {"actor": "bulk", "change": f"tie{seed}-{i}"}) for i in range(75)]
    same = rng.randrange(start_ms, end_ms)
    written += [api.add(same, {"actor": "twin", "change": "same"}) for _ in range(3)]
    return written


def make_input(quirks: ApiQuirks, **kwargs: Any) -> tuple:
    api = ScriptedApi(quirks)
    inp = Input(make_source=lambda: ScriptedSource(api), now_ms=NOW_MS, start_ms=NOW_MS - 3 * DAY_MS, **kwargs)
    return api, inp


@pytest.fixture(params=sorted(PROFILES))
def profile(request: Any) -> str:
    return request.param


def test_a_backlog_with_ties_and_identical_rows_is_written_exactly_once(profile: str) -> None:
    api, inp = make_input(PROFILES[profile])
    rows = rows_for(api, 260, NOW_MS - 2 * DAY_MS, NOW_MS - 60_000, seed=1)
    inp.poll()
    inp.poll(advance_seconds=300)
    assert_exactly(inp, rows)
    assert all(w.status == "complete" for r in inp.results for w in r.windows)
    if PROFILES[profile].max_window_seconds:
        assert len(inp.results[0].windows) >= 3, "a backfill wider than the source's window was read in one go"


def test_a_restart_at_every_page_boundary_loses_and_repeats_nothing(profile: str) -> None:
    stops = 0
    for requests in range(1, 40):
        api, inp = make_input(PROFILES[profile])
        rows = rows_for(api, 200, NOW_MS - 2 * DAY_MS, NOW_MS - 60_000, seed=2)
        first = inp.poll(max_requests=requests)  # stops cleanly after this many requests, checkpointed
        inp.poll(advance_seconds=30)
        assert_exactly(inp, rows)
        if first.error is None:
            break
        stops += 1
    assert stops >= 2, "the case never stopped a run mid-window"


def test_a_sigkill_between_any_page_flush_and_its_checkpoint_repeats_at_most_that_page(profile: str) -> None:
    quirks = PROFILES[profile]
    api, dry = make_input(quirks)
    rows_for(api, 200, NOW_MS - 2 * DAY_MS, NOW_MS - 60_000, seed=3)
    dry.poll()
    commits = dry.store.saves
    assert commits >= 2
    biggest_page = max(quirks.cap or 0, 1000 if quirks.paging == "offset" else dry.page_size, 75)
    for kill_at_save in range(1, commits + 1):
        api, inp = make_input(quirks)
        rows = rows_for(api, 200, NOW_MS - 2 * DAY_MS, NOW_MS - 60_000, seed=3)
        inp.store.kill_on_save = kill_at_save
        with pytest.raises(Killed):
            inp.poll()
        # What the killed run flushed is in the index; whatever it wrote after its last flush died with it.
        del inp.sink.events[inp.sink.flushed:]
        inp.poll(advance_seconds=5)
        assert_exactly(inp, rows, repeats_allowed=biggest_page)


def test_late_rows_and_late_identical_copies_are_collected_once(profile: str) -> None:
    api, inp = make_input(PROFILES[profile], overlap_seconds=1800)
    rows = rows_for(api, 80, NOW_MS - DAY_MS, NOW_MS - 120_000, seed=4)
    inp.poll()
    # Visible only now, though their time lies inside the window already collected (the processing delay).
    late = [api.add(NOW_MS - 90_000 + i, {"actor": "late", "change": f"l{i}"}) for i in range(5)]
    twin_ms = NOW_MS - 100_000
    twins = [api.add(twin_ms, {"actor": "twin-late", "change": "x"}) for _ in range(2)]
    inp.poll(advance_seconds=60)
    # A third identical copy of a second already collected: one more event, not three.
    twins.append(api.add(twin_ms, {"actor": "twin-late", "change": "x"}))
    inp.poll(advance_seconds=60)
    inp.poll(advance_seconds=600)
    assert_exactly(inp, rows + late + twins)


@pytest.mark.parametrize("where", ["head", "middle", "behind"])
def test_rows_inserted_while_a_window_is_paged(profile: str, where: str) -> None:
    quirks = PROFILES[profile]
    if quirks.order == UNORDERED and not quirks.ids:
        pytest.skip("an unordered listing of rows without ids that changes while paged shows no shift to "
                    "correct: no API this add-on serves is like that")
    api, inp = make_input(quirks, overlap_seconds=3 * 86400)
    rows = rows_for(api, 220, NOW_MS - 2 * DAY_MS, NOW_MS - 60_000, seed=5)
    span = {"head": (NOW_MS - 50_000, NOW_MS - 40_000), "middle": (NOW_MS - DAY_MS, NOW_MS - DAY_MS + 60_000),
            "behind": (NOW_MS - 2 * DAY_MS + 1000, NOW_MS - 2 * DAY_MS + 60_000)}[where]
    inserted: List[Dict[str, Any]] = []

    def insert(current: ScriptedApi) -> None:
        if current.requests == 3 and not inserted:
            rng = random.Random(9)
            inserted.extend(current.add(rng.randrange(*span), {"actor": "new", "change": f"n{i}"},
                                        visible_from_request=3) for i in range(6))

    api.on_request = insert
    inp.poll()
    inp.poll(advance_seconds=300)
    assert inserted
    assert_exactly(inp, rows + inserted)


def test_a_window_over_the_cap_is_split_or_walked_until_every_row_is_read(profile: str) -> None:
    quirks = PROFILES[profile]
    if quirks.cap is None:
        quirks = replace(quirks, cap=90)
        if quirks.paging == "offset" or quirks.bound_ms == DAY_MS or quirks.totals != TOTALS_EXACT:
            pytest.skip("a per-search cap is only got under by splitting on an exact total, or by walking back")
    api, inp = make_input(quirks)
    rows = rows_for(api, 400, NOW_MS - 2 * DAY_MS, NOW_MS - 60_000, seed=6)
    inp.poll()
    assert_exactly(inp, rows)
    assert not [g for r in inp.results for w in r.windows for g in w.gaps]


def test_settle_zero_leaves_the_open_unit_of_time_to_the_next_poll() -> None:
    quirks = PROFILES["noid-day-1s-asc-unreliable-offset"]
    api, inp = make_input(quirks)
    open_second = NOW_MS - NOW_MS % SECOND_MS
    first = [api.add(open_second + 5, {"actor": "now", "change": "a"})]
    inp.poll()
    assert inp.sink.events == [], "a row of the second still open was written"
    second = [api.add(open_second + 700, {"actor": "now", "change": "a"})]  # an identical second copy
    inp.poll(advance_seconds=2)
    assert_exactly(inp, first + second)


def test_a_1_0_0_style_checkpoint_state_is_carried_over() -> None:
    from audit_trail.checkpoint import CheckpointState

    state = CheckpointState.from_dict({"version": 1, "watermark_ms": 10_000, "seen": {"9000": ["a", "b"]},
                                       "saved_at": 1.0, "seen_floor_ms": 5000, "high_ms": 8000})
    assert state.written("a") == 1 and state.written("b") == 1 and state.written("c") == 0
    assert state.to_dict()["version"] == 2 and state.to_dict()["seen"] == {"9000": ["a", "b"]}


def test_no_engine_or_edge_module_names_a_vendor() -> None:
    lib = Path(__file__).resolve().parent.parent / "lib" / "audit_trail"
    for module in lib.glob("*.py"):
        text = module.read_text().lower()
        for vendor in ("ringcentral", "liveperson", "resolver"):
            assert vendor not in text, f"{module.name} names {vendor}: vendor facts belong in sources/"


# --- cases a review found ----------------------------------------------------------------------------------


def test_a_row_without_a_readable_time_is_written_once_however_often_whole_days_return_it() -> None:
    quirks = ApiQuirks(ids=False, bound_ms=DAY_MS, time_ms=SECOND_MS, order=ASCENDING, totals=TOTALS_UNRELIABLE,
                       paging="offset")
    api = ScriptedApi(quirks)

    class NoTimeForBadRows(ScriptedSource):
        def record_time_ms(self, record: Dict[str, Any]) -> Any:
            return None if record.get("bad") else super().record_time_ms(record)

    good = api.add(NOW_MS - 3_600_000, {"a": 1})
    bad = api.add(NOW_MS - 3_500_000, {"a": 2, "bad": True})
    inp = Input(make_source=lambda: NoTimeForBadRows(api), now_ms=NOW_MS, start_ms=NOW_MS - 2 * 3_600_000,
                overlap_seconds=900)
    fresh = []
    for _ in range(15):  # two and a half hours of new rows: the watermark moves on and old keys are pruned
        inp.poll(advance_seconds=600)
        fresh.append(api.add(inp.now_ms - 30_000, {"fresh": len(fresh)}))
    inp.poll(advance_seconds=600)
    assert_exactly(inp, [good, bad, *fresh])


def test_pages_of_other_windows_rows_are_not_taken_for_a_repeated_page() -> None:
    # A server that clamps the page below a bulk second earlier in the day: page after page of rows outside the
    # window, each a different slice of that second.
    quirks = ApiQuirks(ids=False, bound_ms=DAY_MS, time_ms=SECOND_MS, order=ASCENDING, totals=TOTALS_UNRELIABLE,
                       paging="offset", page_clamp=30)
    api = ScriptedApi(quirks)
    day = NOW_MS - NOW_MS % DAY_MS
    bulk = [api.add(day + 3_600_000, {"bulk": i}) for i in range(75)]
    inp = Input(make_source=lambda: ScriptedSource(api), now_ms=NOW_MS, start_ms=day, overlap_seconds=900)
    inp.poll()
    later = [api.add(NOW_MS + 60_000 + i, {"x": i}) for i in range(5)]
    for _ in range(3):
        result = inp.poll(advance_seconds=300)
        assert result.error is None, result.error
    assert_exactly(inp, bulk + later)


def test_recovering_from_a_clock_that_ran_a_year_ahead_writes_nothing_twice() -> None:
    api = ScriptedApi(ApiQuirks(ids=False, order=ASCENDING, totals=TOTALS_ABSENT, paging="offset"))
    rows = [api.add(NOW_MS - 7_200_000 + i * 1000, {"n": i}) for i in range(10)]
    inp = Input(make_source=lambda: ScriptedSource(api), now_ms=NOW_MS, start_ms=NOW_MS - 3 * 3_600_000,
                overlap_seconds=900)
    inp.poll()
    inp.now_ms += 365 * DAY_MS
    inp.poll()
    inp.poll(advance_seconds=4000)
    inp.now_ms -= 365 * DAY_MS
    rows.append(api.add(inp.now_ms, {"n": "after"}))
    inp.poll(advance_seconds=60)
    assert_exactly(inp, rows)


def test_a_first_run_that_stops_resumes_from_the_same_start() -> None:
    api = ScriptedApi(ApiQuirks(ids=False, order=DESCENDING, paging="walk_back", cap=100, bound_ms=SECOND_MS,
                                time_ms=SECOND_MS))
    rows = rows_for(api, 300, NOW_MS - 20 * DAY_MS, NOW_MS - 60_000, seed=12)
    inp = Input(make_source=lambda: ScriptedSource(api), now_ms=NOW_MS)  # no start_date: the API's default reach
    first = inp.poll(max_requests=1)
    assert first.error is not None
    inp.poll(advance_seconds=600)
    assert_exactly(inp, rows)
    assert inp.results[1].windows[0].window.start_ms == inp.results[0].windows[0].window.start_ms


def test_an_unexpected_exception_still_leaves_a_failed_summary() -> None:
    api = ScriptedApi(ApiQuirks())
    rows_for(api, 10, NOW_MS - DAY_MS, NOW_MS - 60_000, seed=13)

    class Broken(ScriptedSource):
        def fetch(self, window: Any, cursor: Any, page_size: int) -> Any:
            raise ValueError("a library's own exception, quoting https://host/?X-Amz-Signature=secret")

    inp = Input(make_source=lambda: Broken(api), now_ms=NOW_MS, start_ms=NOW_MS - 2 * DAY_MS)
    with pytest.raises(ValueError):
        inp.poll()
    [summary] = inp.sink.summaries
    assert summary["status"] == "failed" and summary["error"] == "unexpected ValueError"
