"""Search-time knowledge of TA-audit-trail: props, transforms, the action lookups, event types, tags,
macros, saved searches, permissions, navigation and dashboards, checked against the sample events.

No Splunk is needed: tests/searchtime emulates the parts of Splunk's search-time pipeline the add-on
relies on (regex extractions, KV_MODE json with its extraction cutoff, calculated fields, wildcard lookups,
event types and the searches in front of an alert's first pipe).
"""

from __future__ import annotations

import csv
import functools
import json
import re
import xml.etree.ElementTree as ET  # the app's own files; no untrusted XML here
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Set

import pytest
from searchtime import cim, spl_eval
from searchtime.conf import APP_ROOT, DEFAULT_DIR, default_conf, hygiene_problems, read_conf
from searchtime.lookup import parse_lookup_setting
from searchtime.pipeline import (
    SPATH_EXTRACTION_CUTOFF,
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

SAMPLES = APP_ROOT / "tests" / "samples"
AUDIT = "ringcentral:audit"
COLLECTION = "ringcentral:audit:collection"
COLLECTIONS = ("ringcentral:audit:collection", "liveperson:audit:collection", "resolver:audit:collection")
LOG = "ta:audit_trail:log"
MACRO = "`ringcentral_audit_index`"
INDEX_MACROS = ("ringcentral_audit_index", "liveperson_audit_index", "resolver_audit_index")
LOG_PATH = "/opt/splunk/var/log/splunk/ta_audit_trail_ringcentral_audit.log"
AUDIT_META = {"index": "main", "source": "ringcentral_audit://prod", "host": "hf1"}
CONF_FILES = ("props", "transforms", "eventtypes", "tags", "macros", "savedsearches")

# Action ids the brief names (known, and the simulator's guesses).
BRIEF_ACTION_IDS = (
    "CHANGE_USER_ROLE", "CHANGE_SECRET_INFO", "CHANGE_USER_INFO", "LOGIN_SUCCESSFULLY", "LOGIN_FAILED",
    "ACCOUNT_LOCKED", "CREATE_EXTENSION", "DELETE_EXTENSION", "CHANGE_CALL_HANDLING_RULES", "CHANGE_COMPANY_INFO",
)
# The only RingCentral action ids public sources confirm.
PUBLISHED_ACTION_IDS = {"CHANGE_USER_ROLE", "CHANGE_SECRET_INFO", "CHANGE_USER_INFO", "LOGIN_SUCCESSFULLY"}


# --------------------------------------------------------------------------------------------------
# Loading (cached: every test reads the same files)
# --------------------------------------------------------------------------------------------------


@functools.cache
def conf(name: str) -> Dict[str, Dict[str, str]]:
    return default_conf(name)


@functools.cache
def search_time() -> SearchTime:
    """Splunk's defaults: automatic JSON extraction stops at 5,000 bytes."""
    return SearchTime(conf("props"), conf("transforms"), APP_ROOT / "lookups")


@functools.cache
def search_time_whole_events() -> SearchTime:
    """A search head whose extraction limits were raised past every sample."""
    return SearchTime(conf("props"), conf("transforms"), APP_ROOT / "lookups", json_cutoff_bytes=None,
                      kv_maxchars=None)


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
        events[json.loads(raw)["id"][-3:]] = fields
    return events


def event_tags(fields: Dict) -> Set[str]:
    return tags_for(eventtypes().matching(fields), conf("tags"))


def as_list(value: object) -> List[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [str(value)]


def produced_fields(stanza: Dict[str, str]) -> Set[str]:
    """Every field a props stanza creates: extractions, aliases, calculated fields and lookup outputs."""
    produced: Set[str] = set()
    for key, value in stanza.items():
        if key.startswith("EXTRACT-"):
            produced |= set(re.findall(r"\(\?P?<([A-Za-z_]\w*)>", value))
        elif key.startswith("REPORT-"):
            for name in (part.strip() for part in value.split(",")):
                produced |= set(re.findall(r"(?:^|\s)([\w.{}]+)::", conf("transforms")[name].get("FORMAT", "")))
        elif key.startswith("EVAL-"):
            produced.add(key[len("EVAL-"):])
        elif key.startswith("FIELDALIAS-"):
            produced |= {target for _, target in parse_fieldalias(value)}
        elif key.startswith("LOOKUP-"):
            produced |= {target for _, target in parse_lookup_setting(value)[3]}
    return produced


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
    # Earlier builds escaped non-ASCII text (\u00fc); the input now writes UTF-8. Both are in indexes.
    forms = set()
    for raw in audit_raws():
        record = json.loads(raw)
        ascii_form = json.dumps(record, separators=(",", ":"))
        utf8_form = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        assert raw in (ascii_form, utf8_form)
        if ascii_form != utf8_form:
            forms.add(raw == utf8_form)
    assert forms == {True, False}


def test_audit_samples_cover_the_cases_the_brief_lists():
    records = [json.loads(raw) for raw in audit_raws()]
    action_ids = {r["actionId"] for r in records}
    assert set(BRIEF_ACTION_IDS) <= action_ids
    event_types = {r.get("eventType") for r in records}
    assert {"UPDATE", "Update", "update", "Create", "CREATE", "create", "DELETE", "Delete", None} <= event_types
    assert any(r.get("target", {}).get("objectId") == "0" for r in records)
    assert any("clientIp" not in r for r in records)
    assert any(len(r.get("details", {}).get("parameters", [])) > 100 for r in records)
    # Key order differs between records, as in real responses.
    assert len({tuple(r)[:3] for r in records}) > 1


def test_large_samples_cover_both_key_orders_and_both_limits():
    """Records as earlier builds wrote them (details first) past each limit, and one in the new order."""
    offsets = {json.loads(raw)["id"][-3:]: len(raw[:raw.find('"actionId"')].encode()) for raw in audit_raws()}
    sizes = {json.loads(raw)["id"][-3:]: len(raw.encode()) for raw in audit_raws()}
    # actionId past the 5,000-byte JSON cutoff but inside [kv] maxchars: only extraction_cutoff explains it.
    assert SPATH_EXTRACTION_CUTOFF < offsets["a27"] < 10240
    assert offsets["a15"] > 10240
    assert sizes["a28"] > 10240 and offsets["a28"] < 200


def test_audit_samples_cover_every_simulator_action_id():
    records = pytest.importorskip("sim.records")
    sampled = {json.loads(raw)["actionId"] for raw in audit_raws()}
    assert set(records.ACTION_IDS) <= sampled


SUMMARY_KEYS = {
    "input", "source_type", "status", "window_from", "window_to", "pages", "requests", "records_emitted",
    "total_found", "duplicates_dropped", "malformed_records", "retries", "rate_limited",
    "rate_limit_wait_seconds", "gaps", "lag_seconds", "duration_seconds",
}


@pytest.mark.parametrize("sourcetype", COLLECTIONS)
def test_collection_samples_carry_the_summary_contract(sourcetype):
    statuses = set()
    vendor = sourcetype.split(":")[0]
    for raw in read_lines(SAMPLES / f"{vendor}_audit_collection.jsonl"):
        summary = json.loads(raw)
        assert set(summary) >= SUMMARY_KEYS, SUMMARY_KEYS - set(summary)
        assert set(summary) - SUMMARY_KEYS <= {"error", "batches"}
        assert summary["source_type"] == vendor
        assert ("error" in summary) == (summary["status"] != "complete")
        statuses.add(summary["status"])
        for gap in summary["gaps"]:
            assert gap["reason"] in ("retention", "record_cap")
    assert statuses == {"complete", "partial", "failed"} - ({"partial"} if vendor == "resolver" else set())


# --------------------------------------------------------------------------------------------------
# props.conf, index time: one record per event, never truncated, _time equal to the record's time
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


@pytest.mark.parametrize("sourcetype", COLLECTIONS)
def test_collection_summary_time_comes_from_the_input(sourcetype):
    stanza = conf("props")[sourcetype]
    assert stanza["DATETIME_CONFIG"] == "NONE"
    assert stanza["KV_MODE"] == "json"
    path = SAMPLES / f"{sourcetype.split(':')[0]}_audit_collection.jsonl"
    lines = list(read_lines(path))
    assert split_events("\n".join(lines), stanza["LINE_BREAKER"]) == lines


def test_collection_stanzas_are_identical_but_for_their_description():
    stanzas = [{k: v for k, v in conf("props")[st].items() if k != "description"} for st in COLLECTIONS]
    assert stanzas[0] == stanzas[1] == stanzas[2]


@pytest.mark.parametrize("vendor", ["ringcentral", "liveperson", "resolver"])
def test_log_file_gets_the_add_on_log_sourcetype(vendor):
    path = f"/opt/splunk/var/log/splunk/ta_audit_trail_{vendor}_audit.log"
    assert sourcetype_for_source(conf("props"), path) == LOG
    assert sourcetype_for_source(conf("props"), path + ".1") == LOG
    assert sourcetype_for_source(conf("props"), "/opt/splunk/var/log/splunk/splunkd.log") is None
    assert not source_glob_to_regex("...ta_audit_trail*.log*").match("/var/log/other_ta_audit_trailx")
    line = "2026-11-20 09:15:02,004 log_level=ERROR pid=1 tid=MainThread file=m.py:run:1 | input=p action=x"
    fields = search_time().extract(line, LOG, {"index": "_internal", "source": path + ".1"})
    assert (fields["source_type"], fields["input_name"]) == (vendor, "p")


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

AUDIT_SOURCETYPES = ("ringcentral:audit", "liveperson:audit", "resolver:audit")
JSON_SOURCETYPES = (*AUDIT_SOURCETYPES, *COLLECTIONS)


@functools.cache
def sample_raws(sourcetype: str) -> List[str]:
    return list(read_lines(SAMPLES / f"{sourcetype.split(':')[0]}_audit.jsonl"))


SAMPLE_INPUTS = {"ringcentral": "prod", "liveperson": "brand_main", "resolver": "grc_prod"}


def sample_meta(sourcetype: str) -> Dict[str, str]:
    vendor = sourcetype.split(":")[0]
    return {"index": "main", "source": f"{vendor}_audit://{SAMPLE_INPUTS[vendor]}", "host": "hf1"}


@pytest.mark.parametrize("sourcetype", JSON_SOURCETYPES)
def test_kv_mode_json_is_not_combined_with_indexed_extractions(sourcetype):
    stanza = conf("props")[sourcetype]
    assert stanza["KV_MODE"] == "json"
    assert "INDEXED_EXTRACTIONS" not in stanza


def test_report_transforms_read_raw_not_json_fields():
    # REPORT runs before KV_MODE, so a SOURCE_KEY naming a JSON field would always be empty.
    for stanza in conf("props").values():
        for key, value in stanza.items():
            if key.startswith("REPORT-"):
                for name in value.split(","):
                    assert conf("transforms")[name.strip()].get("SOURCE_KEY", "_raw") == "_raw"


def test_every_transform_regex_compiles():
    for stanza in conf("transforms").values():
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


@pytest.mark.parametrize("sourcetype", AUDIT_SOURCETYPES)
def test_fields_read_by_evals_and_lookups_exist_in_samples(sourcetype):
    # A name the samples never carry (and no extraction makes) is a typo or a field the API does not send.
    stanza = conf("props")[sourcetype]
    available: Set[str] = set(AUDIT_META) | {"_raw", "sourcetype", "source"}
    for raw in sample_raws(sourcetype):
        available |= set(flatten_json(raw))
    available |= produced_fields(stanza)
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
    # An EVAL may read the field it replaces (it sees the value from before the EVAL step), never another.
    for sourcetype, stanza in conf("props").items():
        outputs = {key[len("EVAL-"):] for key in stanza if key.startswith("EVAL-")}
        for key, value in stanza.items():
            if key.startswith("EVAL-"):
                others = outputs - {key[len("EVAL-"):]}
                assert not spl_eval.referenced_fields(spl_eval.parse(value)) & others, f"[{sourcetype}] {key}"


@pytest.mark.parametrize("sourcetype", AUDIT_SOURCETYPES)
def test_no_es_only_fields_and_no_tag_field(sourcetype):
    produced = produced_fields(conf("props")[sourcetype])
    assert "tag" not in produced
    assert not [name for name in produced if cim.is_es_only(name)]


# --------------------------------------------------------------------------------------------------
# Point 3 of issue 14: automatic JSON extraction stops at 5,000 bytes; the CIM mapping must not
# --------------------------------------------------------------------------------------------------

RC_RAW_FIELDS = {
    "rc_action_id": "actionId", "rc_event_type": "eventType", "rc_account_id": "accountId",
    "rc_client_ip": "clientIp", "rc_initiator_name": "initiator.name",
    "rc_initiator_extension_id": "initiator.extensionId", "rc_initiator_role": "initiator.role",
    "rc_target_name": "target.name", "rc_target_object_id": "target.objectId",
    "rc_target_object_type": "target.objectType", "rc_target_extension_number": "target.extensionNumber",
}


def test_raw_fallbacks_cover_every_field_the_mapping_reads():
    stanza = conf("props")[AUDIT]
    extracted = {name for key, value in stanza.items() if key.startswith("EXTRACT-")
                 for name in re.findall(r"\(\?<(\w+)>", value)}
    assert extracted == set(RC_RAW_FIELDS)
    json_read: Set[str] = set()
    for key, value in stanza.items():
        if key.startswith("EVAL-"):
            json_read |= {name for name in spl_eval.referenced_fields(spl_eval.parse(value)) if name[0].islower()
                          and not name.startswith("rc_") and name != "source"}
    # Every JSON field an EVAL reads has its _raw twin next to it.
    assert json_read <= set(RC_RAW_FIELDS.values()), json_read - set(RC_RAW_FIELDS.values())


def test_raw_fallbacks_give_the_json_text_of_the_same_member():
    for raw in audit_raws():
        record_fields = flatten_json(raw)
        fields = search_time_whole_events().extract(raw, AUDIT, AUDIT_META)
        for raw_name, json_name in RC_RAW_FIELDS.items():
            # The JSON text as it stands in _raw, whichever way the writer escaped it.
            expected = [json.dumps(v, ensure_ascii=json.dumps(v, ensure_ascii=False)[1:-1] not in raw)[1:-1]
                        for v in record_fields.get(json_name, [])]
            assert as_list(_pre_eval(raw, raw_name)) == expected, (json.loads(raw)["id"], raw_name)
        assert fields["rc_action_key"] == json.loads(raw)["actionId"]


def _pre_eval(raw: str, name: str):
    st = search_time()
    fields = {"_raw": raw}
    st._extract(fields, AUDIT)
    return fields.get(name)


def test_raw_fallback_for_a_name_is_anchored_on_its_object():
    raw = json.dumps({"target": {"objectType": "Extension", "name": "T"}, "initiator": {"role": "R", "name": "I"}},
                     separators=(",", ":"))
    assert (_pre_eval(raw, "rc_initiator_name"), _pre_eval(raw, "rc_target_name")) == ("I", "T")


@pytest.mark.parametrize("suffix", ["a15", "a27"])
def test_large_records_lose_json_fields_past_the_cutoff(suffix):
    # The emulation must reproduce the problem, or the next test proves nothing.
    fields = audit_events()[suffix]
    assert "actionId" not in fields and "initiator.name" not in fields


def test_cim_fields_do_not_depend_on_how_far_json_extraction_reads():
    names = sorted(produced_fields(conf("props")[AUDIT]) | {"cim_dataset"})
    for raw in audit_raws():
        cut = search_time().extract(raw, AUDIT, AUDIT_META)
        whole = search_time_whole_events().extract(raw, AUDIT, AUDIT_META)
        for name in names:
            assert cut.get(name) == whole.get(name), (json.loads(raw)["id"], name)
        assert eventtypes().matching(cut) == eventtypes().matching(whole)


AU_ = cim.AUTHENTICATION


def test_a_record_without_event_type_still_matches_the_lookup():
    fields = audit_events()["a26"]
    assert "eventType" not in json.loads(fields["_raw"])
    assert (fields["rc_event_type_key"], fields["action"], fields["cim_dataset"]) == ("none", "success", AU_)


# --------------------------------------------------------------------------------------------------
# The CIM values each sample gets, end to end (JSON -> extractions -> evals -> lookup -> event types)
# --------------------------------------------------------------------------------------------------

AM, AC, AU = cim.ACCOUNT_MANAGEMENT, cim.ALL_CHANGES, cim.AUTHENTICATION
CHANGE_ET = ["ringcentral_audit_change"]
ACCOUNT_ET = ["ringcentral_audit_account_change", "ringcentral_audit_change"]
LOCKED_ET = ["ringcentral_audit_account_change", "ringcentral_audit_account_locked", "ringcentral_audit_change"]
LOGIN_ET = ["ringcentral_audit_authentication"]
ADMIN_LOGIN_ET = ["ringcentral_audit_authentication", "ringcentral_audit_privileged_authentication"]
FAILED_ET = ["ringcentral_audit_authentication", "ringcentral_audit_login_failed"]

# id suffix: (action, cim_dataset, object_category, user, src_user, src, object_id, event types)
EXPECTED = {
    "a01": ("modified", AM, "user", "Charlie Williams", "Alice Smith", "198.51.100.17", "402539302008", ACCOUNT_ET),
    "a02": ("modified", AM, "user", "Dana Lee", "Bob Jones", "198.51.100.17", "402539303008", ACCOUNT_ET),
    "a03": ("modified", AM, "user", "Grace Chen", "Grace Chen", "192.0.2.44", "402539306008", ACCOUNT_ET),
    "a04": ("modified", AM, "user", "Hiro Tanaka", "Alice Smith", "203.0.113.24", "402539307008", ACCOUNT_ET),
    "a05": ("success", AU, None, "Kwame Mensah", "Kwame Mensah", "192.0.2.81", "402539310008", LOGIN_ET),
    "a06": ("success", AU, None, "Alice Smith", "Alice Smith", "198.51.100.17", "402539300008", ADMIN_LOGIN_ET),
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
    # A login without eventType still classified; large records either way round; a lockout *policy*.
    "a26": ("success", AU, None, "Kwame Mensah", "Kwame Mensah", "192.0.2.81", "402539310008", LOGIN_ET),
    "a27": ("modified", AM, "user", "Ivan Petrov", "Alice Smith", "203.0.113.24", "402539308008", ACCOUNT_ET),
    "a28": ("modified", AC, "setting", "Julia Rossi", "Alice Smith", "203.0.113.24", "402539309008", CHANGE_ET),
    "a29": ("modified", AC, "other", "Alice Smith", "Alice Smith", "203.0.113.24", "0", CHANGE_ET),
    "a30": ("lockout", AM, "user", "Kwame Mensah", "Kwame Mensah", "203.0.113.202", "402539310008", LOCKED_ET),
    # Written as the input writes now: UTF-8 text, details last.
    "a31": ("modified", AM, "user", "Zo\u00eb \u00c5ngstr\u00f6m", "Lena M\u00fcller", "203.0.113.24",
            "402539313008", ACCOUNT_ET),
}


def test_expected_table_covers_every_sample():
    assert sorted(EXPECTED) == sorted(audit_events())


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_cim_values_of_each_sample(suffix):
    fields = audit_events()[suffix]
    record = json.loads(fields["_raw"])
    action, dataset, category, user, src_user, src, object_id, names = EXPECTED[suffix]
    got = (
        fields.get("action"), fields.get("cim_dataset"), fields.get("object_category"), fields.get("user"),
        fields.get("src_user"), fields.get("src"), fields.get("object_id"), eventtypes().matching(fields),
    )
    assert got == (action, dataset, category, user, src_user, src, object_id, names)
    assert fields["command"] == fields["signature"] == record["actionId"]
    assert fields["vendor_product"] == "RingCentral"
    assert fields["vendor_account"] == record["accountId"]
    assert fields["dest"] == fields["dvc"] == "ringcentral:" + record["accountId"]
    assert fields["status"] == "success"
    assert fields["input_name"] == "prod"
    assert fields.get("result") == ("lockout" if action == "lockout" else None)
    keys = [entry["key"] for entry in record.get("details", {}).get("parameters", [])]
    assert as_list(fields.get("object_attrs")) == list(dict.fromkeys(keys))


@pytest.mark.parametrize("suffix", sorted(EXPECTED))
def test_identity_fields_are_the_stable_ids_and_the_role(suffix):
    fields = audit_events()[suffix]
    record = json.loads(fields["_raw"])
    initiator, target = record["initiator"], record["target"]
    assert fields["src_user_id"] == initiator["extensionId"]
    assert fields["src_user_type"] == initiator["role"]
    on_extension = target["objectType"].lower() == "extension"
    assert fields["user_id"] == (target["objectId"] if on_extension else initiator["extensionId"])


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
    if "privileged" in tags:
        assert fields["src_user"]
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


def test_privileged_logins_are_admin_roles_only():
    privileged = {s for s, f in audit_events().items() if "privileged" in event_tags(f)}
    assert privileged == {s for s, f in audit_events().items()
                          if f.get("cim_dataset") == AU and "admin" in f["src_user_type"].lower()}
    assert privileged == {"a06"}


@pytest.mark.parametrize("sourcetype", COLLECTIONS)
def test_collection_summary_fields(sourcetype):
    vendor = sourcetype.split(":")[0]
    values = []
    for raw in read_lines(SAMPLES / f"{vendor}_audit_collection.jsonl"):
        fields = search_time().extract(raw, sourcetype, {"index": "main", "source": f"{vendor}_audit://x"})
        values.append((fields["input_name"], fields["status"], fields["gap_count"], fields.get("total_found")))
    expected = {
        "ringcentral": [("prod", "complete", "0", "14"), ("prod", "complete", "0", "2103"),
                        ("prod", "partial", "2", "10000"), ("sandbox", "failed", "0", None)],
        "liveperson": [("brand_main", "complete", "0", None), ("brand_main", "partial", "1", None),
                       ("brand_test", "failed", "0", None)],
        "resolver": [("grc_prod", "complete", "0", None), ("grc_prod", "complete", "0", None),
                     ("grc_prod", "failed", "0", None)],
    }[vendor]
    assert values == expected


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
    assert {f["source_type"] for f in fields} == {"ringcentral"}


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
# The RingCentral action lookup
# --------------------------------------------------------------------------------------------------

CLASSIFIED_BY = {"published", "confirmed", "guess", "pattern", "event_type", "catch_all"}


def lookup_rows(name: str = "ringcentral_audit_actions") -> List[List[str]]:
    with (APP_ROOT / "lookups" / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
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
    # The keys are the calculated rc_* fields, which exist even when the record lacks the member.
    assert [field for _, field in inputs] == ["rc_action_key", "rc_event_type_key"]
    assert [column for column, _ in inputs] + [column for column, _ in outputs] == header
    assert all(len(row) == len(header) for row in lookup_rows())


def test_lookup_rows_are_valid_cim_classifications():
    header, *rows = lookup_rows()
    for row in (dict(zip(header, r)) for r in rows):
        assert row["cim_dataset"] in cim.DATASETS, row
        assert row["severity"] in ("informational", "low", "medium", "high", "critical"), row
        assert row["classified_by"] in CLASSIFIED_BY, row
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


def test_lookup_marks_which_rows_are_guesses():
    header, *rows = lookup_rows()
    for row in (dict(zip(header, r)) for r in rows):
        wildcard_id, wildcard_type = "*" in row["actionId"], "*" in row["eventType"] and row["eventType"] != "*"
        expected = (
            "catch_all" if row["actionId"] == "*" and row["eventType"] == "*"
            else "event_type" if row["actionId"] == "*"
            else "pattern" if wildcard_id or wildcard_type
            else "published" if row["actionId"] in PUBLISHED_ACTION_IDS
            else "guess"
        )
        assert row["classified_by"] == expected, row
    # Every lockout and failed-login row is a guess or a pattern: RingCentral publishes neither id.
    assert {dict(zip(header, r))["classified_by"] for r in rows if dict(zip(header, r))["action"] in
            ("lockout", "failure")} == {"guess", "pattern"}


def test_every_exact_action_id_wins_over_the_patterns():
    table = search_time().lookup("ringcentral_audit_actions")
    for row in table.rows:
        if "*" not in row["actionId"]:
            for event_type in ("CREATE", "Update", "delete", "Custom", "none"):
                assert table.first({"actionId": row["actionId"], "eventType": event_type}) is row


def test_lookup_has_a_row_for_every_brief_and_simulator_action_id():
    exact = {row["actionId"] for row in search_time().lookup("ringcentral_audit_actions").rows}
    assert set(BRIEF_ACTION_IDS) <= exact
    records = pytest.importorskip("sim.records")
    assert set(records.ACTION_IDS) <= exact


LOCKOUT_LIKE = ("ACCOUNT_LOCKED", "EXTENSION_LOCKED", "USER_LOCKED_OUT", "LOCK_EXTENSION", "LOCKOUT_EXTENSION",
                "LOCKED_USER", "LOCK_ACCOUNT")
# Settings and look-alikes that mention locks or logins but are no lockout and no login.
NOT_LOCKOUTS = ("CHANGE_LOCKOUT_POLICY", "UPDATE_ACCOUNT_LOCKOUT_SETTINGS", "LOCKOUT_POLICY_CHANGED",
                "CHANGE_LOCK_SETTINGS", "SET_SCREEN_LOCK_POLICY", "LOCKOUT_ACCOUNT_SETTINGS", "CHANGE_BLOCKED_NUMBERS",
                "UNBLOCK_NUMBER", "CHANGE_CLOCK_FORMAT", "BLOCK_CALLER", "CLOCK_IN")
NOT_LOGINS = ("CHANGE_LOGIN_SETTINGS", "LOGIN_FAILURE_POLICY_CHANGED", "CHANGE_LOGIN_POLICY", "FAILOVER_NUMBER_SET",
              "UNSUCCESSFUL_CALL_REPORT")
REVERSE_CORPUS = (
    "LOGIN_FAILED", "LOGIN_FAILURE", "FAILED_LOGIN", "LOGIN_UNSUCCESSFULLY", "LOGIN_SUCCESS", "ACCOUNT_UNLOCKED",
    "UNLOCK_ACCOUNT", "NEW_THING", *LOCKOUT_LIKE, *NOT_LOCKOUTS, *NOT_LOGINS,
)


def test_reverse_lookup_agrees_with_first_match():
    # An event type term on a lookup output (cim_dataset="Authentication") is turned by Splunk into
    # "the inputs match some row with that output", not "the first matching row has it". For every id
    # we know or expect, both readings must select the same events.
    table = search_time().lookup("ringcentral_audit_actions")
    corpus = {row["actionId"] for row in table.rows if "*" not in row["actionId"]}
    corpus |= set(REVERSE_CORPUS) | {json.loads(raw)["actionId"] for raw in audit_raws()}
    selections = [("cim_dataset", AU), ("cim_dataset", AM), ("result", "lockout"), ("action", "failure"),
                  ("classified_by", "published"), ("classified_by", "confirmed")]
    for action_id in sorted(corpus):
        for event_type in ("Create", "UPDATE", "delete", "none"):
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
        ("ACCOUNT_UNLOCKED", "UPDATE", "unlocked", AM),
        ("UNLOCK_ACCOUNT", "UPDATE", "unlocked", AM),
        ("LOGIN_SUCCESS", "Create", "success", AU),
        ("LOGIN_SUCCESSFULLY", "none", "success", AU),
        # Defaults from eventType, any case; anything else (or no eventType) is "modified".
        ("NEW_THING", "Create", "created", AC),
        ("NEW_THING", "cReAtE", "created", AC),
        ("GONE_THING", "DELETE", "deleted", AC),
        ("ODD_THING", "Custom", "modified", AC),
        ("ODD_THING", "none", "modified", AC),
        ("none", "none", "modified", AC),
    ],
)
def test_lookup_classifies_unknown_ids_by_pattern_and_event_type(action_id, event_type, action, dataset):
    row = search_time().lookup("ringcentral_audit_actions").first({"actionId": action_id, "eventType": event_type})
    assert (row["action"], row["cim_dataset"]) == (action, dataset)


@pytest.mark.parametrize("action_id", LOCKOUT_LIKE)
def test_lockout_patterns_catch_lockout_spellings(action_id):
    row = search_time().lookup("ringcentral_audit_actions").first({"actionId": action_id, "eventType": "UPDATE"})
    assert (row["action"], row["result"]) == ("lockout", "lockout")


@pytest.mark.parametrize("action_id", NOT_LOCKOUTS + NOT_LOGINS)
def test_settings_and_look_alikes_are_neither_lockouts_nor_logins(action_id):
    # A lockout-policy change raising "Account locked" would teach admins to ignore the alert.
    row = search_time().lookup("ringcentral_audit_actions").first({"actionId": action_id, "eventType": "UPDATE"})
    assert row["action"] not in ("lockout", "unlocked", "success", "failure"), row
    assert row["cim_dataset"] == AC


# --------------------------------------------------------------------------------------------------
# Event types, tags and macros (point 1 of issue 14)
# --------------------------------------------------------------------------------------------------


def test_eventtypes_match_on_sourcetype_alone():
    # CIM, Enterprise Security and the data models must see the events before anyone edits a macro.
    for name, settings in conf("eventtypes").items():
        search = settings["search"]
        assert re.match(r'^sourcetype="[a-z:]+"', search), name
        assert "`" not in search and not re.search(r"\bindex\s*=", search), name


def test_eventtypes_match_in_any_index():
    fields = dict(audit_events()["a08"])
    for index in ("main", "ringcentral", "audit", "some_other_index"):
        fields["index"] = index
        assert eventtypes().matching(fields) == LOCKED_ET


@pytest.mark.parametrize("name", INDEX_MACROS)
def test_index_macros_default_to_main(name):
    assert conf("macros")[name]["definition"] == "index=main"


def test_summaries_macro_searches_each_source_in_its_own_index_macro():
    definition = conf("macros")["audit_trail_summaries"]["definition"]
    for vendor, collection in zip(("ringcentral", "liveperson", "resolver"), COLLECTIONS):
        assert f'(`{vendor}_audit_index` sourcetype="{collection}")' in definition


def test_each_eventtype_maps_to_exactly_one_data_model():
    tags = conf("tags")
    for name in conf("eventtypes"):
        enabled = tags_for([name], tags)
        models = {cim.TAG_MODEL[t] for t in enabled if t in cim.TAG_MODEL}
        assert len(models) == 1, f"{name}: {models}"
    assert {stanza.split("=", 1)[1] for stanza in tags} == set(conf("eventtypes"))


def test_eventtype_fields_exist_in_samples():
    produced: Set[str] = set()
    for fields in audit_events().values():
        produced |= set(fields)
    for name, used in eventtypes().fields_used.items():
        if name.startswith("ringcentral"):
            assert used <= produced, f"{name}: {sorted(used - produced)}"


def test_every_macro_a_search_uses_is_defined():
    macros = conf("macros")
    texts = [s["search"] for s in conf("eventtypes").values()]
    texts += [s["search"] for s in conf("savedsearches").values()]
    texts += [s["definition"] for s in macros.values()]
    texts += [query for view in views() for _, query in view.searches()]
    used = {name for text in texts for name in re.findall(r"`([^`(]+)`", text)}
    assert used <= set(macros)
    assert set(macros) <= used, "macros nothing uses"


def test_macro_expansion_in_eventtypes_is_checked():
    # The evaluator must refuse what it cannot evaluate, or the event type checks above could pass vacuously.
    with pytest.raises(ValueError, match="undefined macro"):
        expand_macros("`nope` x=1", {})
    with pytest.raises(ValueError, match="pipes"):
        EventTypes({"bad": {"search": "x=1 | stats count"}}, {})


# --------------------------------------------------------------------------------------------------
# Saved searches (points 2, 5 and 10 of issue 14)
# --------------------------------------------------------------------------------------------------

RC_ALERTS = (
    "RingCentral - Account locked",
    "RingCentral - Failed login burst",
    "RingCentral - Privileged role granted",
    "LivePerson - Change by LivePerson staff",
    "LivePerson - Administrator profile granted",
    "LivePerson - Password or API key changed",
    "Resolver - Administrator or All Access granted",
    "Resolver - API key created",
    "Resolver - Impersonation refused",
)
COLLECTION_ALERT = "Audit Trail - Collection gap or stalled input"
REPORTS = ("RingCentral - Unclassified action ids", "LivePerson - Unclassified changes",
           "Resolver - Unclassified events")


def alerts() -> Dict[str, Dict[str, str]]:
    return {name: s for name, s in conf("savedsearches").items() if s.get("enableSched") == "1"}


def record_alerts() -> Dict[str, Dict[str, str]]:
    return {name: s for name, s in alerts().items() if name != COLLECTION_ALERT}


def _cron_minutes(cron: str) -> int:
    match = re.match(r"^\*/(\d+) \* \* \* \*$", cron)
    assert match, f"unexpected cron {cron!r}"
    return int(match.group(1))


def _relative_minutes(text: str) -> int:
    match = re.match(r"^-(\d+)m@m$", text)
    assert match, f"unexpected relative time {text!r}"
    return int(match.group(1))


def _period_minutes(text: str) -> int:
    number, unit = re.match(r"^(\d+)([mhd])$", text).groups()
    return int(number) * {"m": 1, "h": 60, "d": 1440}[unit]


def test_saved_searches_are_the_alerts_and_reports_we_document():
    assert set(RC_ALERTS) | {COLLECTION_ALERT} <= set(alerts())
    assert set(REPORTS) <= set(conf("savedsearches")) - set(alerts())


def test_alerts_ship_disabled_and_are_throttled():
    for name, settings in alerts().items():
        assert settings["disabled"] == "1", name
        assert _cron_minutes(settings["cron_schedule"]) in (5, 10, 15, 30), name
        assert settings["alert.suppress"] == "1", name
        assert re.match(r"^\d+[mhd]$", settings["alert.suppress.period"]), name
        assert settings["alert.digest_mode"] == "false", name  # per-result, so throttling is per field
        assert settings["counttype"] == "number of events" and settings["quantity"] == "0", name
        assert settings["description"], name


def test_reports_are_unscheduled_and_enabled():
    for name in REPORTS:
        settings = conf("savedsearches")[name]
        assert settings["enableSched"] == "0" and settings["disabled"] == "0", name


def test_saved_searches_use_an_index_macro_and_defined_eventtypes():
    for name, settings in conf("savedsearches").items():
        base = settings["search"].split("\n|")[0]
        assert any(f"`{macro}`" in base for macro in (*INDEX_MACROS, "audit_trail_summaries")), name
        assert "index=main" in expand_macros(base, conf("macros")), name
        for eventtype in re.findall(r"eventtype=([\w]+)", settings["search"]):
            assert eventtype in conf("eventtypes"), f"{name}: {eventtype}"


def test_alert_throttle_fields_are_in_the_results():
    for name, settings in alerts().items():
        last_command = settings["search"].split("\n| ")[-1]
        produced = set(re.findall(r"\b(?:BY|AS|table)\s+([\w, ]+)", settings["search"]))
        names = {part for group in produced for part in re.split(r"[\s,]+", group) if part}
        for field in settings["alert.suppress.fields"].split(","):
            assert field.strip() in names, f"{name}: throttles on {field} it never outputs ({last_command})"


def test_record_alerts_cannot_silently_miss_a_run():
    # Point 5: continuous scheduling runs a skipped period later; index-time windows overlap by at least one
    # interval, so a run that starts late still meets the previous one; the throttle outlasts the overlap.
    for name, settings in record_alerts().items():
        interval = _cron_minutes(settings["cron_schedule"])
        assert settings["realtime_schedule"] == "0", name
        assert settings["schedule_window"] == "0", name
        span = _relative_minutes(settings["dispatch.index_earliest"]) - _relative_minutes(
            settings["dispatch.index_latest"]
        )
        assert span >= 2 * interval, name
        assert _period_minutes(settings["alert.suppress.period"]) >= span, name
        assert settings["dispatch.earliest_time"] == "-7d@h", name


def _base_search(name: str) -> EventTypes:
    """The part of an alert before its first pipe, as an evaluable search."""
    base = conf("savedsearches")[name]["search"].split("\n|")[0].strip()
    return EventTypes({**conf("eventtypes"), "__alert__": {"search": base}}, conf("macros"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("RingCentral - Account locked", {"a08", "a21", "a30"}),
        ("RingCentral - Failed login burst", {"a07", "a20"}),
        ("RingCentral - Privileged role granted", {"a01", "a02"}),
        ("RingCentral - Unclassified action ids",
         {"a07", "a08", "a09", "a10", "a11", "a12", "a13", "a14", "a15", "a16", "a17", "a18", "a19", "a20", "a21",
          "a22", "a23", "a28", "a29", "a30"}),
    ],
)
def test_each_record_search_selects_exactly_its_sample_records(name, expected):
    search = _base_search(name)
    selected = {suffix for suffix, fields in audit_events().items() if "__alert__" in search.matching(fields)}
    assert selected == expected


def test_lockout_alert_follows_the_lookup_not_a_second_list_of_patterns():
    # One list of lockout ids (the lookup), so a tightened pattern can never be loose in the alert.
    search = conf("savedsearches")["RingCentral - Account locked"]["search"]
    assert "eventtype=ringcentral_audit_account_locked" in search
    assert "actionId=" not in search and "rc_action_key=" not in search.split("\n|")[0]


def test_collection_alert_reads_every_source_and_the_add_on_log():
    search = conf("savedsearches")[COLLECTION_ALERT]["search"]
    assert "`audit_trail_summaries`" in search
    assert "`audit_trail_internal_log`" in search
    assert conf("macros")["audit_trail_internal_log"]["definition"] == f'index=_internal sourcetype="{LOG}"'
    for field in ("status", "gap_count", "lag_seconds", "input_name", "source_type", "action", "error"):
        assert field in search
    for vendor in ("ringcentral", "liveperson", "resolver"):
        assert f"`{vendor}_audit_stall_seconds`" in search
    assert conf("savedsearches")[COLLECTION_ALERT]["alert.suppress.fields"] == "source_type,input_name"


def test_retired_inputs_are_left_out_of_the_collection_alert():
    # Point 10: an admin lists deleted or renamed inputs in a macro instead of waiting 7 days.
    search = conf("savedsearches")[COLLECTION_ALERT]["search"]
    assert "| search NOT (`audit_trail_retired_inputs`)" in search
    default = conf("macros")["audit_trail_retired_inputs"]["definition"]
    retired = EventTypes({"r": {"search": default}}, {})
    assert retired.matching({"input_name": "prod", "source_type": "ringcentral"}) == []
    custom = EventTypes({"r": {"search": '(source_type="ringcentral" input_name="old_prod")'}}, {})
    assert custom.matching({"input_name": "old_prod", "source_type": "ringcentral"}) == ["r"]
    assert custom.matching({"input_name": "old_prod", "source_type": "resolver"}) == []


# --------------------------------------------------------------------------------------------------
# LivePerson and Resolver: the same treatment as RingCentral
# --------------------------------------------------------------------------------------------------

LP, RS = "liveperson:audit", "resolver:audit"
LP_CHANGE_ET = ["liveperson_audit_change"]
LP_ACCOUNT_ET = ["liveperson_audit_account_change", "liveperson_audit_change"]
RS_CHANGE_ET = ["resolver_audit_change"]
RS_ACCOUNT_ET = ["resolver_audit_account_change", "resolver_audit_change"]


@functools.cache
def events_of(sourcetype: str, whole: bool = False) -> Dict[str, Dict]:
    """{l01/r01...: fields}: rows have no id, so samples are named by their line."""
    prefix = {"liveperson:audit": "l", "resolver:audit": "r", "ringcentral:audit": "a"}[sourcetype]
    engine = search_time_whole_events() if whole else search_time()
    return {f"{prefix}{n:02d}": engine.extract(raw, sourcetype, sample_meta(sourcetype))
            for n, raw in enumerate(sample_raws(sourcetype), start=1)}


@pytest.mark.parametrize("sourcetype", [LP, RS])
def test_samples_are_compact_json_rows(sourcetype):
    for raw in sample_raws(sourcetype):
        assert json.dumps(json.loads(raw), separators=(",", ":")) == raw


def test_liveperson_samples_carry_the_api_fields_small_ones_first():
    api_fields = {"accountId", "objectType", "objectName", "element", "oldValue", "newValue", "originator",
                  "originatorLoginName", "originatorUserId", "originatorUserAgent", "originatorAuthType",
                  "originatorIsLpa", "changeDate"}
    rows = [json.loads(raw) for raw in sample_raws(LP)]
    for row in rows:
        assert set(row) <= api_fields | {"actionType"}
        # The writing rule: the bulky values come last, so automatic extraction always reaches the rest.
        assert list(row)[-2:] == ["oldValue", "newValue"]
        assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d$", row["changeDate"])
    assert any("actionType" not in row for row in rows) and any("actionType" in row for row in rows)
    assert any(row["originatorIsLpa"] for row in rows)
    assert max(len(raw.encode()) for raw in sample_raws(LP)) > 2 * SPATH_EXTRACTION_CUTOFF


def test_resolver_samples_carry_the_csv_columns():
    rows = [json.loads(raw) for raw in sample_raws(RS)]
    for row in rows:
        time_keys = {"Date and Time", "Time"} & set(row)
        assert len(time_keys) == 1 and next(iter(row)) in time_keys
        assert {"Subject", "Event", "Performed By"} <= set(row)
    assert {"Date and Time", "Time"} <= {key for row in rows for key in row}
    assert {"Previous Value", "New Value", "External Reference ID"} <= {key for row in rows for key in row}
    assert any(row["Performed By"] == "External Org User" for row in rows)


@pytest.mark.parametrize("sourcetype", [LP, RS])
def test_timestamp_prefix_lands_on_the_row_time(sourcetype):
    stanza = conf("props")[sourcetype]
    assert stanza["TZ"] == "UTC"
    prefix = re.compile(spl_eval.pcre_to_python(stanza["TIME_PREFIX"]))
    for raw in sample_raws(sourcetype):
        row = json.loads(raw)
        value = row.get("changeDate") or row.get("Date and Time") or row["Time"]
        match = prefix.search(raw)
        window = raw[match.end():match.end() + int(stanza["MAX_TIMESTAMP_LOOKAHEAD"])]
        assert window.startswith(value[:19]), (window, value)
        if "TIME_FORMAT" in stanza:
            parsed = _splunk_strptime(window[:19], stanza["TIME_FORMAT"])
            assert parsed == _splunk_strptime(value[:19], "%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("sourcetype", [LP, RS])
def test_line_breaking_and_truncate_keep_rows_whole(sourcetype):
    stanza = conf("props")[sourcetype]
    raws = sample_raws(sourcetype)
    assert split_events("\n".join(raws) + "\n", stanza["LINE_BREAKER"]) == raws
    assert int(stanza["TRUNCATE"]) >= 10 * max(len(raw.encode()) for raw in raws)


@pytest.mark.parametrize("sourcetype", [LP, RS])
def test_cim_fields_of_new_sources_do_not_depend_on_the_json_cutoff(sourcetype):
    names = sorted(produced_fields(conf("props")[sourcetype]))
    cut, whole = events_of(sourcetype), events_of(sourcetype, whole=True)
    for key in cut:
        for name in names:
            if name in ("old_value", "new_value") and cut[key].get(name) != whole[key].get(name):
                # A value past the cutoff comes from _raw: the same text, JSON escapes kept.
                assert cut[key][name] == json.dumps(whole[key][name])[1:-1], (key, name)
                continue
            assert cut[key].get(name) == whole[key].get(name), (key, name)


# key: (action, cim_dataset, object_category, object, object_attrs, user, src_user, classified_by, event types)
LP_EXPECTED = {
    "l01": ("modified", AM, "user", "Jane Doe", "Profiles", "Jane Doe", "Maria Garcia", "published", LP_ACCOUNT_ET),
    "l02": ("modified", AM, "user", "Jane Doe", "Password", "Jane Doe", "Maria Garcia", "rule", LP_ACCOUNT_ET),
    "l03": ("modified", AC, "skill", "Billing - Tier 2", "Max chats", "LivePerson Support", "LivePerson Support",
            "published", LP_CHANGE_ET),
    "l04": ("created", AC, "campaign", "Black Friday 2026", None, "Tom Becker", "Tom Becker", "rule", LP_CHANGE_ET),
    "l05": ("deleted", AM, "user", "Old Contractor", None, "Old Contractor", "Maria Garcia", "published",
            LP_ACCOUNT_ET),
    "l06": ("created", AM, "user", "Sam Lee", None, "Sam Lee", "Provisioning API", "published", LP_ACCOUNT_ET),
    "l07": ("modified", AC, "group", "Tier 2", "Member of", "Tom Becker", "Tom Becker", "published", LP_CHANGE_ET),
    "l08": ("modified", AC, "content", "Holiday greeting", "Text", "Tom Becker", "Tom Becker", "published",
            LP_CHANGE_ET),
    "l09": ("modified", AC, "role", "Agent Manager", "Generate secure form token", "Maria Garcia", "Maria Garcia",
            "rule", LP_CHANGE_ET),
    "l10": ("modified", AC, "other", "VIP routing", "Priority", "Maria Garcia", "Maria Garcia", "published",
            LP_CHANGE_ET),
    "l11": ("deleted", AC, "skill", "Legacy Chat", None, "Tom Becker", "Tom Becker", "rule", LP_CHANGE_ET),
    "l12": ("modified", AM, "user", "api_provisioning", "API key", "api_provisioning", "Provisioning API",
            "published", LP_ACCOUNT_ET),
    "l13": ("modified", AM, "user", "Ray Chen", "Profile", "Ray Chen", "LivePerson Support", "guess", LP_ACCOUNT_ET),
    "l14": ("modified", AM, "user", "Jane Doe", "Profiles", "Jane Doe", "Maria Garcia", "published", LP_ACCOUNT_ET),
    "l15": ("modified", AC, "schedule", "Working hours", None, "Automatic update", "Automatic update", "rule",
            LP_CHANGE_ET),
}


def test_liveperson_expected_table_covers_every_sample():
    assert sorted(LP_EXPECTED) == sorted(events_of(LP))


@pytest.mark.parametrize("key", sorted(LP_EXPECTED))
def test_liveperson_cim_values_of_each_sample(key):
    fields = events_of(LP)[key]
    row = json.loads(fields["_raw"])
    got = tuple(fields.get(name) for name in ("action", "cim_dataset", "object_category", "object", "object_attrs",
                                              "user", "src_user", "classified_by"))
    assert (*got, eventtypes().matching(fields)) == LP_EXPECTED[key]
    assert fields["vendor_product"] == "LivePerson Conversational Cloud"
    assert fields["vendor_account"] == row["accountId"] == "le52642741"
    assert fields["dest"] == fields["dvc"] == "liveperson:le52642741"
    assert fields["status"] == "success"
    assert fields.get("result") == (row.get("actionType") or None)
    assert fields.get("src_user_id") == (row["originatorUserId"] or None)
    assert fields.get("src_user_name") == (row["originatorLoginName"] or None)
    assert fields["src_user_type"] == ("LivePerson staff" if row["originatorIsLpa"] else "account user")
    assert fields.get("user_agent") == (row["originatorUserAgent"] or None)
    assert fields["input_name"] == "brand_main"


# key: (action, status, result, cim_dataset, object_category, user, user_id, src_user, classified_by, event types)
RS_EXPECTED = {
    "r01": ("created", "success", None, AM, "user", "Jane Doe", "EMP-10442", "Priya Natarajan", "published",
            RS_ACCOUNT_ET),
    "r02": ("modified", "success", None, AM, "user", "Jane Doe", "EMP-10442", "Priya Natarajan", "published",
            RS_ACCOUNT_ET),
    "r03": ("modified", "success", None, AM, "user", "Omar Haddad", "EMP-10013", "Priya Natarajan", "published",
            RS_ACCOUNT_ET),
    "r04": ("modified", "success", None, AM, "user", "Omar Haddad", "EMP-10013", "Priya Natarajan", "published",
            RS_ACCOUNT_ET),
    "r05": ("modified", "success", None, AC, "group", "Priya Natarajan", None, "Priya Natarajan", "published",
            RS_CHANGE_ET),
    "r06": ("started", "success", "impersonation", AM, "user", "Omar Haddad", "EMP-10013",
            "API User impersonating Omar Haddad", "published", RS_ACCOUNT_ET),
    "r07": ("started", "failure", "impersonation refused", AM, "user", "Omar Haddad", "EMP-10013",
            "Contractor Account", "published", RS_ACCOUNT_ET),
    "r08": ("created", "success", "api key created", AM, "user", "Jane Doe", "EMP-10442", "Jane Doe", "published",
            RS_ACCOUNT_ET),
    "r09": ("modified", "success", "password regenerated", AM, "user", "Jane Doe", "EMP-10442", "Jane Doe",
            "published", RS_ACCOUNT_ET),
    "r10": ("modified", "success", None, AC, "other", "Priya Natarajan", None, "Priya Natarajan", "published",
            RS_CHANGE_ET),
    # A deleted subject, from another organisation: names kept as Resolver writes them.
    "r11": ("deleted", "success", None, AM, "user", "Unknown User with id 4411", None, "External Org User", "guess",
            RS_ACCOUNT_ET),
    "r12": ("created", "success", None, AC, "role", "Priya Natarajan", None, "Priya Natarajan", "guess",
            RS_CHANGE_ET),
    "r13": ("started", "failure", "impersonation refused", AM, "user", "Ken Watanabe", None, "Contractor Account",
            "published", RS_ACCOUNT_ET),
    "r14": ("created", "success", None, AC, "ip authorization", "Priya Natarajan", None, "Priya Natarajan", "guess",
            RS_CHANGE_ET),
    "r15": ("modified", "success", None, AM, "user", "Ken Watanabe", "EMP-10877", "Priya Natarajan", "pattern",
            RS_ACCOUNT_ET),
    "r16": ("modified", "success", None, AC, "other", "Priya Natarajan", None, "Priya Natarajan", "catch_all",
            RS_CHANGE_ET),
}


def test_resolver_expected_table_covers_every_sample():
    assert sorted(RS_EXPECTED) == sorted(events_of(RS))


@pytest.mark.parametrize("key", sorted(RS_EXPECTED))
def test_resolver_cim_values_of_each_sample(key):
    fields = events_of(RS)[key]
    row = json.loads(fields["_raw"])
    got = tuple(fields.get(name) for name in ("action", "status", "result", "cim_dataset", "object_category", "user",
                                              "user_id", "src_user", "classified_by"))
    assert (*got, eventtypes().matching(fields)) == RS_EXPECTED[key]
    assert fields["object"] == row["Subject"] and fields["command"] == row["Event"]
    assert fields["vendor_product"] == "Resolver"
    assert fields["dest"] == fields["dvc"] == "resolver:grc_prod"
    assert fields.get("old_value") == row.get("Previous Value")
    assert fields.get("new_value") == row.get("New Value")


def _all_new_source_events():
    return [(k, f) for st in (LP, RS) for k, f in events_of(st).items()]


@pytest.mark.parametrize(("key", "fields"), _all_new_source_events(), ids=[k for k, _ in _all_new_source_events()])
def test_each_new_source_sample_meets_the_change_models_rules(key, fields):
    tags = frozenset(event_tags(fields))
    assert "change" in tags and "authentication" not in tags
    assert (fields.get("object_category") == "user") == ("account" in tags)
    assert fields["action"] in cim.CHANGE_ACTIONS
    assert fields["status"] in cim.STATUS_VALUES
    if fields["status"] == "failure":
        assert fields.get("result")
    datasets = cim.datasets_for_tags(tags)
    # Neither API gives an address or an object id, LivePerson's object-level rows no attribute, and
    # Resolver no attribute at all: absent rather than a placeholder.
    allowed_missing = {"src", "object_id", "object_attrs", "command", "change_type"} & {
        name for name in cim.required_fields(datasets) if not as_list(fields.get(name))}
    assert not allowed_missing - {"src", "object_id", "object_attrs"}, allowed_missing
    for name in cim.required_fields(datasets):
        if name in allowed_missing:
            continue
        values = as_list(fields.get(name))
        assert values, f"{key}: required {name} missing"
        assert not set(values) & cim.PLACEHOLDERS, f"{key}: {name} = {values}"
    for name in cim.NO_QUOTES:
        assert not any('"' in v for v in as_list(fields.get(name))), f"{key}: {name} contains a quote"


@pytest.mark.parametrize("vendor", ["liveperson", "resolver"])
def test_new_sources_record_no_logins(vendor):
    # Neither audit trail holds sign-ins: no event type of theirs reaches the Authentication model.
    for name in conf("eventtypes"):
        if name.startswith(vendor):
            assert "authentication" not in tags_for([name], conf("tags")), name


def test_resolver_user_rule_agrees_with_the_lookup_categories():
    # user is the Subject exactly for the events the lookup files under object_category=user.
    table = search_time().lookup("resolver_audit_events")
    expression = conf("props")[RS]["EVAL-user"]
    for row in table.rows:
        event = row["Event"].replace("*", "Foo") if row["Event"] != "*" else "Archive Workflow"
        fields = {"Event": event, "Subject": "S", "Performed By": "P"}
        first = table.first({"Event": event})
        assert (spl_eval.evaluate(expression, fields) == "S") == (first["object_category"] == "user"), event


LOOKUPS = {
    "ringcentral_audit_actions": (AUDIT, "LOOKUP-ringcentral_audit_actions"),
    "liveperson_audit_objects": (LP, "LOOKUP-liveperson_audit_objects"),
    "liveperson_audit_actions": (LP, "LOOKUP-liveperson_audit_actions"),
    "resolver_audit_events": (RS, "LOOKUP-resolver_audit_events"),
}


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_every_lookup_table_matches_its_transform_and_automatic_lookup(name):
    header, *rows = lookup_rows(name)
    transform = conf("transforms")[name]
    assert transform["filename"] == f"{name}.csv"
    assert transform["max_matches"] == "1" and transform["case_sensitive_match"] == "false"
    wildcard = re.findall(r"WILDCARD\((\w+)\)", transform["match_type"])
    sourcetype, setting = LOOKUPS[name]
    lookup, inputs, mode, outputs = parse_lookup_setting(conf("props")[sourcetype][setting])
    assert lookup == name and mode == "OUTPUT"
    assert [column for column, _ in inputs] == wildcard
    assert [column for column, _ in inputs] + [column for column, _ in outputs] == header
    assert all(len(row) == len(header) for row in rows)
    # The last row catches everything, so every event gets a classification.
    assert all(cell == "*" for cell in rows[-1][:len(inputs)])
    by = "object_classified_by" if "object_classified_by" in header else "classified_by"
    assert {dict(zip(header, row))[by] for row in rows} <= CLASSIFIED_BY | {"rule"}
    assert dict(zip(header, rows[-1]))[by] == "catch_all"


@pytest.mark.parametrize("name", ["liveperson_audit_objects", "resolver_audit_events"])
def test_new_lookup_rows_are_valid_cim_classifications(name):
    header, *rows = lookup_rows(name)
    for row in (dict(zip(header, r)) for r in rows):
        assert row["cim_dataset"] in (AC, AM), row
        assert (row["object_category"] == "user") == (row["cim_dataset"] == AM), row
        assert row["change_type"] in ("AAA", "configuration"), row
        if "action" in row:
            assert row["action"] in cim.CHANGE_ACTIONS and row["status"] in cim.STATUS_VALUES, row
            assert row["status"] == "success" or row["result"], row


def test_liveperson_actions_rows_are_valid():
    header, *rows = lookup_rows("liveperson_audit_actions")
    for row in (dict(zip(header, r)) for r in rows):
        assert row["action"] in ("created", "modified", "deleted"), row


@pytest.mark.parametrize(
    ("name", "selections", "corpus"),
    [
        ("resolver_audit_events", [("cim_dataset", AM), ("object_category", "user"), ("status", "failure"),
                                   ("classified_by", "published"), ("classified_by", "confirmed")],
         ["Add User", "Add Foo User", "Add User Group", "Update Foo Group", "Unsuccessful Foo", "Unsuccessful Foo User",
          "Reactivate User", "Unlock User", "Frobnicate User", "Archive Workflow", "none", "Delete Role",
          "Create API Key", "Create Report", "Remove User From Group"]),
        ("liveperson_audit_objects", [("cim_dataset", AM), ("object_category", "user"),
                                      ("object_classified_by", "published")],
         ["Users", "users", "Skills", "Bots", "none", "User Groups", "Profiles"]),
    ],
)
def test_new_lookups_reverse_lookup_agrees_with_first_match(name, selections, corpus):
    table = search_time().lookup(name)
    column = table.columns[0]
    values = set(corpus) | {row[column] for row in table.rows if "*" not in row[column]}
    values |= {json.loads(raw).get(column, "none") for st in (LP, RS) for raw in sample_raws(st)}
    for value in sorted(values):
        first, every = table.first({column: value}), table.matches({column: value}, limit=0)
        for out, expected in selections:
            assert (first[out] == expected) == any(row[out] == expected for row in every), f"{value}: {out}"


def test_liveperson_action_rule_without_action_type():
    table = search_time().lookup("liveperson_audit_actions")

    def action(action_type, element, change):
        return table.first({"actionType": action_type, "element": element, "value_change": change})["action"]

    assert action("none", "N/A", "added") == "created"
    assert action("none", "n/a", "removed") == "deleted"
    assert action("none", "N/A", "changed") == "modified"
    assert action("none", "Password", "added") == "modified"
    assert action("EDIT", "Password", "none") == "modified"
    assert action("Add New", "N/A", "none") == "created"
    assert action("Delete", "N/A", "added") == "deleted"
    assert action("archive", "N/A", "removed") == "modified"


def _assignments(text: str) -> List[str]:
    """`a=x, b=f(y, z)` -> ["a=x", "b=f(y, z)"]: commas inside quotes or parentheses do not split."""
    parts, current, depth, quote = [], "", 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    return [*parts, current.strip()]


def _search_selects(name: str, events: Dict[str, Dict]) -> Set[str]:
    """Samples an alert or report keeps: its base search, then its evals and its first `where`."""
    commands = [c.rstrip(" \\") for c in conf("savedsearches")[name]["search"].split("\n| ")]
    search = _base_search(name)
    selected = {key for key, fields in events.items() if "__alert__" in search.matching(fields)}
    wheres = [i for i, c in enumerate(commands) if c.startswith("where ")]
    for command in commands[1:wheres[0] + 1] if wheres else []:
        if command.startswith("eval "):
            for assignment in _assignments(command[len("eval "):]):
                target, expression = assignment.split("=", 1)
                for key in selected:
                    value = spl_eval.evaluate(expression, events[key])
                    events[key] = {**events[key], target.strip(): spl_eval.as_field(value)}
        elif command.startswith("where "):
            expression = expand_macros(command[len("where "):], conf("macros"))
            return {key for key in selected if spl_eval.evaluate(expression, events[key]) is True}
    return selected


@pytest.mark.parametrize(
    ("name", "sourcetype", "expected"),
    [
        ("LivePerson - Change by LivePerson staff", LP, {"l03", "l13"}),
        ("LivePerson - Administrator profile granted", LP, {"l01", "l13"}),
        ("LivePerson - Password or API key changed", LP, {"l02", "l12"}),
        ("LivePerson - Unclassified changes", LP, {"l10", "l13"}),
        ("Resolver - Administrator or All Access granted", RS, {"r02", "r03"}),
        ("Resolver - API key created", RS, {"r08"}),
        ("Resolver - Impersonation refused", RS, {"r07", "r13"}),
        ("Resolver - Unclassified events", RS, {"r11", "r12", "r14", "r15", "r16"}),
        ("RingCentral - Privileged role granted", AUDIT, {"a01"}),
    ],
)
def test_new_source_alerts_select_exactly_their_sample_rows(name, sourcetype, expected):
    assert _search_selects(name, dict(events_of(sourcetype))) == expected


def test_other_sources_never_reach_a_sources_alerts():
    everything = {**events_of(AUDIT), **events_of(LP), **events_of(RS)}
    for name in conf("savedsearches"):
        if name == COLLECTION_ALERT:
            continue
        vendor = {"RingCentral": "a", "LivePerson": "l", "Resolver": "r"}[name.split(" - ")[0]]
        assert all(key.startswith(vendor) for key in _search_selects(name, dict(everything))), name


# --------------------------------------------------------------------------------------------------
# Permissions, navigation and the app's identity (points 7, 8 and 12 of issue 14)
# --------------------------------------------------------------------------------------------------


@functools.cache
def meta() -> Dict[str, Dict[str, str]]:
    """default.meta by stanza; the conf parser drops the catch-all [] stanza, so this reads it by hand."""
    stanzas: Dict[str, Dict[str, str]] = {}
    current = None
    for line in (APP_ROOT / "metadata" / "default.meta").read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\[(.*)\]\s*$", line)
        if header:
            current = stanzas.setdefault(header.group(1), {})
        elif "=" in line and not line.startswith("#") and current is not None:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return stanzas


def _access(stanza: str, what: str) -> Set[str]:
    """Roles granted read or write on a metadata stanza, following Splunk's inheritance from []."""
    access = meta().get(stanza, {}).get("access") or meta().get(stanza.split("/")[0], {}).get("access") \
        or meta()[""]["access"]
    match = re.search(what + r"\s*:\s*\[([^\]]*)\]", access)
    return {role.strip() for role in match.group(1).split(",")}


def _export(stanza: str) -> str:
    return meta().get(stanza, {}).get("export") or meta()[""]["export"]


def test_secrets_in_storage_passwords_are_admin_only():
    assert _access("passwords", "read") == {"admin", "sc_admin"}
    assert _access("passwords", "write") == {"admin", "sc_admin"}
    assert _export("passwords") == "none"


def test_the_catch_all_stanza_exports_nothing():
    assert _export("") == "none"
    assert _access("", "write") == {"admin", "sc_admin"}


def test_only_cim_knowledge_is_exported_and_views_stay_in_the_app():
    for stanza in ("props", "transforms", "lookups", "eventtypes", "tags"):
        assert _export(stanza) == "system", stanza
    for stanza in ("views", "nav", "savedsearches", "inputs", "passwords", "collections/ta_audit_trail_checkpoints"):
        assert _export(stanza) == "none", stanza


NAV = DEFAULT_DIR / "data" / "ui" / "nav" / "default.xml"


def test_navigation_links_to_every_dashboard_the_inputs_and_the_alerts():
    nav = ET.parse(NAV).getroot()
    views_named = [view.get("name") for view in nav.iter("view")]
    for name in views_named:
        assert name == "search" or (VIEWS / f"{name}.xml").exists(), name
    assert {p.stem for p in VIEWS.glob("*.xml")} <= set(views_named)
    hrefs = [a.get("href") for a in nav.iter("a")]
    for scheme in ("ringcentral_audit", "liveperson_audit", "resolver_audit"):
        assert f"/manager/TA-audit-trail/data/inputs/{scheme}" in hrefs, scheme
    assert any(href.startswith("/manager/TA-audit-trail/saved/searches") for href in hrefs)
    assert any(href.startswith("/manager/TA-audit-trail/admin/macros") for href in hrefs)
    for saved in nav.iter("saved"):
        assert saved.get("name") in conf("savedsearches"), saved.get("name")


def test_input_links_name_schemes_the_add_on_declares():
    spec = (APP_ROOT / "README" / "inputs.conf.spec").read_text(encoding="utf-8")
    declared = set(re.findall(r"^\[(\w+)://", spec, re.M))
    linked = {a.get("href").rsplit("/", 1)[1] for a in ET.parse(NAV).getroot().iter("a") if "/data/inputs/" in
              a.get("href")}
    # Schemes another helper is still adding are allowed to be missing from the spec for now.
    assert "ringcentral_audit" in declared and declared <= linked


def test_app_label_names_every_source_and_the_manifest_agrees():
    app = read_conf(DEFAULT_DIR / "app.conf")
    label = app["ui"]["label"]
    for vendor in ("RingCentral", "LivePerson", "Resolver"):
        assert vendor in label
    assert 5 <= len(label) <= 80
    manifest = json.loads((APP_ROOT / "app.manifest").read_text(encoding="utf-8"))
    assert manifest["info"]["title"] == label
    assert manifest["info"]["description"] == app["launcher"]["description"]
    assert all(author["email"] for author in manifest["info"]["author"])
    assert manifest["platformRequirements"]["splunk"]["Enterprise"]
    assert app["id"]["version"] == manifest["info"]["id"]["version"] == "1.1.0"


# --------------------------------------------------------------------------------------------------
# Dashboards (point 9 of issue 14); their searches run against the confs checked above
# --------------------------------------------------------------------------------------------------

VIEWS = DEFAULT_DIR / "data" / "ui" / "views"


@functools.cache
def views():
    from searchtime.studio import StudioView

    return [StudioView.read(path) for path in sorted(VIEWS.glob("*.xml"))]


VIEW_LABELS = {
    "ringcentral_audit_overview": "RingCentral Audit Overview",
    "liveperson_audit_overview": "LivePerson Audit Overview",
    "resolver_audit_overview": "Resolver Audit Overview",
    "audit_trail_collection_health": "Collection Health",
}
ADD_ON_MACROS = (*INDEX_MACROS, "audit_trail_summaries", "audit_trail_internal_log")
# Searches that fill a filter's choices rather than a panel.
FILTER_SOURCES = {"ds_accounts", "ds_inputs"}


def committed_rows(view: str) -> Dict:
    return json.loads((APP_ROOT / "tests" / "dashboards" / f"{view}.rows.json").read_text(encoding="utf-8"))


def placed_on(view, layout_id: str) -> Set[str]:
    structure = view.definition["layout"]["layoutDefinitions"][layout_id]["structure"]
    return {entry["item"] for entry in structure}


def test_dashboards_are_studio_views_with_the_documented_titles():
    assert {view.name: view.root.findtext("label") for view in views()} == VIEW_LABELS
    for view in views():
        assert view.root.tag == "dashboard"
        assert view.root.get("version") == "2" and view.root.get("theme") == "dark"
        assert view.definition["title"] == VIEW_LABELS[view.name]


def test_every_dashboard_search_uses_an_add_on_macro_and_the_time_picker():
    for view in views():
        inputs = view.definition["inputs"]
        pickers = [i for i in inputs.values() if i["type"] == "input.timerange"]
        assert len(pickers) == 1 and pickers[0]["options"]["defaultValue"] == "-24h@h,now", view.name
        token = pickers[0]["options"]["token"]
        for ds_id, query in view.searches():
            assert any(f"`{macro}`" in query for macro in ADD_ON_MACROS), f"{view.name}/{ds_id}"
            parameters = view.data_sources()[ds_id]["options"]["queryParameters"]
            assert parameters == {"earliest": f"${token}.earliest$", "latest": f"${token}.latest$"}
        assert all(source["type"] == "ds.search" for source in view.data_sources().values()), view.name


def test_every_panel_filters_by_input_and_overviews_by_account():
    # Point 9: a filter by input (and, where the API names one, by account) on every dashboard.
    for view in views():
        tokens = {i["options"]["token"]: i for i in view.definition["inputs"].values()}
        assert tokens["input"]["options"]["defaultValue"] == "*", view.name
        wants_account = view.name in ("ringcentral_audit_overview", "liveperson_audit_overview")
        assert ("account" in tokens) == wants_account, view.name
        for ds_id, query in view.searches():
            if ds_id in FILTER_SOURCES or ds_id == "ds_outside_macros":
                continue
            assert 'input_name="$input$"' in query, f"{view.name}/{ds_id}"
            if wants_account:
                assert 'vendor_account="$account$"' in query, f"{view.name}/{ds_id}"


def test_dashboard_references_resolve():
    for view in views():
        visualizations = view.definition["visualizations"]
        for viz_id, viz in visualizations.items():
            for ds_id in viz.get("dataSources", {}).values():
                assert ds_id in view.data_sources(), f"{view.name}/{viz_id} -> {ds_id}"
        assert sorted(view.placed_items()) == sorted(visualizations), view.name
        layout = view.definition["layout"]
        assert set(layout["globalInputs"]) == set(view.definition["inputs"])
        for tab in layout["tabs"]["items"]:
            assert tab["layoutId"] in layout["layoutDefinitions"]
        # Every data source feeds a panel or a filter: an unused search still runs and costs.
        used = {ds for item in (*visualizations.values(), *view.definition["inputs"].values())
                for ds in item.get("dataSources", {}).values()}
        assert used == set(view.data_sources()), view.name


def test_dashboard_eventtypes_and_sourcetypes_exist():
    known_sourcetypes = {*AUDIT_SOURCETYPES, *COLLECTIONS, LOG}
    for view in views():
        for ds_id, query in view.searches():
            for eventtype in re.findall(r"eventtype=(\w+)", query):
                assert eventtype in conf("eventtypes"), f"{view.name}/{ds_id}"
            for sourcetype in re.findall(r'sourcetype="([^"]+)"', query):
                assert sourcetype in known_sourcetypes, f"{view.name}/{ds_id}"


def test_tables_show_readable_headers_and_local_times():
    # Point 9: no raw field names as column headers, and no UTC ISO time beside local times in one row.
    for view in views():
        rows = committed_rows(view.name)
        for viz_id, viz in view.definition["visualizations"].items():
            if viz["type"] != "splunk.table":
                continue
            table = rows[viz["dataSources"]["primary"]]
            raw = [name for name in table["fields"] if re.fullmatch(r"[a-z_]+", name)]
            assert not raw, f"{view.name}/{viz_id}: raw field names as headers {raw}"
            iso = [cell for row in table["rows"] for cell in row if isinstance(cell, str)
                   and re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", cell)]
            assert not iso, f"{view.name}/{viz_id}: ISO time {iso[:1]}"


def test_panels_drill_down_to_their_search():
    for view in views():
        for viz_id, viz in view.definition["visualizations"].items():
            if viz.get("dataSources"):
                handlers = [h["type"] for h in viz.get("eventHandlers", [])]
                assert "drilldown.linkToSearch" in handlers, f"{view.name}/{viz_id}"


def test_failures_are_coloured_as_failures():
    health = next(view for view in views() if view.name == "audit_trail_collection_health")
    visualizations = health.definition["visualizations"]
    # Only windows that are not complete are charted, failed in red.
    query = health.data_sources()["ds_not_complete_over_time"]["options"]["query"]
    assert 'count(eval(status=="failed")) AS failed' in query and "BY status" not in query
    assert visualizations["viz_not_complete_over_time"]["options"]["seriesColorsByField"]["failed"] == "#D41F1F"
    for viz_id in ("viz_last_poll", "viz_failures"):
        colors = {c["match"]: c["value"] for c in visualizations[viz_id]["context"]["statusColors"]}
        assert set(colors) == {"complete", "partial", "failed"}, viz_id
    for viz_id in ("viz_incomplete_windows", "viz_gaps_total"):
        assert "rangeValue" in visualizations[viz_id]["options"]["majorColor"], viz_id


def test_reconciliation_and_internal_log_panels_are_diagnostics():
    health = next(view for view in views() if view.name == "audit_trail_collection_health")
    main, diagnostics = placed_on(health, "layout_health"), placed_on(health, "layout_diagnostics")
    assert {"viz_records_vs_total", "viz_window_mismatch", "viz_log_failures"} <= diagnostics
    # The main tab reads only the summaries, which every role that sees the index can search.
    for viz_id in main:
        ds_id = health.definition["visualizations"][viz_id].get("dataSources", {}).get("primary")
        if ds_id:
            assert "_internal" not in expand_macros(health.data_sources()[ds_id]["options"]["query"],
                                                    conf("macros")), viz_id


def test_collection_health_covers_every_source_and_finds_stray_indexes():
    health = next(view for view in views() if view.name == "audit_trail_collection_health")
    for ds_id, query in health.searches():
        if ds_id not in ("ds_outside_macros", "ds_log_failures", "ds_export_jobs"):
            assert "`audit_trail_summaries`" in query, ds_id
    coverage = health.data_sources()["ds_outside_macros"]["options"]["query"]
    for macro in INDEX_MACROS:
        assert f"`{macro}`" in coverage
    for sourcetype in (*AUDIT_SOURCETYPES, *COLLECTIONS):
        assert f'sourcetype="{sourcetype}"' in coverage


def test_classification_panels_show_what_the_lookups_do_not_know():
    for view in views():
        if view.name == "audit_trail_collection_health":
            continue
        assert "layout_classification" in view.definition["layout"]["layoutDefinitions"]
        assert "viz_unclassified" in placed_on(view, "layout_classification")
        assert "classified_by" in view.data_sources()["ds_unclassified"]["options"]["query"]


@pytest.mark.parametrize(("view_name", "text"), [("liveperson_audit_overview", "no logins"),
                                                 ("resolver_audit_overview", "No sign-ins")])
def test_overviews_say_which_sources_record_no_logins(view_name, text):
    view = next(view for view in views() if view.name == view_name)
    notes = [viz["options"]["markdown"] for viz in view.definition["visualizations"].values()
             if viz["type"] == "splunk.markdown"]
    assert any(text.lower() in note.lower() for note in notes)
