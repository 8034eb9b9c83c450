"""The Resolver simulator, driven over real loopback HTTPS, honours every switch it offers."""

from __future__ import annotations

import calendar
import csv
import io
import json
import re
import time
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests

from tests.sim.resolver_records import (
    EVENTS,
    EXTERNAL_ORG_USER,
    AuditRow,
    burst_rows,
    generate_rows,
    repeated,
)
from tests.sim.resolver_sim import BOM, EXTRA_COLUMNS, ResolverSimulator, SimConfig, format_time

T = 1_714_564_800  # 2024-05-01T12:00:00Z, a second well in the past
DAY = 86_400


@pytest.fixture
def make_sim() -> Iterator[Any]:
    started: List[ResolverSimulator] = []

    def factory(**changes: Any) -> ResolverSimulator:
        # Jobs finish in tens of milliseconds unless a test is about job timing.
        settings: Dict[str, Any] = {"job_seconds": 0.02, "job_pending_seconds": 0.01}
        settings.update(changes)
        sim = ResolverSimulator(SimConfig(**settings)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Any) -> ResolverSimulator:
    return make_sim()


def key(sim: ResolverSimulator) -> Dict[str, str]:
    return {"x-api-key": sim.config.api_key}


def create(sim: ResolverSimulator, start: Any, end: Any, headers: Optional[Dict[str, str]] = None) -> requests.Response:
    # verify= per call: a Session.verify would be overridden by REQUESTS_CA_BUNDLE from the environment.
    return requests.post(
        sim.api_url + "/audit/user/export",
        json={"dateStart": start, "dateEnd": end},
        headers=key(sim) if headers is None else headers,
        verify=sim.ca_path,
        timeout=5,
    )


def job_id_of(response: requests.Response) -> str:
    """Read the job id whatever shape the body has: JSON string, bare text, number or {"id": ...}."""
    try:
        value = response.json()
    except ValueError:
        return response.text.strip()
    return str(value["id"] if isinstance(value, dict) else value)


def poll(sim: ResolverSimulator, job_id: str, headers: Optional[Dict[str, str]] = None, **kw: Any) -> requests.Response:
    return requests.get(
        f"{sim.api_url}/object/job/{job_id}",
        headers=key(sim) if headers is None else headers,
        verify=sim.ca_path,
        timeout=kw.pop("timeout", 5),
    )


def wait_done(sim: ResolverSimulator, job_id: str) -> Dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer = poll(sim, job_id).json()
        if answer.get("signedURL") or "error" in answer:
            return answer
        time.sleep(0.01)
    raise AssertionError("job never finished")


def download(sim: ResolverSimulator, url: str, **kw: Any) -> requests.Response:
    return requests.get(url, verify=sim.ca_path, timeout=kw.pop("timeout", 10), **kw)


def export_body(sim: ResolverSimulator, start: Any, end: Any) -> bytes:
    response = create(sim, start, end)
    assert response.status_code == 200, response.text
    answer = wait_done(sim, job_id_of(response))
    got = download(sim, answer["signedURL"])
    assert got.status_code == 200, got.text
    return got.content


def parse(body: bytes) -> List[Dict[str, str]]:
    text = body.decode("utf-8")
    return list(csv.DictReader(io.StringIO(text[1:] if text.startswith("\ufeff") else text, newline="")))


def export_rows(sim: ResolverSimulator, start: Any, end: Any) -> List[Dict[str, str]]:
    return parse(export_body(sim, start, end))


def expected(sim: ResolverSimulator, rows: List[AuditRow]) -> List[Dict[str, str]]:
    return [sim.csv_fields(row) for row in sorted(rows, key=lambda row: -row.at_ms)]


def day_rows(sim: ResolverSimulator, n: int = 50, seed: int = 1) -> List[AuditRow]:
    return sim.generate(n, T * 1000, (T + DAY) * 1000 - 1, seed)


# ----- the documented flow ----------------------------------------------------------------------------------


def test_documented_flow_serves_the_window_newest_first(sim: ResolverSimulator) -> None:
    rows = day_rows(sim, 200)
    sim.generate(20, (T - DAY) * 1000, T * 1000 - 1, seed=2)  # outside the window
    response = create(sim, T, T + DAY - 1)
    assert response.status_code == 200
    answer = wait_done(sim, job_id_of(response))
    assert answer["status"] == "COMPLETED"
    got = download(sim, answer["signedURL"])
    assert got.headers["Content-Type"] == "text/csv"
    assert int(got.headers["Content-Length"]) == len(got.content)
    assert parse(got.content) == expected(sim, rows)
    assert got.content.startswith(b"Date and Time,Subject,Event,Performed By\r\n")


