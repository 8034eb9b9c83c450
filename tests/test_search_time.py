"""Search-time knowledge of TA-audit-trail: props, transforms, the action lookup, event types, tags,
macros, saved searches, dashboards and their documentation, checked against the sample events.

No Splunk is needed: tests/searchtime emulates the parts of Splunk's search-time pipeline the add-on
relies on (regex transforms, KV_MODE json, aliases, calculated fields, wildcard lookups, event types).
"""

from __future__ import annotations

import csv
import functools
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Set

import pytest
from searchtime import cim, docgen, spl_eval
from searchtime.conf import APP_ROOT, DEFAULT_DIR, default_conf, hygiene_problems, read_conf
from searchtime.lookup import parse_lookup_setting
from searchtime.pipeline import (
    SearchTime,
    apply_report,
    flatten_json,
    parse_fieldalias,
    read_lines,
    source_glob_to_regex,
    sourcetype_for_source,
    split_events,
)
from searchtime.search_expr import EventTypes, expand_macros, tags_for
from searchtime.studio import StudioView

SAMPLES = APP_ROOT / "tests" / "samples"
AUDIT = "ringcentral:audit"
COLLECTION = "ringcentral:audit:collection"
LOG = "ta:audit_trail:log"
MACRO = "`ringcentral_audit_index`"
LOG_PATH = "/opt/splunk/var/log/splunk/ta_audit_trail_ringcentral_audit.log"
AUDIT_META = {"index": "main", "source": "ringcentral_audit://prod", "host": "hf1"}
VIEWS = DEFAULT_DIR / "data" / "ui" / "views"
CONF_FILES = ("props", "transforms", "eventtypes", "tags", "macros", "savedsearches")

# Action ids the brief names (known, and the simulator's guesses).
BRIEF_ACTION_IDS = (
    "CHANGE_USER_ROLE", "CHANGE_SECRET_INFO", "CHANGE_USER_INFO", "LOGIN_SUCCESSFULLY", "LOGIN_FAILED",
    "ACCOUNT_LOCKED", "CREATE_EXTENSION", "DELETE_EXTENSION", "CHANGE_CALL_HANDLING_RULES", "CHANGE_COMPANY_INFO",
)


# --------------------------------------------------------------------------------------------------
# Loading (cached: every test reads the same files)
# --------------------------------------------------------------------------------------------------


@functools.cache
def conf(name: str) -> Dict[str, Dict[str, str]]:
    return default_conf(name)


@functools.cache
def search_time() -> SearchTime:
    return SearchTime(conf("props"), conf("transforms"), APP_ROOT / "lookups")


@functools.cache
def eventtypes() -> EventTypes:
    return EventTypes(conf("eventtypes"), conf("macros"))


@functools.cache
def audit_raws() -> List[str]:
    return list(read_lines(SAMPLES / "ringcentral_audit.jsonl"))


@functools.cache
def audit_events() -> Dict[str, Dict]:
    """{id suffix: search-time fields} of every sample record."""
    events = {}
    for raw in audit_raws():
        fields = search_time().extract(raw, AUDIT, AUDIT_META)
        events[str(fields["id"])[-3:]] = fields
    return events


def event_tags(fields: Dict) -> Set[str]:
    return tags_for(eventtypes().matching(fields), conf("tags"))


def as_list(value: object) -> List[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [str(value)]


# --------------------------------------------------------------------------------------------------
# Conf files: they parse, hold no silent mistakes, and use only settings Splunk defines
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONF_FILES)
def test_conf_file_parses_without_hygiene_problems(name):
    path = DEFAULT_DIR / f"{name}.conf"
    parsed = read_conf(path)
    assert parsed, f"{name}.conf has no stanzas"
    assert hygiene_problems(path) == []


def test_hygiene_check_catches_duplicates_and_truncation(tmp_path):
    # The checker itself must fail on the mistakes it is there to catch.
    bad = tmp_path / "bad.conf"
    bad.write_text("[a]\nx = 1\nx = 2\n[a]\n y = indented\nz = keep ; lost\n", encoding="utf-8")
    problems = "\n".join(hygiene_problems(bad))
    assert "x repeated" in problems
    assert "stanza [a] repeated" in problems
    assert "starts with whitespace" in problems
    assert "' ;'" in problems


def _spec_patterns(spec_name: str) -> List[re.Pattern]:
    slim = pytest.importorskip("slim")
    spec = Path(slim.__file__).parent / "config" / "conf-specs" / f"{spec_name}.conf.spec"
    patterns = []
    for line in spec.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z_][^\s=\[]*)\s*=", line)
        if match:
            # Templated names (EVAL-<fieldname>, action.<name>) match any text in the placeholder.
            key = re.sub(r"<[^>]+>", "\0", match.group(1))
            patterns.append(re.compile("^" + re.escape(key).replace("\0", ".+") + "$"))
    return patterns


@pytest.mark.parametrize("name", CONF_FILES)
def test_every_setting_is_defined_by_splunks_spec(name):
    # slim ships Splunk's .conf.spec files; a misspelt setting (MAX_TIMESTAMP_LOOKHEAD) is silently ignored
    # by splunkd, so this is the only place it would show.
    patterns = _spec_patterns(name)
    unknown = [
        f"[{stanza}] {key}"
        for stanza, settings in conf(name).items()
        for key in settings
        if not (name == "tags" or any(p.match(key) for p in patterns))
    ]
    assert unknown == []


def test_tags_conf_only_enables_tags():
    for stanza, settings in conf("tags").items():
        assert stanza.startswith("eventtype="), stanza
        assert set(settings.values()) == {"enabled"}, stanza


# --------------------------------------------------------------------------------------------------
# Samples: realistic, compact as the input writes them, and covering what the brief lists
# --------------------------------------------------------------------------------------------------


