"""The five figures of issue #5, measured side by side in one run against the local simulators.

Every input run is the packaged script on Splunk's Python with the stanza's XML on stdin. Each baseline
runs right after the run it is compared with, so a busy machine slows both sides alike, and ratios are
taken between medians over the rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from bench.child import ChildRun, run_child
from bench.report import Figure
from bench.scenario import BenchEnv, BenchInput, InputRun
from tests.harness import splunk_python

DRAIN_RECORDS = 10_000
# A full backlog: the tenant logged more than the API keeps, so the API holds its newest 10,000.
DRAIN_HISTORY = 12_000
SMALL_RECORDS = 1_000
# The idle polls' input starts small: after a backfill, each poll rewrites the backfill's ids until they age
# out of the overlap (15 minutes of polling); a few polls right after a drain are measured apart.
IDLE_RECORDS = 20
AFTER_DRAIN_POLLS = 3
# Before idle polls, the simulator's Heavy window and penalty shrink from 60 s to this, so the polls need not
# wait out the minute of the run before them. The limit stays at 10 requests per window.
IDLE_HEAVY_WINDOW = 1.0
MB = 1_000_000.0
TIMES = "\u00d7"  # the multiplication sign, as in the targets

Progress = Callable[[str], None]


@dataclass
class Samples:
    """Raw measurements, one list entry per run in the order the runs were made."""

    drain_heavy: List[int] = field(default_factory=list)
    drain_429: List[int] = field(default_factory=list)
    drain_cpu: List[float] = field(default_factory=list)
    drain_rss_mb: List[float] = field(default_factory=list)
    writer_cpu: List[float] = field(default_factory=list)
    small_cpu: List[float] = field(default_factory=list)
    small_rss_mb: List[float] = field(default_factory=list)
    small_writer_cpu: List[float] = field(default_factory=list)
    after_drain_wall: List[float] = field(default_factory=list)
    after_drain_cpu: List[float] = field(default_factory=list)
    idle_heavy: List[int] = field(default_factory=list)
    idle_429: List[int] = field(default_factory=list)
    idle_wall: List[float] = field(default_factory=list)
    idle_cpu: List[float] = field(default_factory=list)
    import_wall: List[float] = field(default_factory=list)
    import_cpu: List[float] = field(default_factory=list)
    token_requests: int = 0  # over the idle input's first run and its idle polls
    writer_same_bytes: bool = False

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def _rss_mb(child: ChildRun) -> float:
    return child.peak_rss_mib * 1024 * 1024 / MB


def _backfill(env: BenchEnv, name: str, records: int,
              history: Optional[int] = None) -> Tuple[BenchInput, InputRun, Dict[str, Any]]:
    # A fresh simulator per backfill: each one meets the real Heavy window with an unused budget.
    sim = env.simulator(history or records)
    bench_input = env.input(name, sim)
    run = bench_input.run()
    if run.records != records:
        msg = f"{name}: wrote {run.records} of {records} records; see {bench_input.runner.log_file}"
        raise RuntimeError(msg)
    return bench_input, run, sim.stats()


def _write_events(run: InputRun, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for event in run.events:
            handle.write(json.dumps({
                "data": event.data, "time": event.time, "stanza": event.stanza, "source": event.source,
                "sourcetype": event.sourcetype, "index": event.index, "host": event.host,
            }) + "\n")


def _writer_baseline(env: BenchEnv, run: InputRun, name: str) -> ChildRun:
    """splunklib's EventWriter alone, on Splunk's Python, writing ``run``'s events to a pipe."""
    events_path = str(env.workdir / f"{name}-events.jsonl")
    _write_events(run, events_path)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eventwriter_baseline.py")
    child = run_child([splunk_python(), script, str(env.app_dir / "lib"), events_path])
    if child.returncode != 0:
        msg = f"EventWriter baseline failed: {child.stderr.decode(errors='replace')[-500:]}"
        raise RuntimeError(msg)
    return child


def _import_baseline(env: BenchEnv) -> ChildRun:
    child_env = dict(os.environ, PYTHONPATH=str(env.app_dir / "lib"))
    child = run_child([splunk_python(), "-c", "import splunklib.modularinput"], env=child_env)
    if child.returncode != 0:
        msg = f"import baseline failed: {child.stderr.decode(errors='replace')[-500:]}"
        raise RuntimeError(msg)
    return child


