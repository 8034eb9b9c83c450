"""The liveperson_audit input, run as splunkd runs it, against the LivePerson simulator under every reading of
what LivePerson's docs leave open: each row exactly once, at its true time, whatever the API turns out to do."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tests.harness import InputRunner, RunOutput
from tests.sim.liveperson_records import ACTION_TYPE, PUBLIC_FIELDS, identical
from tests.sim.liveperson_sim import LivePersonSimulator, SimConfig

SCHEME = "liveperson_audit"
SOURCETYPE = "liveperson:audit"
NOW = datetime.now(timezone.utc)


@pytest.fixture
def lp() -> Iterator[LivePersonSimulator]:
    sim = LivePersonSimulator(SimConfig()).start()
    try:
        yield sim
    finally:
        sim.stop()


def params(sim: LivePersonSimulator, **overrides: Any) -> Dict[str, str]:
    cfg = sim.config
    values: Dict[str, Any] = {
        "account_id": cfg.account_id, "app_key": cfg.app_key, "app_secret": cfg.app_secret,
        "access_token": cfg.access_token, "access_token_secret": cfg.access_token_secret,
        "domain_url": sim.base_url, "ca_bundle": sim.ca_path, "settle_seconds": "0", "overlap_seconds": "900",
        "page_size": "100", "log_level": "DEBUG", "index": "lp_audit", "interval": "300",
        "start_date": (NOW - timedelta(days=40)).strftime("%Y-%m-%d"),
    }
    values.update(overrides)
    return {k: str(v) for k, v in values.items() if v is not None}


@pytest.fixture
def runner(tmp_path: Path, lp: LivePersonSimulator, splunkd: Any, app_dir: Path) -> InputRunner:
    run = InputRunner(tmp_path, splunkd, scheme=SCHEME, sourcetype=SOURCETYPE)
    run.configure(params(lp))
    return run


def expected_events(sim: LivePersonSimulator) -> Counter:
    """Each stored row as the input must write it: every public field as served, at its true second."""
    out: Counter = Counter()
    served = PUBLIC_FIELDS + ((ACTION_TYPE,) if sim.config.action_type == "selectable" else ())
    for row in sim.ground_truth():
        if row.get("visible_at") and row["visible_at"] > time.time():
            continue
        fields = {k: row[k] for k in served if k in row and k != "changeDate"}
        out[(json.dumps(fields, sort_keys=True), f"{int(row['instant'])}.000")] += 1
    return out


def written_events(outputs: List[RunOutput]) -> Counter:
    out: Counter = Counter()
    for output in outputs:
        for event in output.events:
            if event.sourcetype != SOURCETYPE:
                continue
            record = event.json()
            record.pop("changeDate", None)
            out[(json.dumps(record, sort_keys=True), event.time)] += 1
    return out


def assert_exactly_once(sim: LivePersonSimulator, outputs: List[RunOutput]) -> None:
    want, got = expected_events(sim), written_events(outputs)
    lost, extra = want - got, got - want
    assert not lost, f"{sum(lost.values())} rows lost (or mis-timed), e.g. {list(lost)[:2]}"
    assert not extra, f"{sum(extra.values())} rows repeated (or mis-timed), e.g. {list(extra)[:2]}"


def backlog(sim: LivePersonSimulator, seed: int, n: int = 450) -> None:
    rows = sim.generate(n, NOW - timedelta(days=30), NOW - timedelta(minutes=3), seed=seed)
    # Two identical changes in one second are two events; a second holding more rows than a page.
    sim.add_records(identical(rows[5], 2))
    burst = NOW - timedelta(hours=5)
    sim.add_records([dict(rows[(i * 7) % n], instant=burst.timestamp(), objectName=f"bulk-{i}") for i in range(130)])


# Every reading of the undocumented behaviour, each a switch of the simulator.
READINGS: Dict[str, Dict[str, Any]] = {
    "documented-defaults": {},
    "toDate-exclusive-days-in-utc": {"to_date_inclusive": False, "day_zone": "utc"},
    "days-in-us-eastern": {"day_zone": "us_eastern"},
    "region-ids-only-error": {"accepted_zones": "region_only", "unaccepted_zone": "error"},
    "region-ids-only-gmt": {"accepted_zones": "region_only", "unaccepted_zone": "gmt"},
    "region-ids-only-eastern": {"accepted_zones": "region_only", "unaccepted_zone": "eastern"},
    "us-eastern-only": {"accepted_zones": "eastern_only", "unaccepted_zone": "eastern"},
    "us-eastern-only-error": {"accepted_zones": "eastern_only", "unaccepted_zone": "error"},
    "first-max-500-error": {"max_first": 500, "over_max": "error"},
    "first-max-500-clamp": {"max_first": 500, "over_max": "clamp"},
    "total-count-is-page": {"total_count": "page"},
    "actionType-unknown": {"action_type": "unknown_field"},
    "comma-lists-errors-400": {"list_syntax": "comma", "errors_status": 400},
    "ties-shuffled": {"tie_order": "shuffled"},
}


@pytest.mark.parametrize("reading", sorted(READINGS))
def test_every_row_exactly_once_at_its_true_time_under_each_reading(runner: InputRunner, lp: LivePersonSimulator,
                                                                    reading: str) -> None:
    lp.set_config(**READINGS[reading])
    backlog(lp, seed=hash(reading) % 1000)
    page_size = "1000" if "first" in reading else "100"
    runner.configure(params(lp, page_size=page_size))
    first = runner.run()
    assert first.returncode == 0 and first.stderr == "", first.stderr
    assert all(s["status"] == "complete" for s in first.summaries()), first.summaries()
    second = runner.run()
    assert second.records() == []
    assert_exactly_once(lp, [first, second])


def test_only_us_eastern_served_places_the_repeated_november_hour(runner: InputRunner,
                                                                  lp: LivePersonSimulator) -> None:
    # The server renders US/Eastern whatever zone is asked for.
    lp.set_config(accepted_zones="eastern_only", unaccepted_zone="eastern")
    fall_back = datetime(NOW.year if NOW.month >= 11 else NOW.year - 1, 11, 1, tzinfo=timezone.utc)
    while fall_back.weekday() != 6:  # the first Sunday of November, 06:00 UTC
        fall_back += timedelta(days=1)
    fall_back += timedelta(hours=6)
    if NOW - fall_back > timedelta(days=390):
        pytest.skip("the last fall-back is past retention")
    template = lp.generate(1, NOW - timedelta(days=1), NOW - timedelta(hours=1), seed=4)[0]
    hour = [dict(template, instant=(fall_back + timedelta(minutes=m)).timestamp(), objectName=f"m{m}")
            for m in (-50, -20, 10, 40)]  # 01:10 EDT, 01:40 EDT, 01:10 EST, 01:40 EST
    lp.add_records(hour)
    runner.configure(params(lp, start_date=(fall_back - timedelta(days=2)).strftime("%Y-%m-%d")))
    out = runner.run()
    assert_exactly_once(lp, [out])
    assert "zone_proven zone=America/New_York" in runner.log_text()


def test_a_repeated_hour_without_a_step_back_loses_nothing(runner: InputRunner, lp: LivePersonSimulator) -> None:
    # 01:05 EDT then 01:20 EST: nothing on the page shows the clocks went back between them. The second must
    # keep its true time; the first may be written an hour late (the documented limit), but never lost.
    lp.set_config(accepted_zones="eastern_only", unaccepted_zone="eastern")
    fall_back = datetime(NOW.year if NOW.month >= 11 else NOW.year - 1, 11, 1, tzinfo=timezone.utc)
    while fall_back.weekday() != 6:
        fall_back += timedelta(days=1)
    fall_back += timedelta(hours=6)
    if NOW - fall_back > timedelta(days=390):
        pytest.skip("the last fall-back is past retention")
    template = lp.generate(1, NOW - timedelta(days=1), NOW - timedelta(hours=1), seed=5)[0]
    edt = dict(template, instant=(fall_back - timedelta(minutes=55)).timestamp(), objectName="edt")
    est = dict(template, instant=(fall_back + timedelta(minutes=20)).timestamp(), objectName="est")
    lp.add_records([edt, est])
    runner.configure(params(lp, start_date=(fall_back - timedelta(days=2)).strftime("%Y-%m-%d")))
    first = runner.run()
    second = runner.run()
    written = [e for out in (first, second) for e in out.events if e.sourcetype == SOURCETYPE]
    names = Counter(e.json()["objectName"] for e in written)
    assert names["edt"] == 1 and names["est"] == 1
    by_name = {e.json()["objectName"]: e.time for e in written}
    assert by_name["est"] == f"{int(est['instant'])}.000"
    assert by_name["edt"] in (f"{int(edt['instant'])}.000", f"{int(edt['instant']) + 3600}.000")


def test_identical_rows_late_and_while_paging_are_written_once_each(runner: InputRunner,
                                                                     lp: LivePersonSimulator) -> None:
    rows = lp.generate(300, NOW - timedelta(days=2), NOW - timedelta(minutes=10), seed=7)
    late = dict(rows[10], instant=(NOW - timedelta(minutes=5)).timestamp(), objectName="late")
    inserted = [dict(rows[20], instant=(NOW - timedelta(days=1)).timestamp(), objectName=f"mid-{i}")
                for i in range(3)]
    lp.inject("insert", rows=inserted, after_requests=2)  # inside the window, behind the cursor
    first = runner.run()
    lp.add_records([late, late])  # two identical changes in one second, visible only now
    second = runner.run()
    lp.add_records([late])  # a third identical copy of that second shows up later still
    third = runner.run()
    assert_exactly_once(lp, [first, second, third])


def test_secrets_are_masked_signed_never_sent_or_logged(runner: InputRunner, lp: LivePersonSimulator,
                                                         splunkd: Any) -> None:
    backlog(lp, seed=11, n=50)
    first = runner.run()
    stanza = runner.stanza()
    assert all(stanza[f] == "********" for f in ("app_secret", "access_token", "access_token_secret"))
    second = runner.run()
    assert_exactly_once(lp, [first, second])
    cfg = lp.config
    haystacks = [first.stdout, second.stdout, first.stderr, runner.log_text(), json.dumps(stanza),
                 json.dumps(splunkd.kv_collection("ta_audit_trail_checkpoints"))]
    haystacks += [p.read_text() for p in runner.checkpoint_dir.glob("*.json")]
    for secret in (cfg.app_secret, cfg.access_token_secret):
        assert not any(secret in h for h in haystacks)
    requests = lp.stats()["requests"]
    assert all("Authorization" not in r["headers"] for r in requests if r["kind"] == "domain")
    assert all(r["headers"].get("Authorization", "").startswith("OAuth ") for r in requests if r["kind"] == "audit")


def test_the_domain_is_cached_and_looked_up_again_when_the_account_moves(runner: InputRunner,
                                                                         lp: LivePersonSimulator) -> None:
    backlog(lp, seed=12, n=40)
    runner.run()
    runner.run()
    assert lp.stats()["domain_lookups"] == 1
    lp.set_config(audit_host="secondary")
    lp.generate(5, NOW - timedelta(minutes=2), NOW - timedelta(seconds=30), seed=13)
    moved = runner.run()
    assert moved.summaries() and all(s["status"] == "complete" for s in moved.summaries())
    assert lp.stats()["domain_lookups"] == 2


@pytest.mark.parametrize(("fault", "words"), [("401", "OAuth signature"), ("403", "Audit Trail")])
def test_auth_failures_are_named_plainly(runner: InputRunner, lp: LivePersonSimulator, fault: str,
                                         words: str) -> None:
    backlog(lp, seed=14, n=20)
    lp.inject(fault, count=10)
    out = runner.run()
    [summary] = out.summaries()
    assert summary["status"] == "failed" and words in summary["error"]
    assert words in runner.log_text()


def test_server_errors_resets_and_429_are_retried(runner: InputRunner, lp: LivePersonSimulator) -> None:
    backlog(lp, seed=15, n=250)
    lp.inject("status", count=2, status=503)
    lp.inject("reset", count=1)
    lp.inject("429", count=1, retry_after=1)
    out = runner.run()
    assert_exactly_once(lp, [out])
    summaries = out.summaries()
    assert sum(s["retries"] for s in summaries) == 3 and sum(s["rate_limited"] for s in summaries) == 1


def test_a_sigkill_mid_backfill_repeats_at_most_one_page(runner: InputRunner, lp: LivePersonSimulator) -> None:
    backlog(lp, seed=16, n=900)
    lp.inject("stall", count=1, path="audit", seconds=30)  # the first request hangs...
    lp.clear_faults()
    lp.on_request(4, lambda sim: sim.inject("stall", count=1, seconds=30))
    proc = runner.start()
    deadline = time.time() + 30
    while time.time() < deadline and lp.stats()["audit_requests"] < 4:
        time.sleep(0.02)
    time.sleep(0.5)
    killed = proc.kill()
    lp.clear_faults()
    resumed = runner.run()
    got, want = written_events([killed, resumed]), expected_events(lp)
    assert not want - got
    assert sum((got - want).values()) <= 100, "more than one page repeated"


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("account_id", "not a site!", "account_id: must be the LivePerson site id"),
    ("page_size", "5000", "page_size: must be from 1 to 1000"),
    ("include_lpa", "maybe", "include_lpa: must be true or false"),
    ("domain_url", "http://api.liveperson.net", "domain_url: must be https://"),
    ("app_key", "", "app_key: is required"),
])
def test_bad_settings_are_rejected_at_save_naming_the_field(runner: InputRunner, lp: LivePersonSimulator,
                                                            field: str, value: str, expected: str) -> None:
    result = runner.validate(params(lp, **{field: value}))
    assert result.returncode == 1
    message = ET.fromstring(result.stdout).findtext("message") or ""
    assert message.startswith(expected), message
    assert lp.config.app_secret not in result.stdout


def test_good_settings_are_proven_with_one_signed_request(runner: InputRunner, lp: LivePersonSimulator) -> None:
    result = runner.validate(params(lp))
    assert result.returncode == 0, result.stdout
    assert lp.stats()["audit_requests"] == 1
    lp.set_config(audit_permission=False)
    refused = runner.validate(params(lp))
    assert refused.returncode == 1 and "Audit Trail" in refused.stdout
