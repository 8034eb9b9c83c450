"""`make demo`: the packaged input, run twice as splunkd runs it, against the bundled RingCentral simulator."""

from __future__ import annotations

import glob
import json
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import input_params, sim_config
from tests.harness import REPO, input_xml, parse_stream, splunk_python
from tests.sim.ringcentral_sim import RingCentralSimulator
from tests.sim.splunkd_sim import SplunkdSimulator


def install(spl: Path, splunk_home: Path) -> Path:
    apps = splunk_home / "etc" / "apps"
    apps.mkdir(parents=True)
    with tarfile.open(spl) as tar:
        tar.extractall(apps)
    return apps / "TA-audit-trail"


def run_input(app: Path, splunkd: SplunkdSimulator, splunk_home: Path, checkpoint_dir: Path) -> list:
    stanza = splunkd.inputs_conf("ringcentral_audit", "demo")
    xml = input_xml("demo", stanza, splunkd.server_uri, splunkd.session_key, str(checkpoint_dir))
    env = {"SPLUNK_HOME": str(splunk_home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([splunk_python(), str(app / "bin" / "ringcentral_audit.py")], input=xml,
                          capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0 or proc.stderr:
        print(proc.stderr)
    return parse_stream(proc.stdout)


def main() -> int:
    spl = Path(sorted(glob.glob(str(REPO / "dist" / "TA-audit-trail-*.spl")))[-1])
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory(prefix="ta-audit-trail-demo-") as tmp:
        splunk_home = Path(tmp) / "splunk"
        app = install(spl, splunk_home)
        checkpoint_dir = splunk_home / "var" / "lib" / "splunk" / "modinputs" / "ringcentral_audit"
        checkpoint_dir.mkdir(parents=True)
        (splunk_home / "var" / "log" / "splunk").mkdir(parents=True)
        with RingCentralSimulator(sim_config(heavy_window=60.0, heavy_penalty=60.0)) as sim, \
                SplunkdSimulator(app="TA-audit-trail", session_key="demo-session-key") as splunkd:
            splunkd.install_collections((app / "default" / "collections.conf").read_text())
            records = sim.generate(300, now - timedelta(days=30), now - timedelta(minutes=10), seed=2026)
            params = input_params(sim, settle_seconds="300", log_level="INFO", index="ringcentral", host="demo-hf")
            splunkd.set_input(kind="ringcentral_audit", name="demo", params={k: str(v) for k, v in params.items()})
            print(f"Installed {spl.name} into {app}")
            print(f"RingCentral simulator at {sim.base_url} holding {len(records)} audit records (last 30 days)\n")

            first = run_input(app, splunkd, splunk_home, checkpoint_dir)
            audit = [e for e in first if e.sourcetype == "ringcentral:audit"]
            print(f"Run 1: {len(audit)} ringcentral:audit events. The first three:")
            for event in audit[:3]:
                print(f"  _time={event.time} source={event.source} index={event.index} host={event.host}")
                print("  " + event.data[:400] + ("..." if len(event.data) > 400 else ""))
            for event in first:
                if event.sourcetype == "ringcentral:audit:collection":
                    print("\nCollection summary (ringcentral:audit:collection):")
                    print("  " + json.dumps(json.loads(event.data), indent=2).replace("\n", "\n  "))
            stanza = splunkd.inputs_conf("ringcentral_audit", "demo")
            print(f"\nStanza after run 1: client_secret={stanza['client_secret']} jwt={stanza['jwt']} "
                  "(the real values now live in storage/passwords)")

            second = run_input(app, splunkd, splunk_home, checkpoint_dir)
            again = [e for e in second if e.sourcetype == "ringcentral:audit"]
            print(f"\nRun 2 (next interval, nothing new): {len(again)} ringcentral:audit events")
            stats = sim.stats()
            print(f"RingCentral requests over both runs: {stats['heavy_requests']} audit searches, "
                  f"{stats['token_grants']} token request(s), {stats['rate_limited']} rate-limited")
            log = splunk_home / "var" / "log" / "splunk" / "ta_audit_trail_ringcentral_audit.log"
            print(f"\nThe add-on's log ({log.name}), last lines:")
            for line in log.read_text().splitlines()[-4:]:
                print("  " + line.split(" | ", 1)[-1])
            ok = len(audit) == len(records) and not again
            print("\nDemo " + ("OK: every record written once, nothing repeated." if ok else "FAILED"))
            return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
