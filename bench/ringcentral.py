"""RingCentral: the five figures of issue #5, measured side by side in one run against the RingCentral simulator.

Each baseline runs right after the run it is compared with, so a busy machine slows both sides alike, and
ratios are taken between medians over the rounds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, List, Optional, Tuple

from bench.baselines import TIMES, eventwriter, import_splunklib, median, ms, per_row_us, rss_mb
from bench.report import Figure, Section
from bench.scenario import BenchEnv, BenchInput, InputRun
from tests.conftest import input_params, sim_config
from tests.sim.ringcentral_sim import RingCentralSimulator

TITLE = "RingCentral (`ringcentral_audit`)"
SCHEME = "ringcentral_audit"
SOURCETYPE = "ringcentral:audit"
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


def _simulator(env: BenchEnv, records: int) -> RingCentralSimulator:
    """A started simulator whose tenant logged ``records`` records over the last 30 days, all older than the
    settle time; like the API, it keeps the newest 10,000. The Heavy group has its real limits: 10 requests per
    60 s window, a 60 s penalty."""
    sim = env.own(RingCentralSimulator(sim_config(heavy_window=60.0, heavy_penalty=60.0)))
    sim.start()
    now = datetime.now(timezone.utc)
    sim.generate(records, now - timedelta(days=30), now - timedelta(minutes=10), seed=1)
    return sim


def _backfill(env: BenchEnv, name: str, records: int,
              history: Optional[int] = None) -> Tuple[BenchInput, InputRun, RingCentralSimulator]:
    # A fresh simulator per backfill: each one meets the real Heavy window with an unused budget.
    sim = _simulator(env, history or records)
    # Production settings: default settle and overlap, INFO logging, page size as large as the API allows.
    bench_input = env.input(name, SCHEME, SOURCETYPE,
                            input_params(sim, settle_seconds=None, overlap_seconds=None, log_level=None))
    return bench_input, bench_input.expect(bench_input.run(), records), sim


def measure(env: BenchEnv, rounds: int, idle_polls: int, progress: Progress) -> Section:
    samples = Samples()
    for number in range(1, rounds + 1):
        bench_input, run, sim = _backfill(env, f"rc-drain{number}", DRAIN_RECORDS, DRAIN_HISTORY)
        stats = sim.stats()
        writer = eventwriter(env, run, f"rc-drain{number}")
        samples.drain_heavy.append(stats["heavy_requests"])
        samples.drain_429.append(stats["rate_limited"])
        samples.drain_cpu.append(run.child.cpu_seconds)
        samples.drain_rss_mb.append(rss_mb(run.child))
        samples.writer_cpu.append(writer.cpu_seconds)
        progress(f"  drain {number}/{rounds}: {stats['heavy_requests']} Heavy requests, "
                 f"{stats['rate_limited']} 429s, CPU {run.child.cpu_seconds:.2f} s "
                 f"(EventWriter alone {writer.cpu_seconds:.2f} s), peak RSS {rss_mb(run.child):.1f} MB")
        if number == 1:
            # The baseline replays the drain's events, so its stream must equal the drain's byte for byte.
            samples.writer_same_bytes = writer.stdout == run.child.stdout
            for _ in range(AFTER_DRAIN_POLLS):
                poll = _idle_poll(bench_input, sim)
                samples.after_drain_wall.append(poll.child.wall_seconds)
                samples.after_drain_cpu.append(poll.child.cpu_seconds)
        _, small, _ = _backfill(env, f"rc-small{number}", SMALL_RECORDS)
        small_writer = eventwriter(env, small, f"rc-small{number}")
        samples.small_cpu.append(small.child.cpu_seconds)
        samples.small_rss_mb.append(rss_mb(small.child))
        samples.small_writer_cpu.append(small_writer.cpu_seconds)
        progress(f"  backfill of {SMALL_RECORDS:,}: CPU {small.child.cpu_seconds:.2f} s (EventWriter alone "
                 f"{small_writer.cpu_seconds:.2f} s), peak RSS {rss_mb(small.child):.1f} MB")
    idle_input, _, idle_sim = _backfill(env, "rc-idle", IDLE_RECORDS)
    _idle(env, idle_input, idle_sim, idle_polls, samples)
    progress(f"  {idle_polls} idle polls: median {ms(samples.idle_wall)} ms "
             f"(import splunklib.modularinput {ms(samples.import_wall)} ms)")
    return Section(TITLE, figures(samples), notes(samples), asdict(samples))


def _shrink_heavy_window(sim: RingCentralSimulator) -> None:
    if sim.config.heavy_window != IDLE_HEAVY_WINDOW:
        sim.set_config(heavy_window=IDLE_HEAVY_WINDOW, heavy_penalty=IDLE_HEAVY_WINDOW)
        time.sleep(IDLE_HEAVY_WINDOW + 0.5)


def _idle_poll(bench_input: BenchInput, sim: RingCentralSimulator) -> InputRun:
    _shrink_heavy_window(sim)
    poll = bench_input.run()
    if poll.records != 0 or [s["status"] for s in poll.summaries()] != ["complete"]:
        msg = f"an idle poll collected {poll.records} records; summaries {poll.summaries()}"
        raise RuntimeError(msg)
    return poll


def _idle(env: BenchEnv, bench_input: BenchInput, sim: RingCentralSimulator, polls: int, samples: Samples) -> None:
    _shrink_heavy_window(sim)
    before = sim.stats()
    for _ in range(polls):
        poll = _idle_poll(bench_input, sim)
        after = sim.stats()
        samples.idle_heavy.append(after["heavy_requests"] - before["heavy_requests"])
        samples.idle_429.append(after["rate_limited"] - before["rate_limited"])
        samples.idle_wall.append(poll.child.wall_seconds)
        samples.idle_cpu.append(poll.child.cpu_seconds)
        before = after
        baseline = import_splunklib(env)
        samples.import_wall.append(baseline.wall_seconds)
        samples.import_cpu.append(baseline.cpu_seconds)
    # The input's first run, with nothing cached, counts too: its login is the one token request expected.
    samples.token_requests = before["token_grants"]


def figures(samples: Samples) -> List[Figure]:
    heavy, limited = max(samples.drain_heavy), max(samples.drain_429)
    idle_heavy = sorted(set(samples.idle_heavy))
    cpu_input = per_row_us(samples.drain_cpu, DRAIN_RECORDS)
    cpu_writer = per_row_us(samples.writer_cpu, DRAIN_RECORDS)
    rss = median(samples.drain_rss_mb)
    growth = rss / median(samples.small_rss_mb) - 1.0
    wall_ratio = median(samples.idle_wall) / median(samples.import_wall)
    polls = len(samples.idle_wall) + 1  # the idle polls and the input's first run
    return [
        Figure("Heavy requests to drain a full 10,000-record backlog, and 429s received", "≤ 11, 0",
               f"{heavy}, {limited}", heavy <= 11 and limited == 0),
        Figure("Heavy requests per idle poll; token requests over 10 consecutive polls", "1; ≤ 1",
               f"{'-'.join(map(str, idle_heavy))}; {samples.token_requests} (over {polls} polls)",
               idle_heavy == [1] and max(samples.idle_429) == 0 and samples.token_requests <= 1 and polls >= 10),
        Figure("CPU time per record, whole input vs `EventWriter` writing the same events alone",
               f"≤ 1.5{TIMES}",
               f"{cpu_input:.0f} µs vs {cpu_writer:.0f} µs = {cpu_input / cpu_writer:.2f}{TIMES}",
               cpu_input / cpu_writer <= 1.5),
        Figure("Peak RSS of a 10,000-record backfill; growth from 1,000 to 10,000 records", "≤ 60 MB; ≤ 10 %",
               f"{rss:.1f} MB; {growth * 100:+.1f} %", rss <= 60.0 and growth <= 0.10),
        Figure("Wall time of an idle poll vs `python -c \"import splunklib.modularinput\"`", f"≤ 3{TIMES}",
               f"{ms(samples.idle_wall)} ms vs {ms(samples.import_wall)} ms = {wall_ratio:.2f}{TIMES}",
               wall_ratio <= 3.0),
    ]


def notes(samples: Samples) -> List[str]:
    """What the table's cells are made of, for reading a MISS."""
    extra = DRAIN_RECORDS - SMALL_RECORDS
    marginal_input = (median(samples.drain_cpu) - median(samples.small_cpu)) / extra * 1e6
    marginal_writer = (median(samples.writer_cpu) - median(samples.small_writer_cpu)) / extra * 1e6
    return [
        f"Medians of {len(samples.drain_cpu)} backfills of each size (a fresh simulator each, Heavy limit "
        f"10 per real 60 s window) and of {len(samples.idle_wall)} idle polls; MB = 10^6 bytes; "
        "CPU = user + system.",
        f"Backfill CPU: {median(samples.drain_cpu):.2f} s for 10,000 records, {median(samples.small_cpu):.2f} s "
        f"for 1,000; EventWriter alone {median(samples.writer_cpu):.2f} s and "
        f"{median(samples.small_writer_cpu):.2f} s. Per extra record: {marginal_input:.0f} µs vs "
        f"{marginal_writer:.0f} µs = {marginal_input / marginal_writer:.2f}{TIMES}.",
        f"Peak RSS of the 1,000-record backfills: {median(samples.small_rss_mb):.1f} MB.",
        "EventWriter baseline wrote the drain's stream byte for byte: "
        + ("yes." if samples.writer_same_bytes else "NO."),
        f"Idle polls of an input that first collected {IDLE_RECORDS} records: CPU {ms(samples.idle_cpu)} ms "
        f"vs {ms(samples.import_cpu)} ms for the import alone; 429s: {sum(samples.idle_429)}. For idle "
        f"polls the simulator's Heavy window and penalty shrink to {IDLE_HEAVY_WINDOW:g} s (limit still 10).",
        f"Idle polls right after a 10,000-record backfill, which still rewrite its ids with each checkpoint: "
        f"{ms(samples.after_drain_wall)} ms wall, {ms(samples.after_drain_cpu)} ms CPU.",
    ]
