"""``make bench``: measures the packaged inputs against the local simulators and prints one table per source.

    .venv/bin/python bench/run.py [--rounds 5] [--idle-polls 10] [--sources ringcentral,liveperson,resolver]
                                  [--app DIR] [--json FILE]

Figures are printed, not asserted: a MISS marks a target not met. The exit status is non-zero only when a
run itself went wrong (an input failed, lost records, or an idle poll collected something); the other
sources are still measured and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import liveperson, resolver, ringcentral
from bench.report import Section, render
from bench.scenario import BenchEnv
from tests.harness import splunk_python, stage_app

Measure = Callable[[BenchEnv, int, int, Callable[[str], None]], Section]
SOURCES: Dict[str, Measure] = {
    "ringcentral": ringcentral.measure,
    "liveperson": liveperson.measure,
    "resolver": resolver.measure,
}


def _parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="backfills of each size; medians are reported")
    parser.add_argument("--idle-polls", type=int, default=10, help="idle polls after a backfill")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: " + ", ".join(SOURCES))
    parser.add_argument("--app", type=Path, help="a staged app to measure (default: stage build/ now)")
    parser.add_argument("--json", type=Path, help="also write the raw samples to this file")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.idle_polls < 1:
        parser.error("--rounds and --idle-polls must be at least 1")
    args.sources = [name.strip() for name in args.sources.split(",") if name.strip()]
    unknown = sorted(set(args.sources) - set(SOURCES))
    if unknown or not args.sources:
        parser.error(f"--sources: unknown {unknown}; choose from {', '.join(SOURCES)}")
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
    _log(f"bench: inputs on {python} (Python {version}), {os.cpu_count()} CPUs, "
         f"load average {os.getloadavg()[0]:.1f}")
    sections: List[Section] = []
    failed = False
    with BenchEnv(app) as env:
        for name in args.sources:
            _log(f"bench: {name}")
            began = time.monotonic()
            try:
                section = SOURCES[name](env, args.rounds, args.idle_polls, _log)
            except Exception as exc:  # reported; the other sources are still measured
                failed = True
                _log(traceback.format_exc())
                section = Section(name, skipped=f"the run went wrong: {type(exc).__name__}: {exc}")
            section.seconds = time.monotonic() - began
            sections.append(section)
            print(render(section) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps({s.title: {"samples": s.samples, "skipped": s.skipped,
                                                   "seconds": round(s.seconds, 1)} for s in sections},
                                        indent=2) + "\n")
    _log("bench: took " + ", ".join(f"{s.title.split()[0]} {s.seconds:.0f} s" for s in sections)
         + f"; {time.monotonic() - started:.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
