"""Resolver: the figures of issue #12, measured against the Resolver simulator (tests/sim/resolver_sim.py).

There is no search API: an export job is made for a time range, polled until its file is ready, and the file,
at most the 50,000 newest rows, is downloaded. A backlog larger than that is walked back job by job, so the
floor of a drain is ``ceil(rows / 50000)`` jobs; an idle run makes one job, and polls it with a growing wait.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Tuple

from bench.baselines import TIMES, eventwriter, median, ms, per_row_us, rss_mb
from bench.report import Figure, Section
from bench.scenario import BenchEnv, BenchInput, InputRun
from tests.sim.resolver_sim import ResolverSimulator, SimConfig

TITLE = "Resolver (`resolver_audit`)"
SCHEME = "resolver_audit"
SOURCETYPE = "resolver:audit"
API_KEY = "rsv-bench-Ap1-K3y-0123456789abcdef"
CAP = 50_000  # the export's documented row cap, the input's default
DRAIN_ROWS = 120_000
STREAM_ROWS = CAP  # one export file holding the cap
SMALL_ROWS = 1_000
HISTORY_DAYS = 10
START_DAYS = 12
# Runs that write tens of thousands of rows are the slow part of `make bench`: fewer rounds than the others.
MAX_STREAM_ROUNDS = 3
MAX_IDLE_RUNS = 5  # each idle run waits at least the first poll interval (2 s in production)
# Poll growth is shown with the first wait between polls scaled down from 2 s to this (a policy the product
# passes to main() the same way), and jobs lasting 1, 4, 16 and 64 times that wait.
GROWTH_POLL_INTERVAL = 0.1
GROWTH_FACTORS = (1, 4, 16, 64)
# The input's schedule (lib/audit_trail/sources/resolver_jobs.py): each wait 1.5 times the one before.
POLL_GROWTH = 1.5

Progress = Callable[[str], None]


@dataclass
class Samples:
    """Raw measurements, one list entry per run in the order the runs were made."""

    drain_jobs: int = 0
    drain_polls: int = 0
    drain_downloads: int = 0
    drain_wall: float = 0.0
    drain_cpu: float = 0.0
    drain_rss_mb: float = 0.0
    stream_jobs: List[int] = field(default_factory=list)
    stream_cpu: List[float] = field(default_factory=list)
    stream_rss_mb: List[float] = field(default_factory=list)
    writer_cpu: List[float] = field(default_factory=list)
    small_cpu: List[float] = field(default_factory=list)
    small_rss_mb: List[float] = field(default_factory=list)
    small_writer_cpu: List[float] = field(default_factory=list)
    idle_jobs: List[int] = field(default_factory=list)
    idle_polls: List[int] = field(default_factory=list)
    idle_requests: List[int] = field(default_factory=list)
    idle_wall: List[float] = field(default_factory=list)
    idle_cpu: List[float] = field(default_factory=list)
    growth_job_seconds: List[float] = field(default_factory=list)
    growth_polls: List[int] = field(default_factory=list)
    writer_same_bytes: bool = False


@dataclass(frozen=True)
class Traffic:
    jobs: int
    polls: int
    downloads: int
    requests: int


def _traffic(before: Dict[str, Any], after: Dict[str, Any]) -> Traffic:
    polls = sum(after["job_polls"].values()) - sum(before["job_polls"].values())
    return Traffic(after["jobs_created"] - before["jobs_created"], polls,
                   len(after["downloads"]) - len(before["downloads"]),
                   len(after["requests"]) - len(before["requests"]))


def _simulator(env: BenchEnv, rows: int) -> ResolverSimulator:
    """A started simulator whose tenant logged ``rows`` rows over the last 10 days, all older than the settle
    time; exports hold the real cap of 50,000 rows and a job takes 0.2 s (the simulator's default)."""
    sim = env.own(ResolverSimulator(SimConfig(api_key=API_KEY, cap=CAP)).start())
    now_ms = int(time.time() * 1000)
    sim.generate(rows, now_ms - HISTORY_DAYS * 86_400_000, now_ms - 20 * 60_000, seed=1)
    return sim


def _params(sim: ResolverSimulator) -> Dict[str, str]:
    """Production settings (epoch_unit auto, job timeout, settle, overlap, log level) and a start date."""
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - START_DAYS * 86400))
    return {"base_url": sim.base_url, "api_key": API_KEY, "ca_bundle": sim.ca_path, "index": "resolver",
            "interval": "300", "start_date": start}


def _run(bench_input: BenchInput, sim: ResolverSimulator, rows: int) -> Tuple[InputRun, Traffic]:
    before = sim.stats()
    run = bench_input.expect(bench_input.run(), rows)
    return run, _traffic(before, sim.stats())


