"""The ringcentral_audit input, run as splunkd runs it, against the RingCentral simulator and splunkd stand-in."""

from __future__ import annotations

import json
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List

import pytest

from tests.conftest import CLIENT_SECRET, JWT, input_params, sim_config
from tests.harness import REPO, SCRIPT, InputRunner, RunOutput, splunk_python
from tests.sim.ringcentral_sim import RingCentralSimulator

NOW = datetime.now(timezone.utc)


def make_sim(**overrides: Any) -> RingCentralSimulator:
    simulator = RingCentralSimulator(sim_config(**overrides))
    simulator.start()
    return simulator


def epoch_text(event_time: str) -> str:
    moment = datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    ms = round(moment.timestamp() * 1000)
    return f"{ms // 1000}.{ms % 1000:03d}"


def assert_exactly_once(outputs: List[RunOutput], expected: List[Dict[str, Any]]) -> None:
    emitted = [record for output in outputs for record in output.records()]
    counts = Counter(record["id"] for record in emitted)
    repeated = {k: v for k, v in counts.items() if v > 1}
    assert not repeated, f"records written more than once: {list(repeated.items())[:5]}"
    missing = {r["id"] for r in expected} - set(counts)
    assert not missing, f"{len(missing)} records never written, e.g. {sorted(missing)[:3]}"
    assert len(emitted) == len(expected)


def stored_secrets(splunkd: Any) -> Dict[str, str]:
    """storage/passwords entries, with solnlib's chunks (user``splunk_cred_sep``N, end mark) joined."""
    from solnlib.credentials import CredentialManager

    sep, end = CredentialManager.SEP, CredentialManager.END_MARK
    chunks: Dict[str, Dict[int, str]] = {}
    for entry in splunkd.passwords():
        user, _, index = entry["username"].partition(sep)
        chunks.setdefault(user, {})[int(index or 1)] = entry["clear_password"]
    joined = {user: "".join(v for _, v in sorted(parts.items()) if v != end) for user, parts in chunks.items()}
    return {user: _unwrap(value) for user, value in joined.items()}


def _unwrap(value: str) -> str:
    """A secret as the admin entered it: stored secrets are wrapped with the destination they are bound to."""
    try:
        wrapped = json.loads(value)
    except ValueError:
        return value
    return wrapped["secret"] if isinstance(wrapped, dict) and "secret" in wrapped else value


def search_requests(sim: RingCentralSimulator) -> List[Dict[str, Any]]:
    return [r for r in sim.stats()["requests"] if r["path"].endswith("/audit-trail/search")]


# --- the scheme and validation ------------------------------------------------------------------------


def test_scheme_declares_xml_streaming_external_validation_and_contract_arguments(app_dir: Any) -> None:
    import subprocess

    out = subprocess.run([splunk_python(), str(SCRIPT), "--scheme"], capture_output=True, text=True, check=True)
    root = ET.fromstring(out.stdout)
    assert root.findtext("streaming_mode") == "xml"
    assert root.findtext("use_external_validation") == "true"
    args = {a.get("name"): a for a in root.iter("arg")}
    assert set(args) == {"server_url", "client_id", "client_secret", "jwt", "account_id", "start_date",
                         "settle_seconds", "overlap_seconds", "page_size", "proxy_url", "ca_bundle", "log_level"}
    assert args["client_secret"].findtext("required_on_create") == "true"
    assert out.stderr == ""


def test_validate_accepts_good_settings_with_one_live_token_request(runner: InputRunner, sim: Any) -> None:
    result = runner.validate(input_params(sim))
    assert result.returncode == 0, result.stdout
    assert result.stdout == ""
    assert sim.stats()["token_grants"] == 1
    assert sim.stats()["heavy_requests"] == 0


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("server_url", "http://platform.ringcentral.com", "server_url: must be https://"),
    ("page_size", "5000", "page_size: must be from 1 to 1000"),
    ("settle_seconds", "soon", "settle_seconds: must be a whole number"),
    ("jwt", "not-a-jwt", "jwt: does not look like a JWT"),
    ("client_id", "", "client_id: is required"),
    ("account_id", "acme", "account_id: must be ~"),
    ("start_date", "last tuesday", "start_date: must be an ISO 8601 date"),
    ("proxy_url", "proxy.example.com", "proxy_url: must be http(s)://"),
    ("ca_bundle", "/nonexistent/ca.pem", "ca_bundle: must be the path of a readable PEM file"),
    ("log_level", "LOUD", "log_level: must be one of DEBUG, INFO, WARNING, ERROR"),
])
def test_validate_rejects_bad_fields_naming_field_and_fix(runner: InputRunner, sim: Any, field: str, value: str,
                                                          expected: str) -> None:
    result = runner.validate(input_params(sim, **{field: value}))
    assert result.returncode == 1
    message = ET.fromstring(result.stdout).findtext("message")
    assert message is not None and message.startswith(expected), message
    assert sim.stats()["token_grants"] == 0