@pytest.mark.parametrize("form", ["json_string", "text", "number", "object"])
def test_job_id_forms(make_sim: Any, form: str) -> None:
    sim = make_sim(job_id_form=form)
    day_rows(sim, 5)
    response = create(sim, T, T + DAY)
    if form == "json_string":
        assert re.fullmatch(r'"[0-9a-f-]{36}"', response.text)
        assert poll(sim, response.text).status_code == 404  # the quotes are not part of the id
    elif form == "text":
        assert re.fullmatch(r"[0-9a-f-]{36}", response.text)
        assert response.headers["Content-Type"].startswith("text/plain")
    elif form == "number":
        assert response.json() == 12345
        assert create(sim, T, T + DAY).json() == 12346
    else:
        assert set(response.json()) == {"id"}
    answer = wait_done(sim, job_id_of(response))
    assert answer["id"] == (12345 if form == "number" else job_id_of(response))
    assert len(parse(download(sim, answer["signedURL"]).content)) == 5


@pytest.mark.parametrize("status", [401, 403])
def test_api_key_is_required_on_the_api(make_sim: Any, status: int) -> None:
    sim = make_sim(auth_failure_status=status)
    assert create(sim, T, T + 1, headers={}).status_code == status
    assert create(sim, T, T + 1, headers={"x-api-key": "wrong"}).status_code == status
    bearer = {"Authorization": f"bearer {sim.config.api_key}"}
    assert create(sim, T, T + 1, headers=bearer).status_code == status
    job_id = job_id_of(create(sim, T, T + 1))
    assert poll(sim, job_id, headers={}).status_code == status
    sim.set_config(accept_bearer=True)
    assert create(sim, T, T + 1, headers=bearer).status_code == 200
    assert poll(sim, job_id, headers=bearer).status_code == 200
    assert poll(sim, "no-such-job").status_code == 404


@pytest.mark.parametrize(("field", "case"), [("status", "upper"), ("state", "lower"), (None, "upper")])
def test_status_field_and_values(make_sim: Any, field: Optional[str], case: str) -> None:
    sim = make_sim(status_field=field, status_case=case, job_seconds=0.4, job_pending_seconds=0.15)
    job_id = job_id_of(create(sim, T, T + 1))
    answers: List[Dict[str, Any]] = []
    while not answers or "signedURL" not in answers[-1]:
        answers.append(poll(sim, job_id).json())
        time.sleep(0.03)
    if field is None:
        assert all(set(answer) <= {"id", "signedURL"} for answer in answers)
        return
    labels = [answer[field] for answer in answers]
    names = ["PENDING", "RUNNING", "COMPLETED"]
    if case == "lower":
        names = [name.lower() for name in names]
    assert labels[0] == names[0] and names[1] in labels and labels[-1] == names[2]
    assert all("signedURL" not in answer for answer in answers[:-1])


def test_unfinished_job_can_carry_a_null_signed_url(make_sim: Any) -> None:
    sim = make_sim(null_signed_url=True, job_seconds=5, job_pending_seconds=5)
    answer = poll(sim, job_id_of(create(sim, T, T + 1))).json()
    assert answer["signedURL"] is None and answer["status"] == "PENDING"


def test_job_needs_min_polls(make_sim: Any) -> None:
    sim = make_sim(job_seconds=0, job_min_polls=3)
    job_id = job_id_of(create(sim, T, T + 1))
    answers = [poll(sim, job_id).json() for _ in range(4)]
    assert [("signedURL" in answer) for answer in answers] == [False, False, False, True]


@pytest.mark.parametrize("field", ["status", None])
def test_job_fail_on_export_and_on_poll(make_sim: Any, field: Optional[str]) -> None:
    sim = make_sim(status_field=field)
    sim.inject("job_fail", error="Export exceeded the time limit")
    answer = wait_done(sim, job_id_of(create(sim, T, T + 1)))
    assert answer["error"] == "Export exceeded the time limit" and "signedURL" not in answer
    assert answer.get("status") == ("FAILED" if field else None)
    sim.set_config(job_seconds=5)
    job_id = job_id_of(create(sim, T, T + 1))
    sim.inject("job_fail", path="job")
    assert "error" in poll(sim, job_id).json()
    assert poll(sim, job_id).json()["error"] == "Export failed"  # a failed job stays failed


