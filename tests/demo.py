"""`make demo`: the packaged inputs, run twice each as splunkd runs them, against the bundled simulators of
RingCentral, LivePerson and (when its input is present) Resolver."""

from __future__ import annotations

import contextlib
import glob
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import input_params, sim_config
from tests.harness import REPO, Event, input_xml, parse_stream, splunk_python
from tests.sim.splunkd_sim import SplunkdSimulator

NOW = datetime.now(timezone.utc)


@dataclass
class Demo:
    scheme: str
    sourcetype: str
    vendor: str
    secrets: Tuple[str, ...]
    start: Callable[[], Any]  # a context manager yielding (simulator, params, records stored, request counter)


@contextlib.contextmanager
def ringcentral() -> Iterator[Tuple[Any, Dict[str, Any], int, Callable[[], str]]]:
    from tests.sim.ringcentral_sim import RingCentralSimulator

    with RingCentralSimulator(sim_config(heavy_window=60.0, heavy_penalty=60.0)) as sim:
        records = sim.generate(300, NOW - timedelta(days=30), NOW - timedelta(minutes=10), seed=2026)
        params = input_params(sim, settle_seconds="300", log_level="INFO", index="ringcentral", host="demo-hf")

        def requests() -> str:
            stats = sim.stats()
            return f"{stats['heavy_requests']} audit searches, {stats['token_grants']} token request(s)"

        yield sim, params, len(records), requests


@contextlib.contextmanager
def liveperson() -> Iterator[Tuple[Any, Dict[str, Any], int, Callable[[], str]]]:
    from tests.sim.liveperson_sim import LivePersonSimulator, SimConfig

    with LivePersonSimulator(SimConfig()) as sim:
        rows = sim.generate(250, NOW - timedelta(days=30), NOW - timedelta(minutes=10), seed=2026)
        cfg = sim.config
        params = {"account_id": cfg.account_id, "app_key": cfg.app_key, "app_secret": cfg.app_secret,
                  "access_token": cfg.access_token, "access_token_secret": cfg.access_token_secret,
                  "domain_url": sim.base_url, "ca_bundle": sim.ca_path, "index": "liveperson", "host": "demo-hf",
                  "start_date": (NOW - timedelta(days=31)).strftime("%Y-%m-%d")}

        def requests() -> str:
            stats = sim.stats()
            return f"{stats['audit_requests']} audit requests, {stats['domain_lookups']} Domain API lookup(s)"

        yield sim, params, len(rows), requests


@contextlib.contextmanager
def resolver() -> Iterator[Tuple[Any, Dict[str, Any], int, Callable[[], str]]]:
    from tests.sim.resolver_sim import ResolverSimulator, SimConfig

    with ResolverSimulator(SimConfig(job_seconds=0.3)) as sim:
        rows = sim.generate(400, NOW - timedelta(days=30), NOW - timedelta(minutes=30), seed=2026)
        params = {"base_url": sim.base_url, "api_key": sim.config.api_key, "ca_bundle": sim.ca_path,
                  "index": "resolver", "host": "demo-hf", "start_date": (NOW - timedelta(days=31)).strftime("%Y-%m-%d")}

        def requests() -> str:
            stats = sim.stats()
            return f"{stats['jobs_created']} export job(s), {len(stats['downloads'])} download(s)"

        yield sim, params, len(rows), requests


DEMOS = [
    Demo("ringcentral_audit", "ringcentral:audit", "RingCentral", ("client_secret", "jwt"), ringcentral),
    Demo("liveperson_audit", "liveperson:audit", "LivePerson", ("app_secret", "access_token", "access_token_secret"),
         liveperson),
    Demo("resolver_audit", "resolver:audit", "Resolver", ("api_key",), resolver),
]


def install(spl: Path, splunk_home: Path) -> Path:
    apps = splunk_home / "etc" / "apps"
    apps.mkdir(parents=True)
    with tarfile.open(spl) as tar:
        tar.extractall(apps)
    return apps / "TA-audit-trail"


def run_input(app: Path, demo: Demo, splunkd: SplunkdSimulator, splunk_home: Path) -> List[Event]:
    checkpoint_dir = splunk_home / "var" / "lib" / "splunk" / "modinputs" / demo.scheme
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    stanza = splunkd.inputs_conf(demo.scheme, "demo")
    xml = input_xml("demo", stanza, splunkd.server_uri, splunkd.session_key, str(checkpoint_dir), demo.scheme)
    env = {"SPLUNK_HOME": str(splunk_home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([splunk_python(), str(app / "bin" / f"{demo.scheme}.py")], input=xml,
                          capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0 or proc.stderr:
        print(proc.stderr)
    return parse_stream(proc.stdout)


def show(demo: Demo, app: Path, splunkd: SplunkdSimulator, splunk_home: Path) -> bool:
    with demo.start() as (sim, params, stored, requests):
        splunkd.set_input(kind=demo.scheme, name="demo", params={k: str(v) for k, v in params.items()})
        print(f"\n=== {demo.vendor}: simulator at {sim.base_url} holding {stored} audit records (last 30 days)")
        first = run_input(app, demo, splunkd, splunk_home)
        audit = [e for e in first if e.sourcetype == demo.sourcetype]
        print(f"Run 1: {len(audit)} {demo.sourcetype} events. The first two:")
        for event in audit[:2]:
            print(f"  _time={event.time} source={event.source} index={event.index} host={event.host}")
            print("  " + event.data[:300] + ("..." if len(event.data) > 300 else ""))
        for event in first:
            if event.sourcetype == demo.sourcetype + ":collection":
                summary = json.loads(event.data)
                print(f"Collection summary: status={summary['status']} records_emitted={summary['records_emitted']} "
                      f"pages={summary['pages']} requests={summary['requests']} gaps={len(summary['gaps'])}")
        stanza = splunkd.inputs_conf(demo.scheme, "demo")
        print("Stanza after run 1: " + " ".join(f"{f}={stanza[f]}" for f in demo.secrets)
              + " (the real values now live in storage/passwords)")
        second = run_input(app, demo, splunkd, splunk_home)
        again = [e for e in second if e.sourcetype == demo.sourcetype]
        print(f"Run 2 (next interval, nothing new): {len(again)} events; requests over both runs: {requests()}")
        log = splunk_home / "var" / "log" / "splunk" / f"ta_audit_trail_{demo.scheme}.log"
        for line in log.read_text().splitlines()[-2:]:
            print("  log: " + line.split(" | ", 1)[-1])
        return len(audit) == stored and not again


def main() -> int:
    spl = Path(sorted(glob.glob(str(REPO / "dist" / "TA-audit-trail-*.spl")))[-1])
    results = {}
    with tempfile.TemporaryDirectory(prefix="ta-audit-trail-demo-") as tmp:
        splunk_home = Path(tmp) / "splunk"
        app = install(spl, splunk_home)
        (splunk_home / "var" / "log" / "splunk").mkdir(parents=True)
        print(f"Installed {spl.name} into {app}")
        with SplunkdSimulator(app="TA-audit-trail", session_key="demo-session-key") as splunkd:
            splunkd.install_collections((app / "default" / "collections.conf").read_text())
            for demo in DEMOS:
                if not (app / "bin" / f"{demo.scheme}.py").exists():
                    print(f"\n=== {demo.vendor}: not in this package yet")
                    continue
                results[demo.vendor] = show(demo, app, splunkd, splunk_home)
    print()
    for vendor, ok in results.items():
        print(f"{vendor}: " + ("OK, every record written once, nothing repeated" if ok else "FAILED"))
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
