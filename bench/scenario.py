"""The benchmark's world: a splunkd stand-in, the packaged app installed under a private SPLUNK_HOME,
RingCentral simulators, and input stanzas run exactly as splunkd runs them (Splunk's Python, XML on stdin).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.child import ChildRun, run_child
from tests.conftest import input_params, sim_config
from tests.harness import APP_DIR, Event, InputRunner, parse_stream, splunk_python
from tests.sim.ringcentral_sim import RingCentralSimulator
from tests.sim.splunkd_sim import SplunkdSimulator

APP_NAME = "TA-audit-trail"
SCRIPT = Path("bin") / "ringcentral_audit.py"


@dataclass(frozen=True)
class InputRun:
    child: ChildRun
    events: List[Event]

    @property
    def records(self) -> int:
        return sum(1 for e in self.events if e.sourcetype == "ringcentral:audit")

    def summaries(self) -> List[Dict[str, Any]]:
        return [e.json() for e in self.events if e.sourcetype == "ringcentral:audit:collection"]


class BenchInput:
    """One input stanza of the installed app, bound to one simulator."""

    def __init__(self, env: BenchEnv, name: str, sim: RingCentralSimulator) -> None:
        self.env = env
        self.sim = sim
        self.runner = InputRunner(env.workdir, env.splunkd, name=name)
        # Production settings: default settle and overlap, INFO logging, page size as large as the API allows.
        self.runner.configure(input_params(sim, settle_seconds=None, overlap_seconds=None, log_level=None))

    def run(self, timeout: float = 300.0) -> InputRun:
        env = self.runner.env()
        child = run_child([splunk_python(), str(self.env.app_dir / SCRIPT)], self.runner.xml().encode(),
                          env=env, cwd=str(self.env.workdir), timeout=timeout)
        if child.returncode != 0 or child.stderr:
            stderr = child.stderr.decode(errors="replace")[-500:]
            msg = f"input {self.runner.name} exited {child.returncode}: {stderr}"
            raise RuntimeError(msg)
        return InputRun(child, parse_stream(child.stdout.decode("utf-8")))


class BenchEnv:
    """Owns every server and file of one benchmark run; use as a context manager."""

    def __init__(self, app_source: Optional[Path] = None) -> None:
        self.app_source = app_source or APP_DIR
        self.workdir = Path(tempfile.mkdtemp(prefix="ta-audit-trail-bench-"))
        self.app_dir = self.workdir / "splunk_home" / "etc" / "apps" / APP_NAME
        self.splunkd = SplunkdSimulator(app=APP_NAME, session_key="bench-session-key")
        self._sims: List[RingCentralSimulator] = []

    def __enter__(self) -> BenchEnv:
        # A private copy: nothing that re-stages build/ meanwhile can change what is measured.
        shutil.copytree(self.app_source, self.app_dir)
        # Bytecode as splunkd leaves it after an input's first run, so no run pays for compiling.
        subprocess.run([splunk_python(), "-m", "compileall", "-q", str(self.app_dir / "bin"),
                        str(self.app_dir / "lib")], check=True, stdout=subprocess.DEVNULL)
        self.splunkd.start()
        self.splunkd.install_collections((self.app_dir / "default" / "collections.conf").read_text())
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sim in self._sims:
            sim.stop()
        self.splunkd.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def simulator(self, records: int) -> RingCentralSimulator:
        """A started simulator whose tenant logged ``records`` records over the last 30 days, all older than
        the settle time; like the API, it keeps the newest 10,000.

        The Heavy group has its real limits: 10 requests per 60 s window, a 60 s penalty.
        """
        sim = RingCentralSimulator(sim_config(heavy_window=60.0, heavy_penalty=60.0))
        sim.start()
        self._sims.append(sim)
        now = datetime.now(timezone.utc)
        sim.generate(records, now - timedelta(days=30), now - timedelta(minutes=10), seed=1)
        return sim

    def input(self, name: str, sim: RingCentralSimulator) -> BenchInput:
        return BenchInput(self, name, sim)