def measure(env: BenchEnv, rounds: int, idle_polls: int, progress: Progress) -> Section:
    if not env.packaged(SCHEME):
        return Section(TITLE, skipped=f"bin/{SCHEME}.py is not in the package under test")
    samples = Samples()
    sim = _simulator(env, DRAIN_ROWS)
    drain_input = env.input("rs-drain", SCHEME, SOURCETYPE, _params(sim))
    run, traffic = _run(drain_input, sim, DRAIN_ROWS)
    samples.drain_jobs, samples.drain_polls, samples.drain_downloads = traffic.jobs, traffic.polls, traffic.downloads
    samples.drain_wall, samples.drain_cpu = run.child.wall_seconds, run.child.cpu_seconds
    samples.drain_rss_mb = rss_mb(run.child)
    progress(f"  drain of {DRAIN_ROWS:,}: {traffic.jobs} export jobs, {traffic.polls} status polls, "
             f"{traffic.downloads} downloads, {run.child.wall_seconds:.1f} s wall, CPU {run.child.cpu_seconds:.2f} s, "
             f"peak RSS {rss_mb(run.child):.1f} MB")
    del run
    for _ in range(min(idle_polls, MAX_IDLE_RUNS)):
        idle, traffic = _run(drain_input, sim, 0)
        samples.idle_jobs.append(traffic.jobs)
        samples.idle_polls.append(traffic.polls)
        samples.idle_requests.append(traffic.requests)
        samples.idle_wall.append(idle.child.wall_seconds)
        samples.idle_cpu.append(idle.child.cpu_seconds)
    progress(f"  {len(samples.idle_jobs)} idle runs: {'-'.join(map(str, sorted(set(samples.idle_jobs))))} jobs, "
             f"{'-'.join(map(str, sorted(set(samples.idle_polls))))} polls each, median {ms(samples.idle_wall)} ms")
    _poll_growth(env, samples)
    progress("  status polls for jobs of " + ", ".join(
        f"{t:g} s: {p}" for t, p in zip(samples.growth_job_seconds, samples.growth_polls)))
    stream_rounds = min(rounds, MAX_STREAM_ROUNDS)
    for number in range(1, stream_rounds + 1):
        sim = _simulator(env, STREAM_ROWS)
        stream, traffic = _run(env.input(f"rs-stream{number}", SCHEME, SOURCETYPE, _params(sim)), sim, STREAM_ROWS)
        writer = eventwriter(env, stream, f"rs-stream{number}")
        if number == 1:
            samples.writer_same_bytes = writer.stdout == stream.child.stdout
        samples.stream_jobs.append(traffic.jobs)
        samples.stream_cpu.append(stream.child.cpu_seconds)
        samples.stream_rss_mb.append(rss_mb(stream.child))
        samples.writer_cpu.append(writer.cpu_seconds)
        progress(f"  backfill of {STREAM_ROWS:,} ({number}/{stream_rounds}): {traffic.jobs} jobs, CPU "
                 f"{stream.child.cpu_seconds:.2f} s (EventWriter alone {writer.cpu_seconds:.2f} s), peak RSS "
                 f"{rss_mb(stream.child):.1f} MB")
        del stream
        sim = _simulator(env, SMALL_ROWS)
        small, _ = _run(env.input(f"rs-small{number}", SCHEME, SOURCETYPE, _params(sim)), sim, SMALL_ROWS)
        small_writer = eventwriter(env, small, f"rs-small{number}")
        samples.small_cpu.append(small.child.cpu_seconds)
        samples.small_rss_mb.append(rss_mb(small.child))
        samples.small_writer_cpu.append(small_writer.cpu_seconds)
    return Section(TITLE, figures(samples), notes(samples), asdict(samples))


def _poll_growth(env: BenchEnv, samples: Samples) -> None:
    """Idle runs of one input whose export jobs take longer and longer, polled with the first wait scaled down."""
    sim = _simulator(env, SMALL_ROWS)
    script = env.policy_script(SCHEME, poll_interval=GROWTH_POLL_INTERVAL)
    growth = env.input("rs-growth", SCHEME, SOURCETYPE, _params(sim), script=script)
    _run(growth, sim, SMALL_ROWS)
    for factor in GROWTH_FACTORS:
        seconds = factor * GROWTH_POLL_INTERVAL
        sim.set_config(job_seconds=seconds, job_pending_seconds=seconds / 4)
        _, traffic = _run(growth, sim, 0)
        samples.growth_job_seconds.append(seconds)
        samples.growth_polls.append(traffic.polls)


def scheduled_polls(job_seconds: float, first_wait: float) -> int:
    """Polls the input's schedule needs before one lands after the job is done: waits growing 1.5 times."""
    polls, waited, wait = 0, 0.0, first_wait
    while waited < job_seconds:
        waited += wait
        wait *= POLL_GROWTH
        polls += 1
    return max(polls, 1)


def _series(values: List[Any]) -> str:
    return "-".join(map(str, values))


