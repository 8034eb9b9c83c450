"""The resolver_audit input, run as splunkd runs it, against the Resolver simulator under every reading of what
Resolver's docs leave open: each row exactly once (a multiset of rows: identical rows are genuine repeats), at
the time its file gives, whatever the API turns out to do; the API key never anywhere but its header."""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tests.harness import TEST_POLICIES, InputRunner, RunOutput, splunk_python
from tests.sim.resolver_records import AuditRow, burst_rows, generate_rows, repeated
from tests.sim.resolver_sim import ResolverSimulator, SimConfig

SCHEME = "resolver_audit"
SOURCETYPE = "resolver:audit"
DAY_MS = 86_400_000
API_KEY = "rsv-Ap1-K3y-0123456789abcdefXYZ"
BULKY = ("Previous Value", "New Value")


@pytest.fixture
def rs() -> Iterator[ResolverSimulator]:
    sim = ResolverSimulator(SimConfig(api_key=API_KEY, job_seconds=0.02, job_pending_seconds=0.01)).start()
    try:
        yield sim
    finally:
        sim.stop()


def params(sim: ResolverSimulator, **overrides: Any) -> Dict[str, str]:
    values: Dict[str, Any] = {
        "base_url": sim.base_url, "api_key": API_KEY, "ca_bundle": sim.ca_path, "settle_seconds": "0",
        "overlap_seconds": "900", "job_timeout_seconds": "10", "log_level": "DEBUG", "index": "resolver",
        "host": "rs-collector", "interval": "300",
        "start_date": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 10 * 86400)),
    }
    values.update(overrides)
    return {k: str(v) for k, v in values.items() if v is not None}


def with_cap(runner: InputRunner, cap: int) -> InputRunner:
    """The same entry point with the export's row cap shrunk, as the simulator's is (a constructor value)."""
    script = Path(runner.script)
    text = script.read_text()
    assert "main(spec()," in text
    script.write_text(text.replace("main(spec(),", f"main(spec(max_results={cap}),"))
    return runner


@pytest.fixture
def runner(tmp_path: Path, rs: ResolverSimulator, splunkd: Any, app_dir: Path) -> InputRunner:
    run = InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE)
    run.configure(params(rs))
    return run


def shown_ms(sim: ResolverSimulator, row: AuditRow) -> int:
    return row.at_ms if sim.config.time_millis else row.at_ms - row.at_ms % 1000


def as_written(fields: Dict[str, str]) -> Dict[str, str]:
    """A row's columns in the file's order, except that the free-text before/after values go last."""
    return {**{k: v for k, v in fields.items() if k not in BULKY}, **{k: v for k, v in fields.items() if k in BULKY}}


def expected_events(sim: ResolverSimulator) -> Counter:
    """Each row an export can return now, as the input must write it: every column of the CSV under its exported
    name (see ``as_written`` for the order), the values as exported, at the time the file shows."""
    out: Counter = Counter()
    for row in sim.ground_truth(visible_only=True):
        ms = shown_ms(sim, row)
        data = json.dumps(as_written(sim.csv_fields(row)), separators=(",", ":"), ensure_ascii=False)
        out[(data, f"{ms // 1000}.{ms % 1000:03d}")] += 1
    return out


def written_events(outputs: List[RunOutput]) -> Counter:
    return Counter((e.data, e.time) for out in outputs for e in out.events if e.sourcetype == SOURCETYPE)


def assert_exactly_once(sim: ResolverSimulator, outputs: List[RunOutput]) -> None:
    want, got = expected_events(sim), written_events(outputs)
    lost, extra = want - got, got - want
    assert not lost, f"{sum(lost.values())} rows lost (or mis-timed), e.g. {list(lost)[:2]}"
    assert not extra, f"{sum(extra.values())} rows repeated (or mis-timed), e.g. {list(extra)[:2]}"


def backlog(sim: ResolverSimulator, n: int = 900, seed: int = 1, whole_seconds: bool = False) -> None:
    """Rows over nine days, a busy second and a second holding identical rows (genuine repeats)."""
    now = int(time.time() * 1000)
    rows = generate_rows(n, now - 9 * DAY_MS, now - 120_000, seed=seed, whole_seconds=whole_seconds)
    rows += burst_rows(150, now - 4 * DAY_MS, seed=seed + 1)
    rows += repeated(rows[3], 25, at=now - 2 * DAY_MS)
    sim.add_records(rows)


