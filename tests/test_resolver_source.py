"""The Resolver source run through the real engine (tests/contract/harness.Input) against the Resolver simulator:
the contract's cases (a restart at every batch boundary, a SIGKILL between any flush and its checkpoint, late
and identical rows), what the source keeps across runs (the proven epoch unit, the walk's progress, a job still
running), and the CSV and job-answer readers on their own."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from audit_trail.http import HttpSettings, build_session
from audit_trail.sources.resolver import ResolverSettings, ResolverSource
from audit_trail.sources.resolver_csv import (
    ExportFormatError,
    IncompleteExport,
    Spool,
    parse_time,
    read_export,
    spool_body,
)
from audit_trail.sources.resolver_jobs import ExportApi, job_status, parse_job_id, request_range
from tests.contract.harness import Input, Killed
from tests.sim.resolver_records import AuditRow, burst_rows, generate_rows, repeated
from tests.sim.resolver_sim import ResolverSimulator, SimConfig

DAY_MS = 86_400_000
T = 1_714_564_800_000  # 2024-05-01T12:00:00Z


@pytest.fixture
def make_sim() -> Iterator[Any]:
    started: List[ResolverSimulator] = []

    def factory(**changes: Any) -> ResolverSimulator:
        settings: Dict[str, Any] = {"job_seconds": 0.02, "job_pending_seconds": 0.01}
        settings.update(changes)
        sim = ResolverSimulator(SimConfig(**settings)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


def make_input(sim: ResolverSimulator, cap: Optional[int] = None, unit: str = "auto", job_timeout: int = 10,
               days: float = 6, **kwargs: Any) -> Input:
    """An input over ``sim`` whose clock is the wall clock (the simulator decides visibility by it)."""

    def source() -> ResolverSource:
        def session() -> Any:
            return build_session(HttpSettings(timeout=(3.0, 3.0), ca_bundle=sim.ca_path, total_seconds=10.0))

        settings = ResolverSettings(sim.base_url, sim.config.api_key, unit, job_timeout)
        api = ExportApi(settings.base_url, settings.api_key, session(), session(), (3.0, 3.0), 10.0, 0.02)
        return ResolverSource(settings, api, max_results=cap or sim.config.cap)

    now = int(time.time() * 1000)
    kwargs.setdefault("overlap_seconds", 3600)
    return Input(make_source=source, now_ms=now, start_ms=now - int(days * DAY_MS), **kwargs)


def expected(sim: ResolverSimulator) -> Counter:
    return Counter(json.dumps(sim.csv_fields(row), sort_keys=True) for row in sim.ground_truth(visible_only=True))


def assert_exactly(inp: Input, sim: ResolverSimulator, repeats_allowed: int = 0) -> None:
    got, want = inp.written(), expected(sim)
    lost, extra = want - got, got - want
    assert not lost, f"{sum(lost.values())} rows lost, e.g. {list(lost)[:2]}"
    assert sum(extra.values()) <= repeats_allowed, f"{sum(extra.values())} rows repeated, e.g. {list(extra)[:2]}"


def memory(inp: Input) -> Dict[str, Any]:
    return json.loads(inp.store.data["k"])["memory"]


def backlog(sim: ResolverSimulator, n: int = 2400, seed: int = 1) -> None:
    """``n`` rows over five days, a busy second of 300 rows, and a second holding 40 identical rows."""
    now = int(time.time() * 1000)
    rows = generate_rows(n, now - 5 * DAY_MS, now - 3_600_000, seed=seed)
    rows += burst_rows(300, now - 2 * DAY_MS, seed=seed + 1)
    rows += repeated(rows[7], 40, at=now - 3 * DAY_MS)
    sim.add_records(rows)


def export_dates(sim: ResolverSimulator) -> List[Any]:
    return [(e["dateStart"], e["dateEnd"]) for e in sim.stats()["exports"]]


# ----- the contract ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie_order", ["stable", "shuffled"])
def test_a_restart_at_every_batch_boundary_loses_and_repeats_nothing(make_sim: Any, tie_order: str) -> None:
    sim = make_sim(cap=500, tie_order=tie_order)
    backlog(sim)
    stops = 0
    for batches in range(1, 12):
        inp = make_input(sim)
        first = inp.poll(max_requests=batches)  # stops cleanly after this many batches, checkpointed
        inp.poll(advance_seconds=30)
        assert_exactly(inp, sim)
        if first.error is None:
            break
        stops += 1
    assert stops >= 5, "the backlog never needed several batches"


def test_a_stopped_walk_goes_on_where_it_stopped(make_sim: Any) -> None:
    sim = make_sim(cap=500)
    backlog(sim)
    whole = make_input(sim)
    whole.poll()
    needed = sim.stats()["jobs_created"]
    sim.reset_stats()
    inp = make_input(sim)
    inp.poll(max_requests=2)
    assert memory(inp)["walk"]["todo"], "the walk's progress was not kept"
    inp.poll(advance_seconds=30)
    assert_exactly(inp, sim)
    # Nothing already walked is exported again; the only extra job reads the 30 seconds that are new.
    assert sim.stats()["jobs_created"] == needed + 1
    assert "walk" not in memory(inp)


def test_a_sigkill_between_any_flush_and_its_checkpoint_repeats_at_most_that_batch(make_sim: Any) -> None:
    sim = make_sim(cap=400)
    backlog(sim, 1500, seed=3)
    dry = make_input(sim)
    dry.poll()
    commits = dry.store.saves
    assert commits >= 4
    for kill_at_save in range(1, commits + 1):
        inp = make_input(sim)
        inp.store.kill_on_save = kill_at_save
        with pytest.raises(Killed):
            inp.poll()
        # What the killed run flushed is in the index; whatever it wrote after its last flush died with it.
        del inp.sink.events[inp.sink.flushed:]
        inp.poll(advance_seconds=5)
        assert_exactly(inp, sim, repeats_allowed=400)


def test_a_batch_read_twice_counts_identical_rows_once(make_sim: Any) -> None:
    """The boundary second of a capped batch comes back whole in the next batch, identical rows included."""
    sim = make_sim(cap=100, tie_order="shuffled")
    now = int(time.time() * 1000)
    boundary = now - DAY_MS
    twin = generate_rows(1, boundary, boundary, seed=8)[0]
    newer = generate_rows(80, boundary + 1000, now - 60_000, seed=9)
    older = generate_rows(120, now - 3 * DAY_MS, boundary - 1000, seed=11)
    sim.add_records(newer + repeated(twin, 60) + burst_rows(30, boundary, seed=10) + older)
    inp = make_input(sim)
    inp.poll()
    assert_exactly(inp, sim)
    assert inp.written()[json.dumps(sim.csv_fields(twin), sort_keys=True)] == 60
    # The second export ended at the first's oldest second, which it listed again in full.
    assert export_dates(sim)[1][1] == boundary // 1000 + 1


def test_late_rows_and_late_identical_copies_are_collected_once(make_sim: Any) -> None:
    sim = make_sim(cap=500)
    backlog(sim, 600, seed=4)
    inp = make_input(sim, overlap_seconds=7200)
    inp.poll()
    now = int(time.time() * 1000)
    late = generate_rows(5, now - 1_800_000, now - 1_200_000, seed=5)
    twin = late[0]
    # Visible only now, though their time lies inside the window already collected (the processing delay).
    sim.add_records([*late, twin], visible_at=time.time())
    inp.poll(advance_seconds=60)
    sim.add_records([twin], visible_at=time.time())  # a third identical copy: one more event, not three
    inp.poll(advance_seconds=60)
    assert_exactly(inp, sim)
    assert inp.written()[json.dumps(sim.csv_fields(twin), sort_keys=True)] == 3


# ----- what is kept across runs ----------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["seconds", "milliseconds"])
@pytest.mark.parametrize("wrong", ["nothing", "empty", "400"])
def test_the_epoch_unit_is_proven_once_and_an_idle_run_is_one_job(make_sim: Any, unit: str, wrong: str) -> None:
    sim = make_sim(epoch_unit=unit, wrong_unit=wrong)
    backlog(sim, 300, seed=6)
    inp = make_input(sim)
    inp.poll()
    assert_exactly(inp, sim)
    assert memory(inp)["epoch_unit"] == unit
    sim.reset_stats()
    inp.poll(advance_seconds=60)
    stats = sim.stats()
    assert stats["jobs_created"] == 1 and len(stats["exports"]) == 1 and len(stats["downloads"]) == 1
    scale = 1000 if unit == "seconds" else 1
    assert stats["exports"][0]["dateEnd"] * scale > int(time.time() * 1000) - 5 * 60_000


def test_an_empty_trail_proves_no_unit_until_rows_come(make_sim: Any) -> None:
    sim = make_sim(epoch_unit="milliseconds", wrong_unit="empty")
    inp = make_input(sim)
    inp.poll()
    assert "epoch_unit" not in memory(inp)
    assert sim.stats()["jobs_created"] == 2  # both units tried; both empty: nothing in the window either way
    now = int(time.time() * 1000)
    sim.add_records(generate_rows(50, now - 1_800_000, now - 60_000, seed=7))  # within the overlap
    inp.poll(advance_seconds=60)
    assert memory(inp)["epoch_unit"] == "milliseconds"
    assert_exactly(inp, sim)


def test_a_refused_unit_proves_the_other_even_without_rows(make_sim: Any) -> None:
    sim = make_sim(epoch_unit="milliseconds", wrong_unit="400")
    inp = make_input(sim)
    inp.poll()
    assert memory(inp)["epoch_unit"] == "milliseconds"


def test_a_job_outlasting_its_timeout_is_resumed_by_the_next_run(make_sim: Any) -> None:
    sim = make_sim(cap=500, job_seconds=2.6)
    backlog(sim, 900, seed=12)
    inp = make_input(sim, job_timeout=1)
    first = inp.poll()
    assert first.error is not None and "ExportJobPending" in (first.windows[0].error or "")
    assert first.windows[0].status == "stopped"
    pending = memory(inp)["walk"]["job"]
    assert pending["id"] and sim.stats()["jobs_created"] == 1
    inp.poll(advance_seconds=10)
    assert sim.stats()["jobs_created"] == 1, "a new job was made instead of polling the pending one"
    sim.set_config(job_seconds=0.02)
    inp.poll(advance_seconds=10)
    assert_exactly(inp, sim)
    polls = sim.stats()["job_polls"]
    assert polls[pending["id"]] >= 3 and "walk" not in memory(inp)
    # Polls grow with the job's time: far fewer than a fixed 20 ms sleep would have made.
    assert polls[pending["id"]] < 30


def test_a_job_pending_too_long_is_given_up_for_a_new_one(make_sim: Any) -> None:
    sim = make_sim(job_seconds=60)
    inp = make_input(sim, job_timeout=1)
    inp.poll()
    time.sleep(3.2)  # past four job timeouts since the job was made
    inp.poll(advance_seconds=5)
    assert sim.stats()["jobs_created"] == 2


def test_a_failing_job_is_replaced(make_sim: Any) -> None:
    sim = make_sim(cap=500)
    backlog(sim, 700, seed=13)
    sim.inject("job_fail", error="Export failed")
    inp = make_input(sim)
    inp.poll()
    assert_exactly(inp, sim)
    assert inp.results[0].windows[0].retries == 1


def test_a_truncated_download_writes_nothing_until_it_comes_whole(make_sim: Any) -> None:
    sim = make_sim(cap=800)
    backlog(sim, 1200, seed=14)
    sim.inject("truncate", fraction=0.6)
    inp = make_input(sim)
    inp.poll()
    assert_exactly(inp, sim)
    downloads = sim.stats()["downloads"]
    assert downloads[0]["complete"] is False and all(d["complete"] for d in downloads[1:])
    # 1,540 rows, two batches: the cut file is downloaded again, not exported again.
    assert sim.stats()["jobs_created"] == 2 and len(downloads) == 3


def test_capabilities_follow_what_was_proven(make_sim: Any) -> None:
    sim = make_sim(epoch_unit="milliseconds", time_format="iso_z", time_millis=True)
    backlog(sim, 40, seed=15)
    inp = make_input(sim)
    source = inp.make_source()
    assert source.capabilities.bound_resolution_ms == 1000 and source.capabilities.time_resolution_ms == 1000
    inp.poll()
    source.memory = memory(inp)
    assert source.capabilities.bound_resolution_ms == 1 and source.capabilities.time_resolution_ms == 1
    caps = source.capabilities
    assert (caps.order, caps.totals, caps.at_cap, caps.max_results) == ("descending", "absent", "continue", 50_000)
    assert caps.processing_delay_seconds == 900 and caps.retention_seconds is None


# ----- the readers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "ms", "fraction"), [
    ("2024-05-01T12:00:00Z", T, False),
    ("2024-05-01T12:00:00", T, False),
    ("2024-05-01 12:00:00", T, False),
    ("2024-05-01T12:00:00.007Z", T + 7, True),
    ("2024-05-01 12:00:00.5", T + 500, True),
    ("2024-05-01T14:00:00+02:00", T, False),
    ("2024-05-01", None, False),
    ("", None, False),
    ("2024-05-01 25:00:00", None, False),
    ("yesterday", None, False),
])
def test_export_times(text: str, ms: Optional[int], fraction: bool) -> None:
    assert parse_time(text) == (ms, fraction)


def spooled(data: bytes, limit: int = 1 << 20) -> Spool:
    return spool_body(iter([data[i:i + 7] for i in range(0, len(data), 7)]), len(data), lambda: len(data), limit)


def test_read_export_keys_rows_by_header_as_exported() -> None:
    data = ("\ufeffSubject,Time,Event,Time,Extra\r\n"
            "Jane,2024-05-01 12:00:00,Add User,x,\"a,\nb\"\r\n"
            "Bob,2024-05-01 11:59:59,Update User,y,z,overflow\r\n").encode()
    export = read_export(spooled(data, limit=16))  # spilled to a temporary file
    assert export.columns == ["Subject", "Time", "Event", "Time (2)", "Extra"] and export.time_column == "Time"
    assert (export.rows, export.oldest_ms, export.newest_ms, export.millis) == (2, T - 1000, T, False)
    seen: List[Any] = []
    rows = list(export.records(lambda _t: True, lambda row, at: seen.append(at)))
    assert rows[0] == {"Subject": "Jane", "Time": "2024-05-01 12:00:00", "Event": "Add User", "Time (2)": "x",
                       "Extra": "a,\nb"}
    assert list(rows[1]) == ["Subject", "Time", "Event", "Time (2)", "Extra", "column 6"]
    assert seen == [T, T - 1000]


@pytest.mark.parametrize("data", [b"", b"Date and Time,Subject,Event,Performed By\r\n",
                                  b"\xef\xbb\xbfTime,Subject\n"])
def test_empty_exports(data: bytes) -> None:
    export = read_export(spooled(data))
    assert export.rows == 0 and list(export.records(lambda _t: True, lambda *_: None)) == []


def test_rows_without_a_time_column_are_refused() -> None:
    with pytest.raises(ExportFormatError):
        read_export(spooled(b"Subject,When\r\nJane,2024-05-01 12:00:00\r\n"))


@pytest.mark.parametrize(("data", "length", "received"), [
    (b"Time,Subject\r\n2024-05-01 12:00:00,Ja", 60, 38),  # a Content-Length not reached
    (b"Time,Subject\r\n2024-05-01 12:00:00,Ja", None, 38),  # chunked, ended inside a row
    (b'Time,Subject\r\n2024-05-01 12:00:00,"Jane\n', None, 42),  # ended inside a quoted value
])
def test_a_body_cut_short_is_never_complete(data: bytes, length: Optional[int], received: int) -> None:
    with pytest.raises(IncompleteExport):
        spool_body(iter([data]), length, lambda: received)


def test_a_broken_transport_is_incomplete() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"Time,Subject\r\n"
        raise ConnectionResetError

    with pytest.raises(IncompleteExport, match="ConnectionResetError"):
        spool_body(chunks(), None, lambda: 14)


def test_an_unvouched_file_whose_last_row_is_short_is_incomplete() -> None:
    data = b"Time,Subject,Event\r\n2024-05-01 12:00:00,Jane\r\n"
    with pytest.raises(IncompleteExport):
        read_export(spool_body(iter([data]), None, lambda: len(data)))
    assert read_export(spooled(data)).rows == 1  # a Content-Length that was met vouches for the file


@pytest.mark.parametrize(("body", "job_id"), [
    ('"3f1c-9a"', "3f1c-9a"), ("3f1c-9a\n", "3f1c-9a"), ("12345", "12345"), ('{"id": 77}', "77"),
    ('{"jobId": "a.b"}', "a.b"), ("<html>busy</html>", None), ("true", None), ('{"id": null}', None), ("", None),
])
def test_job_id_forms(body: str, job_id: Optional[str]) -> None:
    assert parse_job_id(body) == job_id


@pytest.mark.parametrize(("answer", "url", "failed"), [
    ({"id": 1, "status": "RUNNING"}, None, False),
    ({"id": 1, "state": "completed", "signedURL": "https://x/y"}, "https://x/y", False),
    ({"id": 1, "signedURL": "https://x/y"}, "https://x/y", False),
    ({"id": 1, "signedURL": None}, None, False),
    ({"id": 1, "error": "Export failed"}, None, True),
    ({"id": 1, "status": "failed"}, None, True),
    ({"id": 1, "state": "ERROR", "signedURL": "https://x/y"}, None, True),
    (["not", "an", "object"], None, True),
])
def test_job_answers(answer: Any, url: Optional[str], failed: bool) -> None:
    status = job_status(answer)
    assert status.url == url and (status.failed is not None) is failed
    assert "Export failed" not in (status.failed or "")  # server text is never repeated


def test_request_ranges_are_one_unit_wider_on_each_side() -> None:
    assert request_range(1000, T + 500, T + 60_999) == (T // 1000 - 1, T // 1000 + 61)
    assert request_range(1, T, T + 10) == (T - 1, T + 11)
    assert request_range(1000, 0, 999) == (-1, 1)  # before 1970 is a negative timestamp, not clamped


def test_rows_are_kept_in_order_with_every_column(make_sim: Any) -> None:
    sim = make_sim(extra_columns=("Previous Value", "New Value", "Organization"), reorder_columns=True, bom=True)
    sim.add_records([AuditRow(int(time.time() * 1000) - DAY_MS, 'Smith, Jr., "Bob"', "Multiple Attributes Updated",
                              "External Org User", "Admin: false\nAll Access: false", "Admin: true\r\nAll Access: true",
                              organization="Zoë & Co")])
    inp = make_input(sim)
    inp.poll()
    [event] = inp.sink.events
    [row] = sim.ground_truth()
    fields = sim.csv_fields(row)
    bulky = ResolverSource.bulky_fields
    # The export's order, but for the free-text before/after values, which go last.
    assert list(event.items()) == [(k, v) for k, v in fields.items() if k not in bulky] + [
        (k, fields[k]) for k in bulky]