# ----- signed URLs ------------------------------------------------------------------------------------------


def test_signed_url_expires_and_is_reissued_on_poll(make_sim: Any) -> None:
    sim = make_sim(signed_url_ttl=0.5)
    day_rows(sim, 3)
    job_id = job_id_of(create(sim, T, T + DAY))
    first = wait_done(sim, job_id)["signedURL"]
    assert "X-Amz-Expires=1&" in first and "X-Amz-Signature=" in first
    assert download(sim, first).status_code == 200
    time.sleep(0.55)
    expired = download(sim, first)
    assert expired.status_code == 403
    assert expired.headers["Content-Type"] == "application/xml"
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text
    second = poll(sim, job_id).json()["signedURL"]
    assert second != first
    assert len(parse(download(sim, second).content)) == 3


def test_signed_url_can_stay_the_same_after_expiry(make_sim: Any) -> None:
    sim = make_sim(reissue_url_on_poll=False)
    job_id = job_id_of(create(sim, T, T + 1))
    first = wait_done(sim, job_id)["signedURL"]
    assert poll(sim, job_id).json()["signedURL"] == first
    sim.expire_urls()
    assert poll(sim, job_id).json()["signedURL"] == first
    assert download(sim, first).status_code == 403
    assert sim.stats()["urls_issued"] == 1


def test_tampered_signature_is_refused(sim: ResolverSimulator) -> None:
    url = wait_done(sim, job_id_of(create(sim, T, T + 1)))["signedURL"]
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    refused = download(sim, tampered)
    assert refused.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in refused.text


def test_download_refuses_auth_headers_unless_switched_off(sim: ResolverSimulator) -> None:
    url = wait_done(sim, job_id_of(create(sim, T, T + 1)))["signedURL"]
    for headers in (key(sim), {"Authorization": "Bearer abc"}):
        refused = download(sim, url, headers=headers)
        assert refused.status_code == 400 and "<Code>InvalidArgument</Code>" in refused.text
    sim.set_config(reject_auth_headers=False)
    assert download(sim, url, headers=key(sim)).status_code == 200
    downloads = sim.stats()["downloads"]
    assert [entry["status"] for entry in downloads] == [400, 400, 200]
    assert ["x-api-key", sim.config.api_key] in downloads[0]["headers"]
    assert ["Authorization", "Bearer abc"] in downloads[1]["headers"]


def test_separate_download_listener_sees_no_api_key(make_sim: Any) -> None:
    sim = make_sim(separate_download_listener=True)
    day_rows(sim, 4)
    url = wait_done(sim, job_id_of(create(sim, T, T + DAY)))["signedURL"]
    assert url.startswith(sim.download_base_url + "/signed/")
    assert url.startswith("https://localhost:") and f":{sim.port}/" not in url
    assert len(parse(download(sim, url).content)) == 4
    on_api = url.replace(sim.download_base_url, sim.base_url)
    assert download(sim, on_api).status_code == 404
    requests_seen = sim.stats()["requests"]
    store = [entry for entry in requests_seen if entry["listener"] == "download"]
    assert len(store) == 1 and store[0]["kind"] == "download"
    assert all(name.lower() not in ("x-api-key", "authorization") for name, _ in store[0]["headers"])
    api_calls = [entry for entry in requests_seen if entry["kind"] in ("export", "job")]
    assert api_calls and all(["x-api-key", sim.config.api_key] in entry["headers"] for entry in api_calls)


# ----- what an export holds ---------------------------------------------------------------------------------


def test_cap_keeps_the_newest_rows(make_sim: Any) -> None:
    sim = make_sim(cap=1000)
    rows = day_rows(sim, 1500)
    got = export_rows(sim, T, T + DAY)
    assert got == expected(sim, rows)[:1000]


@pytest.mark.parametrize("unit", ["seconds", "milliseconds"])
def test_epoch_unit(make_sim: Any, unit: str) -> None:
    sim = make_sim(epoch_unit=unit)
    rows = day_rows(sim, 30)
    scale = 1 if unit == "seconds" else 1000
    assert export_rows(sim, T * scale, (T + DAY) * scale) == expected(sim, rows)