def measure(env: BenchEnv, rounds: int, idle_polls: int, progress: Progress) -> Samples:
    samples = Samples()
    for number in range(1, rounds + 1):
        bench_input, run, stats = _backfill(env, f"drain{number}", DRAIN_RECORDS, DRAIN_HISTORY)
        writer = _writer_baseline(env, run, f"drain{number}")
        samples.drain_heavy.append(stats["heavy_requests"])
        samples.drain_429.append(stats["rate_limited"])
        samples.drain_cpu.append(run.child.cpu_seconds)
        samples.drain_rss_mb.append(_rss_mb(run.child))
        samples.writer_cpu.append(writer.cpu_seconds)
        progress(f"  drain {number}/{rounds}: {stats['heavy_requests']} Heavy requests, "
                 f"{stats['rate_limited']} 429s, CPU {run.child.cpu_seconds:.2f} s "
                 f"(EventWriter alone {writer.cpu_seconds:.2f} s), "
                 f"peak RSS {_rss_mb(run.child):.1f} MB")
        if number == 1:
            # The baseline replays the drain's events, so its stream must equal the drain's byte for byte.
            samples.writer_same_bytes = writer.stdout == run.child.stdout
            for _ in range(AFTER_DRAIN_POLLS):
                poll = _idle_poll(bench_input)
                samples.after_drain_wall.append(poll.child.wall_seconds)
                samples.after_drain_cpu.append(poll.child.cpu_seconds)
        _, small, _ = _backfill(env, f"small{number}", SMALL_RECORDS)
        small_writer = _writer_baseline(env, small, f"small{number}")
        samples.small_cpu.append(small.child.cpu_seconds)
        samples.small_rss_mb.append(_rss_mb(small.child))
        samples.small_writer_cpu.append(small_writer.cpu_seconds)
        progress(f"  backfill of {SMALL_RECORDS:,}: CPU {small.child.cpu_seconds:.2f} s (EventWriter alone "
                 f"{small_writer.cpu_seconds:.2f} s), peak RSS {_rss_mb(small.child):.1f} MB")
    idle_input, _, _ = _backfill(env, "idle", IDLE_RECORDS)
    _idle(idle_input, idle_polls, samples, env)
    progress(f"  {idle_polls} idle polls: median {_ms(samples.idle_wall)} ms "
             f"(import splunklib.modularinput {_ms(samples.import_wall)} ms)")
    return samples