def figures(samples: Samples) -> List[Figure]:
    floor = math.ceil(DRAIN_ROWS / CAP)
    idle_jobs, idle_polls = sorted(set(samples.idle_jobs)), sorted(set(samples.idle_polls))
    schedule = [scheduled_polls(t, GROWTH_POLL_INTERVAL) for t in samples.growth_job_seconds]
    fixed = [math.ceil(t / GROWTH_POLL_INTERVAL) for t in samples.growth_job_seconds]
    cpu_input = per_row_us(samples.stream_cpu, STREAM_ROWS)
    cpu_writer = per_row_us(samples.writer_cpu, STREAM_ROWS)
    stream_rss = median(samples.stream_rss_mb)
    small_rss = median(samples.small_rss_mb)
    return [
        Figure("Export jobs and status polls per idle run", "1 job; polls grow with the job's time",
               f"{_series(idle_jobs)} job, {_series(idle_polls)} poll (job 0.2 s, first wait 2 s)",
               idle_jobs == [1] and max(idle_polls) <= scheduled_polls(0.2, 2.0) + 1),
        Figure(f"Status polls for jobs of {_series(list(GROWTH_FACTORS))}{TIMES} the first wait "
               f"({GROWTH_POLL_INTERVAL:g} s); a fixed sleep would need {_series(fixed)}",
               f"≤ schedule + 1 ({_series(schedule)})", _series(samples.growth_polls),
               len(samples.growth_polls) == len(schedule)
               and all(p <= s + 1 for p, s in zip(samples.growth_polls, schedule))),
        Figure(f"Export jobs to drain {DRAIN_ROWS:,} rows vs the floor ceil({DRAIN_ROWS}/{CAP})", "≤ floor",
               f"{samples.drain_jobs} vs {floor}", samples.drain_jobs <= floor),
        Figure("CPU time per row, whole input vs `EventWriter` writing the same events alone", f"≤ 1.5{TIMES}",
               f"{cpu_input:.0f} µs vs {cpu_writer:.0f} µs = {cpu_input / cpu_writer:.2f}{TIMES}",
               cpu_input / cpu_writer <= 1.5),
        Figure(f"Peak RSS while a {STREAM_ROWS:,}-row CSV streams through (vs {SMALL_ROWS:,} rows)", "≤ 60 MB",
               f"{stream_rss:.1f} MB (vs {small_rss:.1f} MB)", stream_rss <= 60.0),
    ]


def notes(samples: Samples) -> List[str]:
    extra = STREAM_ROWS - SMALL_ROWS
    marginal_input = (median(samples.stream_cpu) - median(samples.small_cpu)) / extra * 1e6
    marginal_writer = (median(samples.writer_cpu) - median(samples.small_writer_cpu)) / extra * 1e6
    rounds = len(samples.stream_cpu)
    jobs = _series(sorted(set(samples.stream_jobs)))
    return [
        f"One drain of {DRAIN_ROWS:,} rows ({HISTORY_DAYS} days, start_date {START_DAYS} days back, cap "
        f"{CAP:,}), medians of {rounds} backfills of {STREAM_ROWS:,} and of {SMALL_ROWS:,} rows, and "
        f"{len(samples.idle_jobs)} idle runs; production settings (epoch_unit auto, settle 900 s, overlap 900 s, "
        "first wait between polls 2 s).",
        f"Drain: {samples.drain_jobs} jobs, {samples.drain_polls} status polls, {samples.drain_downloads} downloads; "
        f"{samples.drain_wall:.1f} s wall, CPU {samples.drain_cpu:.2f} s "
        f"({samples.drain_cpu / DRAIN_ROWS * 1e6:.0f} µs a row), peak RSS {samples.drain_rss_mb:.1f} MB.",
        f"A backfill of exactly {STREAM_ROWS:,} rows takes {jobs} jobs: an export holding the cap may have been cut, "
        "so the walk asks once more, back from its oldest second (which proves it was not).",
        f"Idle runs: {_series(sorted(set(samples.idle_requests)))} requests each (export, polls, download), "
        f"{ms(samples.idle_wall)} ms wall, of which the first wait is 2,000; CPU {ms(samples.idle_cpu)} ms.",
        f"Backfill CPU: {median(samples.stream_cpu):.2f} s for {STREAM_ROWS:,} rows, {median(samples.small_cpu):.2f} s "
        f"for {SMALL_ROWS:,}; EventWriter alone {median(samples.writer_cpu):.2f} s and "
        f"{median(samples.small_writer_cpu):.2f} s. Per extra row: {marginal_input:.0f} µs vs {marginal_writer:.0f} µs "
        f"= {marginal_input / marginal_writer:.2f}{TIMES}. EventWriter baseline wrote the backfill's stream byte for "
        "byte: " + ("yes." if samples.writer_same_bytes else "NO."),
    ]
