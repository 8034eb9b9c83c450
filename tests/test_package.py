"""The installable package: layout, permissions, reproducibility, Splunk's slim and AppInspect verdicts."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest

from tests.harness import REPO, find_python

VENV_BIN = Path(sys.executable).parent
APPINSPECT = VENV_BIN / "splunk-appinspect"
# Warnings AppInspect raises that stay, each explained in docs/developer-guide.md ("AppInspect").
EXPECTED_WARNINGS = {
    "check_for_python_script_existence", "check_for_modular_inputs", "check_collections_conf",
    "check_python_sdk_version", "check_for_possible_threading", "check_for_supported_tls", "check_ucc_dependencies",
    "check_for_indexer_synced_configs",
}


def build() -> Path:
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run([str(REPO / "package.sh")], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return REPO / out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def spl() -> Path:
    return build()


@pytest.fixture(scope="module")
def appinspect_reports(spl: Path) -> Dict[str, dict]:
    """AppInspect in precert mode, with the cloud tag and with every tag, run side by side."""
    reports_dir = REPO / "build" / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    runs = {}
    for label, tags in (("cloud", ["--included-tags", "cloud"]), ("all", [])):
        report = reports_dir / f"appinspect-{label}.json"
        cmd = [str(APPINSPECT), "inspect", str(spl), "--mode", "precert", *tags, "--data-format", "json",
               "--output-file", str(report), "--max-messages", "all", "--skip-trusted-libraries-update"]
        runs[label] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), report)
    reports = {}
    for label, (proc, report) in runs.items():
        _, err = proc.communicate(timeout=600)
        assert report.exists(), err[-2000:]
        reports[label] = json.loads(report.read_text())
    return reports


def checks_with(report: dict, *results: str) -> Dict[str, List[str]]:
    found: Dict[str, List[str]] = {}
    for app in report["reports"]:
        for group in app["groups"]:
            for check in group["checks"]:
                if check["result"] in results:
                    found[check["name"]] = [m["message"] for m in check["messages"]][:5]
    return found


def test_spl_has_one_top_level_folder_and_nothing_that_does_not_belong(spl: Path) -> None:
    with tarfile.open(spl) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert {n.split("/")[0] for n in names} == {"TA-audit-trail"}
    inside = [n.split("/", 1)[1] for n in names if "/" in n]
    offenders = [
        n for n in inside
        if re.search(r"(^|/)(\.[^/]*|__pycache__)(/|$)", n)
        or n.endswith((".pyc", ".so", ".pyd", ".dylib", ".dll"))
        or n.split("/")[0] in ("tests", "local", "dist", "build", "tools", "bench", ".venv")
        or (n.startswith("docs/") and not re.match(r"docs/(admin(/[\w-]+\.md)?|images(/[\w.-]+\.png)?)/?$", n))
    ]
    assert not offenders, offenders[:10]
    assert "TA-audit-trail/metadata/local.meta" not in names
    for required in ("app.manifest", "default/app.conf", "metadata/default.meta", "README/inputs.conf.spec",
                     "bin/ringcentral_audit.py", "bin/liveperson_audit.py", "lib/audit_trail/collector.py",
                     "lib/splunklib/__init__.py", "lib/requests_oauthlib/__init__.py", "lib/tzdata/__init__.py",
                     "lib/solnlib/__init__.py", "lib/ringcentral/__init__.py", "static/appIcon.png",
                     "static/appIcon_2x.png", "LICENSE", "docs/admin/index.md"):
        assert f"TA-audit-trail/{required}" in names, required


def test_spl_permissions(spl: Path) -> None:
    with tarfile.open(spl) as tar:
        for member in tar.getmembers():
            mode = member.mode & 0o777
            if member.isdir() or re.match(r"TA-audit-trail/bin/[^/]+\.py$", member.name):
                assert mode == 0o755, member.name
            else:
                assert mode == 0o644, member.name
            assert (member.uid, member.gid) == (0, 0)


def test_package_builds_reproducibly(spl: Path) -> None:
    first = spl.read_bytes()
    with tarfile.open(spl) as tar:
        first_names = tar.getnames()
    again = build()
    with tarfile.open(again) as tar:
        assert tar.getnames() == first_names
    assert again.read_bytes() == first


def test_vendored_packages_are_pinned_pure_python_for_splunk_python(spl: Path) -> None:
    with tarfile.open(spl) as tar:
        names = tar.getnames()
    dist_infos = {re.sub(r"^TA-audit-trail/lib/([^/]+)\.dist-info.*", r"\1", n) for n in names if ".dist-info" in n}
    pins = {line.split("==")[0].lower().replace("-", "_") + "-" + line.split("==")[1].strip()
            for line in (REPO / "requirements.txt").read_text().splitlines() if "==" in line}
    assert {d.lower() for d in dist_infos} == {p.lower() for p in pins}


def test_manifest_agrees_with_app_conf() -> None:
    manifest = json.loads((REPO / "app.manifest").read_text())
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read_string((REPO / "default" / "app.conf").read_text())
    assert manifest["schemaVersion"] == "2.0.0"
    assert manifest["info"]["id"]["name"] == conf["package"]["id"] == conf["id"]["name"] == "TA-audit-trail"
    assert manifest["info"]["id"]["version"] == conf["id"]["version"] == conf["launcher"]["version"]
    assert manifest["info"]["title"] == conf["ui"]["label"]


def test_slim_validates_the_staged_app(spl: Path) -> None:
    out = subprocess.run([str(VENV_BIN / "slim"), "validate", str(REPO / "build" / "TA-audit-trail")],
                         capture_output=True, text=True)
    # slim 1.2.8 knows Splunk versions only up to 8.0, so it calls the true requirement (9.3+) an error; every
    # other check must pass.
    stale = "Version requirement includes no supported version of Splunk Enterprise: >=9.3.0"
    errors = [line for line in (out.stderr + out.stdout).splitlines() if "[ERROR]" in line and stale not in line]
    assert not errors, errors
    assert out.returncode == 0 or stale in out.stderr + out.stdout, out.stderr[-3000:]
    assert "App validation complete" in out.stderr + out.stdout or stale in out.stderr + out.stdout


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_input_imports_and_describes_itself_on_the_pythons_splunk_ships(spl: Path, version: str) -> None:
    """inputs.conf declares python.required = 3.9, 3.13: the packaged input must load on both."""
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine; `make lint` still checks 3.9 syntax with vermin")
    stage = REPO / "build" / "TA-audit-trail"
    entries = sorted((stage / "bin").glob("*_audit.py"))
    assert {e.name for e in entries} >= {"ringcentral_audit.py", "liveperson_audit.py"}
    for entry in entries:
        check = subprocess.run([python, str(entry), "--scheme"], capture_output=True, text=True)
        assert check.returncode == 0 and "<scheme>" in check.stdout and check.stderr == "", (entry.name, check.stderr)
    sources = ", ".join(f"audit_trail.sources.{e.stem.rsplit('_audit', 1)[0]}" for e in entries)
    imports = subprocess.run([python, "-c", (
        "import sys, zoneinfo; sys.path.insert(0, sys.argv[1]);"
        f"import audit_trail.collector, audit_trail.modinput, {sources}, splunklib.modularinput,"
        " solnlib.credentials, ringcentral.platform.platform, requests, requests_oauthlib;"
        # LivePerson reads US/Eastern: the vendored tzdata must serve it where the OS has no zone files.
        "zoneinfo.ZoneInfo('America/New_York')"),
        str(stage / "lib")], capture_output=True, text=True)
    assert imports.returncode == 0, imports.stderr


@pytest.mark.parametrize("label", ["cloud", "all"])
def test_appinspect_has_no_failures_or_errors(appinspect_reports: Dict[str, dict], label: str) -> None:
    report = appinspect_reports[label]
    summary = report["summary"]
    bad = checks_with(report, "failure", "error", "future_failure")
    assert (summary["failure"], summary["error"], summary.get("future_failure", 0)) == (0, 0, 0), bad
    warnings = set(checks_with(report, "warning"))
    assert warnings <= EXPECTED_WARNINGS, f"new AppInspect warnings, explain or fix: {warnings - EXPECTED_WARNINGS}"


def test_readme_explains_every_remaining_appinspect_warning() -> None:
    readme = (REPO / "docs" / "developer-guide.md").read_text()
    section = readme.split("### AppInspect", 1)[1].split("\n## ", 1)[0]
    for name in EXPECTED_WARNINGS:
        assert f"`{name}`" in section, f"the developer guide's AppInspect section does not explain {name}"
