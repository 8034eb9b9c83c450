"""Runs the packaged modular input the way splunkd does: a subprocess, XML on stdin, XML events on stdout."""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional
from xml.sax.saxutils import escape, quoteattr

REPO = Path(__file__).resolve().parent.parent
APP_DIR = REPO / "build" / "TA-audit-trail"
SCRIPT = APP_DIR / "bin" / "ringcentral_audit.py"
SCHEME = "ringcentral_audit"
# Shrunk timings for tests, passed to the packaged entry point's main() exactly as the product passes its own.
TEST_POLICIES: Dict[str, Any] = {
    "retry": {"backoff_factor": 0.05, "backoff_max": 0.2, "default_retry_after": 0.5, "max_attempts": 4},
    "timeout": [3.0, 3.0],
    "request_deadline": 10.0,
    "token_renew_margin": 0.5,
    "poll_interval": 0.05,
}


def entry_script(directory: Path, scheme: str, policies: Optional[Dict[str, Any]]) -> Path:
    """The script a run starts: the packaged bin/<scheme>.py, or (with test policies) a two-line stand-in that
    calls the same ``main`` with those policies, as the product's constructor arguments."""
    if policies is None:
        return APP_DIR / "bin" / f"{scheme}.py"
    module = scheme.rsplit("_audit", 1)[0]
    values = dict(policies)
    retry = values.pop("retry", None)
    if "timeout" in values:
        values["timeout"] = tuple(values["timeout"])
    # Named by its policies: two runners of one input in one folder must not share a stand-in.
    tag = hashlib.sha256(json.dumps(policies, sort_keys=True).encode()).hexdigest()[:10]
    path = directory / f"run_{scheme}_{tag}.py"
    path.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(APP_DIR / 'lib')!r})\n"
        "from audit_trail.modinput import Policies, main\n"
        "from audit_trail.pacing import RetryPolicy\n"
        f"from audit_trail.sources.{module} import spec\n"
        f"policies = Policies(retry={'RetryPolicy(**' + repr(retry) + ')' if retry is not None else None}, "
        f"**{values!r})\n"
        "sys.exit(main(spec(), policies=policies))\n"
    )
    return path


def stage_app() -> Path:
    """Refreshes build/TA-audit-trail from the working tree (third-party packages are cached)."""
    subprocess.run([str(REPO / "package.sh"), "--stage"], check=True, cwd=REPO, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHON": sys.executable})
    return APP_DIR


@functools.cache
def find_python(version: str) -> Optional[str]:
    """An interpreter of exactly ``version`` (e.g. "3.9") that runs here, or None."""
    pyenv = sorted(glob.glob(f"/root/.pyenv/versions/{version}.*/bin/python3"))
    candidates = [*pyenv, shutil.which(f"python{version}")]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", f"import sys; assert '%d.%d' % sys.version_info[:2] == '{version}'"], capture_output=True
        )
        if probe.returncode == 0:
            return candidate
    return None


def splunk_python() -> str:
    """Splunk 9.3 runs inputs on Python 3.9: use one when the machine has it, so 3.10+ syntax fails here too."""
    return find_python("3.9") or sys.executable


def _params_xml(params: Dict[str, Any]) -> str:
    return "".join(f"<param name={quoteattr(k)}>{escape(str(v))}</param>" for k, v in params.items())


def _metadata_xml(server_uri: str, session_key: str, checkpoint_dir: str) -> str:
    return (f"<server_host>sim-host</server_host><server_uri>{escape(server_uri)}</server_uri>"
            f"<session_key>{escape(session_key)}</session_key><checkpoint_dir>{escape(checkpoint_dir)}</checkpoint_dir>")


def input_xml(name: str, params: Dict[str, Any], server_uri: str, session_key: str, checkpoint_dir: str,
              scheme: str = SCHEME) -> str:
    """The input definition splunkd writes to a modular input's stdin for a run."""
    return (
        f"<input>{_metadata_xml(server_uri, session_key, checkpoint_dir)}<configuration>"
        f"<stanza name={quoteattr(f'{scheme}://{name}')} app=\"TA-audit-trail\">{_params_xml(params)}</stanza>"
        "</configuration></input>"
    )


def validation_xml(name: str, params: Dict[str, Any], server_uri: str, session_key: str, checkpoint_dir: str) -> str:
    """What splunkd writes to stdin for --validate-arguments when an admin saves the input."""
    return (f"<items>{_metadata_xml(server_uri, session_key, checkpoint_dir)}"
            f"<item name={quoteattr(name)}>{_params_xml(params)}</item></items>")


@dataclass
class Event:
    stanza: str
    time: Optional[str]
    data: str
    sourcetype: Optional[str]
    source: Optional[str]
    index: Optional[str]
    host: Optional[str]

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class RunOutput:
    returncode: int
    stdout: str
    stderr: str
    events: List[Event] = field(default_factory=list)
    sourcetype: str = "ringcentral:audit"

    def records(self) -> List[Dict[str, Any]]:
        return [e.json() for e in self.events if e.sourcetype == self.sourcetype]

    def summaries(self) -> List[Dict[str, Any]]:
        return [e.json() for e in self.events if e.sourcetype == self.sourcetype + ":collection"]