def key_free(sim: ResolverSimulator) -> None:
    """The API key went only to the API, as x-api-key, and no credential of any kind went to the object store."""
    for entry in sim.stats()["requests"]:
        names = {name.lower(): value for name, value in entry["headers"]}
        if entry["kind"] == "download":
            assert not {"x-api-key", "authorization", "cookie"} & set(names), entry["headers"]
        elif entry["kind"] in ("export", "job"):
            assert names.get("x-api-key") == API_KEY
        assert API_KEY not in entry["path"] + entry["query"]


# --- the scheme and validation ------------------------------------------------------------------------


def test_scheme_declares_the_title_and_arguments(app_dir: Path) -> None:
    out = subprocess.run([splunk_python(), str(app_dir / "bin" / "resolver_audit.py"), "--scheme"],
                         capture_output=True, text=True, check=True)
    root = ET.fromstring(out.stdout)
    assert root.findtext("title") == "Resolver User Audit Trail"
    assert root.findtext("use_external_validation") == "true" and root.findtext("streaming_mode") == "xml"
    args = {a.get("name"): a for a in root.iter("arg")}
    assert set(args) == {"base_url", "api_key", "epoch_unit", "job_timeout_seconds", "start_date", "settle_seconds",
                         "overlap_seconds", "proxy_url", "ca_bundle", "log_level"}
    assert {name for name, a in args.items() if a.findtext("required_on_create") == "true"} == {"base_url", "api_key"}
    assert "Default 900" in (args["settle_seconds"].findtext("description") or "")
    assert out.stderr == ""


def test_validate_proves_access_with_one_export_request(runner: InputRunner, rs: ResolverSimulator) -> None:
    result = runner.validate(params(rs))
    assert result.returncode == 0 and result.stdout == "", result.stdout
    stats = rs.stats()
    assert stats["jobs_created"] == 1 and stats["downloads"] == [] and stats["job_polls"] == {}
    [export] = stats["exports"]
    assert 0 < export["dateEnd"] - export["dateStart"] <= 62  # a minute, in seconds


def test_validate_finds_a_unit_the_export_takes(runner: InputRunner, rs: ResolverSimulator) -> None:
    rs.set_config(epoch_unit="milliseconds", wrong_unit="400")
    assert runner.validate(params(rs)).returncode == 0
    result = runner.validate(params(rs, epoch_unit="seconds"))
    assert result.returncode == 1
    assert (ET.fromstring(result.stdout).findtext("message") or "").startswith("epoch_unit: ")


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("base_url", "http://acme.resolver.com", "base_url: must be https://"),
    ("base_url", "https://acme.resolver.com/api", "base_url: must be only the scheme and host"),
    ("base_url", "https://admin:pw@acme.resolver.com", "base_url: must not contain user info"),
    ("base_url", "", "base_url: is required"),
    ("api_key", "", "api_key: is required"),
    ("epoch_unit", "minutes", "epoch_unit: must be auto, seconds or milliseconds"),
    ("job_timeout_seconds", "0", "job_timeout_seconds: must be from 1 to 86400"),
    ("job_timeout_seconds", "soon", "job_timeout_seconds: must be a whole number"),
    ("settle_seconds", "-1", "settle_seconds: must be from 0 to 86400"),
    ("start_date", "last tuesday", "start_date: must be an ISO 8601 date"),
    ("proxy_url", "proxy.example.com", "proxy_url: must be http(s)://"),
    ("ca_bundle", "/nonexistent/ca.pem", "ca_bundle: must be the path of a readable PEM file"),
    ("log_level", "LOUD", "log_level: must be one of DEBUG, INFO, WARNING, ERROR"),
])
def test_validate_rejects_bad_settings_naming_the_field(runner: InputRunner, rs: ResolverSimulator, field: str,
                                                        value: str, expected: str) -> None:
    result = runner.validate(params(rs, **{field: value}))
    assert result.returncode == 1
    message = ET.fromstring(result.stdout).findtext("message") or ""
    assert message.startswith(expected), message
    assert API_KEY not in result.stdout + result.stderr and "pw@" not in message
    assert rs.stats()["jobs_created"] == 0


@pytest.mark.parametrize("status", [401, 403])
def test_validate_names_a_refused_key_without_repeating_it(runner: InputRunner, rs: ResolverSimulator,
                                                           status: int) -> None:
    rs.set_config(auth_failure_status=status)
    wrong = "rsv-wr0ng-k3y-fedcba9876543210"
    result = runner.validate(params(rs, api_key=wrong))
    assert result.returncode == 1
    message = ET.fromstring(result.stdout).findtext("message") or ""
    assert message.startswith("api_key: ") and f"HTTP {status}" in message
    if status == 403:
        assert "Administrator" in message
    assert wrong not in result.stdout + result.stderr


