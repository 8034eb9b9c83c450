"""What an input's costs are compared with, each measured right after the run it mirrors: splunklib's
EventWriter alone writing the same events, and ``python -c "import splunklib.modularinput"``.
"""

from __future__ import annotations

import json
import os
import statistics
from typing import Sequence

from bench.child import ChildRun, run_child
from bench.scenario import BenchEnv, InputRun
from tests.harness import splunk_python

MB = 1_000_000.0
TIMES = "\u00d7"  # the multiplication sign, as in the issues' targets


def rss_mb(child: ChildRun) -> float:
    return child.peak_rss_mib * 1024 * 1024 / MB


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: Sequence[float]) -> str:
    return f"{median(seconds) * 1000:.0f}"


def per_row_us(cpu_seconds: Sequence[float], rows: int) -> float:
    return median(cpu_seconds) / rows * 1e6


def _write_events(run: InputRun, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for event in run.events:
            handle.write(json.dumps({
                "data": event.data, "time": event.time, "stanza": event.stanza, "source": event.source,
                "sourcetype": event.sourcetype, "index": event.index, "host": event.host,
            }) + "\n")


def eventwriter(env: BenchEnv, run: InputRun, name: str) -> ChildRun:
    """splunklib's EventWriter alone, on Splunk's Python, writing ``run``'s events to a pipe."""
    events_path = str(env.workdir / f"{name}-events.jsonl")
    _write_events(run, events_path)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eventwriter_baseline.py")
    child = run_child([splunk_python(), script, str(env.app_dir / "lib"), events_path])
    os.unlink(events_path)
    if child.returncode != 0:
        msg = f"EventWriter baseline failed: {child.stderr.decode(errors='replace')[-500:]}"
        raise RuntimeError(msg)
    return child


def import_splunklib(env: BenchEnv) -> ChildRun:
    child_env = dict(os.environ, PYTHONPATH=str(env.app_dir / "lib"))
    child = run_child([splunk_python(), "-c", "import splunklib.modularinput"], env=child_env)
    if child.returncode != 0:
        msg = f"import baseline failed: {child.stderr.decode(errors='replace')[-500:]}"
        raise RuntimeError(msg)
    return child
