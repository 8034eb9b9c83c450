"""LivePerson: the figures of issue #11, measured against the LivePerson simulator (tests/sim/liveperson_sim.py).

The API bounds a listing by whole days and pages by ``first``/``offset``, and a listing ends only with an empty
page. So the floor of a drain is ``ceil(rows / first)`` plus one request per listing to see its end; an idle
poll lists the whole of the window's days, however narrow the window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Tuple

from bench.baselines import TIMES, eventwriter, median, ms, per_row_us, rss_mb
from bench.report import Figure, Section
from bench.scenario import BenchEnv, BenchInput, InputRun
from tests.sim.liveperson_sim import LivePersonSimulator, SimConfig

TITLE = "LivePerson (`liveperson_audit`)"
SCHEME = "liveperson_audit"
SOURCETYPE = "liveperson:audit"
DRAIN_ROWS = 10_000
SMALL_ROWS = 1_000
HISTORY_DAYS = 30
START_DAYS = 40  # start_date as in tests/test_input_liveperson.py's params()

Progress = Callable[[str], None]


@dataclass
class Samples:
    """Raw measurements, one list entry per run in the order the runs were made."""

    first: int = 0  # rows per request the input asked for (its default page_size)
    drain_requests: List[int] = field(default_factory=list)
    drain_listings: List[int] = field(default_factory=list)  # windows read, each a listing with its own end
    drain_rows_listed: List[int] = field(default_factory=list)  # rows the API served, repeats included
    drain_day_floor: List[int] = field(default_factory=list)  # the floor for what the day bounds list
    drain_domain: List[int] = field(default_factory=list)
    drain_cpu: List[float] = field(default_factory=list)
    drain_rss_mb: List[float] = field(default_factory=list)
    writer_cpu: List[float] = field(default_factory=list)
    small_cpu: List[float] = field(default_factory=list)
    small_rss_mb: List[float] = field(default_factory=list)
    small_writer_cpu: List[float] = field(default_factory=list)
    idle_requests: List[int] = field(default_factory=list)
    idle_floor: List[int] = field(default_factory=list)
    idle_rows_listed: List[int] = field(default_factory=list)
    idle_domain: List[int] = field(default_factory=list)
    idle_wall: List[float] = field(default_factory=list)
    idle_cpu: List[float] = field(default_factory=list)
    writer_same_bytes: bool = False


def _simulator(env: BenchEnv, rows: int) -> LivePersonSimulator:
    """A started simulator whose account logged ``rows`` changes over the last 30 days, all older than the
    settle time, under the documented defaults (toDate inclusive, days in the requested zone, no cap on first)."""
    sim = env.own(LivePersonSimulator(SimConfig()).start())
    now = datetime.now(timezone.utc)
    sim.generate(rows, now - timedelta(days=HISTORY_DAYS), now - timedelta(minutes=10), seed=1)
    return sim


def _params(sim: LivePersonSimulator) -> Dict[str, str]:
    """Production settings: default page size, settle, overlap and log level; the tests' start date."""
    cfg = sim.config
    start = datetime.now(timezone.utc) - timedelta(days=START_DAYS)
    return {
        "account_id": cfg.account_id, "app_key": cfg.app_key, "app_secret": cfg.app_secret,
        "access_token": cfg.access_token, "access_token_secret": cfg.access_token_secret,
        "domain_url": sim.base_url, "ca_bundle": sim.ca_path, "index": "lp_audit", "interval": "300",
        "start_date": start.strftime("%Y-%m-%d"),
    }


@dataclass(frozen=True)
class Traffic:
    """What one run asked of the simulator."""

    audit: int
    domain: int
    rows: int
    first: int
    day_floor: int  # per listing (one day range), ceil(its matches / first) + 1 to see its end


