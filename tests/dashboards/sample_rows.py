"""Sample rows that stand in for the searches when the shipped dashboards are drawn offline.

The demo data set (300 audit records over 30 days from ``tests.sim.records``, one input "prod") is
pushed through the same steps as each dashboard search: the action lookup, the calculated fields and
event types of the add-on, then each panel's stats/timechart. The rows are therefore the action ids,
names and counts of the demo, and every total equals the sum of the breakdown it summarises.
The collection-health rows replay the input's 5-minute schedule over the same 30 days, including the
incidents that dashboard exists to show: a retention gap at the first run, an outage, a burst of 429s
and one window where the API returned fewer records than its totalFound.

Run ``python3 tests/dashboards/sample_rows.py`` after changing a dashboard search or the demo data;
``test_sample_rows.py`` fails while the committed files differ from what this writes.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.sim.records import generate_records  # noqa: E402

HERE = Path(__file__).resolve().parent
UTC = timezone.utc
DEMO_RECORDS = 300
DEMO_SEED = 1
INPUT = "prod"
# The input is created (and the demo tenant starts) here; the pictures are taken 30 days later.
CREATED = datetime(2025, 10, 22, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(days=30, seconds=150)
# The input asks for history from this date; everything before the API's retention becomes a gap.
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
INTERVAL_S = 300
SETTLE_S = 300
OVERLAP_S = 900
RETENTION_S = 180 * 86400 - 3600
RETRY_AFTER_S = 60.0
MAX_RATE_LIMITED = 5
# What the picture's time picker shows: the whole demo instead of the dashboards' default 24 hours.
TOKENS = {"global_time.earliest": "-30d@d", "global_time.latest": "now"}

Row = List[Any]
Table = Dict[str, Any]


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _strftime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(fields: List[str], rows: Iterable[Row]) -> Table:
    return {"fields": fields, "rows": [list(row) for row in rows]}


# -- audit records as Splunk sees them --------------------------------------------------------------------


def _action_lookup() -> List[Dict[str, str]]:
    with (REPO / "lookups" / "ringcentral_audit_actions.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _classify(lookup: List[Dict[str, str]], action_id: str, event_type: str) -> Dict[str, str]:
    # transforms.conf: WILDCARD match on both columns, case-insensitive, first row wins.
    for row in lookup:
        if fnmatch.fnmatchcase(action_id.lower(), row["actionId"].lower()) and fnmatch.fnmatchcase(
            event_type.lower(), row["eventType"].lower()
        ):
            return row
    msg = f"no lookup row for {action_id}/{event_type}"
    raise LookupError(msg)


@dataclass(frozen=True)
class AuditEvent:
    """One audit record with the fields the add-on's search-time knowledge gives it."""

    time: datetime
    command: str
    action: str
    cim_dataset: str
    object_category: str
    result: str
    src_user: str
    user: str
    object: str
    src: str
    vendor_account: str
    details: Tuple[Tuple[str, str], ...]

    @property
    def is_change(self) -> bool:
        return self.cim_dataset != "Authentication"

    @property
    def is_authentication(self) -> bool:
        return self.cim_dataset == "Authentication"

    @property
    def is_login_failed(self) -> bool:
        return self.is_authentication and self.action == "failure"

    @property
    def is_account_locked(self) -> bool:
        return self.cim_dataset == "Account_Management" and self.result == "lockout"

    def change_text(self) -> List[str]:
        """The overview's `change` column: old -> new pairs, else key = value pairs (multivalue)."""
        params = dict(self.details)
        pairs = []
        for key, old in params.items():
            if key.startswith("old"):
                pairs.append(f"{key[3:]}: {old} → {params.get('new' + key[3:], '(none)')}")
        for key, new in params.items():
            if key.startswith("new") and "old" + key[3:] not in params:
                pairs.append(f"{key[3:]}: (none) → {new}")
        return pairs or [f"{key} = {value}" for key, value in self.details]