def test_validate_an_edited_input_reads_masked_secrets_back(runner: InputRunner, sim: Any) -> None:
    runner.run()  # the first run moves the secrets to storage/passwords and masks the stanza
    stanza = runner.stanza()
    assert stanza["client_secret"] == "********"
    grants = sim.stats()["token_grants"]
    result = runner.validate({**stanza, "page_size": "500"})
    assert result.returncode == 0, result.stdout
    assert sim.stats()["token_grants"] == grants + 1


def test_validate_a_rejected_edit_leaves_the_stored_secrets_alone(runner: InputRunner, sim: Any,
                                                                    splunkd: Any) -> None:
    runner.run()
    before = stored_secrets(splunkd)
    result = runner.validate({**runner.stanza(), "client_secret": "a-new-but-wrong-secret-42"})
    assert result.returncode == 1 and "test login failed" in result.stdout
    assert stored_secrets(splunkd) == before


@pytest.mark.parametrize("proxy", ["proxyuser:S3cr3t-pw@proxy.example.com:8080",
                                   "http://proxyuser:S3c#r3t@proxy.example.com:8080"])
def test_a_bad_proxy_url_is_rejected_without_repeating_its_password(runner: InputRunner, sim: Any,
                                                                    proxy: str) -> None:
    result = runner.validate(input_params(sim, proxy_url=proxy))
    assert result.returncode == 1 and "proxy_url: must be http(s)://" in result.stdout
    assert "S3c" not in result.stdout + result.stderr


def test_validate_reports_rejected_credentials_without_leaking_them(runner: InputRunner, sim: Any) -> None:
    result = runner.validate(input_params(sim, client_secret="wrong-secret-value-123"))
    assert result.returncode == 1
    message = ET.fromstring(result.stdout).findtext("message") or ""
    assert "test login failed" in message and "client_secret" in message
    for secret in ("wrong-secret-value-123", JWT, "Basic "):
        assert secret not in result.stdout + result.stderr


# --- collection -----------------------------------------------------------------------------------------