def test_an_edited_input_is_validated_with_its_stored_key_for_that_environment_only(runner: InputRunner,
                                                                                   rs: ResolverSimulator) -> None:
    runner.run()  # the first run moves the key to storage/passwords and masks the stanza
    stanza = runner.stanza()
    assert stanza["api_key"] == "********"
    jobs = rs.stats()["jobs_created"]
    assert runner.validate({**stanza, "job_timeout_seconds": "600"}).returncode == 0
    assert rs.stats()["jobs_created"] == jobs + 1
    moved = runner.validate({**stanza, "base_url": rs.base_url.replace("127.0.0.1", "localhost")})
    assert moved.returncode == 1
    assert (ET.fromstring(moved.stdout).findtext("message") or "").startswith("api_key: was entered for another")
    assert rs.stats()["jobs_created"] == jobs + 1


# --- every reading of the docs ----------------------------------------------------------------------------

# Each a switch (or several) of the simulator; every one is collected with a cap small enough to walk back.
READINGS: Dict[str, Dict[str, Any]] = {
    "documented-defaults": {},
    "seconds-wrong-unit-empty-zero-bytes": {"wrong_unit": "empty", "empty_export": "zero_bytes"},
    "seconds-wrong-unit-400": {"wrong_unit": "400"},
    "ms-wrong-unit-nothing": {"epoch_unit": "milliseconds", "wrong_unit": "nothing"},
    "ms-wrong-unit-empty-with-millis": {"epoch_unit": "milliseconds", "wrong_unit": "empty", "time_millis": True,
                                        "time_format": "iso_z", "empty_export": "zero_bytes", "bom": True},
    "ms-wrong-unit-400-exclusive-end": {"epoch_unit": "milliseconds", "wrong_unit": "400", "date_end_inclusive": False},
    "ms-precision-exclusive-shuffled": {"bound_precision": "ms", "date_end_inclusive": False, "tie_order": "shuffled"},
    "job-id-text-state-lower": {"job_id_form": "text", "status_field": "state", "status_case": "lower"},
    "job-id-number-no-status": {"job_id_form": "number", "status_field": None, "null_signed_url": True},
    "job-id-object-slow-polls": {"job_id_form": "object", "job_seconds": 0.3, "job_min_polls": 3},
    "time-column-iso-z": {"time_column": "Time", "time_format": "iso_z"},
    "time-iso-naive-millis": {"time_format": "iso_naive", "time_millis": True},
    "time-space-millis-time-column": {"time_column": "Time", "time_millis": True},
    "bom-lf-extra-reordered": {"bom": True, "line_terminator": "\n", "extra_columns": (
        "Previous Value", "New Value", "External Reference ID", "Organization"), "reorder_columns": True},
    "chunked-separate-store": {"download_framing": "chunked", "separate_download_listener": True},
}


@pytest.mark.parametrize("reading", sorted(READINGS))
def test_every_row_exactly_once_under_each_reading(tmp_path: Path, splunkd: Any, app_dir: Path,
                                                   reading: str) -> None:
    switches = READINGS[reading]
    sim = ResolverSimulator(SimConfig(api_key=API_KEY, job_pending_seconds=0.01, **{
        "job_seconds": 0.02, "cap": 400, **switches})).start()
    try:
        runner = with_cap(InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE), 400)
        runner.configure(params(sim))
        backlog(sim, seed=sum(map(ord, reading)))
        first = runner.run()
        assert first.returncode == 0 and first.stderr == "", first.stderr
        assert all(s["status"] == "complete" for s in first.summaries()), first.summaries()
        sim.reset_stats()
        second = runner.run()
        assert second.records() == []
        assert sim.stats()["jobs_created"] == 1, "an idle run is one export job once the unit is known"
        assert_exactly_once(sim, [first, second])
        key_free(sim)
        [summary] = first.summaries()
        assert summary["source_type"] == "resolver" and summary["pages"] >= 3  # walked back past the cap
    finally:
        sim.stop()


