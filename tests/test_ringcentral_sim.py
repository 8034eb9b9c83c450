"""The RingCentral simulator, driven over real loopback HTTPS, behaves as the documented API does."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests

from tests.sim.connect_proxy import ConnectProxy
from tests.sim.records import ACTION_IDS, format_event_time, generate_records, to_epoch_ms
from tests.sim.ringcentral_sim import FORGED_LOG_LINE, JWT_GRANT, RingCentralSimulator, SimConfig, jackson_dumps

REPO = Path(__file__).resolve().parents[1]
SEARCH = "/restapi/v1.0/account/{}/audit-trail/search"
EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def make_sim() -> Iterator[Any]:
    started: List[RingCentralSimulator] = []

    def factory(**changes: Any) -> RingCentralSimulator:
        # Generous limits unless a test is about rate limiting, so paging loops are not throttled.
        settings: Dict[str, Any] = {"heavy_limit": 1000, "auth_limit": 100}
        settings.update(changes)
        sim = RingCentralSimulator(SimConfig(**settings)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Any) -> RingCentralSimulator:
    return make_sim()


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return format_event_time(to_epoch_ms(moment))


def token_request(sim: RingCentralSimulator, auth: Any = None, **form: str) -> requests.Response:
    cfg = sim.config
    data = {"grant_type": JWT_GRANT, "assertion": cfg.jwt}
    data.update(form)
    # verify= per call: a Session.verify would be overridden by REQUESTS_CA_BUNDLE from the environment.
    return requests.post(
        sim.base_url + "/restapi/oauth/token",
        data=data,
        auth=auth if auth is not None else (cfg.client_id, cfg.client_secret),
        verify=sim.ca_path,
        timeout=5,
    )


def login(sim: RingCentralSimulator) -> str:
    response = token_request(sim)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def search(
    sim: RingCentralSimulator,
    token: Optional[str],
    body: Any = None,
    account: str = "~",
    timeout: float = 5,
    raw: Optional[bytes] = None,
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "bearer " + token
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    return requests.post(
        sim.base_url + SEARCH.format(account),
        data=data,
        headers=headers,
        verify=sim.ca_path,
        timeout=timeout,
    )


def wide(**extra: Any) -> Dict[str, Any]:
    """A search body whose window covers everything the simulator retains."""
    body = {"eventTimeFrom": iso(now_utc() - timedelta(days=400)), "eventTimeTo": iso(now_utc())}
    body.update(extra)
    return body


def error_code(response: requests.Response) -> str:
    return response.json()["errors"][0]["errorCode"]


def collect_ids(
    sim: RingCentralSimulator, token: str, per_page: int, body: Optional[Dict[str, Any]] = None, **extra: Any
) -> List[str]:
    ids: List[str] = []
    body = dict(body or wide(), **extra)
    for page in range(1, 100):
        data = search(sim, token, dict(body, page=page, perPage=per_page)).json()
        if not data["records"]:
            return ids
        ids += [record["id"] for record in data["records"]]
    raise AssertionError("paging never ended")


# ----- OAuth -------------------------------------------------------------------------------------------------


def test_jwt_login_returns_token_info_with_auth_group_headers(make_sim: Any) -> None:
    sim = make_sim(auth_limit=5)
    response = token_request(sim)
    assert response.status_code == 200
    info = response.json()
    assert info["token_type"] == "bearer"
    assert info["expires_in"] == 3600
    assert info["scope"] == "ReadAuditTrail ReadAccounts"
    assert info["owner_id"] and info["session_id"] and info["endpoint_id"] and info["access_token"]
    assert "refresh_token" not in info and "refresh_token_expires_in" not in info
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    assert response.headers["RCRequestId"]
    assert response.headers["X-Rate-Limit-Group"] == "auth"
    assert response.headers["X-Rate-Limit-Limit"] == "5" and response.headers["X-Rate-Limit-Remaining"] == "4"
    assert response.headers["X-Rate-Limit-Window"] == "60"
    assert '"access_token" : ' in response.text
    assert token_request(sim).json()["access_token"] != info["access_token"]


@pytest.mark.parametrize(
    ("auth", "form", "status", "error", "code"),
    [
        (("sim-client-id", "wrong-secret"), {}, 401, "invalid_client", "OAU-146"),
        (("other-client", "sim-client-secret"), {}, 401, "invalid_client", "OAU-146"),
        (False, {}, 401, "invalid_client", "OAU-123"),
        (None, {"assertion": "forged-jwt"}, 400, "invalid_grant", "OAU-140"),
        (None, {"assertion": ""}, 400, "invalid_request", "OAU-101"),
        (None, {"grant_type": "password"}, 400, "unsupported_grant_type", "OAU-125"),
        (None, {"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant", "OAU-211"),
    ],
)
def test_bad_logins_get_oauth_error_bodies(
    sim: RingCentralSimulator, auth: Any, form: Dict[str, str], status: int, error: str, code: str
) -> None:
    response = token_request(sim, auth=(lambda r: r) if auth is False else auth, **form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert body["errors"][0]["errorCode"] == code
    for secret in ("sim-client-secret", "wrong-secret", "forged-jwt", "sim-jwt-assertion"):
        assert secret not in response.text
    assert sim.stats()["token_grants"] == 0


def test_refresh_grant_rotates_tokens_when_enabled(make_sim: Any) -> None:
    sim = make_sim(issue_refresh_tokens=True)
    first = token_request(sim).json()
    assert first["refresh_token"] and first["refresh_token_expires_in"] > 0
    refreshed = token_request(sim, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert refreshed["access_token"] != first["access_token"]
    assert refreshed["session_id"] == first["session_id"]
    assert search(sim, first["access_token"], wide()).status_code == 401
    assert search(sim, refreshed["access_token"], wide()).status_code == 200
    reused = token_request(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_revoke_invalidates_the_session(sim: RingCentralSimulator) -> None:
    token = login(sim)
    response = requests.post(
        sim.base_url + "/restapi/oauth/revoke",
        data={"token": token},
        auth=("sim-client-id", "sim-client-secret"),
        verify=sim.ca_path,
        timeout=5,
    )
    assert response.status_code == 200 and response.content == b""
    assert response.headers["X-Rate-Limit-Group"] == "auth"
    assert search(sim, token, wide()).status_code == 401
    assert sim.stats()["revokes"] == 1 and sim.stats()["valid_tokens"] == 0


def test_sixth_session_evicts_the_oldest(make_sim: Any) -> None:
    sim = make_sim()
    tokens = [login(sim) for _ in range(6)]
    assert search(sim, tokens[0], wide()).json()["errors"][0]["errorCode"] == "OAU-213"
    assert all(search(sim, token, wide()).status_code == 200 for token in tokens[1:])
    assert sim.stats()["valid_tokens"] == 5


def test_auth_group_is_rate_limited(make_sim: Any) -> None:
    sim = make_sim(auth_limit=2, auth_penalty=30.0)
    assert [token_request(sim).status_code for _ in range(3)] == [200, 200, 429]
    limited = token_request(sim)
    assert limited.status_code == 429 and limited.headers["X-Rate-Limit-Group"] == "auth"
    assert limited.headers["Retry-After"] == "30"
    assert error_code(limited) == "CMN-301"
    assert sim.stats()["penalty_extensions"] == 1


# ----- search: auth ------------------------------------------------------------------------------------------


def test_search_requires_a_valid_bearer_token(make_sim: Any) -> None:
    sim = make_sim(access_token_ttl=0.3)
    missing = search(sim, None, wide())
    assert missing.status_code == 401 and "errorCode" in missing.json() and missing.json()["errors"]
    assert error_code(search(sim, "not-a-token", wide())) == "OAU-213"
    assert error_code(search(sim, "t\u00f6k\u00e9n", wide())) == "OAU-213"
    token = login(sim)
    assert search(sim, token, wide()).status_code == 200
    time.sleep(0.35)
    expired = search(sim, token, wide())
    assert expired.status_code == 401 and error_code(expired) == "OAU-128"
    assert sim.stats()["valid_tokens"] == 0


def test_expire_tokens_invalidates_every_issued_token(sim: RingCentralSimulator) -> None:
    tokens = [login(sim), login(sim)]
    sim.expire_tokens()
    assert [search(sim, token, wide()).status_code for token in tokens] == [401, 401]
    assert search(sim, login(sim), wide()).status_code == 200


def test_bearer_scheme_is_case_insensitive(sim: RingCentralSimulator) -> None:
    token = login(sim)
    response = requests.post(
        sim.base_url + SEARCH.format("~"),
        json=wide(),
        headers={"Authorization": "Bearer " + token},
        verify=sim.ca_path,
        timeout=5,
    )
    assert response.status_code == 200


def test_token_without_audit_scope_gets_403(make_sim: Any) -> None:
    sim = make_sim(scope="ReadAccounts")
    response = search(sim, login(sim), wide())
    assert response.status_code == 403 and error_code(response) == "CMN-401"


def test_account_path_accepts_tilde_and_own_id_only(sim: RingCentralSimulator) -> None:
    token = login(sim)
    assert search(sim, token, wide(), account="~").status_code == 200
    assert search(sim, token, wide(), account="400012345678").status_code == 200
    other = search(sim, token, wide(), account="499999999999")
    assert other.status_code == 404 and other.json()["errors"][0]["parameterName"] == "accountId"


# ----- search: paging, order, windows ------------------------------------------------------------------------


def test_paging_is_newest_first_with_page_and_record_totals(sim: RingCentralSimulator) -> None:
    sim.generate(25, now_utc() - timedelta(days=2), now_utc() - timedelta(minutes=1))
    token = login(sim)
    pages = [search(sim, token, wide(page=page, perPage=10)).json() for page in (1, 2, 3, 4)]
    assert [len(page["records"]) for page in pages] == [10, 10, 5, 0]
    assert pages[0]["paging"] == {"page": 1, "perPage": 10, "total": 3, "totalFound": 25}
    records = [record for page in pages for record in page["records"]]
    assert [record["id"] for record in records] == [record["id"] for record in sim.records]
    times = [record["eventTime"] for record in records]
    assert times == sorted(times, reverse=True)
    assert all(EVENT_TIME.match(value) for value in times)
    assert all(None not in record.values() for record in records)


def test_default_page_size_and_empty_body(sim: RingCentralSimulator) -> None:
    sim.generate(5, now_utc() - timedelta(hours=5), now_utc() - timedelta(hours=1))
    sim.generate(3, now_utc() - timedelta(days=3), now_utc() - timedelta(days=2), seed=2)
    token = login(sim)
    # No body at all (what the Python SDK sends for {}): the default window is the last 24 hours.
    data = search(sim, token, None).json()
    assert data["paging"]["totalFound"] == 5 and data["paging"]["perPage"] == 100


def test_equal_event_times_are_ordered_by_id(sim: RingCentralSimulator) -> None:
    moment = now_utc() - timedelta(hours=1)
    made = sim.generate(30, moment, moment, same_time=moment)
    token = login(sim)
    ids = collect_ids(sim, token, per_page=7)
    assert ids == sorted(record["id"] for record in made)
    assert collect_ids(sim, token, per_page=7) == ids


@pytest.mark.parametrize("mode", ["oldest", "shuffled"])
def test_sort_modes_keep_paging_stable(make_sim: Any, mode: str) -> None:
    sim = make_sim(sort=mode)
    sim.generate(40, now_utc() - timedelta(days=3), now_utc() - timedelta(minutes=1))
    token = login(sim)
    window = wide()
    ids = collect_ids(sim, token, per_page=9, body=window)
    newest_first = [record["id"] for record in sim.records]
    assert sorted(ids) == sorted(newest_first) and len(set(ids)) == 40
    if mode == "oldest":
        assert ids == newest_first[::-1]
    else:
        assert ids not in (newest_first, newest_first[::-1])
        # The order is a function of the query, so asking again pages through the same sequence.
        assert collect_ids(sim, token, per_page=9, body=window) == ids


@pytest.mark.parametrize("inclusive_from", [True, False])
@pytest.mark.parametrize("inclusive_to", [True, False])
def test_window_bound_inclusivity_is_switchable(make_sim: Any, inclusive_from: bool, inclusive_to: bool) -> None:
    sim = make_sim(inclusive_from=inclusive_from, inclusive_to=inclusive_to)
    start = (now_utc() - timedelta(hours=2)).replace(microsecond=123000)
    end = start + timedelta(minutes=30)
    at_start = sim.generate(1, start, start, seed=1, same_time=start)[0]["id"]
    inside = sim.generate(1, start, start, seed=2, same_time=start + timedelta(minutes=1))[0]["id"]
    at_end = sim.generate(1, end, end, seed=3, same_time=end)[0]["id"]
    body = {"eventTimeFrom": iso(start), "eventTimeTo": iso(end)}
    got = {record["id"] for record in search(sim, login(sim), body).json()["records"]}
    assert (at_start in got) is inclusive_from
    assert (at_end in got) is inclusive_to
    assert inside in got


@pytest.mark.parametrize(
    "stamp",
    ["2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05.678000Z", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.6Z"],
)
def test_timestamp_formats_are_accepted(sim: RingCentralSimulator, stamp: str) -> None:
    response = search(sim, login(sim), {"eventTimeFrom": stamp, "eventTimeTo": iso(now_utc())})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"perPage": 1001}, "perPage"),
        ({"perPage": 0}, "perPage"),
        ({"perPage": "10"}, "perPage"),
        ({"page": 0}, "page"),
        ({"page": True}, "page"),
        ({"eventTimeFrom": "yesterday"}, "eventTimeFrom"),
        ({"eventTimeTo": "2026-13-01T00:00:00Z"}, "eventTimeTo"),
        ({"eventTimeFrom": "2026-01-02T00:00:00Z", "eventTimeTo": "2026-01-01T00:00:00Z"}, "eventTimeFrom"),
        ({"actionIds": "LOGIN_SUCCESSFULLY"}, "actionIds"),
        ({"searchString": 5}, "searchString"),
    ],
)
def test_invalid_parameters_get_cmn_101(sim: RingCentralSimulator, body: Dict[str, Any], parameter: str) -> None:
    response = search(sim, login(sim), body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["errorCode"] == "CMN-101" and error["parameterName"] == parameter


def test_max_per_page_is_accepted_and_configurable(make_sim: Any) -> None:
    sim = make_sim(max_per_page=50)
    token = login(sim)
    assert search(sim, token, wide(perPage=50)).status_code == 200
    assert search(sim, token, wide(perPage=51)).status_code == 400


def test_unparsable_json_gets_cmn_103(sim: RingCentralSimulator) -> None:
    response = search(sim, login(sim), raw=b'{"perPage": ')
    assert response.status_code == 400 and error_code(response) == "CMN-103"


def test_unknown_body_fields_are_ignored(sim: RingCentralSimulator) -> None:
    body = wide(includeAdmins=True, includeHidden=True, searchParameters=[])
    assert search(sim, login(sim), body).status_code == 200


def test_filters_match_the_documented_fields(sim: RingCentralSimulator) -> None:
    sim.generate(200, now_utc() - timedelta(days=5), now_utc() - timedelta(minutes=1))
    records = sim.records
    token = login(sim)

    def found(**filters: Any) -> List[str]:
        return collect_ids(sim, token, per_page=1000, **filters)

    assert found(actionIds=["CHANGE_USER_ROLE"]) == [r["id"] for r in records if r["actionId"] == "CHANGE_USER_ROLE"]
    assert found(excludeActionIds=["LOGIN_SUCCESSFULLY"]) == [
        r["id"] for r in records if r["actionId"] != "LOGIN_SUCCESSFULLY"
    ]
    assert found(initiatorIds=["402539300008"]) == [
        r["id"] for r in records if r["initiator"]["extensionId"] == "402539300008"
    ]
    assert found(targetIds=["0"]) == [r["id"] for r in records if r["target"]["objectId"] == "0"]
    assert found(searchString="müller") == [
        r["id"] for r in records if "Lena Müller" in json.dumps(r, ensure_ascii=False)
    ]


def test_search_cap_truncates_while_total_found_stays_true(make_sim: Any) -> None:
    sim = make_sim(search_cap=15)
    sim.generate(40, now_utc() - timedelta(days=2), now_utc() - timedelta(minutes=1))
    token = login(sim)
    pages = [search(sim, token, wide(page=page, perPage=10)).json() for page in (1, 2, 3, 4)]
    assert [len(page["records"]) for page in pages] == [10, 5, 0, 0]
    assert all(page["paging"]["totalFound"] == 40 and page["paging"]["total"] == 4 for page in pages)


def test_retention_keeps_newest_records_and_clips_old_windows(make_sim: Any) -> None:
    sim = make_sim(retention_max=20, retention_days=10.0)
    sim.generate(30, now_utc() - timedelta(days=5), now_utc() - timedelta(minutes=1))
    sim.generate(5, now_utc() - timedelta(days=60), now_utc() - timedelta(days=40), seed=2)
    token = login(sim)
    data = search(sim, token, wide(perPage=100)).json()
    assert data["paging"]["totalFound"] == 20
    assert [r["id"] for r in data["records"]] == [r["id"] for r in sim.records]
    old_window = {
        "eventTimeFrom": iso(now_utc() - timedelta(days=70)),
        "eventTimeTo": iso(now_utc() - timedelta(days=30)),
    }
    clipped = search(sim, token, old_window)
    assert clipped.status_code == 200 and clipped.json()["records"] == []


def test_ingestion_delay_and_late_arrivals(make_sim: Any) -> None:
    sim = make_sim(ingestion_delay=3600.0)
    recent = sim.generate(3, now_utc() - timedelta(minutes=20), now_utc() - timedelta(minutes=10))
    settled = sim.generate(4, now_utc() - timedelta(hours=5), now_utc() - timedelta(hours=2), seed=2)
    late = generate_records(2, now_utc() - timedelta(hours=5), now_utc() - timedelta(hours=4), seed=3)
    sim.add_records(late, visible_at=time.time() + 3600)
    token = login(sim)
    visible = set(collect_ids(sim, token, per_page=100))
    assert visible == {r["id"] for r in settled}
    sim.set_config(ingestion_delay=0.0)
    sim.add_records(late, visible_at=time.time() - 1)
    visible = set(collect_ids(sim, token, per_page=100))
    assert visible == {r["id"] for r in recent + settled + late}


def test_pretty_and_compact_json_carry_the_same_data(sim: RingCentralSimulator) -> None:
    sim.generate(3, now_utc() - timedelta(hours=3), now_utc() - timedelta(hours=1))
    token = login(sim)
    pretty = search(sim, token, wide())
    assert '"records" : [ {' in pretty.text and '"paging" : {' in pretty.text
    sim.set_config(pretty_json=False)
    compact = search(sim, token, wide())
    assert compact.text.startswith('{"records":[{')
    assert pretty.json() == compact.json()
    assert jackson_dumps({"a": [], "b": {}, "c": [1, {"d": "é"}]}) == (
        '{\n  "a" : [ ],\n  "b" : { },\n  "c" : [ 1, {\n    "d" : "é"\n  } ]\n}'
    )


# ----- rate limiting -----------------------------------------------------------------------------------------


def test_heavy_headers_then_429_and_penalty_restarts_on_each_request(make_sim: Any) -> None:
    sim = make_sim(heavy_limit=3, heavy_window=1.0, heavy_penalty=0.5)
    token = login(sim)
    allowed = [search(sim, token, wide()) for _ in range(3)]
    assert [r.headers["X-Rate-Limit-Remaining"] for r in allowed] == ["2", "1", "0"]
    assert {r.headers["X-Rate-Limit-Group"] for r in allowed} == {"heavy"}
    assert allowed[0].headers["X-Rate-Limit-Limit"] == "3" and allowed[0].headers["X-Rate-Limit-Window"] == "1"
    started = time.monotonic()
    limited = search(sim, token, wide())
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["errorCode"] == "CMN-301" and error_code(limited) == "CMN-301"
    # Each request inside the penalty restarts it, so 0.6 s after the first 429 the penalty is still on.
    time.sleep(max(0.0, started + 0.3 - time.monotonic()))
    assert search(sim, token, wide()).status_code == 429
    time.sleep(max(0.0, started + 0.6 - time.monotonic()))
    assert search(sim, token, wide()).status_code == 429
    time.sleep(0.6)
    assert search(sim, token, wide()).status_code == 200
    stats = sim.stats()
    assert stats["rate_limited"] == 3 and stats["penalty_extensions"] == 2 and stats["heavy_requests"] == 7


def test_retry_after_can_be_switched_off(make_sim: Any) -> None:
    sim = make_sim(heavy_limit=1, send_retry_after=False)
    token = login(sim)
    assert search(sim, token, wide()).status_code == 200
    limited = search(sim, token, wide())
    assert limited.status_code == 429 and "Retry-After" not in limited.headers


# ----- faults ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(500, "CMN-203"), (502, "CMN-201"), (503, "CMN-201"), (504, "CMN-201")])
def test_status_faults_hit_the_next_request_only(sim: RingCentralSimulator, status: int, code: str) -> None:
    token = login(sim)
    sim.inject("status", status=status)
    failed = search(sim, token, wide())
    assert failed.status_code == status and error_code(failed) == code
    assert search(sim, token, wide()).status_code == 200


def test_status_fault_on_token_path_with_retry_after(sim: RingCentralSimulator) -> None:
    sim.inject("status", count=2, status=503, path="token", retry_after=7)
    assert [token_request(sim).status_code for _ in range(3)] == [503, 503, 200]
    sim.inject("status", status=503, path="token", retry_after=7)
    assert token_request(sim).headers["Retry-After"] == "7"


def test_stall_times_out_the_client_without_blocking_others(sim: RingCentralSimulator) -> None:
    token = login(sim)
    sim.inject("stall", seconds=3.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        search(sim, token, wide(), timeout=0.3)
    quick = time.monotonic()
    assert search(sim, token, wide()).status_code == 200
    assert time.monotonic() - quick < 1.0 and quick - started < 1.0


def test_reset_closes_the_connection_without_a_response(sim: RingCentralSimulator) -> None:
    token = login(sim)
    sim.inject("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        search(sim, token, wide())
    assert search(sim, token, wide()).status_code == 200
    assert [entry["status"] for entry in sim.stats()["requests"]][-2:] == [0, 200]


def test_injected_429_starts_a_penalty(make_sim: Any) -> None:
    sim = make_sim(heavy_penalty=0.3)
    token = login(sim)
    sim.inject("429", count=2)
    assert [search(sim, token, wide()).status_code for _ in range(3)] == [429, 429, 429]
    # The second and third requests arrived inside the penalty, whether a fault or the limiter answered them.
    assert sim.stats()["penalty_extensions"] == 2 and sim.stats()["rate_limited"] == 3
    time.sleep(0.4)
    assert search(sim, token, wide()).status_code == 200
    sim.inject("stall", seconds=5.0)
    sim.clear_faults()
    assert search(sim, token, wide(), timeout=2).status_code == 200


@pytest.mark.parametrize("missing", ["eventTime", "id"])
def test_malformed_record_is_added_to_the_next_page(sim: RingCentralSimulator, missing: str) -> None:
    sim.generate(10, now_utc() - timedelta(hours=3), now_utc() - timedelta(hours=1))
    token = login(sim)
    sim.inject("malformed_record", missing=missing)
    records = search(sim, token, wide(perPage=4)).json()["records"]
    assert len(records) == 5
    assert sum(1 for record in records if missing not in record) == 1
    assert all("eventTime" in r and "id" in r for r in search(sim, token, wide(perPage=4)).json()["records"])


def test_trickle_sends_the_normal_answer_a_byte_at_a_time(sim: RingCentralSimulator) -> None:
    sim.generate(1, now_utc() - timedelta(hours=2), now_utc() - timedelta(hours=1))
    token = login(sim)
    sim.inject("trickle", interval=0.002)
    started = time.monotonic()
    slow = search(sim, token, wide())
    assert slow.status_code == 200 and len(slow.json()["records"]) == 1
    assert time.monotonic() - started > 0.002 * len(slow.content) / 2
    sim.inject("trickle", interval=0.3)
    # Every byte comes well within a read timeout: only a deadline on the whole call can end it early.
    with requests.post(sim.base_url + SEARCH.format("~"), json=wide(), verify=sim.ca_path, timeout=(2, 2),
                       headers={"Authorization": "bearer " + token}, stream=True) as trickled:
        started = time.monotonic()
        assert len(trickled.raw.read(3, decode_content=False)) == 3
        assert 0.6 < time.monotonic() - started < 2
    with pytest.raises(ValueError, match="interval"):
        sim.inject("trickle", interval=0)


def test_an_injected_429_can_ask_for_any_retry_after(sim: RingCentralSimulator) -> None:
    token = login(sim)
    sim.inject("429", retry_after="99999999")
    limited = search(sim, token, wide())
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "99999999"


@pytest.mark.parametrize("mode", ["echo_assertion", "echo_basic", "forged_line"])
def test_token_error_echoes_what_the_client_sent(sim: RingCentralSimulator, mode: str) -> None:
    sim.set_config(token_error=mode)
    refused = token_request(sim)
    assert refused.status_code == 400
    body = refused.json()
    cfg = sim.config
    if mode == "echo_assertion":
        assert body["error"] == cfg.jwt
    elif mode == "echo_basic":
        assert body["errorCode"] == refused.request.headers["Authorization"]
        assert body["errorCode"].startswith("Basic ")
    else:
        assert body["errorCode"] == "OAU-140\n" + FORGED_LOG_LINE
    assert sim.stats()["token_grants"] == 0
    sim.set_config(token_error=None)
    assert token_request(sim).status_code == 200
    with pytest.raises(ValueError, match="token_error"):
        sim.set_config(token_error="shout")


def test_token_reply_can_be_a_web_page_or_carry_an_unreadable_lifetime(sim: RingCentralSimulator) -> None:
    sim.set_config(token_reply="not_json")
    page = token_request(sim)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        page.json()
    sim.set_config(token_reply="json", token_expires_in="abc")
    token = token_request(sim).json()
    assert token["expires_in"] == "abc"
    assert search(sim, token["access_token"], wide()).status_code == 200, "the token itself still works"


def test_rate_limit_headers_can_be_overridden(sim: RingCentralSimulator) -> None:
    token = login(sim)
    sim.set_config(rate_window_header="99999999", rate_remaining_header="0")
    answered = search(sim, token, wide())
    assert answered.status_code == 200
    assert answered.headers["X-Rate-Limit-Window"] == "99999999" and answered.headers["X-Rate-Limit-Remaining"] == "0"
    # The token endpoint's Auth group keeps its real headers.
    assert token_request(sim).headers["X-Rate-Limit-Window"] != "99999999"


def test_paging_fields_can_lie(sim: RingCentralSimulator) -> None:
    sim.generate(30, now_utc() - timedelta(hours=3), now_utc() - timedelta(hours=1))
    token = login(sim)
    honest = search(sim, token, wide(perPage=10, page=2)).json()
    sim.set_config(paging_per_page=-1, paging_total=False, ignore_page=True, total_found="20000")
    lying = search(sim, token, wide(perPage=10, page=2)).json()
    assert lying["paging"] == {"page": 1, "perPage": -1, "totalFound": "20000"}
    first = search(sim, token, wide(perPage=10, page=1)).json()
    assert [r["id"] for r in lying["records"]] == [r["id"] for r in first["records"]]
    assert [r["id"] for r in lying["records"]] != [r["id"] for r in honest["records"]]


def test_records_with_unpaired_surrogates_are_served_as_json_escapes(sim: RingCentralSimulator) -> None:
    [record] = generate_records(1, now_utc() - timedelta(hours=2), now_utc() - timedelta(hours=1), 5)
    record["initiator"]["name"] = "lone \ud800 and \udfff, nonchar \uffff"
    sim.add_records([record])
    for pretty in (True, False):
        sim.set_config(pretty_json=pretty)
        answered = search(sim, login(sim), wide())
        assert b"\\ud800" in answered.content and b"\\udfff" in answered.content
        assert answered.json()["records"][0] == record


def test_inject_and_set_config_reject_unknown_names(sim: RingCentralSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject("explode")
    with pytest.raises(ValueError, match="status"):
        sim.inject("status", status=404)
    with pytest.raises(ValueError, match="unknown SimConfig"):
        sim.set_config(heavy_limt=1)


# ----- stats and control endpoints ---------------------------------------------------------------------------


def test_stats_log_requests_without_secrets(sim: RingCentralSimulator) -> None:
    token = login(sim)
    search(sim, token, wide(perPage=5))
    search(sim, None, wide())
    stats = sim.stats()
    assert stats["auth_requests"] == 1 and stats["token_grants"] == 1 and stats["heavy_requests"] == 2
    token_entry, search_entry, anonymous = stats["requests"]
    assert token_entry["group"] == "auth" and token_entry["body"] is None and token_entry["had_auth"]
    assert search_entry["body"]["perPage"] == 5 and search_entry["status"] == 200
    assert anonymous["had_auth"] is False and anonymous["status"] == 401
    text = json.dumps(stats)
    assert token not in text and "sim-client-secret" not in text and "sim-jwt-assertion" not in text
    sim.reset_stats()
    assert sim.stats()["requests"] == [] and sim.stats()["valid_tokens"] == 1


def test_control_endpoints_do_not_count_as_api_calls(sim: RingCentralSimulator) -> None:
    def control(method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, sim.base_url + path, json=body, verify=sim.ca_path, timeout=5)

    assert control("POST", "/_sim/config", {"heavy_limit": 2}).status_code == 200
    assert sim.config.heavy_limit == 2
    assert control("POST", "/_sim/config", {"nonsense": 1}).status_code == 400
    assert control("POST", "/_sim/generate", {"n": 7, "days": 1, "seed": 3}).json() == {"generated": 7}
    assert len(sim.records) == 7
    assert control("GET", "/_sim/stats").json()["requests"] == []
    token = login(sim)
    assert control("POST", "/_sim/inject", {"fault": "status", "status": 502}).status_code == 200
    assert search(sim, token, wide()).status_code == 502
    assert control("POST", "/_sim/inject", {"fault": "bogus"}).status_code == 400
    assert control("POST", "/_sim/expire_tokens").status_code == 200
    assert search(sim, token, wide()).status_code == 401
    assert len(control("GET", "/_sim/stats").json()["requests"]) == 3
    assert control("POST", "/_sim/reset_stats").status_code == 200
    assert sim.stats()["requests"] == []


# ----- clients -----------------------------------------------------------------------------------------------


def test_ringcentral_sdk_logs_in_searches_and_logs_out(sim: RingCentralSimulator) -> None:
    from ringcentral import SDK
    from ringcentral.http.api_response import ApiResponse
    from ringcentral.http.client import Client

    ca_path = sim.ca_path

    class TrustingClient(Client):
        # The SDK honours no CA option, so send its prepared requests ourselves with the test CA.
        def load_response(self, request: Any) -> ApiResponse:
            with requests.Session() as session:
                return ApiResponse(request, session.send(request, verify=ca_path, timeout=5))

    sim.generate(12, now_utc() - timedelta(hours=3), now_utc() - timedelta(hours=1))
    sdk = SDK("sim-client-id", "sim-client-secret", sim.base_url)
    client = TrustingClient()
    sdk._client = client
    sdk.platform()._client = client
    sdk.platform().login(jwt="sim-jwt-assertion")
    data = sdk.platform().post(SEARCH.format("~"), wide(perPage=5)).json_dict()
    assert len(data["records"]) == 5 and data["paging"]["totalFound"] == 12
    sdk.platform().logout()
    assert sim.stats()["revokes"] == 1 and sim.stats()["valid_tokens"] == 0


def test_cli_prints_one_json_line_and_serves_until_sigterm(tmp_path: Path) -> None:
    credentials = tmp_path / "creds.json"
    credentials.write_text(json.dumps({"client_secret": "from-file-secret"}), encoding="utf-8")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sim.ringcentral_sim",
            "--records",
            "20",
            "--days",
            "2",
            "--seed",
            "4",
            "--credentials-file",
            str(credentials),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert set(info) == {"base_url", "ca_path", "client_id", "client_secret", "jwt", "account_id", "pid"}
        assert info["pid"] == process.pid and info["client_secret"] == "from-file-secret"
        token = requests.post(
            info["base_url"] + "/restapi/oauth/token",
            data={"grant_type": JWT_GRANT, "assertion": info["jwt"]},
            auth=(info["client_id"], info["client_secret"]),
            verify=info["ca_path"],
            timeout=5,
        ).json()["access_token"]
        found = requests.post(
            info["base_url"] + SEARCH.format(info["account_id"]),
            json=wide(perPage=100),
            headers={"Authorization": "bearer " + token},
            verify=info["ca_path"],
            timeout=5,
        ).json()
        assert found["paging"]["totalFound"] == 20
        stats = requests.get(info["base_url"] + "/_sim/stats", verify=info["ca_path"], timeout=5).json()
        assert stats["heavy_requests"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        assert not os.path.exists(info["ca_path"])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("user", "password", "proxy_creds", "ok"),
    [
        (None, None, "", True),
        ("proxyuser", "proxy pass", "proxyuser:proxy%20pass@", True),
        ("proxyuser", "proxy pass", "proxyuser:wrong@", False),
        ("proxyuser", "proxy pass", "", False),
    ],
)
def test_connect_proxy_tunnels_to_the_simulator(
    sim: RingCentralSimulator, user: Optional[str], password: Optional[str], proxy_creds: str, ok: bool
) -> None:
    with ConnectProxy(username=user, password=password) as proxy:
        proxy_url = proxy.url.replace("http://", "http://" + proxy_creds)
        assert proxy.url == f"http://127.0.0.1:{proxy.port}"

        def attempt() -> requests.Response:
            return token_request_via(sim, proxy_url)

        if ok:
            assert attempt().status_code == 200
            assert proxy.tunnels == 1 and proxy.rejected == 0
            assert proxy.targets == [sim.base_url.replace("https://", "")]
        else:
            with pytest.raises(requests.exceptions.ProxyError, match="407"):
                attempt()
            assert proxy.tunnels == 0 and proxy.rejected == 1
            assert sim.stats()["auth_requests"] == 0


def token_request_via(sim: RingCentralSimulator, proxy_url: str) -> requests.Response:
    return requests.post(
        sim.base_url + "/restapi/oauth/token",
        data={"grant_type": JWT_GRANT, "assertion": "sim-jwt-assertion"},
        auth=("sim-client-id", "sim-client-secret"),
        proxies={"https": proxy_url},
        verify=sim.ca_path,
        timeout=5,
    )


def test_proxy_stop_tears_down_open_tunnels(sim: RingCentralSimulator) -> None:
    proxy = ConnectProxy().start()
    proxy_url = proxy.url
    with requests.Session() as session:

        def post() -> requests.Response:
            return session.post(
                sim.base_url + "/restapi/oauth/token",
                data={"grant_type": JWT_GRANT, "assertion": "sim-jwt-assertion"},
                auth=("sim-client-id", "sim-client-secret"),
                proxies={"https": proxy_url},
                verify=sim.ca_path,
                timeout=5,
            )

        assert post().status_code == 200
        proxy.stop()
        # The kept-alive tunnel would still carry this request had stop() left it open.
        with pytest.raises(requests.exceptions.ConnectionError):
            post()
    assert proxy.tunnels == 1


# ----- record generator --------------------------------------------------------------------------------------


def test_generator_is_deterministic_and_schema_shaped() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 31, tzinfo=timezone.utc)
    records = generate_records(600, start, end, seed=7)
    assert records == generate_records(600, start, end, seed=7)
    assert records != generate_records(600, start, end, seed=8)
    ip = re.compile(r"^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}$")
    for record in records:
        assert uuid.UUID(record["id"]).version == 4
        assert EVENT_TIME.match(record["eventTime"])
        assert "2026-01-01" <= record["eventTime"] <= "2026-01-31T00:00:00.000Z"
        assert record["actionId"] in ACTION_IDS and ip.match(record["clientIp"])
        assert set(record["initiator"]) == {"extensionId", "extensionNumber", "name", "role"}
        assert record["target"]["objectType"] in ("Extension", "Account", "Company", "Template")
        for parameter in record.get("details", {}).get("parameters", [{"key": "k", "value": "v"}]):
            assert isinstance(parameter["key"], str) and isinstance(parameter["value"], str)
        assert "null" not in json.dumps(record)
    assert {r["actionId"] for r in records} == set(ACTION_IDS)
    assert {"UPDATE", "update", "Create"} <= {r["eventType"] for r in records}
    assert {"comment", "accountName"} & {key for r in records for key in r} == {"comment", "accountName"}
    assert any("siteId" in r["target"] for r in records)
    roles = [r for r in records if r["actionId"] == "CHANGE_USER_ROLE"]
    assert all([p["key"] for p in r["details"]["parameters"]] == ["oldRoleName", "newRoleName"] for r in roles)
    same = datetime(2026, 1, 5, 12, 0, 0, 250000, tzinfo=timezone.utc)
    assert {r["eventTime"] for r in generate_records(5, start, end, same_time=same)} == {"2026-01-05T12:00:00.250Z"}