def _ms(seconds: Sequence[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.0f}"


def _shrink_heavy_window(bench_input: BenchInput) -> None:
    sim = bench_input.sim
    if sim.config.heavy_window != IDLE_HEAVY_WINDOW:
        sim.set_config(heavy_window=IDLE_HEAVY_WINDOW, heavy_penalty=IDLE_HEAVY_WINDOW)
        time.sleep(IDLE_HEAVY_WINDOW + 0.5)


def _idle_poll(bench_input: BenchInput) -> InputRun:
    _shrink_heavy_window(bench_input)
    poll = bench_input.run()
    if poll.records != 0 or [s["status"] for s in poll.summaries()] != ["complete"]:
        msg = f"an idle poll collected {poll.records} records; summaries {poll.summaries()}"
        raise RuntimeError(msg)
    return poll


def _idle(bench_input: BenchInput, polls: int, samples: Samples, env: BenchEnv) -> None:
    _shrink_heavy_window(bench_input)
    sim = bench_input.sim
    before = sim.stats()
    for _ in range(polls):
        poll = _idle_poll(bench_input)
        after = sim.stats()
        samples.idle_heavy.append(after["heavy_requests"] - before["heavy_requests"])
        samples.idle_429.append(after["rate_limited"] - before["rate_limited"])
        samples.idle_wall.append(poll.child.wall_seconds)
        samples.idle_cpu.append(poll.child.cpu_seconds)
        before = after
        baseline = _import_baseline(env)
        samples.import_wall.append(baseline.wall_seconds)
        samples.import_cpu.append(baseline.cpu_seconds)
    # The input's first run, with nothing cached, counts too: its login is the one token request expected.
    samples.token_requests = before["token_grants"]


def _per_record_us(cpu_seconds: Sequence[float], records: int) -> float:
    return statistics.median(cpu_seconds) / records * 1e6


def figures(samples: Samples) -> List[Figure]:
    med = statistics.median
    heavy, limited = max(samples.drain_heavy), max(samples.drain_429)
    idle_heavy = sorted(set(samples.idle_heavy))
    cpu_input = _per_record_us(samples.drain_cpu, DRAIN_RECORDS)
    cpu_writer = _per_record_us(samples.writer_cpu, DRAIN_RECORDS)
    rss = med(samples.drain_rss_mb)
    growth = rss / med(samples.small_rss_mb) - 1.0
    wall_ratio = med(samples.idle_wall) / med(samples.import_wall)
    polls = len(samples.idle_wall) + 1  # the idle polls and the input's first run
    return [
        Figure("Heavy requests to drain a full 10,000-record backlog, and 429s received", "≤ 11, 0",
               f"{heavy}, {limited}", heavy <= 11 and limited == 0),
        Figure("Heavy requests per idle poll; token requests over 10 consecutive polls", "1; ≤ 1",
               f"{'-'.join(map(str, idle_heavy))}; {samples.token_requests} (over {polls} polls)",
               idle_heavy == [1] and max(samples.idle_429) == 0 and samples.token_requests <= 1
               and polls >= 10),
        Figure("CPU time per record, whole input vs `EventWriter` writing the same events alone",
               f"≤ 1.5{TIMES}",
               f"{cpu_input:.0f} µs vs {cpu_writer:.0f} µs = {cpu_input / cpu_writer:.2f}{TIMES}",
               cpu_input / cpu_writer <= 1.5),
        Figure("Peak RSS of a 10,000-record backfill; growth from 1,000 to 10,000 records", "≤ 60 MB; ≤ 10 %",
               f"{rss:.1f} MB; {growth * 100:+.1f} %", rss <= 60.0 and growth <= 0.10),
        Figure("Wall time of an idle poll vs `python -c \"import splunklib.modularinput\"`", f"≤ 3{TIMES}",
               f"{_ms(samples.idle_wall)} ms vs {_ms(samples.import_wall)} ms = {wall_ratio:.2f}{TIMES}",
               wall_ratio <= 3.0),
    ]


def notes(samples: Samples) -> List[str]:
    """What the table's cells are made of, for reading a MISS."""
    med = statistics.median
    marginal_input = (med(samples.drain_cpu) - med(samples.small_cpu)) / (DRAIN_RECORDS - SMALL_RECORDS) * 1e6
    marginal_writer = ((med(samples.writer_cpu) - med(samples.small_writer_cpu))
                       / (DRAIN_RECORDS - SMALL_RECORDS) * 1e6)
    return [
        f"Medians of {len(samples.drain_cpu)} backfills of each size (a fresh simulator each, Heavy limit "
        f"10 per real 60 s window) and of {len(samples.idle_wall)} idle polls; MB = 10^6 bytes; "
        "CPU = user + system.",
        f"Backfill CPU: {med(samples.drain_cpu):.2f} s for 10,000 records, {med(samples.small_cpu):.2f} s "
        f"for 1,000; EventWriter alone {med(samples.writer_cpu):.2f} s and "
        f"{med(samples.small_writer_cpu):.2f} s. "
        f"Per extra record: {marginal_input:.0f} µs vs {marginal_writer:.0f} µs "
        f"= {marginal_input / marginal_writer:.2f}{TIMES}.",
        "EventWriter baseline wrote the drain's stream byte for byte: "
        + ("yes." if samples.writer_same_bytes else "NO."),
        f"Idle polls of an input that first collected {IDLE_RECORDS} records: CPU {_ms(samples.idle_cpu)} ms "
        f"vs {_ms(samples.import_cpu)} ms for the import alone; 429s: {sum(samples.idle_429)}. For idle "
        f"polls the simulator's Heavy window and penalty shrink to {IDLE_HEAVY_WINDOW:g} s (limit still 10).",
        f"Idle polls right after a 10,000-record backfill, which still rewrite its ids with each checkpoint: "
        f"{_ms(samples.after_drain_wall)} ms wall, {_ms(samples.after_drain_cpu)} ms CPU.",
    ]