def test_events_are_the_rows_as_exported(runner: InputRunner, rs: ResolverSimulator, splunkd: Any) -> None:
    rs.set_config(extra_columns=("Previous Value", "New Value", "Organization"))
    now = int(time.time() * 1000)
    tricky = AuditRow(now - DAY_MS, 'Smith, Jr., "Bob" (bob@acme.com)', "Multiple Attributes Updated",
                      "External Org User", "Admin: false\nAll Access: false", "Admin: true\r\nAll Access: true",
                      organization="Zoë & <Co>")
    rs.add_records([tricky])
    backlog(rs, n=100, seed=5)
    out = runner.run()
    assert_exactly_once(rs, [out])
    event = next(e for e in out.events if e.sourcetype == SOURCETYPE and "Zo" in e.data)
    assert list(event.json().items()) == list(as_written(rs.csv_fields(tricky)).items())
    assert list(event.json())[-2:] == list(BULKY)
    assert (event.source, event.index, event.host) == ("resolver_audit://prod", "resolver", "rs-collector")
    [summary] = out.summaries()
    assert summary["status"] == "complete" and summary["records_emitted"] == 276 and summary["gaps"] == []
    assert summary["source_type"] == "resolver" and summary["input"] == "prod"
    # The key left the stanza for storage/passwords on the first run, and is nowhere else.
    assert runner.stanza()["api_key"] == "********"
    haystacks = [out.stdout, out.stderr, runner.log_text(), json.dumps(runner.stanza()),
                 json.dumps(splunkd.kv_collection("ta_audit_trail_checkpoints"))]
    haystacks += [p.read_text() for p in runner.checkpoint_dir.glob("*.json")]
    assert not any(API_KEY in text for text in haystacks)
    key_free(rs)


def test_a_proxy_carries_the_api_and_the_download_and_its_password_is_masked(tmp_path: Path, splunkd: Any,
                                                                              app_dir: Path) -> None:
    from tests.sim.connect_proxy import ConnectProxy

    sim = ResolverSimulator(SimConfig(api_key=API_KEY, job_seconds=0.02, separate_download_listener=True)).start()
    proxy = ConnectProxy(username="proxyuser", password="pr0xy-pa55w0rd").start()
    try:
        backlog(sim, n=50, seed=6)
        runner = InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE)
        runner.configure(params(sim, proxy_url=proxy.url.replace("://", "://proxyuser:pr0xy-pa55w0rd@")))
        out = runner.run()
        assert_exactly_once(sim, [out])
        store = sim.download_base_url.split("://")[1]
        assert store in proxy.targets and sim.base_url.split("://")[1] in proxy.targets
        assert runner.stanza()["proxy_url"].endswith("proxyuser:********@" + proxy.url.split("://")[1])
        assert "pr0xy-pa55w0rd" not in runner.log_text() + out.stdout
        key_free(sim)
    finally:
        proxy.stop()
        sim.stop()


# --- the walk back ------------------------------------------------------------------------------------------


def big_backlog(sim: ResolverSimulator) -> None:
    """120,000 rows over twenty days; a boundary-prone second of 3,000 rows, 40 of them identical."""
    now = int(time.time() * 1000)
    rows = generate_rows(116_960, now - 20 * DAY_MS, now - 600_000, seed=21)
    rows += burst_rows(3_000, now - 7 * DAY_MS, seed=22)
    rows += repeated(rows[11], 40, at=now - 7 * DAY_MS)
    sim.add_records(rows)
    assert len(sim.ground_truth()) == 120_000


