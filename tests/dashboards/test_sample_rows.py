"""The sample rows the dashboards are drawn from: current, produced by the dashboards' own searches,
complete, and consistent from panel to panel."""

from __future__ import annotations

import functools
import json
from typing import Any, Dict, List

import pytest

from tests.dashboards import sample_rows
from tests.searchtime.search_expr import EventTypes
from tests.searchtime.spl_search import Search, SearchError, parse_aggregations, split_pipeline
from tests.sim.records import ACTION_IDS

VIEWS = ("ringcentral_audit_overview", "liveperson_audit_overview", "resolver_audit_overview",
         "audit_trail_collection_health")
SEARCH_TYPES = {"ds.search", "ds.savedSearch", "ds.chain"}


@functools.cache
def generated() -> Dict[str, Dict[str, Any]]:
    return sample_rows.all_rows()


def _definition(view: str) -> Dict[str, Any]:
    return sample_rows.StudioView.read(sample_rows.VIEWS_DIR / f"{view}.xml").definition


def _committed(view: str) -> Dict[str, Any]:
    return json.loads((sample_rows.HERE / f"{view}.rows.json").read_text(encoding="utf-8"))


def _column(table: Dict[str, Any], name: str) -> List[Any]:
    index = table["fields"].index(name)
    return [row[index] for row in table["rows"]]


def _series_total(table: Dict[str, Any], names: List[str] = ()) -> int:
    columns = [table["fields"].index(n) for n in names] if names else range(1, len(table["fields"]))
    return sum(sum(row[i] or 0 for i in columns) for row in table["rows"])


def _single(rows: Dict[str, Any], ds_id: str) -> Any:
    return rows[ds_id]["rows"][0][0]


def test_every_shipped_view_has_rows_and_no_rows_file_is_orphaned() -> None:
    assert {path.name.split(".")[0] for path in sample_rows.HERE.glob("*.rows.json")} == set(VIEWS)
    assert {path.stem for path in sample_rows.VIEWS_DIR.glob("*.xml")} == set(VIEWS)


@pytest.mark.parametrize("view", VIEWS)
def test_committed_rows_are_what_the_generator_writes(view: str) -> None:
    """Editing a search, a conf or the demo data without regenerating the rows files fails here."""
    expected = sample_rows.dumps(generated()[view])
    actual = (sample_rows.HERE / f"{view}.rows.json").read_text(encoding="utf-8")
    assert actual == expected, "run: python3 tests/dashboards/sample_rows.py"


@pytest.mark.parametrize("view", VIEWS)
def test_every_search_of_the_view_has_rows_and_nothing_else_does(view: str) -> None:
    searches = {ds_id for ds_id, ds in _definition(view)["dataSources"].items() if ds["type"] in SEARCH_TYPES}
    assert set(_committed(view)) - {"@tokens"} == searches


@pytest.mark.parametrize("view", VIEWS)
def test_every_search_returns_rows_from_the_demo(view: str) -> None:
    """A panel whose search finds nothing in the demo names a field the confs never produce (or a filter
    that can never match); the picture would show an empty panel."""
    for ds_id, table in _committed(view).items():
        if ds_id != "@tokens":
            assert table["rows"], f"{view}/{ds_id} returns nothing"
            assert all(any(cell is not None for cell in column) for column in zip(*table["rows"])), (
                f"{view}/{ds_id}: a column is empty in every row: {table['fields']}")


def test_ringcentral_totals_equal_their_breakdowns() -> None:
    rows = _committed("ringcentral_audit_overview")
    changes = _single(rows, "ds_changes_total")
    assert _series_total(rows["ds_changes_over_time"]) == changes
    failed = _single(rows, "ds_failed_logins_total")
    assert sum(_column(rows["ds_failed_logins"], "Failures")) == failed
    assert sum(_column(rows["ds_logins_over_time"], "failure")) == failed
    assert _single(rows, "ds_locked_total") == len(set(_column(rows["ds_locked_accounts"], "Extension id")))
    assert sum(_column(rows["ds_changes_by_admin"], "Changes")) <= changes
    assert set(_column(rows["ds_changes_by_action"], "Action id")) <= set(ACTION_IDS)
    assert set(_column(rows["ds_locked_accounts"], "Action id")) == {"ACCOUNT_LOCKED"}
    assert sum(_column(rows["ds_unclassified"], "Events")) == _single(rows, "ds_unclassified_total")


def test_liveperson_totals_equal_their_breakdowns() -> None:
    rows = _committed("liveperson_audit_overview")
    changes = _single(rows, "ds_changes_total")
    assert _series_total(rows["ds_changes_over_time"]) == changes
    assert sum(_column(rows["ds_changes_by_object"], "Changes")) == changes
    assert len(rows["ds_staff_changes"]["rows"]) == _single(rows, "ds_staff_total")
    assert _single(rows, "ds_admin_grants_total") >= 1
    assert sum(_column(rows["ds_unclassified"], "Events")) == _single(rows, "ds_unclassified_total")


def test_resolver_totals_equal_their_breakdowns() -> None:
    rows = _committed("resolver_audit_overview")
    assert _series_total(rows["ds_changes_over_time"]) == _single(rows, "ds_changes_total")
    refused = [row for row in rows["ds_impersonations"]["rows"] if row[3] == "failure"]
    assert len(refused) == _single(rows, "ds_refused_total")
    assert sum(_column(rows["ds_unclassified"], "Events")) == _single(rows, "ds_unclassified_total")