def test_audit_samples_are_compact_json_exactly_as_the_input_writes_them():
    for raw in audit_raws():
        record = json.loads(raw)
        assert json.dumps(record, separators=(",", ":")) == raw


def test_audit_samples_cover_the_cases_the_brief_lists():
    records = [json.loads(raw) for raw in audit_raws()]
    action_ids = {r["actionId"] for r in records}
    assert set(BRIEF_ACTION_IDS) <= action_ids
    event_types = {r["eventType"] for r in records}
    assert {"UPDATE", "Update", "update", "Create", "CREATE", "create", "DELETE", "Delete"} <= event_types
    assert any(r.get("target", {}).get("objectId") == "0" for r in records)
    assert any("clientIp" not in r for r in records)
    assert any(len(r.get("details", {}).get("parameters", [])) > 100 for r in records)
    # Key order differs between records, as in real responses.
    assert len({tuple(r)[:3] for r in records}) > 1


def test_audit_samples_cover_every_simulator_action_id():
    records = pytest.importorskip("sim.records")
    sampled = {json.loads(raw)["actionId"] for raw in audit_raws()}
    assert set(records.ACTION_IDS) <= sampled


def test_collection_samples_carry_the_summary_contract():
    keys = {
        "input", "source_type", "status", "window_from", "window_to", "pages", "requests", "records_emitted",
        "total_found", "duplicates_dropped", "malformed_records", "retries", "rate_limited",
        "rate_limit_wait_seconds", "gaps", "lag_seconds", "duration_seconds",
    }
    statuses = set()
    for raw in read_lines(SAMPLES / "ringcentral_audit_collection.jsonl"):
        summary = json.loads(raw)
        assert keys <= set(summary), keys - set(summary)
        assert ("error" in summary) == (summary["status"] != "complete")
        statuses.add(summary["status"])
        for gap in summary["gaps"]:
            assert gap["reason"] in ("retention", "record_cap")
    assert statuses == {"complete", "partial", "failed"}


# --------------------------------------------------------------------------------------------------
# props.conf, index time: one record per event, never truncated, _time equal to eventTime
# --------------------------------------------------------------------------------------------------


def test_line_breaking_gives_one_event_per_record():
    stanza = conf("props")[AUDIT]
    assert stanza["SHOULD_LINEMERGE"] == "false"
    stream = "\n".join(audit_raws()) + "\n"
    assert split_events(stream, stanza["LINE_BREAKER"]) == audit_raws()


def test_truncate_keeps_the_largest_record_whole():
    stanza = conf("props")[AUDIT]
    largest = max(len(raw.encode("utf-8")) for raw in audit_raws())
    # The large sample must exceed Splunk's default (10000), or this test would prove nothing.
    assert largest > 10000
    assert int(stanza["TRUNCATE"]) == 0 or int(stanza["TRUNCATE"]) >= 10 * largest


def _splunk_strptime(text: str, fmt: str) -> float:
    # %3N (milliseconds) is Splunk's; Python's %f reads the same three digits as a fraction.
    value = datetime.strptime(text, fmt.replace("%3N", "%f"))
    return value.replace(tzinfo=timezone.utc).timestamp()


def test_timestamp_settings_land_on_the_time_the_input_sends():
    stanza = conf("props")[AUDIT]
    assert stanza["TZ"] == "UTC"
    prefix = re.compile(spl_eval.pcre_to_python(stanza["TIME_PREFIX"]))
    lookahead = int(stanza["MAX_TIMESTAMP_LOOKAHEAD"])
    for raw in audit_raws():
        record = json.loads(raw)
        match = prefix.search(raw)
        assert match, record["id"]
        window = raw[match.end():match.end() + lookahead]
        parsed = _splunk_strptime(window, stanza["TIME_FORMAT"])
        # What the input sends as <time>: eventTime as epoch seconds with milliseconds.
        sent = datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert round(parsed, 3) == round(sent.timestamp(), 3), record["id"]


def test_time_prefix_ignores_an_eventtime_text_inside_a_parameter_value():
    stanza = conf("props")[AUDIT]
    nested = json.dumps(
        {"id": "x", "details": {"parameters": [{"key": "note", "value": '"eventTime":"1999-01-01T00:00:00.000Z"'}]},
         "eventTime": "2026-11-20T09:14:03.117Z"},
        separators=(",", ":"),
    )
    match = re.search(spl_eval.pcre_to_python(stanza["TIME_PREFIX"]), nested)
    assert nested[match.end():].startswith("2026-11-20T09:14:03.117Z")


def test_collection_summary_time_comes_from_the_input():
    stanza = conf("props")[COLLECTION]
    assert stanza["DATETIME_CONFIG"] == "NONE"
    assert stanza["KV_MODE"] == "json"
    stream = "\n".join(read_lines(SAMPLES / "ringcentral_audit_collection.jsonl"))
    assert len(split_events(stream, stanza["LINE_BREAKER"])) == 4


def test_log_file_gets_the_add_on_log_sourcetype():
    assert sourcetype_for_source(conf("props"), LOG_PATH) == LOG
    assert sourcetype_for_source(conf("props"), LOG_PATH + ".1") == LOG
    assert sourcetype_for_source(conf("props"), "/opt/splunk/var/log/splunk/splunkd.log") is None
    assert not source_glob_to_regex("...ta_audit_trail*.log*").match("/var/log/other_ta_audit_trailx")


