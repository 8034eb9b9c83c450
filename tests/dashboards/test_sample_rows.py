"""The sample rows the dashboards are drawn from: current, complete, and consistent from panel to panel."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.dashboards import sample_rows
from tests.sim.records import ACTION_IDS

VIEWS = ("ringcentral_audit_overview", "ringcentral_collection_health")
VIEWS_DIR = sample_rows.REPO / "default" / "data" / "ui" / "views"
SEARCH_TYPES = {"ds.search", "ds.savedSearch", "ds.chain"}


def _definition(view: str) -> Dict[str, Any]:
    xml = (VIEWS_DIR / f"{view}.xml").read_text(encoding="utf-8")
    return json.loads(re.search(r"<definition>\s*<!\[CDATA\[(.*?)\]\]>", xml, re.S).group(1))


def _commands(query: str) -> List[str]:
    """The pipeline's commands; a | inside quotes or [subsearch] brackets does not split."""
    commands, current, quote, depth = [], [], "", 0
    for char in query:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "|" and depth == 0:
            commands.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    commands.append("".join(current).strip())
    return [c for c in commands if c]


def _search_fields(query: str) -> Tuple[str, Optional[List[str]]]:
    """What the search returns, read from its last table/stats/timechart (and evals after it):
    ("exact", names), or ("series", None) for `timechart ... BY x`, whose columns are values of x."""
    commands = _commands(query)
    added: List[str] = []
    for command in reversed(commands):
        name, _, args = command.partition(" ")
        if name == "eval":
            added = [m for m in re.findall(r"(\w+)\s*=(?!=)", args) if m not in added] + added
        elif name == "table":
            return "exact", re.split(r"[\s,]+", args.strip())
        elif name in ("stats", "timechart"):
            match = re.match(r"(.*?)(?:\s+BY\s+(.*))?$", args, re.I | re.S)
            aggregations, by = match.group(1), match.group(2) or ""
            aliases = re.findall(r"\bAS\s+(\w+)", aggregations, re.I)
            if name == "timechart":
                return ("series", None) if by.strip() else ("exact", ["_time", *aliases])
            fields = by.split() + aliases
            return "exact", fields + [a for a in added if a not in fields]
    return "exact", None


def _committed(view: str) -> Dict[str, Any]:
    return json.loads((sample_rows.HERE / f"{view}.rows.json").read_text(encoding="utf-8"))


def _column(table: Dict[str, Any], name: str) -> List[Any]:
    index = table["fields"].index(name)
    return [row[index] for row in table["rows"]]


def _series_total(table: Dict[str, Any]) -> int:
    return sum(sum(value or 0 for value in row[1:]) for row in table["rows"])


@pytest.mark.parametrize("view", VIEWS)
def test_committed_rows_are_what_the_generator_writes(view: str) -> None:
    """Editing the generator or the demo data without regenerating the rows files fails here."""
    expected = sample_rows.dumps(sample_rows.all_rows()[view])
    actual = (sample_rows.HERE / f"{view}.rows.json").read_text(encoding="utf-8")
    assert actual == expected, "run: python3 tests/dashboards/sample_rows.py"


@pytest.mark.parametrize("view", VIEWS)
def test_every_search_of_the_view_has_rows_and_nothing_else_does(view: str) -> None:
    """The rows files follow the dashboard: one entry per search, named by data source id."""
    searches = {ds_id for ds_id, ds in _definition(view)["dataSources"].items() if ds["type"] in SEARCH_TYPES}
    assert set(_committed(view)) - {"@tokens"} == searches


@pytest.mark.parametrize("view", VIEWS)
def test_rows_have_the_fields_each_search_returns(view: str) -> None:
    """A search that gains or renames a field needs new rows; otherwise the picture shows an old panel."""
    rows = _committed(view)
    for ds_id, ds in _definition(view)["dataSources"].items():
        if ds["type"] != "ds.search":
            continue
        kind, fields = _search_fields(ds["options"]["query"])
        if kind == "series":
            assert rows[ds_id]["fields"][0] == "_time" and len(rows[ds_id]["fields"]) > 1, ds_id
        else:
            assert fields is not None, f"{ds_id}: cannot tell the fields of its search; extend _search_fields"
            assert rows[ds_id]["fields"] == fields, ds_id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("`m` | stats count AS n latest(_time) AS last BY user src | sort - n | eval last=strftime(last, \"%F\")",
         ("exact", ["user", "src", "n", "last"])),
        ("`m` | timechart sum(a) AS a sum(b) AS b", ("exact", ["_time", "a", "b"])),
        ("`m` | timechart count BY status", ("series", None)),
        ("`m` | eval x=\"a|b\" | table x y | head 5", ("exact", ["x", "y"])),
        ("`m` | foreach f* [eval x=1 | eval y=2] | table x", ("exact", ["x"])),
    ],
)
def test_search_fields_reads_the_last_shaping_command(query: str, expected: Tuple[str, Any]) -> None:
    assert _search_fields(query) == expected


def test_overview_totals_equal_their_breakdowns() -> None:
    rows = _committed("ringcentral_audit_overview")
    changes = rows["ds_changes_total"]["rows"][0][0]
    assert sum(_column(rows["ds_changes_by_action"], "changes")) == changes
    assert _series_total(rows["ds_changes_over_time"]) == changes
    failed = rows["ds_failed_logins_total"]["rows"][0][0]
    assert sum(_column(rows["ds_failed_logins"], "failures")) == failed
    assert sum(_column(rows["ds_logins_over_time"], "failure")) == failed
    assert rows["ds_locked_total"]["rows"][0][0] == len(set(_column(rows["ds_locked_accounts"], "user")))
    assert sum(_column(rows["ds_changes_by_admin"], "changes")) <= changes
    assert set(_column(rows["ds_changes_by_action"], "command")) <= set(ACTION_IDS)
    assert set(_column(rows["ds_locked_accounts"], "command")) == {"ACCOUNT_LOCKED"}


def test_health_totals_equal_their_breakdowns() -> None:
    rows = _committed("ringcentral_collection_health")
    assert rows["ds_incomplete_windows"]["rows"][0][0] == sum(_column(rows["ds_status_over_time"], "failed"))
    assert rows["ds_rate_limited_total"]["rows"][0][0] == _series_total(rows["ds_rate_limits_over_time"])
    assert rows["ds_gaps_total"]["rows"][0][0] == len(rows["ds_gaps"]["rows"])
    assert rows["ds_inputs_reporting"]["rows"][0][0] == len(rows["ds_last_poll"]["rows"])
    failed_summaries = [row for row in rows["ds_failures"]["rows"] if row[2] == "collection summary"]
    assert len(failed_summaries) == rows["ds_incomplete_windows"]["rows"][0][0]
    for row in rows["ds_window_mismatch"]["rows"]:
        record = dict(zip(rows["ds_window_mismatch"]["fields"], row))
        assert record["missing"] == record["total_found"] - record["records_emitted"] - record["duplicates_dropped"]


@pytest.mark.parametrize(
    ("view", "series"),
    [
        ("ringcentral_audit_overview", "ds_changes_over_time"),
        ("ringcentral_audit_overview", "ds_logins_over_time"),
        ("ringcentral_collection_health", "ds_status_over_time"),
        ("ringcentral_collection_health", "ds_records_vs_total"),
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