def parse_stream(stdout: str) -> List[Event]:
    """Parses splunklib's XML event stream; a killed process leaves it unterminated, which is tolerated."""
    text = stdout.strip()
    if not text:
        return []
    if not text.endswith("</stream>"):
        cut = text.rfind("</event>")
        text = (text[: cut + len("</event>")] if cut >= 0 else "<stream>") + "</stream>"
    root = ET.fromstring(text)
    events = []
    for node in root.iter("event"):
        events.append(Event(
            stanza=node.get("stanza", ""), time=node.findtext("time"), data=node.findtext("data") or "",
            sourcetype=node.findtext("sourcetype"), source=node.findtext("source"), index=node.findtext("index"),
            host=node.findtext("host"),
        ))
    return events


class InputRunner:
    """One input stanza against a RingCentral simulator and a splunkd stand-in."""

    def __init__(self, tmp: Path, splunkd: Any, name: str = "prod", policies: Optional[Dict[str, Any]] = None,
                 scheme: str = SCHEME, sourcetype: str = "ringcentral:audit", production_policies: bool = False):
        self.tmp = tmp
        self.splunkd = splunkd
        self.name = name
        self.scheme = scheme
        self.sourcetype = sourcetype
        self.splunk_home = tmp / "splunk_home"
        self.checkpoint_dir = tmp / "modinputs" / scheme
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (self.splunk_home / "var" / "log" / "splunk").mkdir(parents=True, exist_ok=True)
        self.policies = None if production_policies else (policies or TEST_POLICIES)
        self.script = entry_script(tmp, scheme, self.policies)

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HTTP", "HTTPS", "REQUESTS_", "NO_PROXY"))}
        env["SPLUNK_HOME"] = str(self.splunk_home)
        return env

    @property
    def log_file(self) -> Path:
        return self.splunk_home / "var" / "log" / "splunk" / f"ta_audit_trail_{self.scheme}.log"

    def log_text(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def configure(self, params: Dict[str, Any]) -> None:
        """Creates or replaces the input's stanza in the splunkd stand-in, as an admin saving the input."""
        self.splunkd.set_input(kind=self.scheme, name=self.name, params={k: str(v) for k, v in params.items()})

    def stanza(self) -> Dict[str, str]:
        return dict(self.splunkd.inputs_conf(self.scheme, self.name))

    def xml(self) -> str:
        """What splunkd passes on stdin: the stanza as currently stored (masked once the first run rewrote it)."""
        return input_xml(self.name, self.stanza(), self.splunkd.server_uri, self.splunkd.session_key,
                         str(self.checkpoint_dir), self.scheme)

    def run(self, timeout: float = 120) -> RunOutput:
        proc = subprocess.run([splunk_python(), str(self.script)], input=self.xml(), capture_output=True,
                              text=True, env=self.env(), timeout=timeout, cwd=str(self.tmp))
        return RunOutput(proc.returncode, proc.stdout, proc.stderr, parse_stream(proc.stdout), self.sourcetype)

    def start(self, stderr: Any = subprocess.DEVNULL) -> RunningInput:
        """Starts the input without waiting; its stdout is drained as splunkd does, so it never blocks."""
        proc = subprocess.Popen([splunk_python(), str(self.script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, env=self.env(), cwd=str(self.tmp))
        assert proc.stdin is not None
        proc.stdin.write(self.xml())
        proc.stdin.close()
        return RunningInput(proc, self.sourcetype)

    def validate(self, params: Dict[str, Any]) -> RunOutput:
        xml = validation_xml(self.name, params, self.splunkd.server_uri, self.splunkd.session_key,
                             str(self.checkpoint_dir))
        proc = subprocess.run([splunk_python(), str(self.script), "--validate-arguments"], input=xml,
                              capture_output=True, text=True, env=self.env(), timeout=60, cwd=str(self.tmp))
        return RunOutput(proc.returncode, proc.stdout, proc.stderr, sourcetype=self.sourcetype)


class RunningInput:
    """A started input whose stdout is read continuously by a thread (a full pipe would stall it)."""

    def __init__(self, proc: subprocess.Popen, sourcetype: str = "ringcentral:audit") -> None:
        self.proc = proc
        self.sourcetype = sourcetype
        self._chunks: List[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read(4096), ""):
            self._chunks.append(chunk)

    def output_so_far(self) -> str:
        return "".join(self._chunks)

    def kill(self) -> RunOutput:
        """SIGKILL, as a crash or a host failure would; returns what had been written before."""
        self.proc.kill()
        return self.wait()

    def wait(self, timeout: float = 60) -> RunOutput:
        """Waits for the process to end (after a kill or a signal) and returns what it wrote."""
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        stdout = self.output_so_far()
        return RunOutput(self.proc.returncode, stdout, "", parse_stream(stdout), self.sourcetype)