def test_log_lines_break_on_timestamps_and_keep_tracebacks():
    stanza = conf("props")[LOG]
    events = split_events((SAMPLES / "ta_audit_trail_log.txt").read_text(encoding="utf-8"), stanza["LINE_BREAKER"])
    assert len(events) == 7
    detail = [e for e in events if "action=collection_failed_detail" in e]
    assert len(detail) == 1
    assert "Traceback" in detail[0]
    assert detail[0].rstrip().endswith("after 3 retries")
    for event in events:
        window = event[:int(stanza["MAX_TIMESTAMP_LOOKAHEAD"])]
        assert _splunk_strptime(window, stanza["TIME_FORMAT"]) > 0


# --------------------------------------------------------------------------------------------------
# props/transforms, search time: rules Splunk imposes and the CIM requires
# --------------------------------------------------------------------------------------------------


def test_kv_mode_json_is_not_combined_with_indexed_extractions():
    for sourcetype in (AUDIT, COLLECTION):
        stanza = conf("props")[sourcetype]
        assert stanza["KV_MODE"] == "json"
        assert "INDEXED_EXTRACTIONS" not in stanza


def test_report_transforms_read_raw_not_json_fields():
    # REPORT runs before KV_MODE, so a SOURCE_KEY naming a JSON field would always be empty.
    for key, value in conf("props")[AUDIT].items():
        if key.startswith("REPORT-"):
            for name in value.split(","):
                assert conf("transforms")[name.strip()].get("SOURCE_KEY", "_raw") == "_raw"


def test_every_transform_regex_compiles():
    for name, stanza in conf("transforms").items():
        if "REGEX" in stanza:
            re.compile(spl_eval.pcre_to_python(stanza["REGEX"]))
    for stanza in conf("props").values():
        for key, value in stanza.items():
            if key.startswith("EXTRACT-") or key in ("LINE_BREAKER", "TIME_PREFIX"):
                re.compile(spl_eval.pcre_to_python(value))


def test_detail_parameters_become_fields_for_every_sample():
    # Every key/value entry of every record comes out as details.<key>, whatever the member order.
    for raw in audit_raws():
        record = json.loads(raw)
        expected: Dict[str, List[str]] = {}
        for entry in record.get("details", {}).get("parameters", []):
            if entry["value"]:
                text = json.dumps(entry["value"])[1:-1]  # the JSON text as it stands in _raw
                expected.setdefault("details." + entry["key"], []).append(text)
        fields = audit_events()[record["id"][-3:]]
        extracted = {k: as_list(v) for k, v in fields.items() if k.startswith("details.") and "{}" not in k}
        assert extracted == expected, record["id"]


def test_detail_extraction_examples():
    events = audit_events()
    assert events["a01"]["details.oldRoleName"] == "Standard"
    assert events["a01"]["details.newRoleName"] == "Super Admin"
    assert events["a15"]["details.ringGroupMember"] == ["101", "102", "103"]
    # value-before-key entries, an escaped quote, a non-ASCII name as json.dumps escapes it.
    assert events["a24"]["details.newLastName"] == "M\\u00fcller"
    assert events["a24"]["details.newJobTitle"] == 'Team \\"Blue\\" lead'
    assert events["a24"]["details.parameters{}.value"][1] == "M\u00fcller"


def test_detail_transform_ignores_key_value_text_inside_a_string():
    transform = conf("transforms")["ringcentral_audit_detail_key_value"]
    raw = json.dumps({"comment": '{"key":"evil","value":"x"}', "details": {"parameters": [{"key": "k", "value": "v"}]}},
                     separators=(",", ":"))
    assert apply_report(transform, {"_raw": raw}) == {"details.k": ["v"]}


def test_fields_read_by_aliases_evals_and_lookups_exist_in_samples():
    # A name the samples never carry is a typo or a field the API does not send.
    stanza = conf("props")[AUDIT]
    available: Set[str] = set(AUDIT_META) | {"_raw", "sourcetype"}
    for raw in audit_raws():
        available |= set(flatten_json(raw))
    for key, value in stanza.items():
        if key.startswith("FIELDALIAS-"):
            read = {source for source, _ in parse_fieldalias(value)}
        elif key.startswith("EVAL-"):
            read = spl_eval.referenced_fields(spl_eval.parse(value))
        elif key.startswith("LOOKUP-"):
            read = {event_field for _, event_field in parse_lookup_setting(value)[1]}
        else:
            continue
        assert read <= available, f"{key} reads {sorted(read - available)}"


def test_evals_use_supported_functions_and_quote_dotted_fields():
    for sourcetype, stanza in conf("props").items():
        for key, value in stanza.items():
            if not key.startswith("EVAL-"):
                continue
            tree = spl_eval.parse(value)
            assert spl_eval.called_functions(tree) <= spl_eval.SUPPORTED_FUNCTIONS, key
            unquoted = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "", value)
            assert not re.search(r"[A-Za-z_]\w*\.[A-Za-z_{]", unquoted), f"[{sourcetype}] {key}: unquoted dotted name"


def test_no_eval_reads_another_evals_output():
    for sourcetype, stanza in conf("props").items():
        outputs = {key[len("EVAL-"):] for key in stanza if key.startswith("EVAL-")}
        for key, value in stanza.items():
            if key.startswith("EVAL-"):
                assert not spl_eval.referenced_fields(spl_eval.parse(value)) & outputs, f"[{sourcetype}] {key}"


def test_no_es_only_fields_and_no_tag_field():
    stanza = conf("props")[AUDIT]
    produced = set()
    for key, value in stanza.items():
        if key.startswith("EVAL-"):
            produced.add(key[len("EVAL-"):])
        elif key.startswith("FIELDALIAS-"):
            produced |= {target for _, target in parse_fieldalias(value)}
        elif key.startswith("LOOKUP-"):
            produced |= {target for _, target in parse_lookup_setting(value)[3]}
    assert "tag" not in produced
    assert not [name for name in produced if cim.is_es_only(name)]
    assert not any(cim.is_es_only(column) for column in lookup_rows()[0])