def _traffic(entries: List[Dict[str, Any]]) -> Traffic:
    audit = [e for e in entries if e["kind"] == "audit"]
    firsts = [int(e["args"]["first"]) for e in audit if e.get("args") and "first" in e["args"]]
    first = max(firsts) if firsts else 0
    totals: Dict[Tuple[str, str], int] = {}
    for entry in audit:
        args = entry.get("args") or {}
        span = (str(args.get("fromDate")), str(args.get("toDate")))
        total = int(entry["total_count"]) if str(entry.get("total_count") or "").isdigit() else 0
        totals[span] = max(totals.get(span, 0), total)
    floor = sum(math.ceil(total / first) + 1 for total in totals.values()) if first else 0
    return Traffic(len(audit), sum(1 for e in entries if e["kind"] == "domain"), sum(e["rows"] for e in audit),
                   first, floor)


def _run(bench_input: BenchInput, sim: LivePersonSimulator, rows: int) -> Tuple[InputRun, Traffic]:
    seen = len(sim.stats()["requests"])
    run = bench_input.expect(bench_input.run(), rows)
    return run, _traffic(sim.stats()["requests"][seen:])


def measure(env: BenchEnv, rounds: int, idle_polls: int, progress: Progress) -> Section:
    samples = Samples()
    for number in range(1, rounds + 1):
        sim = _simulator(env, DRAIN_ROWS)
        bench_input = env.input(f"lp-drain{number}", SCHEME, SOURCETYPE, _params(sim))
        run, traffic = _run(bench_input, sim, DRAIN_ROWS)
        writer = eventwriter(env, run, f"lp-drain{number}")
        samples.first = traffic.first
        samples.drain_requests.append(traffic.audit)
        samples.drain_listings.append(len(run.summaries()))
        samples.drain_rows_listed.append(traffic.rows)
        samples.drain_day_floor.append(traffic.day_floor)
        samples.drain_domain.append(traffic.domain)
        samples.drain_cpu.append(run.child.cpu_seconds)
        samples.drain_rss_mb.append(rss_mb(run.child))
        samples.writer_cpu.append(writer.cpu_seconds)
        progress(f"  drain {number}/{rounds}: {traffic.audit} audit requests ({traffic.rows:,} rows listed, "
                 f"{len(run.summaries())} windows), CPU {run.child.cpu_seconds:.2f} s (EventWriter alone "
                 f"{writer.cpu_seconds:.2f} s), peak RSS {rss_mb(run.child):.1f} MB")
        if number == 1:
            samples.writer_same_bytes = writer.stdout == run.child.stdout
            for _ in range(idle_polls):
                poll, idle = _run(bench_input, sim, 0)
                samples.idle_requests.append(idle.audit)
                samples.idle_floor.append(idle.day_floor)
                samples.idle_rows_listed.append(idle.rows)
                samples.idle_domain.append(idle.domain)
                samples.idle_wall.append(poll.child.wall_seconds)
                samples.idle_cpu.append(poll.child.cpu_seconds)
            progress(f"  {idle_polls} idle polls: {'-'.join(map(str, sorted(set(samples.idle_requests))))} audit "
                     f"requests each, {sum(samples.idle_domain)} Domain API lookups, median "
                     f"{ms(samples.idle_wall)} ms")
        small_sim = _simulator(env, SMALL_ROWS)
        small_input = env.input(f"lp-small{number}", SCHEME, SOURCETYPE, _params(small_sim))
        small, _ = _run(small_input, small_sim, SMALL_ROWS)
        small_writer = eventwriter(env, small, f"lp-small{number}")
        samples.small_cpu.append(small.child.cpu_seconds)
        samples.small_rss_mb.append(rss_mb(small.child))
        samples.small_writer_cpu.append(small_writer.cpu_seconds)
    return Section(TITLE, figures(samples), notes(samples), asdict(samples))


