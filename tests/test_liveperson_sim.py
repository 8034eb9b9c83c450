"""The LivePerson simulator, driven over real loopback HTTPS with OAuth 1.0 signing, does what each switch says."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
from requests_oauthlib import OAuth1

from tests.sim.liveperson_records import (
    PUBLIC_FIELDS,
    change_date,
    generate_rows,
    identical,
    public_view,
    to_instant,
)
from tests.sim.liveperson_sim import (
    GraphQLError,
    LivePersonSimulator,
    SimConfig,
    audit_body,
    parse_query,
)

# The data side's clock is frozen so 2024 rows stay inside the 13-month retention whenever the tests run.
NOW = datetime(2024, 11, 20, tzinfo=timezone.utc)
ALL = {"lpa": True, "automaticUpdates": True}
SHORT_FIELDS = ("objectName", "changeDate")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


@pytest.fixture
def make_sim() -> Iterator[Any]:
    started: List[LivePersonSimulator] = []

    def factory(**changes: Any) -> LivePersonSimulator:
        settings: Dict[str, Any] = {"now": NOW.timestamp()}
        settings.update(changes)
        sim = LivePersonSimulator(SimConfig(**settings)).start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Any) -> LivePersonSimulator:
    return make_sim()


def signer(sim: LivePersonSimulator, **overrides: Any) -> OAuth1:
    cfg = sim.config
    values = {
        "client_key": cfg.app_key,
        "client_secret": cfg.app_secret,
        "resource_owner_key": cfg.access_token,
        "resource_owner_secret": cfg.access_token_secret,
    }
    values.update(overrides)
    return OAuth1(**values)


def post(
    sim: LivePersonSimulator,
    body: Any,
    auth: Any = None,
    url: Optional[str] = None,
    timeout: float = 5,
) -> requests.Response:
    # verify= per call: a Session.verify would be overridden by REQUESTS_CA_BUNDLE from the environment.
    return requests.post(
        url or sim.audit_url,
        json=body,
        auth=auth if auth is not None else signer(sim),
        verify=sim.ca_path,
        timeout=timeout,
    )


def query(sim: LivePersonSimulator, fields: Any = SHORT_FIELDS, **args: Any) -> requests.Response:
    """Post an auditData query; days and changeDate are UTC unless ``timezone`` says otherwise (None: omitted)."""
    args.setdefault("timezone", "UTC")
    args = {name: value for name, value in args.items() if value is not None}
    return post(sim, audit_body(fields, list_syntax=sim.config.list_syntax, **args))


def rows_of(response: requests.Response) -> List[Dict[str, Any]]:
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    return payload["data"]["auditData"]


def error_of(response: requests.Response) -> str:
    payload = response.json()
    assert "data" not in payload or payload["data"] is None, payload
    return payload["errors"][0]["message"]


def tagged(when: datetime, name: str, **extra: Any) -> Dict[str, Any]:
    row = generate_rows(1, when, when, seed=len(name), lpa_share=0.0, automatic_share=0.0)[0]
    row["objectName"] = name
    row.update(extra)
    return row


def names(rows: List[Dict[str, Any]]) -> List[str]:
    return [row["objectName"] for row in rows]


def domain_lookup(sim: LivePersonSimulator, account: Optional[str] = None, service: str = "accountConfigReadOnly"):
    account = account or sim.config.account_id
    return requests.get(
        f"{sim.base_url}/api/account/{account}/service/{service}/baseURI.json?version=1.0",
        verify=sim.ca_path,
        timeout=5,
    )


# ----- Domain API and moving hosts -----------------------------------------------------------------------------


def test_domain_api_answers_bare_host_port_without_auth(sim: LivePersonSimulator) -> None:
    response = domain_lookup(sim)
    assert response.status_code == 200
    assert response.json() == {
        "service": "accountConfigReadOnly",
        "account": sim.config.account_id,
        "baseURI": sim.base_uri("primary"),
    }
    assert "://" not in response.json()["baseURI"]
    assert domain_lookup(sim, service="accountConfigReadWrite").status_code == 200
    assert domain_lookup(sim, service="accountconfigreadonly").status_code == 404  # case sensitive
    assert domain_lookup(sim, account="le00000000").status_code == 404
    sim.set_config(unknown_account_status=401)
    assert domain_lookup(sim, account="le00000000").status_code == 401
    listing = requests.get(
        f"{sim.base_url}/api/account/{sim.config.account_id}/service/baseURI.json?version=1.0",
        verify=sim.ca_path,
        timeout=5,
    ).json()
    assert {item["service"] for item in listing["baseURIs"]} == {"accountConfigReadOnly", "accountConfigReadWrite"}
    stats = sim.stats()
    assert stats["domain_lookups"] == 6
    assert all("Authorization" not in entry["headers"] for entry in stats["requests"])
    assert stats["requests"][0]["query"] == "version=1.0"


def test_audit_api_moves_to_another_listener(sim: LivePersonSimulator) -> None:
    old_url = sim.audit_url
    assert post(sim, audit_body()).status_code == 200
    sim.set_config(audit_host="secondary")
    new_host = domain_lookup(sim).json()["baseURI"]
    assert new_host == sim.base_uri("secondary") != sim.base_uri("primary")
    assert post(sim, audit_body(), url=old_url).status_code == 404
    sim.set_config(moved_status=401)
    assert post(sim, audit_body(), url=old_url).status_code == 401
    new_url = f"https://{new_host}/api/account/{sim.config.account_id}/configuration/metadata/audit"
    assert new_url == sim.audit_url
    assert post(sim, audit_body(), url=new_url).status_code == 200  # same CA on every listener
    assert [entry["listener"] for entry in sim.stats()["requests"] if entry["kind"] == "audit"] == [
        "primary",
        "primary",
        "primary",
        "secondary",
    ]
    with pytest.raises(ValueError):
        sim.set_config(audit_host="tertiary")


# ----- OAuth 1.0 -----------------------------------------------------------------------------------------------


def test_signature_is_verified_for_real(sim: LivePersonSimulator) -> None:
    assert post(sim, audit_body()).status_code == 200
    for bad in (
        {"client_secret": "wrong"},
        {"resource_owner_secret": "wrong"},
        {"client_key": "other-key"},
        {"resource_owner_key": "other-token"},
        {"signature_method": "HMAC-SHA256"},
    ):
        assert post(sim, audit_body(), auth=signer(sim, **bad)).status_code == 401, bad
    assert requests.post(sim.audit_url, json=audit_body(), verify=sim.ca_path, timeout=5).status_code == 401
    # Signed for one URL, sent to another: the query string is part of the base string.
    signed = requests.Request("POST", sim.audit_url, json=audit_body(), auth=signer(sim)).prepare()
    signed.url = sim.audit_url + "?v=2"
    assert requests.Session().send(signed, verify=sim.ca_path, timeout=5).status_code == 401
    reasons = [entry["auth_error"] for entry in sim.stats()["requests"]]
    assert reasons == [
        None,
        "invalid oauth_signature",
        "invalid oauth_signature",
        "unknown oauth_consumer_key",
        "unknown oauth_token",
        "unsupported oauth_signature_method",
        "missing Authorization header",
        "invalid oauth_signature",
    ]
    assert sim.stats()["auth_failures"] == 7


def test_stale_timestamps_and_reused_nonces_are_refused(sim: LivePersonSimulator) -> None:
    stale = str(int(time.time()) - 400)
    assert post(sim, audit_body(), auth=signer(sim, timestamp=stale)).status_code == 401
    sim.set_config(oauth_max_skew=600)
    assert post(sim, audit_body(), auth=signer(sim, timestamp=stale)).status_code == 200
    assert post(sim, audit_body(), auth=signer(sim, nonce="fixednonce123")).status_code == 200
    assert post(sim, audit_body(), auth=signer(sim, nonce="fixednonce123")).status_code == 401
    reasons = [entry["auth_error"] for entry in sim.stats()["requests"]]
    assert reasons == ["stale oauth_timestamp", None, None, "reused oauth_nonce"]


def test_missing_permission_is_403_and_headers_are_recorded(sim: LivePersonSimulator) -> None:
    sim.set_config(audit_permission=False)
    assert post(sim, audit_body()).status_code == 403
    assert post(sim, audit_body(), auth=signer(sim, client_secret="x")).status_code == 401  # 401 before 403
    entry = sim.stats()["requests"][0]
    assert entry["headers"]["Authorization"].startswith("OAuth ")
    cfg = sim.config
    secrets = (cfg.app_secret, cfg.access_token_secret)
    assert not any(secret in str(entry["headers"]) for secret in secrets)


def test_account_and_content_type_checks(sim: LivePersonSimulator) -> None:
    other = sim.audit_url.replace(sim.config.account_id, "le99999999")
    assert post(sim, audit_body(), url=other).status_code == 400
    response = requests.post(
        sim.audit_url,
        data=b"query=x",
        auth=signer(sim),
        verify=sim.ca_path,
        timeout=5,
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert post(sim, ["not", "an", "object"]).status_code == 400


# ----- GraphQL parsing -----------------------------------------------------------------------------------------


def test_parser_reads_every_literal_kind() -> None:
    text = r'''
        # a comment, and commas are insignificant
        query Audit($tz: String = "Etc/UTC", $n: Int) {
          rows: auditData(fromDate: "2024-05-01", toDate:"2024\u002D05\u002d02", first: $n, offset: 0,
                          orderBy: ["changeTimestamp", "objectType"], orderDirection: [ASC], lpa: true,
                          automaticUpdates: false, language: """
                              en-US
                          """, timezone: $tz, users: ["a\"b\\c\/d\n", "\uD83D\uDE00"], componentTypes: null) {
            when: changeDate, objectType
          }
        }'''
    (root,) = parse_query(text, {"n": 7, "ignored": 1})
    assert (root.key, root.name) == ("rows", "auditData")
    assert root.args["toDate"] == "2024-05-02"
    assert root.args["first"] == 7 and root.args["offset"] == 0
    assert root.args["orderDirection"] == ["ASC"] and type(root.args["orderDirection"][0]).__name__ == "EnumValue"
    assert root.args["lpa"] is True and root.args["automaticUpdates"] is False
    assert root.args["language"] == "en-US"
    assert root.args["timezone"] == "Etc/UTC"
    assert root.args["users"] == ['a"b\\c/d\n', "\U0001f600"]
    assert root.args["componentTypes"] is None
    assert [(child.key, child.name) for child in root.children] == [
        ("when", "changeDate"),
        ("objectType", "objectType"),
    ]
    for broken in (
        "{auditData(first:1 { changeDate }}",
        '{auditData(x:"\\q") { a }}',
        "{auditData(first:1) {}}",
        "{auditData(first:$missing) { a }}",
        "mutation { auditData { a } }",
        "{ a } { b }",
        "",
    ):
        with pytest.raises(GraphQLError):
            parse_query(broken)


def test_arguments_are_type_checked_and_fields_chosen_in_order(sim: LivePersonSimulator) -> None:
    sim.add_records([tagged(utc(2024, 5, 1, 12), "one")])
    response = post(sim, {"query": '{rows: auditData(fromDate:"2024-05-01") { changeDate n: objectName accountId }}'})
    payload = response.json()
    assert list(payload["data"]) == ["rows"]
    assert list(payload["data"]["rows"][0]) == ["changeDate", "n", "accountId"]
    assert payload["data"]["rows"][0]["n"] == "one"
    body = {
        "query": 'query($d: String) { auditData(fromDate: $d, timezone:"UTC") { changeDate } }',
        "variables": {"d": "2024-05-01"},
    }
    assert rows_of(post(sim, body)) == [{"changeDate": "2024-05-01 12:00:00.0"}]
    assert sim.stats()["requests"][-1]["args"] == {"fromDate": "2024-05-01", "timezone": "UTC"}
    for bad, word in (
        ('{auditData(first:"10") { changeDate }}', "first"),
        ("{auditData(lpa:1) { changeDate }}", "lpa"),
        ('{auditData(fromDate:"2024/05/01") { changeDate }}', "fromDate"),
        ("{auditData(first:-1) { changeDate }}", "first"),
        ('{auditData(colour:"red") { changeDate }}', "colour"),
        ("{auditData(first:1) { changeDate bogus }}", "bogus"),
        ("{auditData(first:1)}", "Sub selection"),
        ("{other { a }}", "other"),
        ('{auditData(orderBy:["nope"]) { changeDate }}', "nope"),
    ):
        response = post(sim, {"query": bad})
        assert response.status_code == 200
        assert word in error_of(response), bad
    assert sim.stats()["graphql_errors"] == 9


# ----- rows, flags, zones --------------------------------------------------------------------------------------


def test_lpa_and_automatic_rows_are_hidden_by_default(sim: LivePersonSimulator) -> None:
    rows = sim.generate(400, utc(2024, 6, 1), utc(2024, 6, 2), seed=3, lpa_share=0.2, automatic_share=0.2)
    truth = sim.ground_truth()
    assert len(truth) == 400 and all(isinstance(row["instant"], int) for row in truth)
    lpa = sum(row["lpa"] for row in rows)
    automatic = sum(row["automatic"] for row in rows)
    assert lpa > 20 and automatic > 20
    base = {"fromDate": "2024-06-01", "toDate": "2024-06-02", "first": 1000}
    total: Dict[bool, Dict[bool, int]] = {True: {}, False: {}}
    for lpa_arg in (True, False):
        for auto_arg in (True, False):
            total[lpa_arg][auto_arg] = len(rows_of(query(sim, lpa=lpa_arg, automaticUpdates=auto_arg, **base)))
    assert total[True][True] == 400
    assert total[False][True] == 400 - lpa
    assert total[True][False] == 400 - automatic
    assert total[False][False] == 400 - lpa - automatic == len(rows_of(query(sim, **base)))
    served = rows_of(query(sim, fields=PUBLIC_FIELDS, timezone="UTC", lpa=True, automaticUpdates=True, **base))
    lpa_rows = [row for row in served if row["originatorIsLpa"]]
    assert len(lpa_rows) == lpa and "instant" not in served[0] and "id" not in served[0]


def test_change_date_rendering_and_default_zone(sim: LivePersonSimulator) -> None:
    instant = utc(2024, 7, 4, 16, 5, 9)
    sim.add_records([tagged(instant, "x")])
    assert rows_of(query(sim, fromDate="2024-07-01", timezone="UTC"))[0]["changeDate"] == "2024-07-04 16:05:09.0"
    assert rows_of(query(sim, fromDate="2024-07-01", timezone=None))[0]["changeDate"] == "2024-07-04 12:05:09.0"
    kolkata = rows_of(query(sim, fromDate="2024-07-01", timezone="Asia/Kolkata"))[0]["changeDate"]
    assert kolkata == "2024-07-04 21:35:09.0" == change_date(to_instant(instant), "Asia/Kolkata")


def test_us_eastern_repeats_the_fall_back_hour(sim: LivePersonSimulator) -> None:
    sim.add_records(
        [
            tagged(utc(2024, 11, 3, 5, 30), "edt"),
            tagged(utc(2024, 11, 3, 6, 30), "est"),
            tagged(utc(2024, 11, 3, 7, 30), "after"),
        ]
    )
    rows = rows_of(
        query(sim, fromDate="2024-11-03", orderBy=["changeTimestamp"], orderDirection=["ASC"], timezone="US/Eastern")
    )
    assert [(row["objectName"], row["changeDate"]) for row in rows] == [
        ("edt", "2024-11-03 01:30:00.0"),
        ("est", "2024-11-03 01:30:00.0"),
        ("after", "2024-11-03 02:30:00.0"),
    ]


@pytest.mark.parametrize(
    ("unaccepted", "expected"),
    [("gmt", "2024-07-04 16:00:00.0"), ("eastern", "2024-07-04 12:00:00.0")],
)
def test_region_only_zones_substitute_silently(make_sim: Any, unaccepted: str, expected: str) -> None:
    sim = make_sim(accepted_zones="region_only", unaccepted_zone=unaccepted)
    sim.add_records([tagged(utc(2024, 7, 4, 16), "x")])
    assert rows_of(query(sim, fromDate="2024-07-01", timezone="UTC"))[0]["changeDate"] == expected
    assert rows_of(query(sim, fromDate="2024-07-01", timezone="Europe/Paris"))[0]["changeDate"] == (
        "2024-07-04 18:00:00.0"
    )


def test_zone_acceptance_errors_name_the_zone(make_sim: Any) -> None:
    sim = make_sim(accepted_zones="region_only")
    for zone in ("UTC", "Etc/UTC", "GMT", "Mars/Olympus"):
        assert zone in error_of(query(sim, timezone=zone))
    for zone in ("America/New_York", "US/Eastern", "Canada/Pacific"):
        assert query(sim, timezone=zone).status_code == 200
    sim.set_config(accepted_zones="any")
    for zone in ("UTC", "Etc/UTC", "GMT", "US/Eastern"):
        assert rows_of(query(sim, timezone=zone)) == []
    assert "Mars/Olympus" in error_of(query(sim, timezone="Mars/Olympus"))


def test_day_zone_and_to_date_inclusivity(sim: LivePersonSimulator) -> None:
    sim.add_records(
        [
            tagged(utc(2024, 5, 1, 23, 30), "may1-late-utc"),
            tagged(utc(2024, 5, 2, 3), "may2-early-utc"),  # still May 1 in New York
            tagged(utc(2024, 5, 2, 12), "may2-noon"),
            tagged(utc(2024, 5, 3, 1), "may3-early-utc"),  # still May 2 in New York
        ]
    )
    asc = {"orderBy": ["changeTimestamp"], "orderDirection": ["ASC"]}
    one_day = {"fromDate": "2024-05-02", "toDate": "2024-05-02", **asc}
    assert names(rows_of(query(sim, timezone="UTC", **one_day))) == ["may2-early-utc", "may2-noon"]
    assert names(rows_of(query(sim, timezone="America/New_York", **one_day))) == ["may2-noon", "may3-early-utc"]
    sim.set_config(to_date_inclusive=False)
    assert rows_of(query(sim, timezone="UTC", **one_day)) == []
    two_days = {"fromDate": "2024-05-02", "toDate": "2024-05-03", **asc}
    assert names(rows_of(query(sim, timezone="UTC", **two_days))) == ["may2-early-utc", "may2-noon"]
    sim.set_config(to_date_inclusive=True, day_zone="us_eastern")
    assert names(rows_of(query(sim, timezone="UTC", **one_day))) == ["may2-noon", "may3-early-utc"]
    sim.set_config(day_zone="utc")
    assert names(rows_of(query(sim, timezone="America/New_York", **one_day))) == ["may2-early-utc", "may2-noon"]


# ----- paging switches -----------------------------------------------------------------------------------------


def test_first_default_clamp_and_error(sim: LivePersonSimulator) -> None:
    sim.generate(120, utc(2024, 8, 1), utc(2024, 8, 1, 1), lpa_share=0, automatic_share=0)
    assert len(rows_of(query(sim, fromDate="2024-08-01"))) == 50
    sim.set_config(max_first=20)
    assert len(rows_of(query(sim, fromDate="2024-08-01", first=100))) == 20
    sim.set_config(over_max="error")
    message = error_of(query(sim, fromDate="2024-08-01", first=100))
    assert "first" in message and "20" in message
    assert len(rows_of(query(sim, fromDate="2024-08-01", first=20, offset=110))) == 10
    assert rows_of(query(sim, fromDate="2024-08-01", first=20, offset=120)) == []


def test_total_count_is_total_or_page(sim: LivePersonSimulator) -> None:
    sim.generate(30, utc(2024, 8, 1), utc(2024, 8, 1, 1), lpa_share=0, automatic_share=0)
    response = query(sim, fromDate="2024-08-01", first=10, offset=25)
    assert response.headers["X-Total-Count"] == "30" and len(rows_of(response)) == 5
    sim.set_config(total_count="page")
    assert query(sim, fromDate="2024-08-01", first=10, offset=25).headers["X-Total-Count"] == "5"
    assert query(sim, fromDate="2024-08-01", first=10, offset=40).headers["X-Total-Count"] == "0"


def test_action_type_is_selectable_or_unknown(sim: LivePersonSimulator) -> None:
    sim.generate(50, utc(2024, 8, 1), utc(2024, 8, 2), lpa_share=0, automatic_share=0)
    fields = ("objectType", "element", "actionType")
    rows = rows_of(query(sim, fields=fields, fromDate="2024-08-01"))
    assert {row["actionType"] for row in rows} <= {"Edit", "Add new", "Delete"}
    assert all(row["actionType"] == "Edit" for row in rows if row["element"] != "N/A")
    sim.set_config(action_type="unknown_field")
    assert "actionType" in error_of(query(sim, fields=fields, fromDate="2024-08-01"))
    sim.set_config(errors_status=400)
    response = query(sim, fields=fields, fromDate="2024-08-01")
    assert response.status_code == 400 and "actionType" in error_of(response)


def test_list_syntax_switch_and_default_order(sim: LivePersonSimulator) -> None:
    sim.add_records([tagged(utc(2024, 9, 1, hour), f"h{hour}") for hour in (3, 1, 2)])
    assert names(rows_of(query(sim, fromDate="2024-09-01"))) == ["h3", "h2", "h1"]  # changeTimestamp DESC
    lists: Dict[str, Any] = {
        "orderBy": ["changeTimestamp"],
        "orderDirection": ["ASC"],
        "fromDate": "2024-09-01",
        "timezone": "UTC",
    }
    strings = (
        '{auditData(fromDate:"2024-09-01", timezone:"UTC", orderBy:"changeTimestamp", orderDirection:"ASC") '
        "{ objectName }}"
    )
    assert names(rows_of(query(sim, **lists))) == ["h1", "h2", "h3"]
    assert "orderBy" in error_of(post(sim, {"query": strings}))
    sim.set_config(list_syntax="comma")
    assert names(rows_of(post(sim, {"query": strings}))) == ["h1", "h2", "h3"]
    assert names(rows_of(query(sim, **lists))) == ["h1", "h2", "h3"]  # audit_body joins lists in comma mode
    assert "orderBy" in error_of(post(sim, audit_body(SHORT_FIELDS, **lists)))
    sim.set_config(list_syntax="coerce")
    assert names(rows_of(post(sim, {"query": strings}))) == ["h1", "h2", "h3"]
    assert names(rows_of(post(sim, audit_body(SHORT_FIELDS, **lists)))) == ["h1", "h2", "h3"]


def test_ties_are_stable_or_shuffled(sim: LivePersonSimulator) -> None:
    second = utc(2024, 9, 2, 8)
    sim.add_records([tagged(second, f"t{index:02d}") for index in range(30)])
    args = {"fromDate": "2024-09-02", "orderBy": ["changeTimestamp"], "orderDirection": ["ASC"]}
    stable = [names(rows_of(query(sim, **args))) for _ in range(3)]
    assert stable[0] == [f"t{index:02d}" for index in range(30)] and stable[0] == stable[1] == stable[2]
    desc = names(rows_of(query(sim, fromDate="2024-09-02")))
    assert desc == stable[0]  # equal keys keep insertion order in either direction
    sim.set_config(tie_order="shuffled")
    shuffled = [names(rows_of(query(sim, **args))) for _ in range(3)]
    assert all(sorted(order) == stable[0] for order in shuffled)
    assert len({tuple(order) for order in shuffled}) > 1


def test_genuine_repeats_are_served_as_copies(sim: LivePersonSimulator) -> None:
    row = tagged(utc(2024, 9, 3, 8), "dup")
    sim.add_records([*identical(row, 3), tagged(utc(2024, 9, 3, 9), "other")])
    served = rows_of(query(sim, fields=PUBLIC_FIELDS, fromDate="2024-09-03"))
    assert [r["objectName"] for r in served] == ["other", "dup", "dup", "dup"]
    assert served[1] == served[2] == served[3]
    expected = dict(public_view(row), changeDate=change_date(to_instant(utc(2024, 9, 3, 8)), "UTC"))
    assert served[1] == {name: expected[name] for name in PUBLIC_FIELDS}
    burst = generate_rows(200, 0, 0, same_second=utc(2024, 9, 4), repeat_share=0.3)
    assert {r["instant"] for r in burst} == {to_instant(utc(2024, 9, 4))}
    assert 20 < sum(a == b for a, b in zip(burst, burst[1:])) < 120


# ----- moving data ---------------------------------------------------------------------------------------------


def test_rows_inserted_while_a_client_pages(sim: LivePersonSimulator) -> None:
    sim.add_records([tagged(utc(2024, 10, 1, hour), f"r{hour}") for hour in range(1, 9)])
    args = {"fromDate": "2024-10-01", "orderBy": ["changeTimestamp"], "orderDirection": ["ASC"], "first": 3}
    first_page = names(rows_of(query(sim, offset=0, **args)))
    # Behind the cursor: an older row shifts everything by one, so the next page repeats r3.
    sim.inject("insert", rows=[tagged(utc(2024, 10, 1, 0, 30), "late-old")])
    second_page = names(rows_of(query(sim, offset=3, **args)))
    assert first_page == ["r1", "r2", "r3"] and second_page == ["r3", "r4", "r5"]
    # In the middle, through a hook two requests ahead; at the head: no effect on ascending paging.
    sim.on_request(2, lambda s: s.add_records([tagged(utc(2024, 10, 1, 5, 30), "mid")]))
    sim.inject("insert", after_requests=0, rows=[tagged(utc(2024, 10, 1, 23), "head")])
    assert names(rows_of(query(sim, offset=6, **args))) == ["r6", "r7", "r8"]
    assert names(rows_of(query(sim, offset=6, **args))) == ["mid", "r6", "r7"]
    assert names(rows_of(query(sim, offset=9, **args))) == ["r8", "head"]


def test_ingestion_delay_visible_at_and_retention(sim: LivePersonSimulator) -> None:
    now = NOW.timestamp()
    sim.add_records([tagged(utc(2024, 11, 19, 23, 59, 50), "fresh")])
    sim.add_records([tagged(utc(2024, 11, 19, 12), "late")], visible_at=now + 60)
    sim.add_records([tagged(utc(2023, 10, 1), "ancient")])
    sim.set_config(ingestion_delay=30)
    assert rows_of(query(sim, fromDate="2024-11-19")) == []
    sim.set_config(ingestion_delay=5)
    assert names(rows_of(query(sim, fromDate="2024-11-19"))) == ["fresh"]
    sim.set_config(now=now + 61)
    assert names(rows_of(query(sim, fromDate="2024-11-19"))) == ["fresh", "late"]
    assert rows_of(query(sim, fromDate="2023-01-01", toDate="2023-12-31")) == []
    sim.set_config(retention_days=500)
    assert names(rows_of(query(sim, fromDate="2023-01-01", toDate="2023-12-31"))) == ["ancient"]
    assert len(sim.ground_truth()) == 3


# ----- faults --------------------------------------------------------------------------------------------------


def test_status_429_auth_and_graphql_faults(sim: LivePersonSimulator) -> None:
    sim.inject("status", status=503, retry_after=7)
    response = post(sim, audit_body())
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    sim.inject("429", retry_after=2)
    response = post(sim, audit_body())
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    sim.inject("429")
    assert "Retry-After" not in post(sim, audit_body()).headers
    sim.inject("401")
    sim.inject("403")
    assert [post(sim, audit_body()).status_code for _ in range(3)] == [401, 403, 200]
    sim.inject("graphql_error", 2, message="Internal engine failure")
    assert error_of(post(sim, audit_body())) == "Internal engine failure"
    sim.set_config(errors_status=400)
    response = post(sim, audit_body())
    assert response.status_code == 400 and error_of(response) == "Internal engine failure"
    sim.inject("status", status=500, path="domain")
    assert domain_lookup(sim).status_code == 500
    assert domain_lookup(sim).status_code == 200
    stats = sim.stats()
    assert stats["faults"] == 8 and stats["audit_requests"] == 8
    with pytest.raises(ValueError):
        sim.inject("status", status=404)


def test_reset_stall_and_trickle(sim: LivePersonSimulator) -> None:
    sim.inject("reset")
    with pytest.raises(requests.ConnectionError):
        post(sim, audit_body())
    sim.inject("stall", seconds=2)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(sim, audit_body(), timeout=0.3)
    assert time.monotonic() - started < 1.5
    sim.inject("trickle", interval=0.01)
    started = time.monotonic()
    response = post(sim, audit_body(("changeDate",)))
    assert response.json() == {"data": {"auditData": []}}
    assert time.monotonic() - started >= 0.01 * len(response.content) * 0.8
    # The stalled request is logged when its answer goes out, after this test has moved on.
    assert [entry["fault"] for entry in sim.stats()["requests"]] == ["reset", "trickle"]
    assert sim.stats()["faults"] == 3


# ----- generator and stats -------------------------------------------------------------------------------------


def test_generator_is_fast_and_realistic() -> None:
    started = time.monotonic()
    rows = generate_rows(12_000, utc(2024, 1, 1), utc(2024, 11, 1), seed=9)
    assert time.monotonic() - started < 1.0
    assert rows == generate_rows(12_000, utc(2024, 1, 1), utc(2024, 11, 1), seed=9)
    instants = [row["instant"] for row in rows]
    assert instants == sorted(instants)
    types = {row["objectType"] for row in rows}
    assert {"Users", "Skills", "Profiles", "Campaigns", "Agent Groups"} <= types
    elements = {row["element"] for row in rows}
    assert {"Password", "Profile", "Member of", "N/A"} <= elements
    assert 0.02 < sum(row["lpa"] for row in rows) / len(rows) < 0.1
    assert 0.05 < sum(row["automatic"] for row in rows) / len(rows) < 0.15
    assert all(row["originatorIsLpa"] == row["lpa"] for row in rows)
    assert all("id" not in row and "changeDate" not in row for row in rows)


def test_many_rows_page_quickly_and_stats_reset(sim: LivePersonSimulator) -> None:
    sim.generate(10_000, utc(2024, 6, 1), utc(2024, 6, 30), seed=4)
    started = time.monotonic()
    response = query(sim, fields=PUBLIC_FIELDS, fromDate="2024-06-01", toDate="2024-06-30", first=1000, **ALL)
    assert len(rows_of(response)) == 1000 and response.headers["X-Total-Count"] == "10000"
    assert time.monotonic() - started < 2.0
    stats = sim.stats()
    assert stats["rows_served"] == 1000 and stats["audit_requests"] == 1
    entry = stats["requests"][0]
    assert entry["fields"] == list(PUBLIC_FIELDS) and entry["args"]["first"] == 1000
    assert entry["total_count"] == "10000" and entry["status"] == 200 and entry["rows"] == 1000
    sim.reset_stats()
    assert sim.stats()["requests"] == [] and sim.stats()["rows_served"] == 0