# --------------------------------------------------------------------------------------------------
# The CIM values each sample gets, end to end (JSON -> transforms -> aliases -> evals -> lookup)
# --------------------------------------------------------------------------------------------------

AM, AC, AU = cim.ACCOUNT_MANAGEMENT, cim.ALL_CHANGES, cim.AUTHENTICATION
CHANGE_ET = ["ringcentral_audit_change"]
ACCOUNT_ET = ["ringcentral_audit_account_change", "ringcentral_audit_change"]
LOCKED_ET = ["ringcentral_audit_account_change", "ringcentral_audit_account_locked", "ringcentral_audit_change"]
LOGIN_ET = ["ringcentral_audit_authentication"]
FAILED_ET = ["ringcentral_audit_authentication", "ringcentral_audit_login_failed"]

# id suffix: (action, cim_dataset, object_category, user, src_user, src, object_id, event types)
EXPECTED = {
    "a01": ("modified", AM, "user", "Charlie Williams", "Alice Smith", "198.51.100.17", "402539302008", ACCOUNT_ET),
    "a02": ("modified", AM, "user", "Dana Lee", "Bob Jones", "198.51.100.17", "402539303008", ACCOUNT_ET),
    "a03": ("modified", AM, "user", "Grace Chen", "Grace Chen", "192.0.2.44", "402539306008", ACCOUNT_ET),
    "a04": ("modified", AM, "user", "Hiro Tanaka", "Alice Smith", "203.0.113.24", "402539307008", ACCOUNT_ET),
    "a05": ("success", AU, None, "Kwame Mensah", "Kwame Mensah", "192.0.2.81", "402539310008", LOGIN_ET),
    "a06": ("success", AU, None, "Alice Smith", "Alice Smith", "198.51.100.17", "402539300008", LOGIN_ET),
    "a07": ("failure", AU, None, "Hiro Tanaka", "Hiro Tanaka", "203.0.113.200", "402539307008", FAILED_ET),
    "a08": ("lockout", AM, "user", "Hiro Tanaka", "Hiro Tanaka", "203.0.113.200", "402539307008", LOCKED_ET),
    "a09": ("created", AM, "user", "Maya Singh", "Bob Jones", None, "402539312008", ACCOUNT_ET),
    "a10": ("deleted", AM, "user", "Julia Rossi", "Alice Smith", "203.0.113.24", "402539309008", ACCOUNT_ET),
    "a11": ("modified", AC, "setting", "Charlie Williams", "Charlie Williams", "203.0.113.24", "402539302008",
            CHANGE_ET),
    # Company-level targets: user is the admin who made the change, object_id is "0".
    "a12": ("modified", AC, "company", "Alice Smith", "Alice Smith", "203.0.113.24", "0", CHANGE_ET),
    "a13": ("modified", AC, "setting", "Alice Smith", "Alice Smith", "203.0.113.24", "0", CHANGE_ET),
    "a14": ("modified", AC, "template", "Bob Jones", "Bob Jones", "203.0.113.24", "600123456", CHANGE_ET),
    "a15": ("modified", AC, "setting", "Charlie Williams", "Alice Smith", "203.0.113.24", "402539302008",
            CHANGE_ET),
    # Unknown action ids: defaults from eventType, whatever its case; a custom eventType falls through.
    "a16": ("modified", AC, "other", "Dana Lee", "Bob Jones", "203.0.113.24", "402539303008", CHANGE_ET),
    "a17": ("created", AC, "other", "Alice Smith", "Alice Smith", "203.0.113.24", "0", CHANGE_ET),
    "a18": ("deleted", AC, "other", "Alice Smith", "Alice Smith", "203.0.113.24", "871836006", CHANGE_ET),
    "a19": ("modified", AC, "other", "Grace Chen", "Bob Jones", "203.0.113.24", "402539306008", CHANGE_ET),
    # Unpublished ids matched by pattern.
    "a20": ("failure", AU, None, "Dana Lee", "Dana Lee", "203.0.113.201", "402539303008", FAILED_ET),
    "a21": ("lockout", AM, "user", "Dana Lee", "Dana Lee", "203.0.113.201", "402539303008", LOCKED_ET),
    "a22": ("unlocked", AM, "user", "Dana Lee", "Alice Smith", "203.0.113.24", "402539303008", ACCOUNT_ET),
    "a23": ("modified", AC, "other", "Grace Chen", "Grace Chen", "203.0.113.24", "402539306008", CHANGE_ET),
    "a24": ("modified", AM, "user", "Lena M\u00fcller", "Bob Jones", "203.0.113.24", "402539311008", ACCOUNT_ET),
    "a25": ("modified", AM, "user", "Grace Chen", "Fatima Khan", "192.0.2.10", "402539306008", ACCOUNT_ET),
}