@pytest.mark.parametrize("cap", [5_000, 50_000])
def test_a_backlog_of_120000_rows_is_collected_whole(tmp_path: Path, splunkd: Any, app_dir: Path, cap: int) -> None:
    sim = ResolverSimulator(SimConfig(api_key=API_KEY, cap=cap, job_seconds=0.05, job_pending_seconds=0.01,
                                      tie_order="shuffled")).start()
    try:
        big_backlog(sim)
        runner = InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE)
        if cap != 50_000:
            with_cap(runner, cap)
        runner.configure(params(sim, start_date=time.strftime("%Y-%m-%d", time.gmtime(time.time() - 21 * 86400))))
        out = runner.run(timeout=300)
        assert out.returncode == 0 and out.stderr == ""
        assert_exactly_once(sim, [out])
        [summary] = out.summaries()
        jobs = sim.stats()["jobs_created"]
        assert summary["status"] == "complete" and summary["records_emitted"] == 120_000
        # One job per cap's worth, and one more for each boundary second read again (none more than that).
        floor = -(-120_000 // cap)
        assert floor <= jobs <= floor + 1 + 120_000 // cap // 4, jobs
        assert summary["pages"] == summary["batches"] == jobs
    finally:
        sim.stop()


def test_late_rows_after_the_processing_delay_are_collected_once(runner: InputRunner, rs: ResolverSimulator) -> None:
    rs.set_config(ingestion_delay=120)  # rows show up two minutes after their time
    runner.configure(params(rs, settle_seconds="60", overlap_seconds="900"))
    backlog(rs, n=200, seed=31)
    first = runner.run()
    now = int(time.time() * 1000)
    late = generate_rows(6, now - 600_000, now - 300_000, seed=32)
    rs.add_records([*late, late[0]], visible_at=time.time())  # visible only now, inside the window collected
    second = runner.run()
    assert len(second.records()) == 7
    third = runner.run()
    assert third.records() == []
    assert_exactly_once(rs, [first, second, third])


# --- faults -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_named_plainly(runner: InputRunner, rs: ResolverSimulator, status: int) -> None:
    backlog(rs, n=20, seed=41)
    rs.inject("auth", count=5, status=status)
    out = runner.run()
    assert out.records() == []
    [summary] = out.summaries()
    assert summary["status"] == "failed" and "AuthenticationError" in summary["error"]
    assert "api_key" in summary["error"] and f"HTTP {status}" in summary["error"]
    if status == 403:
        assert "Administrator" in summary["error"]
    assert "Administrator" in runner.log_text() or status == 401
    assert API_KEY not in out.stdout + runner.log_text()
    rs.clear_faults()
    again = runner.run()
    assert_exactly_once(rs, [out, again])


def test_429_waits_as_long_as_retry_after_says(runner: InputRunner, rs: ResolverSimulator) -> None:
    backlog(rs, n=100, seed=42)
    rs.inject("429", path="export", retry_after=1)
    rs.inject("429", path="job", retry_after=1)
    rs.inject("429", path="download", retry_after=1)
    started = time.monotonic()
    out = runner.run()
    assert_exactly_once(rs, [out])
    [summary] = out.summaries()
    assert summary["rate_limited"] == 3 and summary["rate_limit_wait_seconds"] >= 3
    assert time.monotonic() - started >= 3
    assert rs.stats()["jobs_created"] == 1, "a rate-limited poll or download made a new job"


def test_server_errors_and_resets_on_every_call_are_retried(tmp_path: Path, rs: ResolverSimulator, splunkd: Any,
                                                           app_dir: Path) -> None:
    patient = {**TEST_POLICIES, "retry": {**TEST_POLICIES["retry"], "max_attempts": 10}}
    runner = InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE, policies=patient)
    runner.configure(params(rs))
    backlog(rs, n=300, seed=43)
    for path in ("export", "job", "download"):
        rs.inject("status", path=path, status=503)
        rs.inject("reset", path=path)
    rs.inject("status", path="job", status=500)
    out = runner.run()
    assert_exactly_once(rs, [out])
    [summary] = out.summaries()
    assert summary["status"] == "complete" and summary["retries"] == 7
    assert rs.stats()["jobs_created"] == 1, "a failed poll or download made a new job"


@pytest.mark.parametrize("reissued", [True, False])
def test_an_expired_signed_url_is_asked_for_again_or_its_job_made_again(tmp_path: Path, rs: ResolverSimulator,
                                                                        splunkd: Any, app_dir: Path,
                                                                        reissued: bool) -> None:
    slow_retry = {**TEST_POLICIES, "retry": {**TEST_POLICIES["retry"], "backoff_factor": 0.6, "backoff_max": 1.0}}
    runner = InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE, policies=slow_retry)
    runner.configure(params(rs))
    rs.set_config(signed_url_ttl=0.3, reissue_url_on_poll=reissued)
    backlog(rs, n=200, seed=51)
    rs.inject("status", path="download", status=503)  # the retry comes after the URL has expired
    out = runner.run()
    assert_exactly_once(rs, [out])
    statuses = [d["status"] for d in rs.stats()["downloads"]]
    assert statuses == [503, 403, 200]
    assert rs.stats()["jobs_created"] == (1 if reissued else 2)


