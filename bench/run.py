"""``make bench``: measures the packaged input against the local simulators and prints one table.

    .venv/bin/python bench/run.py [--rounds 5] [--idle-polls 10] [--app DIR] [--json FILE]

Figures are printed, not asserted: a MISS marks a target not met. The exit status is non-zero only when a
run itself went wrong (the input failed, lost records, or an idle poll collected something).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import figures, measure, notes
from bench.report import table
from bench.scenario import BenchEnv
from tests.harness import splunk_python, stage_app


def _parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="backfills of each size; medians are reported")
    parser.add_argument("--idle-polls", type=int, default=10, help="idle polls after the first backfill")
    parser.add_argument("--app", type=Path, help="a staged app to measure (default: stage build/ now)")
    parser.add_argument("--json", type=Path, help="also write the raw samples to this file")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.idle_polls < 1:
        parser.error("--rounds and --idle-polls must be at least 1")
    return args


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    app = args.app or stage_app()
    python = splunk_python()
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    _log(f"bench: input on {python} (Python {version}), {os.cpu_count()} CPUs, "
         f"load average {os.getloadavg()[0]:.1f}")
    with BenchEnv(app) as env:
        samples = measure(env, args.rounds, args.idle_polls, _log)
    if args.json:
        args.json.write_text(json.dumps(samples.to_json(), indent=2) + "\n")
    print(table(figures(samples)))
    print()
    for line in notes(samples):
        print(f"- {line}")
    _log(f"bench: took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