@pytest.mark.parametrize("unit", ["seconds", "milliseconds"])
@pytest.mark.parametrize("answer", ["nothing", "empty", "400"])
def test_wrong_epoch_unit(make_sim: Any, unit: str, answer: str) -> None:
    sim = make_sim(epoch_unit=unit, wrong_unit=answer)
    day_rows(sim, 30)
    wrong = 1000 if unit == "seconds" else 1  # the multiplier that gives the other unit
    response = create(sim, T * wrong, (T + DAY) * wrong)
    if answer == "400":
        assert response.status_code == 400
        return
    assert response.status_code == 200
    assert export_rows(sim, T * wrong, (T + DAY) * wrong) == []
    if answer == "nothing" and unit == "seconds":
        # Read in the real unit, a window from 0 to a millisecond value reaches far into the future.
        assert len(export_rows(sim, 0, (T + DAY) * 1000)) == 30


def test_end_bound_inclusivity_and_precision(make_sim: Any) -> None:
    sim = make_sim()
    at = [(T - 1) * 1000, T * 1000, T * 1000 + 500, (T + 1) * 1000]
    sim.add_records([AuditRow(ms, f"Subject {ms}", "Update User", "Alex Admin (alex.admin@acme.com)") for ms in at])

    def subjects(start: int, end: int) -> List[str]:
        return [row["Subject"] for row in export_rows(sim, start, end)]

    assert subjects(T, T) == [f"Subject {T * 1000 + 500}", f"Subject {T * 1000}"]  # the whole second
    sim.set_config(date_end_inclusive=False)
    assert subjects(T, T) == []
    assert subjects(T - 1, T) == [f"Subject {(T - 1) * 1000}"]
    sim.set_config(date_end_inclusive=True, bound_precision="ms")
    assert subjects(T, T) == [f"Subject {T * 1000}"]  # T means T.000
    sim.set_config(epoch_unit="milliseconds", bound_precision="unit")
    assert subjects(T * 1000, T * 1000 + 500) == [f"Subject {T * 1000 + 500}", f"Subject {T * 1000}"]
    sim.set_config(date_end_inclusive=False)
    assert subjects(T * 1000, T * 1000 + 500) == [f"Subject {T * 1000}"]