def test_first_run_writes_each_record_once_as_sent_with_its_event_time(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(250, NOW - timedelta(days=20), NOW - timedelta(minutes=1), seed=7)
    out = runner.run()
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert_exactly_once([out], expected)
    by_id = {r["id"]: r for r in expected}
    for event in out.events:
        if event.sourcetype != "ringcentral:audit":
            continue
        record = event.json()
        assert record == by_id[record["id"]]
        # Key order as the API sent it, except the bulky details last (inside Splunk's extraction limits).
        sent = [k for k in by_id[record["id"]] if k != "details"] + (["details"] if "details" in record else [])
        assert list(record) == sent
        assert event.data == json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        assert event.time == epoch_text(record["eventTime"])
        assert (event.source, event.index, event.host) == ("ringcentral_audit://prod", "rc_audit", "rc-collector")
        assert event.stanza == "ringcentral_audit://prod"
    [summary] = out.summaries()
    assert summary["status"] == "complete" and summary["input"] == "prod"
    assert summary["records_emitted"] == 250 and summary["total_found"] == 250
    assert summary["pages"] == 1 and summary["requests"] == 1 and summary["gaps"] == []
    # The search-time knowledge is tested against sample summaries: they must have the input's exact keys.
    samples = [json.loads(line) for line in (REPO / "tests" / "samples" / "ringcentral_audit_collection.jsonl")
               .read_text().splitlines() if line.strip()]
    for sample in samples:
        assert set(sample) - {"error"} == set(summary) - {"error"}
    assert "action=events_ingested" in runner.log_text() and "n_events=250" in runner.log_text()
    assert "input=prod" in runner.log_text()


def test_secrets_move_to_storage_passwords_and_never_leak(runner: InputRunner, sim: Any, splunkd: Any) -> None:
    sim.generate(30, NOW - timedelta(days=2), NOW - timedelta(minutes=1), seed=3)
    first = runner.run()
    stanza = runner.stanza()
    assert stanza["client_secret"] == "********" and stanza["jwt"] == "********"
    stored = stored_secrets(splunkd)
    assert stored.get("prod#client_secret") == CLIENT_SECRET
    assert stored.get("prod#jwt") == JWT
    # The masked stanza is what splunkd passes from now on; the input reads the real values back.
    sim.generate(5, datetime.now(timezone.utc), datetime.now(timezone.utc) + timedelta(seconds=1), seed=4)
    time.sleep(1.1)
    second = runner.run()
    assert len(second.records()) == 5
    token = json.loads(stored["prod#token"])["access_token"] if "prod#token" in stored else None
    haystacks = [first.stdout, first.stderr, second.stdout, second.stderr, runner.log_text(),
                 json.dumps(splunkd.kv_collection("ta_audit_trail_checkpoints")), json.dumps(runner.stanza())]
    haystacks += [p.read_text() for p in runner.checkpoint_dir.glob("*")]
    for secret in filter(None, (CLIENT_SECRET, JWT, token)):
        for text in haystacks:
            assert secret not in text
    assert not any(secret in r["path"] for r in splunkd.requests for secret in (CLIENT_SECRET, JWT))


def test_restart_writes_nothing_twice_and_collects_only_new_records(runner: InputRunner, sim: Any) -> None:
    old = sim.generate(400, NOW - timedelta(days=10), NOW - timedelta(minutes=30), seed=11)
    first = runner.run()
    again = runner.run()
    assert again.records() == []
    [summary] = again.summaries()
    assert summary["duplicates_dropped"] >= 0 and summary["records_emitted"] == 0
    new = sim.generate(20, datetime.now(timezone.utc), datetime.now(timezone.utc) + timedelta(seconds=1), seed=12)
    time.sleep(1.1)
    third = runner.run()
    assert_exactly_once([first, again, third], old + new)


@pytest.mark.parametrize(("sort", "inclusive"), [("newest", True), ("oldest", True), ("shuffled", False)])
def test_1200_records_with_one_event_time_across_page_boundaries(tmp_path: Any, splunkd: Any, app_dir: Any,
                                                                 sort: str, inclusive: bool) -> None:
    simulator = make_sim(sort=sort, inclusive_from=inclusive, inclusive_to=inclusive)
    try:
        same = (NOW - timedelta(hours=1)).replace(microsecond=123000)
        expected = simulator.generate(1200, NOW, NOW, seed=5, same_time=same)
        run = InputRunner(tmp_path, splunkd)
        run.configure(input_params(simulator, page_size="500"))
        first = run.run()
        second = run.run()
        assert_exactly_once([first, second], expected)
        assert second.records() == []
        assert {e.time for e in first.events if e.sourcetype == "ringcentral:audit"} == {
            epoch_text(same.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")}
    finally:
        simulator.stop()


def test_429_storm_waits_out_each_penalty_without_extending_it(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(2500, NOW - timedelta(days=3), NOW - timedelta(minutes=1), seed=21)
    sim.inject("429", count=3)
    out = runner.run()
    assert_exactly_once([out], expected)
    stats = sim.stats()
    assert stats["rate_limited"] == 3
    assert stats["penalty_extensions"] == 0, "a request was sent during a penalty"
    [summary] = out.summaries()
    assert summary["rate_limited"] == 3 and summary["status"] == "complete"
    assert summary["rate_limit_wait_seconds"] >= 3 * 1.0
    assert "action=rate_limited" in runner.log_text()


def test_429_without_retry_after_waits_the_documented_default(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(100, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=22)
    sim.set_config(send_retry_after=False)
    sim.inject("429", count=1)
    out = runner.run()
    assert_exactly_once([out], expected)
    assert sim.stats()["penalty_extensions"] == 0
    assert out.summaries()[0]["rate_limit_wait_seconds"] >= 0.5  # the test policy's default_retry_after


def test_pacing_on_rate_limit_headers_never_triggers_a_429(runner: InputRunner, sim: Any) -> None:
    sim.set_config(heavy_limit=3, heavy_window=1.5)
    expected = sim.generate(3500, NOW - timedelta(days=5), NOW - timedelta(minutes=1), seed=23)
    runner.configure(input_params(sim, page_size="500"))
    out = runner.run()
    assert_exactly_once([out], expected)
    assert sim.stats()["rate_limited"] == 0
    assert len(search_requests(sim)) == 7


def test_token_expiring_mid_pagination_is_renewed_and_no_record_is_lost(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(3000, NOW - timedelta(days=5), NOW - timedelta(minutes=1), seed=31)
    runner.configure(input_params(sim, page_size="250"))
    sim.set_config(heavy_limit=4, heavy_window=1.0)

    def expire_after_third_page() -> None:
        deadline = time.time() + 30
        while time.time() < deadline and len(search_requests(sim)) < 3:
            time.sleep(0.01)
        sim.expire_tokens()

    killer = threading.Thread(target=expire_after_third_page)
    killer.start()
    out = runner.run()
    killer.join()
    assert_exactly_once([out], expected)
    statuses = [r["status"] for r in search_requests(sim)]
    assert 401 in statuses, "the token was never seen expired"
    assert sim.stats()["token_grants"] == 2


def test_short_lived_tokens_are_renewed_before_expiry(runner: InputRunner, sim: Any) -> None:
    sim.set_config(access_token_ttl=1.5, heavy_limit=2, heavy_window=1.0)
    expected = sim.generate(2000, NOW - timedelta(days=5), NOW - timedelta(minutes=1), seed=32)
    runner.configure(input_params(sim, page_size="250"))
    out = runner.run()
    assert_exactly_once([out], expected)
    assert sim.stats()["token_grants"] >= 2
    assert 401 not in [r["status"] for r in search_requests(sim)], "renewal should be proactive"


def test_token_is_cached_across_runs(runner: InputRunner, sim: Any) -> None:
    sim.generate(10, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=33)
    for _ in range(4):
        assert runner.run().returncode == 0
    assert sim.stats()["token_grants"] == 1
    assert sim.stats()["heavy_requests"] == 4


def test_crash_between_pages_replays_nothing(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(2500, NOW - timedelta(days=5), NOW - timedelta(minutes=1), seed=41)
    runner.configure(input_params(sim, page_size="500"))
    # Two requests per 2 s: the pacer pauses before page 3, which leaves time to make page 3 hang.
    sim.set_config(heavy_limit=2, heavy_window=2.0)
    proc = runner.start()
    deadline = time.time() + 30
    while time.time() < deadline and len(search_requests(sim)) < 2:
        time.sleep(0.005)
    sim.inject("stall", count=1, seconds=30)
    time.sleep(3.0)  # page 2 written and checkpointed; page 3 is hanging
    crashed = proc.kill()
    assert len(crashed.records()) == 1000, "expected exactly pages 1 and 2 before the crash"
    sim.clear_faults()
    resumed = runner.run()
    assert_exactly_once([crashed, resumed], expected)
    assert resumed.summaries()[0]["duplicates_dropped"] >= len(crashed.records())


def test_server_errors_are_retried_with_backoff(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(1500, NOW - timedelta(days=2), NOW - timedelta(minutes=1), seed=51)
    sim.inject("status", count=2, status=503)
    sim.inject("reset", count=1)
    out = runner.run()
    assert_exactly_once([out], expected)
    assert out.summaries()[0]["retries"] == 3


def test_persistent_server_errors_end_the_run_and_the_next_run_resumes(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(2500, NOW - timedelta(days=2), NOW - timedelta(minutes=1), seed=52)
    # One request a second: the pacer pauses after page 1, while the API starts failing.
    sim.set_config(heavy_limit=1, heavy_window=1.0)

    def break_after_first_page() -> None:
        while len(search_requests(sim)) < 1:
            time.sleep(0.005)
        sim.inject("status", count=50, status=500)

    threading.Thread(target=break_after_first_page, daemon=True).start()
    failed = runner.run()
    assert len(failed.records()) == 1000
    [summary] = failed.summaries()
    assert summary["status"] in ("partial", "failed") and "RetriableSourceError" in summary["error"]
    assert "action=window_partial" in runner.log_text() or "action=window_failed" in runner.log_text()
    sim.clear_faults()
    resumed = runner.run()
    assert_exactly_once([failed, resumed], expected)


def test_read_timeout_is_retried(runner: InputRunner, sim: Any) -> None:
    expected = sim.generate(50, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=53)
    sim.inject("stall", count=1, seconds=5)  # longer than the test policy's 3 s read timeout
    out = runner.run()
    assert_exactly_once([out], expected)
    assert out.summaries()[0]["retries"] == 1


def test_kvstore_unavailable_falls_back_to_checkpoint_dir(runner: InputRunner, sim: Any, splunkd: Any) -> None:
    splunkd.kvstore_enabled = False
    first_batch = sim.generate(100, NOW - timedelta(days=1), NOW - timedelta(minutes=30), seed=61)
    first = runner.run()
    assert len(first.records()) == 100
    assert "action=kvstore_unavailable" in runner.log_text()
    assert list(runner.checkpoint_dir.glob("*.json"))
    second_batch = sim.generate(10, datetime.now(timezone.utc), datetime.now(timezone.utc) + timedelta(seconds=1),
                                seed=62)
    time.sleep(1.1)
    second = runner.run()
    assert_exactly_once([first, second], first_batch + second_batch)


def test_checkpoint_lives_in_the_kvstore(runner: InputRunner, sim: Any, splunkd: Any) -> None:
    sim.generate(20, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=63)
    runner.run()
    docs = splunkd.kv_collection("ta_audit_trail_checkpoints")
    assert list(docs) == ["ringcentral_audit_prod"]
    state = json.loads(docs["ringcentral_audit_prod"]["state"])
    assert state["version"] == 2 and state["watermark_ms"] > 0


def test_malformed_record_is_written_once_and_counted(runner: InputRunner, sim: Any) -> None:
    sim.generate(40, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=71)
    sim.inject("malformed_record", count=1)
    first = runner.run()
    assert first.summaries()[0]["malformed_records"] == 1
    assert len(first.records()) == 41
    sim.inject("malformed_record", count=1)
    second = runner.run()
    assert second.records() == [], "the malformed record came back and was written twice"


def test_proxy_with_credentials_is_used_and_its_password_masked(runner: InputRunner, sim: Any) -> None:
    from tests.sim.connect_proxy import ConnectProxy

    proxy = ConnectProxy(username="proxyuser", password="pr0xy-pa55w0rd")
    proxy.start()
    try:
        sim.generate(15, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=81)
        url = proxy.url.replace("://", "://proxyuser:pr0xy-pa55w0rd@")
        runner.configure(input_params(sim, proxy_url=url))
        out = runner.run()
        assert len(out.records()) == 15
        assert proxy.tunnels >= 1
        assert "pr0xy-pa55w0rd" not in runner.stanza()["proxy_url"]
        assert runner.stanza()["proxy_url"].endswith("proxyuser:********@" + proxy.url.split("://")[1])
        again = runner.run()  # with the masked URL, the stored password is put back
        assert again.records() == [] and again.summaries()[0]["status"] == "complete"
        assert "pr0xy-pa55w0rd" not in runner.log_text()
    finally:
        proxy.stop()


def test_window_reporting_more_than_10000_records_is_split(runner: InputRunner, sim: Any) -> None:
    sim.set_config(retention_max=20000, heavy_limit=100)
    expected = sim.generate(12000, NOW - timedelta(days=30), NOW - timedelta(minutes=1), seed=91)
    out = runner.run(timeout=240)
    assert_exactly_once([out], expected)
    summaries = out.summaries()
    assert len(summaries) >= 2 and all(s["status"] == "complete" for s in summaries)
    assert all(s["total_found"] <= 10000 for s in summaries)
    assert "action=window_split" in runner.log_text()


def test_start_date_older_than_retention_is_reported_as_gap(runner: InputRunner, sim: Any) -> None:
    sim.generate(10, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=92)
    runner.configure(input_params(sim, start_date=(NOW - timedelta(days=400)).strftime("%Y-%m-%d")))
    out = runner.run()
    [summary] = out.summaries()
    [gap] = summary["gaps"]
    assert gap["reason"] == "retention"
    assert len(out.records()) == 10


def test_start_date_limits_the_first_run(runner: InputRunner, sim: Any) -> None:
    recent = sim.generate(10, NOW - timedelta(days=2), NOW - timedelta(minutes=1), seed=93)
    sim.generate(10, NOW - timedelta(days=30), NOW - timedelta(days=20), seed=94)
    runner.configure(input_params(sim, start_date=(NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    out = runner.run()
    assert_exactly_once([out], recent)


def test_records_arriving_late_within_the_overlap_are_collected_once(runner: InputRunner, sim: Any) -> None:
    sim.generate(30, NOW - timedelta(days=1), NOW - timedelta(minutes=2), seed=95)
    first = runner.run()
    from tests.sim.records import generate_records

    late = generate_records(3, NOW - timedelta(minutes=4), NOW - timedelta(minutes=3), 96)
    sim.add_records(late)  # searchable only now, though their eventTime is inside the last window
    second = runner.run()
    assert sorted(r["id"] for r in second.records()) == sorted(r["id"] for r in late)
    assert len(first.records()) == 30


def test_settle_time_holds_back_the_newest_records(runner: InputRunner, sim: Any) -> None:
    sim.generate(5, NOW - timedelta(minutes=3), NOW - timedelta(minutes=1), seed=97)
    runner.configure(input_params(sim, settle_seconds="600"))
    out = runner.run()
    assert out.records() == []


def test_missing_audit_trail_permission_is_logged_clearly(runner: InputRunner, sim: Any) -> None:
    sim.set_config(scope="ReadAccounts")
    sim.generate(5, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=98)
    out = runner.run()
    assert out.records() == []
    [summary] = out.summaries()
    assert summary["status"] == "failed" and "Read Audit Trail" in summary["error"]
    assert "Read Audit Trail" in runner.log_text()


def test_an_input_name_with_spaces_is_masked_too(tmp_path: Any, sim: Any, splunkd: Any, app_dir: Any) -> None:
    named = InputRunner(tmp_path, splunkd, name="prod audit")
    named.configure(input_params(sim))
    sim.generate(5, NOW - timedelta(days=1), NOW - timedelta(minutes=1), seed=99)
    out = named.run()
    assert len(out.records()) == 5
    assert named.stanza()["client_secret"] == "********" and named.stanza()["jwt"] == "********"
    assert "action=mask_failed" not in named.log_text()


# --- upgrade from 1.0.0 -----------------------------------------------------------------------------------


def _shifted_fixture(delta_ms: int) -> Dict[str, Any]:
    """The 1.0.0 fixture moved in time as a whole, so its records are as recent now as when it was made."""
    from audit_trail.timefmt import format_iso_ms, parse_iso_ms

    fixture = json.loads((REPO / "tests" / "fixtures" / "ringcentral_checkpoint_1.0.0.json").read_text())
    records = []
    for record in fixture["records"]:
        moved = dict(record)
        moved["eventTime"] = format_iso_ms(parse_iso_ms(record["eventTime"]) + delta_ms)
        records.append(moved)

    def shift(state: Dict[str, Any]) -> Dict[str, Any]:
        out = dict(state)
        for name in ("watermark_ms", "seen_floor_ms", "high_ms"):
            out[name] = state[name] + delta_ms
        out["saved_at"] = state["saved_at"] + delta_ms / 1000
        out["seen"] = {str(int(end) + delta_ms): ids for end, ids in state["seen"].items()}
        return out

    return {"records": records, "kv": shift(json.loads(fixture["kv_document"]["state"])),
            "file": shift(fixture["checkpoint_file"]), "written_at": fixture["written_at"]}


def test_a_checkpoint_written_by_1_0_0_is_carried_over_nothing_recollected_nothing_skipped(
        runner: InputRunner, sim: Any, splunkd: Any) -> None:
    sys_path = str(REPO / "lib")
    import sys

    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    from audit_trail.checkpoint import KVStoreCheckpointStore

    delta_ms = int((time.time() - json.loads(
        (REPO / "tests" / "fixtures" / "ringcentral_checkpoint_1.0.0.json").read_text())["written_at"]) * 1000)
    fixture = _shifted_fixture(delta_ms)
    assert fixture["kv"]["version"] == 1 and fixture["file"]["version"] == 1
    sim.add_records(fixture["records"])
    # 1.0.0 collected all of these; it left its checkpoint in the KV store and in checkpoint_dir.
    store = KVStoreCheckpointStore("ta_audit_trail_checkpoints", splunkd.session_key, "TA-audit-trail",
                                   splunkd.scheme, splunkd.host, splunkd.port)
    store.save("ringcentral_audit_prod", json.dumps(fixture["kv"]))
    (runner.checkpoint_dir / "ringcentral_audit_prod.json").write_text(json.dumps(fixture["file"]))
    now = datetime.now(timezone.utc)
    new = sim.generate(20, now - timedelta(seconds=20), now - timedelta(seconds=2), seed=1001)
    runner.configure(input_params(sim, settle_seconds="1", overlap_seconds="900"))
    out = runner.run()
    assert out.returncode == 0, out.stderr
    assert sorted(r["id"] for r in out.records()) == sorted(r["id"] for r in new)
    assert "action=checkpoint_upgraded from_version=1" in runner.log_text()
    state = json.loads(splunkd.kv_collection("ta_audit_trail_checkpoints")["ringcentral_audit_prod"]["state"])
    assert state["version"] == 2 and state["watermark_ms"] > fixture["kv"]["watermark_ms"]