def test_expected_table_covers_every_sample():
    assert sorted(EXPECTED) == sorted(audit_events())


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_cim_values_of_each_sample(suffix):
    fields = audit_events()[suffix]
    action, dataset, category, user, src_user, src, object_id, names = EXPECTED[suffix]
    got = (
        fields.get("action"), fields.get("cim_dataset"), fields.get("object_category"), fields.get("user"),
        fields.get("src_user"), fields.get("src"), fields.get("object_id"), eventtypes().matching(fields),
    )
    assert got == (action, dataset, category, user, src_user, src, object_id, names)
    assert fields["command"] == fields["signature"] == fields["actionId"]
    assert fields["vendor_product"] == "RingCentral"
    assert fields["vendor_account"] == fields["accountId"]
    assert fields["dest"] == fields["dvc"] == "ringcentral:" + fields["accountId"]
    assert fields["status"] == "success"
    assert fields.get("result") == ("lockout" if action == "lockout" else None)
    record = json.loads(fields["_raw"])
    keys = [entry["key"] for entry in record.get("details", {}).get("parameters", [])]
    assert as_list(fields.get("object_attrs")) == list(dict.fromkeys(keys))


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_each_sample_meets_its_data_models_rules(suffix):
    fields = audit_events()[suffix]
    tags = frozenset(event_tags(fields))
    models = {cim.TAG_MODEL[t] for t in tags if t in cim.TAG_MODEL}
    assert len(models) == 1, f"{suffix} reaches {models}"
    datasets = cim.datasets_for_tags(tags)
    assert (fields.get("cim_dataset") == AU) == (datasets == (AU,))
    # object_category is "user" exactly when the event is tagged account.
    if "change" in tags:
        assert (fields.get("object_category") == "user") == ("account" in tags)
        assert fields["action"] in cim.CHANGE_ACTIONS
        assert fields["status"] in cim.STATUS_VALUES
    if "authentication" in tags:
        assert fields["action"] in cim.AUTHENTICATION_ACTIONS
    record = json.loads(fields["_raw"])
    # Fields the record cannot supply are absent rather than filled with placeholders.
    allowed_missing = set()
    if "clientIp" not in record:
        allowed_missing.add("src")
    if not record.get("details", {}).get("parameters"):
        allowed_missing.add("object_attrs")
    for name in cim.required_fields(datasets):
        values = as_list(fields.get(name))
        if name in allowed_missing:
            assert not values, f"{suffix}: {name} should be absent"
            continue
        assert values, f"{suffix}: required {name} missing"
        assert not set(values) & cim.PLACEHOLDERS, f"{suffix}: {name} = {values}"
    for name in cim.NO_QUOTES:
        assert not any('"' in v for v in as_list(fields.get(name))), f"{suffix}: {name} contains a quote"


def test_a_login_record_never_reaches_the_change_model():
    for fields in audit_events().values():
        if fields.get("cim_dataset") == AU:
            assert "change" not in event_tags(fields)


def test_collection_summary_fields():
    values = []
    for raw in read_lines(SAMPLES / "ringcentral_audit_collection.jsonl"):
        fields = search_time().extract(raw, COLLECTION, AUDIT_META)
        values.append((fields["input_name"], fields["status"], fields["gap_count"], fields.get("total_found")))
    assert values == [
        ("prod", "complete", "0", "14"),
        ("prod", "complete", "0", "2103"),
        ("prod", "partial", "2", "10000"),
        ("sandbox", "failed", "0", None),
    ]


def test_log_fields_that_alerts_and_dashboards_read():
    stanza = conf("props")[LOG]
    events = split_events((SAMPLES / "ta_audit_trail_log.txt").read_text(encoding="utf-8"), stanza["LINE_BREAKER"])
    fields = [search_time().extract(e, LOG, {"index": "_internal", "source": LOG_PATH}) for e in events]
    by_action = {f.get("action"): f for f in fields}
    assert by_action["events_ingested"]["input_name"] == "prod"
    assert by_action["events_ingested"]["n_events"] == "2100"
    assert by_action["window_complete"]["input_name"] == "prod"
    assert by_action["rate_limited"]["retry_after"] == "30.0"
    assert by_action["rate_limited"]["log_level"] == "WARNING"
    assert by_action["collection_failed"]["error"] == "RetriesExhausted: HTTP 429 CMN-301 after 3 retries"
    assert by_action["collection_failed"]["input_name"] == "sandbox"
    assert by_action["collection_failed"]["log_level"] == "ERROR"


@pytest.mark.parametrize(
    "line",
    [
        # solnlib 7's format, and the same line without the log_level= key (other solnlib releases).
        "2026-11-20 09:15:02,004 log_level=ERROR pid=1 tid=MainThread file=m.py:run:1 | input=p action=x",
        "2026-11-20 09:15:02,004 ERROR pid=1 tid=MainThread file=m.py:run:1 | input=p action=x",
    ],
)
def test_log_level_from_either_log_format(line):
    fields = search_time().extract(line, LOG, {"index": "_internal", "source": LOG_PATH})
    assert fields["log_level"] == "ERROR"
    assert fields["input_name"] == "p"


# --------------------------------------------------------------------------------------------------
# The action lookup
# --------------------------------------------------------------------------------------------------


