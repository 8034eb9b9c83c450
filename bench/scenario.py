"""The benchmark's world: a splunkd stand-in and the packaged app installed under a private SPLUNK_HOME, with
input stanzas run exactly as splunkd runs them (Splunk's Python, the input definition XML on stdin, the event
stream drained from a pipe). Each source's module brings its own simulator and hands it to :meth:`BenchEnv.own`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from bench.child import ChildRun, run_child
from tests.harness import APP_DIR, Event, InputRunner, parse_stream, splunk_python
from tests.sim.splunkd_sim import SplunkdSimulator

APP_NAME = "TA-audit-trail"


@dataclass(frozen=True)
class InputRun:
    child: ChildRun
    events: List[Event]
    sourcetype: str

    @property
    def records(self) -> int:
        return sum(1 for e in self.events if e.sourcetype == self.sourcetype)

    def summaries(self) -> List[Dict[str, Any]]:
        return [e.json() for e in self.events if e.sourcetype == self.sourcetype + ":collection"]


class BenchInput:
    """One input stanza of the installed app, run by its packaged script with production policies."""

    def __init__(self, env: BenchEnv, name: str, scheme: str, sourcetype: str, params: Dict[str, Any],
                 script: Optional[Path] = None) -> None:
        self.env = env
        self.sourcetype = sourcetype
        self.runner = InputRunner(env.workdir, env.splunkd, name=name, scheme=scheme, sourcetype=sourcetype,
                                  production_policies=True)
        self.runner.configure(params)
        self.script = script or env.app_dir / "bin" / f"{scheme}.py"

    def run(self, timeout: float = 300.0) -> InputRun:
        child = run_child([splunk_python(), str(self.script)], self.runner.xml().encode(), env=self.runner.env(),
                          cwd=str(self.env.workdir), timeout=timeout)
        if child.returncode != 0 or child.stderr:
            stderr = child.stderr.decode(errors="replace")[-500:]
            msg = f"input {self.runner.name} exited {child.returncode}: {stderr}"
            raise RuntimeError(msg)
        return InputRun(child, parse_stream(child.stdout.decode("utf-8")), self.sourcetype)

    def expect(self, run: InputRun, records: int) -> InputRun:
        """``run`` if it wrote exactly ``records`` records in complete windows; a benchmark run gone wrong if not."""
        statuses = {s.get("status") for s in run.summaries()}
        if run.records != records or statuses - {"complete"}:
            msg = (f"{self.runner.name}: wrote {run.records} of {records} records, window statuses "
                   f"{sorted(map(str, statuses))}; see {self.runner.log_file}")
            raise RuntimeError(msg)
        return run


class BenchEnv:
    """Owns every server and file of one benchmark run; use as a context manager."""

    def __init__(self, app_source: Optional[Path] = None) -> None:
        self.app_source = app_source or APP_DIR
        self.workdir = Path(tempfile.mkdtemp(prefix="ta-audit-trail-bench-"))
        self.app_dir = self.workdir / "splunk_home" / "etc" / "apps" / APP_NAME
        self.splunkd = SplunkdSimulator(app=APP_NAME, session_key="bench-session-key")
        self._servers: List[Any] = []

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
        for server in self._servers:
            server.stop()
        self.splunkd.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def own(self, server: Any) -> Any:
        """Registers a started simulator, to be stopped with the environment; returns it."""
        self._servers.append(server)
        return server

    def packaged(self, scheme: str) -> bool:
        """Whether the app under test has this input's entry point at all."""
        return (self.app_dir / "bin" / f"{scheme}.py").is_file()

    def input(self, name: str, scheme: str, sourcetype: str, params: Dict[str, Any],
              script: Optional[Path] = None) -> BenchInput:
        return BenchInput(self, name, scheme, sourcetype, params, script)

    def policy_script(self, scheme: str, **policies: Any) -> Path:
        """An entry point that runs the installed app's ``main`` with ``Policies(**policies)``, the way the product
        passes its own; for the one figure that needs a timing scaled down (see resolver.py)."""
        module = scheme.rsplit("_audit", 1)[0]
        path = self.workdir / f"run_{scheme}_policies.py"
        path.write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(self.app_dir / 'lib')!r})\n"
            "from audit_trail.modinput import Policies, main\n"
            f"from audit_trail.sources.{module} import spec\n"
            f"sys.exit(main(spec(), policies=Policies(**{policies!r})))\n"
        )
        return path