def audit_events() -> List[AuditEvent]:
    """The demo's audit records, newest first, as search results would list them."""
    lookup = _action_lookup()
    events = []
    end = NOW - timedelta(seconds=SETTLE_S + INTERVAL_S)
    for record in generate_records(DEMO_RECORDS, CREATED, end, seed=DEMO_SEED):
        initiator: Dict[str, str] = record["initiator"]  # type: ignore[assignment]
        target: Dict[str, str] = record["target"]  # type: ignore[assignment]
        row = _classify(lookup, str(record["actionId"]), str(record["eventType"]))
        target_name = target.get("name") or target.get("extensionNumber") or target.get("objectId", "")
        params = record.get("details", {}).get("parameters", [])  # type: ignore[union-attr]
        events.append(AuditEvent(
            time=datetime.strptime(str(record["eventTime"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
            command=str(record["actionId"]),
            action=row["action"],
            cim_dataset=row["cim_dataset"],
            object_category=row["object_category"],
            result=row["result"],
            src_user=initiator["name"],
            user=target_name if target.get("objectType", "").lower() == "extension" else initiator["name"],
            object=target_name,
            src=str(record["clientIp"]),
            vendor_account=str(record["accountId"]),
            details=tuple((p["key"], p["value"]) for p in params),
        ))
    return events


# -- timechart ------------------------------------------------------------------------------------------


def _days() -> List[datetime]:
    first = datetime(CREATED.year, CREATED.month, CREATED.day, tzinfo=UTC)
    count = (NOW - first).days + 1
    return [first + timedelta(days=i) for i in range(count)]


def _day_of(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def timechart(
    items: Iterable[Any],
    when: Callable[[Any], datetime],
    series: Callable[[Any], str],
    value: Callable[[Any], Optional[float]],
    combine: Callable[[List[float]], float],
    empty: Optional[float] = 0,
) -> Table:
    """`timechart span=1d <combine>(value) BY series` over the 30 days: one row per day, a column per
    series (alphabetical), `empty` where a day has no value."""
    cells: Dict[Tuple[datetime, str], List[float]] = defaultdict(list)
    names = set()
    for item in items:
        name = series(item)
        names.add(name)
        number = value(item)
        if number is not None:
            cells[(_day_of(when(item)), name)].append(number)
    ordered = sorted(names)
    rows = []
    for day in _days():
        rows.append([_iso_ms(day)] + [
            combine(cells[(day, name)]) if cells[(day, name)] else empty for name in ordered
        ])
    return _table(["_time", *ordered], rows)


# -- overview -------------------------------------------------------------------------------------------


def overview_rows(events: List[AuditEvent]) -> Dict[str, Table]:
    changes = [e for e in events if e.is_change]
    failed = [e for e in events if e.is_login_failed]
    locked = [e for e in events if e.is_account_locked]
    by_admin = Counter(e.src_user for e in changes)
    by_command = Counter(e.command for e in changes)
    failures: Dict[Tuple[str, str], List[datetime]] = defaultdict(list)
    for event in failed:
        failures[(event.user, event.src)].append(event.time)
    failure_rows = sorted(
        ([user, src, len(times), _strftime(max(times))] for (user, src), times in failures.items()),
        key=lambda row: (-row[2], row[0], row[1]),
    )

    def ranked(counter: Counter, limit: int) -> List[Row]:
        return [[name, n] for name, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]

    return {
        "ds_changes_total": _table(["changes"], [[len(changes)]]),
        "ds_admins_total": _table(["admins"], [[len({e.src_user for e in changes})]]),
        "ds_locked_total": _table(["locked_accounts"], [[len({e.user for e in locked})]]),
        "ds_failed_logins_total": _table(["failed_logins"], [[len(failed)]]),
        "ds_changes_over_time": timechart(changes, lambda e: e.time, lambda e: e.action, lambda e: 1, len),
        "ds_changes_by_admin": _table(["src_user", "changes"], ranked(by_admin, 10)),
        "ds_changes_by_action": _table(["command", "changes"], ranked(by_command, 15)),
        "ds_logins_over_time": timechart(
            [e for e in events if e.is_authentication], lambda e: e.time, lambda e: e.action, lambda e: 1, len
        ),
        "ds_locked_accounts": _table(
            ["time", "user", "src", "src_user", "command", "vendor_account"],
            ([_strftime(e.time), e.user, e.src, e.src_user, e.command, e.vendor_account] for e in locked),
        ),
        "ds_failed_logins": _table(["user", "src", "failures", "last_failure"], failure_rows),
        "ds_recent_changes": _table(
            ["time", "src_user", "command", "user", "object", "object_category", "change", "src"],
            (
                [_strftime(e.time), e.src_user, e.command, e.user, e.object, e.object_category,
                 e.change_text(), e.src]
                for e in changes[:100]
            ),
        ),
    }


# -- collection health ----------------------------------------------------------------------------------


@dataclass
class WindowEvent:
    """One collection summary as the dashboard reads it (input_name and gap_count come from props.conf)."""

    finished: datetime
    status: str
    window_from: datetime
    window_to: datetime
    records_emitted: int = 0
    total_found: Optional[int] = None
    duplicates_dropped: int = 0
    rate_limited: int = 0
    lag_seconds: float = 0.0
    error: str = ""
    gaps: List[Dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class LogLine:
    time: datetime
    action: str
    error: str = ""
    retry_after: str = ""


# Incidents by run time: (first run, number of runs) -> what happened.
OUTAGE = (CREATED + timedelta(days=11, hours=0, minutes=0), 4)
RATE_LIMITED = {  # run time -> 429 responses in that run; more than MAX_RATE_LIMITED aborts the run
    CREATED + timedelta(days=19, hours=5, minutes=0): 1,
    CREATED + timedelta(days=19, hours=5, minutes=5): 2,
    CREATED + timedelta(days=19, hours=5, minutes=10): 3,
    CREATED + timedelta(days=19, hours=5, minutes=15): 6,
    CREATED + timedelta(days=19, hours=5, minutes=25): 2,
    CREATED + timedelta(days=20, hours=1, minutes=40): 1,
}
# From here on, the first window with new records is one where the API returned a record fewer than it counted.
SHORT_WINDOW_AFTER = CREATED + timedelta(days=25)
OUTAGE_ERROR = "RetriableSourceError: HTTP 503 Service Unavailable (gave up after 5 attempts)"
ABORT_ERROR = f"RunAborted: rate limited {MAX_RATE_LIMITED + 1} times in a row; resuming next interval"


def collection_history(events: List[AuditEvent]) -> Tuple[List[WindowEvent], List[LogLine]]:
    """Replays the input's schedule over the demo: one summary per run, plus the log lines of failures."""
    times = sorted(e.time for e in events)
    rng = random.Random(DEMO_SEED)

    def count(start: datetime, end: datetime) -> int:
        return sum(1 for t in times if start <= t < end)

    windows: List[WindowEvent] = []
    logs: List[LogLine] = []
    watermark: Optional[datetime] = None
    short_done = False
    run = CREATED
    while run <= NOW - timedelta(seconds=INTERVAL_S / 2):
        window_to = run - timedelta(seconds=SETTLE_S)
        gaps: List[Dict[str, Any]] = []
        if watermark is None:
            floor = run - timedelta(seconds=RETENTION_S)
            gaps.append({"reason": "retention", "from": _iso_ms(START_DATE),
                         "to": _iso_ms(floor - timedelta(milliseconds=1)), "records_lost": None})
            window_from, new_from = floor, floor
        else:
            window_from, new_from = watermark - timedelta(seconds=OVERLAP_S), watermark
        hits = RATE_LIMITED.get(run, 0)
        duration = round(rng.uniform(0.6, 1.8), 3) + RETRY_AFTER_S * min(hits, MAX_RATE_LIMITED + 1)
        for i in range(hits):
            logs.append(LogLine(run + timedelta(seconds=1 + RETRY_AFTER_S * i), "rate_limited",
                                retry_after=f"{RETRY_AFTER_S:.1f}"))
        summary = WindowEvent(finished=run, status="complete", window_from=window_from, window_to=window_to,
                              rate_limited=hits, gaps=gaps)
        in_outage = OUTAGE[0] <= run < OUTAGE[0] + timedelta(seconds=INTERVAL_S * OUTAGE[1])
        if in_outage or hits > MAX_RATE_LIMITED:
            summary.status = "failed"
            summary.error = OUTAGE_ERROR if in_outage else ABORT_ERROR
            duration += 94.0 if in_outage else 0.0
        else:
            summary.records_emitted = count(new_from, window_to)
            summary.duplicates_dropped = count(window_from, new_from)
            summary.total_found = summary.records_emitted + summary.duplicates_dropped
            if not short_done and run >= SHORT_WINDOW_AFTER and summary.records_emitted:
                summary.total_found += 1
                short_done = True
            watermark = window_to
        summary.finished = run + timedelta(seconds=duration)
        summary.lag_seconds = round((summary.finished - window_to).total_seconds(), 3)
        if summary.status == "failed":
            logs.append(LogLine(summary.finished, "collection_failed", error=summary.error))
        windows.append(summary)
        # A run that outlasts the interval delays the next one, as Splunk never overlaps runs of an input.
        run += timedelta(seconds=INTERVAL_S * (1 + int(duration // INTERVAL_S)))
    return windows, logs


def health_rows(windows: List[WindowEvent], logs: List[LogLine]) -> Dict[str, Table]:
    newest = sorted(windows, key=lambda w: w.finished, reverse=True)
    latest = newest[0]
    last_success = next(w for w in newest if w.status == "complete")
    short = [w for w in windows if w.total_found is not None
             and w.records_emitted + w.duplicates_dropped != w.total_found]
    failures: List[Tuple[datetime, Row]] = [
        (w.finished, [_strftime(w.finished), INPUT, "collection summary", w.status, None, w.error, None])
        for w in windows if w.status == "failed"
    ]
    failures += [
        (line.time, [_strftime(line.time), INPUT, "add-on log", None, line.action, line.error or None,
                     line.retry_after or None])
        for line in logs
    ]
    failures.sort(key=lambda item: item[0], reverse=True)
    return {
        "ds_inputs_reporting": _table(["inputs"], [[1]]),
        "ds_incomplete_windows": _table(["incomplete_windows"], [[sum(w.status != "complete" for w in windows)]]),
        "ds_rate_limited_total": _table(["rate_limited_429"], [[sum(w.rate_limited for w in windows)]]),
        "ds_gaps_total": _table(["gaps"], [[sum(len(w.gaps) for w in windows)]]),
        "ds_last_poll": _table(
            ["input_name", "last_success", "minutes_since_success", "last_status", "collected_up_to",
             "lag_seconds", "last_poll"],
            [[INPUT, _strftime(last_success.finished),
              round((NOW - last_success.finished).total_seconds() / 60, 1), latest.status,
              _iso_ms(latest.window_to), latest.lag_seconds, _strftime(latest.finished)]],
        ),
        "ds_lag_over_time": timechart(windows, lambda w: w.finished, lambda w: INPUT, lambda w: w.lag_seconds,
                                      max, empty=None),
        "ds_records_vs_total": _merge_columns(
            timechart(windows, lambda w: w.finished, lambda w: "records_emitted", lambda w: w.records_emitted, sum),
            timechart(windows, lambda w: w.finished, lambda w: "duplicates_dropped", lambda w: w.duplicates_dropped,
                      sum),
            timechart(windows, lambda w: w.finished, lambda w: "total_found", lambda w: w.total_found, sum),
        ),
        "ds_window_mismatch": _table(
            ["input_name", "window_from", "window_to", "status", "total_found", "records_emitted",
             "duplicates_dropped", "malformed_records", "missing"],
            ([INPUT, _iso_ms(w.window_from), _iso_ms(w.window_to), w.status, w.total_found, w.records_emitted,
              w.duplicates_dropped, 0, w.total_found - w.records_emitted - w.duplicates_dropped]
             for w in sorted(short, key=lambda w: w.finished, reverse=True)),
        ),
        "ds_rate_limits_over_time": timechart(windows, lambda w: w.finished, lambda w: INPUT,
                                              lambda w: w.rate_limited, sum),
        "ds_status_over_time": timechart(windows, lambda w: w.finished, lambda w: w.status, lambda w: 1, len),
        "ds_gaps": _table(
            ["input_name", "reason", "from", "to", "records_lost", "window_from", "window_to", "status"],
            ([INPUT, g["reason"], g["from"], g["to"], g["records_lost"], _iso_ms(w.window_from),
              _iso_ms(w.window_to), w.status] for w in windows for g in w.gaps),
        ),
        "ds_failures": _table(
            ["time", "input_name", "origin", "status", "action", "error", "retry_after"],
            (row for _, row in failures[:200]),
        ),
    }


def _merge_columns(first: Table, *others: Table) -> Table:
    """Side by side timecharts of the same days, as one timechart with several aggregations."""
    fields = first["fields"] + [name for table in others for name in table["fields"][1:]]
    rows = [row + [value for table in others for value in table["rows"][i][1:]] for i, row in enumerate(first["rows"])]
    return _table(fields, rows)


# -- files ----------------------------------------------------------------------------------------------


def all_rows() -> Dict[str, Dict[str, Any]]:
    """Rows per dashboard (view name -> rows file content)."""
    events = audit_events()
    windows, logs = collection_history(events)
    return {
        "ringcentral_audit_overview": {"@tokens": TOKENS, **overview_rows(events)},
        "ringcentral_collection_health": {"@tokens": TOKENS, **health_rows(windows, logs)},
    }


def dumps(content: Dict[str, Any]) -> str:
    """JSON with one table row per line, so a review diff shows which rows changed."""
    parts = []
    for key, value in content.items():
        if "rows" in value:
            rows = ",\n".join(f"      {json.dumps(row, ensure_ascii=False)}" for row in value["rows"])
            body = (f'{{\n    "fields": {json.dumps(value["fields"])},\n    "rows": [\n{rows}\n    ]\n  }}'
                    if rows else f'{{"fields": {json.dumps(value["fields"])}, "rows": []}}')
        else:
            body = json.dumps(value, ensure_ascii=False)
        parts.append(f"  {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    for view, content in all_rows().items():
        path = HERE / f"{view}.rows.json"
        path.write_text(dumps(content), encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