@functools.cache
def lookup_rows() -> List[List[str]]:
    with (APP_ROOT / "lookups" / "ringcentral_audit_actions.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_lookup_columns_match_the_transform_and_the_automatic_lookup():
    header = lookup_rows()[0]
    transform = conf("transforms")["ringcentral_audit_actions"]
    assert transform["filename"] == "ringcentral_audit_actions.csv"
    assert transform["max_matches"] == "1"
    wildcard = re.findall(r"WILDCARD\((\w+)\)", transform["match_type"])
    assert set(wildcard) <= set(header)
    name, inputs, mode, outputs = parse_lookup_setting(conf("props")[AUDIT]["LOOKUP-ringcentral_audit_actions"])
    assert name == "ringcentral_audit_actions" and mode == "OUTPUT"
    assert [column for column, _ in inputs] == ["actionId", "eventType"] == wildcard
    assert [column for column, _ in inputs] + [column for column, _ in outputs] == header
    assert all(len(row) == len(header) for row in lookup_rows())


def test_lookup_rows_are_valid_cim_classifications():
    header, *rows = lookup_rows()
    for row in map(lambda r: dict(zip(header, r)), rows):
        assert row["cim_dataset"] in cim.DATASETS, row
        assert row["severity"] in ("informational", "low", "medium", "high", "critical"), row
        assert not any('"' in value for value in row.values()), row
        if row["cim_dataset"] == AU:
            assert row["action"] in cim.AUTHENTICATION_ACTIONS, row
            assert row["object_category"] == "", row
        else:
            assert row["action"] in cim.CHANGE_ACTIONS, row
            assert row["change_type"] and row["object_category"], row
            # object_category is "user" exactly for Account_Management (the account tag).
            assert (row["object_category"] == "user") == (row["cim_dataset"] == AM), row
        assert (row["result"] == "lockout") == (row["action"] == "lockout"), row


def test_every_exact_action_id_wins_over_the_patterns():
    table = search_time().lookup("ringcentral_audit_actions")
    for row in table.rows:
        if "*" not in row["actionId"]:
            for event_type in ("CREATE", "Update", "delete", "Custom"):
                assert table.first({"actionId": row["actionId"], "eventType": event_type}) is row


def test_lookup_has_a_row_for_every_brief_and_simulator_action_id():
    exact = {row["actionId"] for row in search_time().lookup("ringcentral_audit_actions").rows}
    assert set(BRIEF_ACTION_IDS) <= exact
    records = pytest.importorskip("sim.records")
    assert set(records.ACTION_IDS) <= exact


REVERSE_CORPUS = (
    "LOGIN_FAILED", "LOGIN_FAILURE", "FAILED_LOGIN", "LOGIN_UNSUCCESSFULLY", "LOGIN_SUCCESS", "ACCOUNT_LOCKED",
    "USER_LOCKED_OUT", "LOCKOUT_EXTENSION", "ACCOUNT_UNLOCKED", "UNLOCK_ACCOUNT", "CHANGE_BLOCKED_NUMBERS",
    "UNBLOCK_NUMBER", "CHANGE_CLOCK_FORMAT", "CHANGE_LOGIN_SETTINGS", "NEW_THING",
)


def test_reverse_lookup_agrees_with_first_match():
    # An event type term on a lookup output (cim_dataset="Authentication") is turned by Splunk into
    # "the inputs match some row with that output", not "the first matching row has it". For every id
    # we know or expect, both readings must select the same events.
    table = search_time().lookup("ringcentral_audit_actions")
    corpus = {row["actionId"] for row in table.rows if "*" not in row["actionId"]}
    corpus |= set(REVERSE_CORPUS) | {json.loads(raw)["actionId"] for raw in audit_raws()}
    selections = [("cim_dataset", AU), ("cim_dataset", AM), ("result", "lockout"), ("action", "failure")]
    for action_id in sorted(corpus):
        for event_type in ("Create", "UPDATE", "delete"):
            inputs = {"actionId": action_id, "eventType": event_type}
            first, every = table.first(inputs), table.matches(inputs, limit=0)
            for column, value in selections:
                assert (first[column] == value) == any(row[column] == value for row in every), (
                    f"{action_id}/{event_type}: {column}={value}"
                )


@pytest.mark.parametrize(
    ("action_id", "event_type", "action", "dataset"),
    [
        # Unpublished ids: plausible spellings, all by pattern.
        ("LOGIN_FAILED", "Create", "failure", AU),
        ("LOGIN_FAILURE", "CREATE", "failure", AU),
        ("FAILED_LOGIN", "Create", "failure", AU),
        ("LOGIN_UNSUCCESSFULLY", "Create", "failure", AU),
        ("login_failed", "create", "failure", AU),
        ("ACCOUNT_LOCKED", "UPDATE", "lockout", AM),
        ("USER_LOCKED_OUT", "Update", "lockout", AM),
        ("LOCKOUT_EXTENSION", "UPDATE", "lockout", AM),
        ("account_locked", "update", "lockout", AM),
        ("ACCOUNT_UNLOCKED", "UPDATE", "unlocked", AM),
        ("UNLOCK_ACCOUNT", "UPDATE", "unlocked", AM),
        ("LOGIN_SUCCESS", "Create", "success", AU),
        # Look-alikes that are not lockouts.
        ("CHANGE_BLOCKED_NUMBERS", "UPDATE", "modified", AC),
        ("UNBLOCK_NUMBER", "Delete", "deleted", AC),
        ("CHANGE_CLOCK_FORMAT", "UPDATE", "modified", AC),
        # Defaults from eventType, any case; anything else is "modified".
        ("NEW_THING", "Create", "created", AC),
        ("NEW_THING", "cReAtE", "created", AC),
        ("GONE_THING", "DELETE", "deleted", AC),
        ("ODD_THING", "Custom", "modified", AC),
    ],
)
def test_lookup_classifies_unknown_ids_by_pattern_and_event_type(action_id, event_type, action, dataset):
    row = search_time().lookup("ringcentral_audit_actions").first({"actionId": action_id, "eventType": event_type})
    assert (row["action"], row["cim_dataset"]) == (action, dataset)


# --------------------------------------------------------------------------------------------------
# Event types, tags and macros
# --------------------------------------------------------------------------------------------------


def test_every_eventtype_starts_from_the_index_macro():
    for name, settings in conf("eventtypes").items():
        assert settings["search"].startswith(MACRO), name
        assert 'sourcetype="ringcentral:audit"' in settings["search"], name


def test_index_macro_defaults_to_main():
    assert conf("macros")["ringcentral_audit_index"]["definition"] == "index=main"


def test_each_eventtype_maps_to_exactly_one_data_model():
    tags = conf("tags")
    for name in conf("eventtypes"):
        enabled = tags_for([name], tags)
        models = {cim.TAG_MODEL[t] for t in enabled if t in cim.TAG_MODEL}
        assert len(models) == 1, f"{name}: {models}"
    assert {stanza.split("=", 1)[1] for stanza in tags} == set(conf("eventtypes"))


def test_eventtypes_follow_the_index_macro():
    # Moving the data to another index must move every event type with it.
    fields = dict(audit_events()["a08"])
    assert eventtypes().matching(fields)
    fields["index"] = "ringcentral"
    assert eventtypes().matching(fields) == []
    macros = dict(conf("macros"))
    macros["ringcentral_audit_index"] = {"definition": "(index=ringcentral OR index=audit)"}
    assert EventTypes(conf("eventtypes"), macros).matching(fields) == LOCKED_ET


def test_eventtype_fields_exist_in_samples():
    produced: Set[str] = set()
    for fields in audit_events().values():
        produced |= set(fields)
    for name, used in eventtypes().fields_used.items():
        assert used <= produced, f"{name}: {sorted(used - produced)}"


def test_every_macro_a_search_uses_is_defined():
    macros = conf("macros")
    texts = [s["search"] for s in conf("eventtypes").values()]
    texts += [s["search"] for s in conf("savedsearches").values()]
    texts += [query for view in views() for _, query in view.searches()]
    used = {name for text in texts for name in re.findall(r"`([^`(]+)`", text)}
    assert used <= set(macros)
    assert set(macros) <= used, "macros nothing uses"


# --------------------------------------------------------------------------------------------------
# Saved searches
# --------------------------------------------------------------------------------------------------

ALERTS = (
    "RingCentral - Account locked",
    "RingCentral - Failed login burst",
    "RingCentral - Privileged role granted",
    "RingCentral - Audit collection gap or stalled input",
)


def _cron_minutes(cron: str) -> int:
    match = re.match(r"^\*/(\d+) \* \* \* \*$", cron)
    assert match, f"unexpected cron {cron!r}"
    return int(match.group(1))


def _relative_minutes(text: str) -> int:
    match = re.match(r"^-(\d+)m@m$", text)
    assert match, f"unexpected relative time {text!r}"
    return int(match.group(1))


def test_alerts_exist_ship_disabled_and_are_throttled():
    searches = conf("savedsearches")
    assert tuple(searches) == ALERTS
    for name, settings in searches.items():
        assert settings["disabled"] == "1", name
        assert settings["enableSched"] == "1", name
        assert _cron_minutes(settings["cron_schedule"]) in (5, 10, 15, 30), name
        assert settings["alert.suppress"] == "1", name
        assert re.match(r"^\d+[mhd]$", settings["alert.suppress.period"]), name
        assert settings["alert.digest_mode"] == "false", name  # per-result, so throttling is per field
        assert settings["counttype"] == "number of events" and settings["quantity"] == "0", name
        assert settings["description"], name


def test_alerts_use_the_index_macro_and_defined_eventtypes():
    for name, settings in conf("savedsearches").items():
        search = settings["search"]
        assert MACRO in search, name
        for eventtype in re.findall(r"eventtype=([\w]+)", search):
            assert eventtype in conf("eventtypes"), f"{name}: {eventtype}"


def test_alert_throttle_fields_are_in_the_results():
    for name, settings in conf("savedsearches").items():
        last_command = settings["search"].split("\n| ")[-1]
        produced = set(re.findall(r"\b(?:BY|AS|table)\s+([\w, ]+)", settings["search"]))
        names = {part for group in produced for part in re.split(r"[\s,]+", group) if part}
        for field in settings["alert.suppress.fields"].split(","):
            assert field.strip() in names, f"{name}: throttles on {field} it never outputs ({last_command})"


def test_record_alerts_select_by_index_time_without_gaps():
    # Records arrive late; each run must cover what was indexed since the previous run.
    for name, settings in conf("savedsearches").items():
        if "dispatch.index_earliest" not in settings:
            assert "collection" in name, name
            continue
        interval = _cron_minutes(settings["cron_schedule"])
        span = _relative_minutes(settings["dispatch.index_earliest"]) - _relative_minutes(
            settings["dispatch.index_latest"]
        )
        assert span >= interval, name
        assert settings["dispatch.earliest_time"] == "-7d@h", name


def test_lockout_and_failed_login_alerts_match_by_pattern_as_well():
    searches = conf("savedsearches")
    locked = searches["RingCentral - Account locked"]["search"]
    assert "eventtype=ringcentral_audit_account_locked" in locked and 'actionId="*_LOCK*"' in locked
    failed = searches["RingCentral - Failed login burst"]["search"]
    assert "eventtype=ringcentral_audit_login_failed" in failed and 'actionId="*UNSUCCESSFUL*"' in failed


def test_collection_alert_reads_the_summaries_and_the_add_on_log():
    search = conf("savedsearches")["RingCentral - Audit collection gap or stalled input"]["search"]
    assert f'sourcetype="{COLLECTION}"' in search
    assert f'index=_internal sourcetype="{LOG}"' in search
    for field in ("status", "gap_count", "lag_seconds", "input_name", "action", "error"):
        assert field in search


# --------------------------------------------------------------------------------------------------
# Dashboards and navigation
# --------------------------------------------------------------------------------------------------

DASHBOARD_IDS = {
    "ringcentral_audit_overview": (
        {
            "ds_changes_total", "ds_admins_total", "ds_locked_total", "ds_failed_logins_total",
            "ds_changes_over_time", "ds_changes_by_admin", "ds_changes_by_action", "ds_logins_over_time",
            "ds_locked_accounts", "ds_failed_logins", "ds_recent_changes",
        },
        {
            "viz_changes_total", "viz_admins_total", "viz_locked_total", "viz_failed_logins_total",
            "viz_changes_over_time", "viz_changes_by_admin", "viz_changes_by_action", "viz_logins_over_time",
            "viz_locked_accounts", "viz_failed_logins", "viz_recent_changes",
        },
    ),
    "ringcentral_collection_health": (
        {
            "ds_inputs_reporting", "ds_incomplete_windows", "ds_rate_limited_total", "ds_gaps_total",
            "ds_last_poll", "ds_lag_over_time", "ds_records_vs_total", "ds_window_mismatch",
            "ds_rate_limits_over_time", "ds_status_over_time", "ds_gaps", "ds_failures",
        },
        {
            "viz_inputs_reporting", "viz_incomplete_windows", "viz_rate_limited_total", "viz_gaps_total",
            "viz_last_poll", "viz_lag_over_time", "viz_records_vs_total", "viz_window_mismatch",
            "viz_rate_limits_over_time", "viz_status_over_time", "viz_gaps", "viz_failures",
        },
    ),
}


@functools.cache
def views() -> List[StudioView]:
    return [StudioView.read(path) for path in sorted(VIEWS.glob("*.xml"))]


def test_dashboards_are_studio_views_with_stable_ids():
    # Other tooling renders the views with sample rows keyed by data source id: renaming one breaks it.
    assert {view.name: (set(view.data_sources()), set(view.definition["visualizations"])) for view in views()} == (
        DASHBOARD_IDS
    )
    for view in views():
        assert view.root.tag == "dashboard"
        assert view.root.get("version") == "2" and view.root.get("theme") == "dark"
        assert view.root.findtext("label")


def test_every_dashboard_search_uses_the_macro_and_the_time_picker():
    for view in views():
        inputs = view.definition["inputs"]
        pickers = [i for i in inputs.values() if i["type"] == "input.timerange"]
        assert len(pickers) == 1 and pickers[0]["options"]["defaultValue"], view.name
        token = pickers[0]["options"]["token"]
        for ds_id, query in view.searches():
            assert MACRO in query, f"{view.name}/{ds_id}"
            parameters = view.data_sources()[ds_id]["options"]["queryParameters"]
            assert parameters == {"earliest": f"${token}.earliest$", "latest": f"${token}.latest$"}
        assert all(source["type"] == "ds.search" for source in view.data_sources().values()), view.name


def test_dashboard_references_resolve():
    for view in views():
        visualizations = view.definition["visualizations"]
        for viz_id, viz in visualizations.items():
            for ds_id in viz.get("dataSources", {}).values():
                assert ds_id in view.data_sources(), f"{view.name}/{viz_id} -> {ds_id}"
        placed = view.placed_items()
        assert sorted(placed) == sorted(visualizations), view.name
        layout = view.definition["layout"]
        assert set(layout["globalInputs"]) == set(view.definition["inputs"])
        for tab in layout["tabs"]["items"]:
            assert tab["layoutId"] in layout["layoutDefinitions"]
        # Every data source feeds a panel: an unused search still runs and costs.
        used = {ds for viz in visualizations.values() for ds in viz["dataSources"].values()}
        assert used == set(view.data_sources()), view.name


def test_dashboard_eventtypes_and_sourcetypes_exist():
    known_sourcetypes = {AUDIT, COLLECTION, LOG}
    for view in views():
        for ds_id, query in view.searches():
            for eventtype in re.findall(r"eventtype=(\w+)", query):
                assert eventtype in conf("eventtypes"), f"{view.name}/{ds_id}"
            for sourcetype in re.findall(r'sourcetype="([^"]+)"', query):
                assert sourcetype in known_sourcetypes, f"{view.name}/{ds_id}"


def test_navigation_lists_both_dashboards_and_search():
    import xml.etree.ElementTree as ET

    nav = ET.parse(DEFAULT_DIR / "data" / "ui" / "nav" / "default.xml").getroot()
    names = [view.get("name") for view in nav.iter("view")]
    assert names == ["ringcentral_audit_overview", "ringcentral_collection_health", "search"]
    for name in names[:2]:
        assert (VIEWS / f"{name}.xml").exists()


# --------------------------------------------------------------------------------------------------
# Documentation
# --------------------------------------------------------------------------------------------------


def test_search_time_doc_tables_match_the_confs():
    text = docgen.DOC.read_text(encoding="utf-8")
    assert docgen.document_blocks(text) == docgen.generated_blocks(), (
        "docs/search-time.md is stale: run  PYTHONPATH=tests python -m searchtime.docgen --write"
    )


def test_cim_table_lists_every_mapped_field_with_a_note():
    rows = docgen.field_sources(conf("props"))
    names = {name for name, _, _ in rows}
    assert {"action", "src", "src_user", "user", "object_id", "vendor_product", "command"} <= names
    assert names <= set(docgen.NOTES), sorted(names - set(docgen.NOTES))


def test_large_record_caveat_is_documented():
    # The large sample puts actionId beyond the 10240 characters automatic extraction reads by default;
    # while records look like that, the documentation must tell admins how to raise the limit.
    offsets = [raw.find('"actionId"') for raw in audit_raws()]
    assert max(offsets) > 10240
    text = docgen.DOC.read_text(encoding="utf-8")
    assert "[kv] maxchars" in text


def test_search_time_doc_names_what_it_must():
    text = docgen.DOC.read_text(encoding="utf-8")
    for needle in (
        *ALERTS, "RingCentral Audit Overview", "Collection Health", "ringcentral_audit_index",
        AUDIT, COLLECTION, LOG, "UNCONFIRMED", "LOGIN_FAILED", "ACCOUNT_LOCKED", "*_LOCK*", "*UNSUCCESSFUL*",
        *conf("eventtypes"),
    ):
        assert needle in text, needle


def test_macro_expansion_in_eventtypes_is_checked():
    # The evaluator must refuse what it cannot evaluate, or the event type checks above could pass vacuously.
    with pytest.raises(ValueError, match="undefined macro"):
        expand_macros("`nope` x=1", {})
    with pytest.raises(ValueError, match="pipes"):
        EventTypes({"bad": {"search": "x=1 | stats count"}}, {})