@pytest.mark.parametrize(
    ("style", "millis", "pattern"),
    [
        ("iso_z", False, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
        ("iso_z", True, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"),
        ("iso_naive", False, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"),
        ("iso_naive", True, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"),
        ("space", False, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"),
        ("space", True, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"),
    ],
)
def test_time_formats_and_column_name(make_sim: Any, style: str, millis: bool, pattern: str) -> None:
    sim = make_sim(time_format=style, time_millis=millis, time_column="Time")
    rows = day_rows(sim, 20)
    got = export_rows(sim, T, T + DAY)
    assert list(got[0]) == ["Time", "Subject", "Event", "Performed By"]
    assert all(re.fullmatch(pattern, row["Time"]) for row in got)
    assert [row["Time"] for row in got] == [format_time(r.at_ms, style, millis) for r in expected_rows(rows)]
    assert format_time(T * 1000 + 7, "iso_z", True) == "2024-05-01T12:00:00.007Z"


def expected_rows(rows: List[AuditRow]) -> List[AuditRow]:
    return sorted(rows, key=lambda row: -row.at_ms)


def test_extra_and_reordered_columns(make_sim: Any) -> None:
    sim = make_sim(extra_columns=EXTRA_COLUMNS, reorder_columns=True)
    rows = day_rows(sim, 40)
    body = export_body(sim, T, T + DAY)
    header = body.split(b"\r\n", 1)[0].decode()
    assert (
        header == "Subject,Event,Previous Value,New Value,External Reference ID,Organization,Performed By,Date and Time"
    )
    assert parse(body) == expected(sim, rows)


def test_bom_and_line_terminator(make_sim: Any) -> None:
    sim = make_sim(bom=True, line_terminator="\n")
    rows = day_rows(sim, 5)
    body = export_body(sim, T, T + DAY)
    assert body.startswith(BOM + b"Date and Time,")
    assert b"\r\n" not in body.replace(b'"', b"")[:200]
    assert parse(body) == expected(sim, rows)


@pytest.mark.parametrize(
    ("form", "bom", "body"),
    [
        ("header", False, b"Date and Time,Subject,Event,Performed By\r\n"),
        ("header", True, BOM + b"Date and Time,Subject,Event,Performed By\r\n"),
        ("zero_bytes", True, b""),
    ],
)
def test_empty_export_forms(make_sim: Any, form: str, bom: bool, body: bytes) -> None:
    sim = make_sim(empty_export=form, bom=bom)
    response = create(sim, T, T + DAY)
    got = download(sim, wait_done(sim, job_id_of(response))["signedURL"])
    assert got.content == body and got.headers["Content-Length"] == str(len(body))


def test_csv_quoting_round_trips(sim: ResolverSimulator) -> None:
    tricky = AuditRow(
        T * 1000,
        'Smith, Jr., "Bob" (bob@acme.com)',
        "Multiple Attributes Updated",
        EXTERNAL_ORG_USER,
        previous_value="Admin: false\nAll Access: false",
        new_value="Admin: true\r\nAll Access: true",
        organization="Zoë & Co",
    )
    sim.set_config(extra_columns=("Previous Value", "New Value", "Organization"))
    sim.add_records([tricky])
    body = export_body(sim, T, T)
    assert b'"Smith, Jr., ""Bob"" (bob@acme.com)"' in body
    assert b'"Admin: false\nAll Access: false"' in body
    assert parse(body) == [sim.csv_fields(tricky)]


def test_identical_rows_are_all_exported(sim: ResolverSimulator) -> None:
    row = generate_rows(1, T * 1000, T * 1000, seed=5)[0]
    sim.add_records(repeated(row, 3))
    assert export_rows(sim, T, T) == [sim.csv_fields(row)] * 3


@pytest.mark.parametrize("order", ["stable", "shuffled"])
def test_tie_order_inside_one_instant(make_sim: Any, order: str) -> None:
    sim = make_sim(cap=10, tie_order=order)
    sim.add_records(burst_rows(60, T * 1000, seed=2, same_instant=True))
    first, second = export_rows(sim, T, T), export_rows(sim, T, T)
    assert len(first) == len(second) == 10
    assert (first == second) is (order == "stable")


def test_chunked_framing_sends_the_same_file(make_sim: Any) -> None:
    sim = make_sim(download_framing="chunked")
    rows = day_rows(sim, 5000)
    url = wait_done(sim, job_id_of(create(sim, T, T + DAY)))["signedURL"]
    got = download(sim, url)
    assert got.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in got.headers
    assert parse(got.content) == expected(sim, rows)


def test_ingestion_delay_late_rows_and_retention(make_sim: Any) -> None:
    sim = make_sim(ingestion_delay=600)
    now = int(time.time())
    old = sim.generate(10, (now - 3600) * 1000, (now - 1200) * 1000, seed=1)
    sim.generate(5, (now - 300) * 1000, now * 1000, seed=2)  # still being processed
    late = generate_rows(3, (now - 3000) * 1000, (now - 2000) * 1000, seed=3)
    sim.add_records(late, visible_at=time.time() + 0.3)
    assert export_rows(sim, now - 7200, now) == expected(sim, old)
    assert len(sim.ground_truth()) == 18 and len(sim.ground_truth(visible_only=True)) == 10
    time.sleep(0.3)
    assert export_rows(sim, now - 7200, now) == expected(sim, old + late)
    sim.set_config(retention_seconds=2500)
    assert export_rows(sim, now - 7200, now) == expected(sim, [r for r in old + late if r.at_ms >= (now - 2500) * 1000])


# ----- faults -----------------------------------------------------------------------------------------------


def test_status_and_429_faults_carry_retry_after(sim: ResolverSimulator) -> None:
    sim.inject("status", status=503, retry_after=7)
    failed = create(sim, T, T + 1)
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "7"
    job_id = job_id_of(create(sim, T, T + 1))
    sim.inject("429", count=2, path="job", retry_after=2)
    assert [poll(sim, job_id).status_code for _ in range(3)] == [429, 429, 200]
    assert sim.stats()["job_polls"][job_id] == 3
    url = wait_done(sim, job_id)["signedURL"]
    sim.inject("status", path="download", status=500)
    assert "<Code>InternalError</Code>" in download(sim, url).text
    assert download(sim, url).status_code == 200


def test_auth_faults(sim: ResolverSimulator) -> None:
    sim.inject("auth", status=401)
    assert create(sim, T, T + 1).status_code == 401
    job_id = job_id_of(create(sim, T, T + 1))
    sim.inject("auth", path="job")
    assert poll(sim, job_id).status_code == 403
    url = wait_done(sim, job_id)["signedURL"]
    sim.inject("auth", path="download")
    refused = download(sim, url)
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text


def test_reset_and_stall(sim: ResolverSimulator) -> None:
    sim.inject("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sim, T, T + 1)
    job_id = job_id_of(create(sim, T, T + 1))
    sim.inject("stall", path="job", seconds=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        poll(sim, job_id, timeout=0.2)
    assert poll(sim, job_id).status_code == 200  # other requests are not held up
    assert time.monotonic() - started < 0.9


def test_stall_mid_download(sim: ResolverSimulator) -> None:
    day_rows(sim, 2000)
    url = wait_done(sim, job_id_of(create(sim, T, T + DAY)))["signedURL"]
    sim.inject("stall", path="download", seconds=1.0, after_bytes=1000)
    response = download(sim, url, stream=True, timeout=0.2)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        response.content


def read_raw(response: requests.Response) -> Tuple[bytes, Optional[Exception]]:
    parts = []
    try:
        for part in response.raw.stream(8192, decode_content=False):
            parts.append(part)
    except Exception as exc:  # the short read may or may not be reported, depending on urllib3
        return b"".join(parts), exc
    return b"".join(parts), None


def test_truncated_download_promises_more_than_it_sends(sim: ResolverSimulator) -> None:
    day_rows(sim, 3000)
    url = wait_done(sim, job_id_of(create(sim, T, T + DAY)))["signedURL"]
    full = download(sim, url).content
    sim.inject("truncate", fraction=0.4)
    response = download(sim, url, stream=True)
    assert response.headers["Content-Length"] == str(len(full))
    data, _ = read_raw(response)
    assert data == full[: int(len(full) * 0.4)]
    entry = sim.stats()["downloads"][-1]
    assert entry["complete"] is False and entry["bytes_sent"] == len(data) and entry["size"] == len(full)


def test_truncated_chunked_download_is_cut_mid_row(sim: ResolverSimulator) -> None:
    day_rows(sim, 3000)
    url = wait_done(sim, job_id_of(create(sim, T, T + DAY)))["signedURL"]
    full = download(sim, url).content
    sim.inject("truncate", mode="chunked", bytes=full.index(b"\r\n", 5000) + 2)
    response = download(sim, url, stream=True)
    assert "Content-Length" not in response.headers
    data, error = read_raw(response)
    assert error is not None and full.startswith(data) and not data.endswith(b"\n")
    sim.inject("truncate", mode="chunked", clean_end=True)
    cleanly = download(sim, url)  # properly terminated, yet short: only the CSV shows the cut
    assert cleanly.status_code == 200 and len(cleanly.content) < len(full)
    assert not cleanly.content.endswith(b"\r\n")


# ----- stats, validation, generator -------------------------------------------------------------------------


def test_stats_record_exports_polls_downloads_and_statuses(sim: ResolverSimulator) -> None:
    create(sim, T, T + 1, headers={})
    create(sim, 1714564800.5, T * 1000)
    job_id = job_id_of(create(sim, T, T + 1.25))
    answer = wait_done(sim, job_id)
    download(sim, answer["signedURL"])
    stats = sim.stats()
    exports = stats["exports"]
    assert [(e["dateStart"], e["dateEnd"], e["status"]) for e in exports] == [
        (None, None, 403),
        (1714564800.5, T * 1000, 200),
        (T, T + 1.25, 200),
    ]
    assert exports[2]["job_id"] == job_id and exports[2]["rows"] == 0
    assert stats["jobs_created"] == 2 and stats["job_polls"][job_id] >= 1
    assert stats["statuses"]["export"] == {403: 1, 200: 2}
    assert stats["statuses"]["download"] == {200: 1}
    assert stats["downloads"][0]["job_id"] == job_id and stats["downloads"][0]["complete"] is True
    assert all(isinstance(entry["headers"], list) for entry in stats["requests"])
    json.dumps(stats)  # plain data, safe to print in a failure message
    sim.reset_stats()
    assert sim.stats()["requests"] == [] and sim.stats()["exports"] == []


def test_bad_bodies_get_400(sim: ResolverSimulator) -> None:
    url = sim.api_url + "/audit/user/export"
    for body in (b"not json", b"[]", b'{"dateStart": "1714564800", "dateEnd": 1}', b'{"dateStart": 1}'):
        response = requests.post(url, data=body, headers=key(sim), verify=sim.ca_path, timeout=5)
        assert response.status_code == 400, body
    assert requests.get(url, headers=key(sim), verify=sim.ca_path, timeout=5).status_code == 405


def test_inject_and_set_config_reject_bad_values(sim: ResolverSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject("boom")
    with pytest.raises(ValueError, match="does not apply"):
        sim.inject("truncate", path="job")
    with pytest.raises(ValueError, match="status 500"):
        sim.inject("status", status=404)
    with pytest.raises(ValueError, match="unknown SimConfig"):
        sim.set_config(colour="red")
    with pytest.raises(ValueError, match="job_id_form"):
        sim.set_config(job_id_form="xml")
    with pytest.raises(ValueError, match="extra_columns"):
        sim.set_config(extra_columns=("Unique ID",))


def test_generator_is_fast_deterministic_and_realistic() -> None:
    started = time.monotonic()
    rows = generate_rows(120_000, (T - 30 * DAY) * 1000, T * 1000, seed=9)
    assert time.monotonic() - started < 5
    assert rows == generate_rows(120_000, (T - 30 * DAY) * 1000, T * 1000, seed=9)
    assert [row.at_ms for row in rows] == sorted((row.at_ms for row in rows), reverse=True)
    assert {row.event for row in rows} == set(EVENTS)
    assert any(row.performed_by == EXTERNAL_ORG_USER for row in rows)
    assert any(row.subject.startswith("Unknown User with id ") for row in rows)
    assert any("," in row.subject for row in rows) and any("\n" in row.previous_value for row in rows)
    burst = burst_rows(3000, T * 1000 + 456, seed=4)
    assert len(burst) == 3000 and {row.at_ms // 1000 for row in burst} == {T}
    assert all(row.at_ms % 1000 == 0 for row in generate_rows(50, 0, 10**9, whole_seconds=True))
    twins = repeated(rows[0], 4, at=T * 1000)
    assert len(set(twins)) == 1 and twins[0].at_ms == T * 1000


def test_backlog_walk_back_repeats_the_boundary_second(sim: ResolverSimulator) -> None:
    """120,000 rows, cap 50,000: walking back by dateEnd = oldest row's second re-reads that whole second."""
    newer = generate_rows(48_500, (T + 1) * 1000, (T + 20 * DAY) * 1000, seed=11)
    boundary = burst_rows(3000, T * 1000, seed=12)
    older = generate_rows(68_496, (T - 40 * DAY) * 1000, T * 1000 - 1, seed=13)
    twins = repeated(older[100], 4)  # genuine repeats: four identical rows in one second
    sim.add_records(newer + boundary + older + twins)
    assert len(sim.ground_truth()) == 120_000

    batches: List[List[Tuple[str, ...]]] = []
    date_end = int(time.time())
    while True:
        batch = [tuple(row.values()) for row in export_rows(sim, 0, date_end)]
        batches.append(batch)
        if len(batch) < 50_000:
            break
        date_end = calendar.timegm(time.strptime(batch[-1][0], "%Y-%m-%d %H:%M:%S"))
    assert [len(batch) for batch in batches][:2] == [50_000, 50_000]
    assert [e["dateEnd"] for e in sim.stats()["exports"]][1] == T

    def in_second(batch: List[Tuple[str, ...]], second: str) -> Counter:
        return Counter(row for row in batch if row[0] == second)

    # Half the boundary second came in the first batch; the second batch repeats it, then the rest of it.
    first_tail = in_second(batches[0], batches[0][-1][0])
    assert sum(first_tail.values()) == 1500
    assert Counter(batches[0]) & Counter(batches[1]) == first_tail
    assert sum(in_second(batches[1], batches[0][-1][0]).values()) == 3000

    # Dropping each non-final batch's boundary second (re-read whole by the next) gives exactly the ground truth.
    merged: Counter = Counter()
    for batch in batches[:-1]:
        merged.update(row for row in batch if row[0] != batch[-1][0])
    merged.update(batches[-1])
    truth = Counter(tuple(sim.csv_fields(row).values()) for row in sim.ground_truth())
    assert merged == truth
    assert truth[tuple(sim.csv_fields(twins[0]).values())] >= 5