@pytest.mark.parametrize("fault", [{"fraction": 0.5}, {"mode": "chunked"}, {"mode": "chunked", "clean_end": True}])
def test_a_truncated_download_is_never_taken_as_complete(runner: InputRunner, rs: ResolverSimulator,
                                                          fault: Dict[str, Any]) -> None:
    backlog(rs, n=900, seed=44)
    rs.inject("truncate", count=2, **fault)
    out = runner.run()
    assert_exactly_once(rs, [out])
    downloads = rs.stats()["downloads"]
    assert [d["complete"] for d in downloads] == [False, False, True]
    assert out.summaries()[0]["retries"] == 2


def test_a_download_that_stalls_mid_body_is_read_again(runner: InputRunner, rs: ResolverSimulator) -> None:
    backlog(rs, n=600, seed=52)
    rs.inject("stall", path="download", seconds=8, after_bytes=20_000)  # past the test policy's 3 s read timeout
    out = runner.run()
    assert_exactly_once(rs, [out])
    # (The stalled download is still held open by the simulator, so only the second one is in its log yet.)
    assert out.summaries()[0]["retries"] == 1 and rs.stats()["jobs_created"] == 1


def test_failing_jobs_are_made_again(runner: InputRunner, rs: ResolverSimulator) -> None:
    backlog(rs, n=200, seed=45)
    rs.inject("job_fail", count=2, error="Export failed: internal error 0x1F")
    out = runner.run()
    assert_exactly_once(rs, [out])
    assert rs.stats()["jobs_created"] == 3
    assert "0x1F" not in runner.log_text() + out.stdout  # server text is never repeated


def test_a_slow_job_is_resumed_by_the_next_run_not_made_again(runner: InputRunner, rs: ResolverSimulator) -> None:
    backlog(rs, n=200, seed=46)
    rs.set_config(job_seconds=600.0)
    runner.configure(params(rs, job_timeout_seconds="1"))
    first = runner.run()
    [summary] = first.summaries()
    assert summary["status"] == "stopped" and "ExportJobPending" in summary["error"]
    assert "resumes polling" in runner.log_text()
    second = runner.run()
    assert second.records() == [] and rs.stats()["jobs_created"] == 1, "a new job was made instead"
    rs.set_config(job_seconds=0.02)  # the job is done now
    third = runner.run()
    assert_exactly_once(rs, [first, second, third])
    [pending, newer] = rs.stats()["exports"]
    assert pending["rows"] == 375 and newer["rows"] == 0  # the pending job's range, then the seconds since
    polls = rs.stats()["job_polls"][pending["job_id"]]
    assert 3 <= polls < 25  # polled by all three runs, backing off: a fixed 50 ms poll would be over 40
    assert third.summaries()[0]["status"] == "complete"


def test_restarts_write_nothing_twice(runner: InputRunner, rs: ResolverSimulator) -> None:
    with_cap(runner, 300)
    rs.set_config(cap=300)
    backlog(rs, n=700, seed=47)
    outputs = [runner.run() for _ in range(3)]
    assert outputs[1].records() == [] and outputs[2].records() == []
    now = int(time.time() * 1000)
    rs.add_records(generate_rows(40, now - 60_000, now - 2_000, seed=48))
    outputs.append(runner.run())
    assert len(outputs[-1].records()) == 40
    assert_exactly_once(rs, outputs)


def test_a_sigkill_mid_run_loses_and_repeats_nothing(runner: InputRunner, rs: ResolverSimulator) -> None:
    with_cap(runner, 300)
    rs.set_config(cap=300)
    backlog(rs, n=1000, seed=49)
    proc = runner.start()
    deadline = time.time() + 60
    while time.time() < deadline and not any(d["complete"] for d in rs.stats()["downloads"]):
        time.sleep(0.005)
    rs.set_config(job_seconds=60)  # the next batch's job hangs while the first batch is written and checkpointed
    while time.time() < deadline and rs.stats()["jobs_created"] < 2:
        time.sleep(0.005)
    time.sleep(0.5)
    killed = proc.kill()
    assert 0 < len(killed.records()) <= 300
    rs.set_config(job_seconds=0.02)
    resumed = runner.run()
    assert_exactly_once(rs, [killed, resumed])
    assert resumed.summaries()[0]["duplicates_dropped"] < 300, "the killed run's batch was read again"


def test_settle_time_holds_back_rows_still_being_processed(runner: InputRunner, rs: ResolverSimulator) -> None:
    now = int(time.time() * 1000)
    rs.add_records(generate_rows(5, now - 300_000, now - 60_000, seed=50))
    runner.configure(params(rs, settle_seconds=None))  # the default: 900 s
    out = runner.run()
    assert out.records() == [] and out.summaries()[0]["status"] == "complete"