def test_health_totals_equal_their_breakdowns() -> None:
    rows = _committed("audit_trail_collection_health")
    assert _single(rows, "ds_incomplete_windows") == _series_total(rows["ds_not_complete_over_time"])
    assert _single(rows, "ds_incomplete_windows") == len(rows["ds_failures"]["rows"])
    assert _single(rows, "ds_rate_limited_total") == _series_total(rows["ds_rate_limits_over_time"])
    assert _single(rows, "ds_gaps_total") == len(rows["ds_gaps"]["rows"])
    assert _single(rows, "ds_inputs_reporting") == len(rows["ds_last_poll"]["rows"]) == 3
    assert set(_column(rows["ds_last_poll"], "Source")) == {"ringcentral", "liveperson", "resolver"}
    for row in rows["ds_window_mismatch"]["rows"]:
        record = dict(zip(rows["ds_window_mismatch"]["fields"], row))
        assert int(record["Missing"]) == int(record["totalFound"]) - int(record["Written"]) - int(
            record["Duplicates dropped"])
    # The stray index the demo writes to is exactly what the coverage panel lists.
    assert _column(rows["ds_outside_macros"], "Index") == ["sandbox"]


@pytest.mark.parametrize(
    ("view", "series"),
    [
        ("ringcentral_audit_overview", "ds_changes_over_time"),
        ("ringcentral_audit_overview", "ds_logins_over_time"),
        ("liveperson_audit_overview", "ds_changes_over_time"),
        ("resolver_audit_overview", "ds_changes_over_time"),
        ("audit_trail_collection_health", "ds_records_vs_total"),
        ("audit_trail_collection_health", "ds_lag_over_time"),
    ],
)
def test_time_series_are_daily_and_spread_over_the_thirty_days(view: str, series: str) -> None:
    table = _committed(view)[series]
    times = _column(table, "_time")
    assert times[0].startswith("2025-10-22T00:00:00") and times[-1].startswith("2025-11-21T00:00:00")
    assert len(times) == 31
    days_with_data = sum(1 for row in table["rows"] if any(row[1:]))
    assert days_with_data >= 25


def test_the_picture_shows_the_time_range_the_rows_cover() -> None:
    for view in VIEWS:
        assert _committed(view)["@tokens"] == {"global_time.earliest": "-30d@d", "global_time.latest": "now"}


# -- the SPL emulator the rows come from ----------------------------------------------------------


def _search() -> Search:
    eventtypes = EventTypes({"et": {"search": 'sourcetype="a"'}}, {"m": {"definition": "index=main"}})
    return Search(eventtypes, now=1000.0, buckets=[0.0, 86400.0])


EVENTS = [
    {"_time": 90000.0, "index": "main", "sourcetype": "a", "user": "u1", "n": "3", "status": "failed"},
    {"_time": 500.0, "index": "main", "sourcetype": "a", "user": "u2", "n": "1", "status": "complete"},
    {"_time": 400.0, "index": "other", "sourcetype": "a", "user": "u1", "n": "5", "status": "complete"},
    {"_time": 300.0, "index": "main", "sourcetype": "b", "user": "u3", "n": "7", "status": "complete"},
]


def test_the_emulator_runs_a_dashboard_pipeline() -> None:
    fields, rows = _search()("`m` eventtype=et | stats count AS events sum(n) AS total max(eval(if(status==\"failed\", "
                             "_time, null()))) AS last_failure BY user | sort - events | rename user AS \"User name\"",
                             EVENTS)
    assert fields == ["User name", "events", "total", "last_failure"]
    assert [[row.get(f) for f in fields] for row in rows] == [["u1", 1, 3, 90000], ["u2", 1, 1, None]]


def test_the_emulator_timecharts_by_day_and_fills_counts() -> None:
    fields, rows = _search()("`m` | timechart count(eval(status==\"failed\")) AS failed max(n) AS top", EVENTS)
    assert fields == ["_time", "failed", "top"]
    assert [[row[f] for f in fields] for row in rows] == [[0.0, 0, 7], [86400.0, 1, 3]]
    fields, rows = _search()("`m` | timechart count BY status", EVENTS)
    assert fields == ["_time", "complete", "failed"] and rows[1]["complete"] == 0


def test_the_emulator_runs_tstats_with_an_appended_subsearch() -> None:
    query = ('| tstats count AS events WHERE index=* BY index sourcetype | append [| tstats count AS covered WHERE `m` '
             'BY index sourcetype] | stats sum(events) AS events sum(covered) AS covered BY index sourcetype '
             '| where isnull(covered)')
    _, rows = _search()(query, EVENTS)
    assert [(row["index"], row["sourcetype"], row["events"]) for row in rows] == [("other", "a", 1)]


def test_the_emulator_refuses_what_it_cannot_run() -> None:
    with pytest.raises(SearchError, match="transaction"):
        _search()("`m` | transaction user", EVENTS)
    assert split_pipeline('a | eval x="a|b" | append [ x | y ]') == ["a", 'eval x="a|b"', "append [ x | y ]"]
    assert [a.name for a in parse_aggregations('count dc(x) AS "Two words" max(eval(if(a, b, c)))')] == [
        "count", "Two words", "max"]