def figures(samples: Samples) -> List[Figure]:
    first = samples.first
    listings = max(samples.drain_listings)
    floor = math.ceil(DRAIN_ROWS / first) + listings
    requests = max(samples.drain_requests)
    idle = sorted(set(samples.idle_requests))
    idle_floor = sorted(set(samples.idle_floor))
    cpu_input = per_row_us(samples.drain_cpu, DRAIN_ROWS)
    cpu_writer = per_row_us(samples.writer_cpu, DRAIN_ROWS)
    rss = median(samples.drain_rss_mb)
    growth = rss / median(samples.small_rss_mb) - 1.0
    first_lookups = max(samples.drain_domain)
    idle_lookups = sum(samples.idle_domain)
    return [
        Figure(f"Audit requests to drain 10,000 rows (first={first}) vs the floor ceil(10000/first) + one "
               f"request per window to see its end ({listings} windows)", "≤ floor + 10 %",
               f"{requests} vs {floor} = {requests / floor:.2f}{TIMES}", requests <= floor * 1.1),
        Figure("Audit requests per idle poll vs the floor for the window's whole days (rows listed / first, + 1 "
               "to see the end)", "≤ floor",
               f"{'-'.join(map(str, idle))} vs {'-'.join(map(str, idle_floor))} (over {len(samples.idle_requests)} "
               "polls)" if idle else "-",
               bool(idle) and all(r <= f for r, f in zip(samples.idle_requests, samples.idle_floor))),
        Figure(f"Domain API lookups: the first run; over {len(samples.idle_domain)} idle polls", "1; 0 (≤ 1 an hour)",
               f"{first_lookups}; {idle_lookups}", first_lookups <= 1 and idle_lookups == 0),
        Figure("CPU time per row, whole input vs `EventWriter` writing the same events alone", f"≤ 1.5{TIMES}",
               f"{cpu_input:.0f} µs vs {cpu_writer:.0f} µs = {cpu_input / cpu_writer:.2f}{TIMES}",
               cpu_input / cpu_writer <= 1.5),
        Figure("Peak RSS of a 10,000-row backfill; growth from 1,000 to 10,000 rows", "≤ 60 MB; ≤ 10 %",
               f"{rss:.1f} MB; {growth * 100:+.1f} %", rss <= 60.0 and growth <= 0.10),
    ]


def notes(samples: Samples) -> List[str]:
    extra = DRAIN_ROWS - SMALL_ROWS
    marginal_input = (median(samples.drain_cpu) - median(samples.small_cpu)) / extra * 1e6
    marginal_writer = (median(samples.writer_cpu) - median(samples.small_writer_cpu)) / extra * 1e6
    listed = max(samples.drain_rows_listed)
    return [
        f"Medians of {len(samples.drain_cpu)} backfills of each size (a fresh simulator each: {HISTORY_DAYS} days "
        f"of changes, documented defaults, start_date {START_DAYS} days back, read a week per window) and of "
        f"{len(samples.idle_wall)} idle polls; production settings (page_size {samples.first}, settle 300 s, "
        "overlap 900 s).",
        f"Drain: the API listed {listed:,} rows for 10,000 written (day bounds list whole days on both sides of "
        f"each week, and each page boundary's second is listed again); for those rows the floor is "
        f"{max(samples.drain_day_floor)} requests. The first request of a run that has not yet proven the zone "
        "is asked again in America/New_York once (one extra request, first run only).",
        f"Idle polls right after the drain: {median(samples.idle_rows_listed):.0f} rows listed per poll (today's "
        f"changes so far), {ms(samples.idle_wall)} ms wall, {ms(samples.idle_cpu)} ms CPU.",
        f"Backfill CPU: {median(samples.drain_cpu):.2f} s for 10,000 rows, {median(samples.small_cpu):.2f} s for "
        f"1,000; EventWriter alone {median(samples.writer_cpu):.2f} s and {median(samples.small_writer_cpu):.2f} s. "
        f"Per extra row: {marginal_input:.0f} µs vs {marginal_writer:.0f} µs = "
        f"{marginal_input / marginal_writer:.2f}{TIMES}. EventWriter baseline wrote the drain's stream byte for "
        "byte: " + ("yes." if samples.writer_same_bytes else "NO."),
        f"Peak RSS of the 1,000-row backfills: {median(samples.small_rss_mb):.1f} MB.",
    ]
