"""The demo data set as Splunk would hold it: events of every source, with their search-time fields.

Thirty days of one RingCentral input (the 300 records of ``tests.sim.records``), one LivePerson and one
Resolver input, each input's collection summaries on its schedule, and the add-on's log lines. Raw
events are written as the inputs write them and pushed through the app's own props, transforms and
lookups (``tests/searchtime``), so every field a dashboard reads is what the shipped confs produce.

The collection history replays each schedule with the incidents Collection Health exists to show: a
retention gap at the first run, an outage, a burst of 429s, a window where RingCentral returned a record
fewer than it counted, a LivePerson key that was rejected for a while, and a Resolver backfill that
needed three export jobs. A second RingCentral input writes to an index the macro does not cover.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.searchtime.conf import default_conf  # noqa: E402
from tests.searchtime.pipeline import SearchTime  # noqa: E402
from tests.sim.records import generate_records  # noqa: E402

UTC = timezone.utc
DEMO_RECORDS = 300
DEMO_SEED = 1
# The inputs are created (and the demo tenants start) here; the pictures are taken 30 days later.
CREATED = datetime(2025, 10, 22, 9, 0, tzinfo=UTC)
NOW = CREATED + timedelta(days=30, seconds=150)
START_DATE = datetime(2025, 1, 1, tzinfo=UTC)
INDEX = "main"
STRAY_INDEX = "sandbox"  # where a test input wrote, outside every index macro
RETRY_AFTER_S = 60.0
MAX_RATE_LIMITED = 5

Event = Dict[str, Any]


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _compact(record: Dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


class Indexer:
    """Turns raw events into what a search sees: the app's search-time fields plus Splunk's own."""

    def __init__(self) -> None:
        self.search_time = SearchTime(default_conf("props"), default_conf("transforms"), REPO / "lookups")

    def event(self, raw: str, sourcetype: str, source: str, moment: datetime, index: str = INDEX) -> Event:
        fields = self.search_time.extract(raw, sourcetype, {"index": index, "source": source, "host": "hf1"})
        fields["_time"] = moment.timestamp()
        return fields


# -- RingCentral records ------------------------------------------------------------------------------


def ringcentral_events(indexer: Indexer) -> List[Event]:
    end = NOW - timedelta(seconds=600)
    events = []
    for record in generate_records(DEMO_RECORDS, CREATED, end, seed=DEMO_SEED):
        moment = datetime.strptime(str(record["eventTime"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        events.append(indexer.event(_compact(record), "ringcentral:audit", "ringcentral_audit://prod", moment))
    # A test input someone pointed at another index: Collection Health lists it as outside the macro.
    for record in generate_records(12, CREATED + timedelta(days=27), end, seed=7):
        moment = datetime.strptime(str(record["eventTime"]), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        events.append(indexer.event(_compact(record), "ringcentral:audit", "ringcentral_audit://sandbox", moment,
                                    index=STRAY_INDEX))
    return events


# -- LivePerson rows ----------------------------------------------------------------------------------

_LP_PEOPLE = (
    # (originator, login, user id, user agent, auth type, is LivePerson staff, weight)
    ("Maria Garcia", "maria.garcia@example.com", "4011227710", "Mozilla/5.0 (Windows NT 10.0) Chrome/126.0", "SSO",
     False, 5),
    ("Tom Becker", "tom.becker", "4011227711", "Mozilla/5.0 (Macintosh) Safari/605.1.15", "LP", False, 4),
    ("Aisha Khan", "aisha.khan@example.com", "4011227712", "Mozilla/5.0 (Windows NT 10.0) Edge/126.0", "SSO", False,
     3),
    ("Provisioning API", "api_provisioning", "4011227799", "python-requests/2.32", "OAUTH1", False, 2),
    ("LivePerson Support", "lpa_support_17", "2600000017", "Mozilla/5.0 (X11; Linux) Firefox/127.0", "LPA", True, 1),
)
_LP_AGENTS = ("Jane Doe", "Sam Lee", "Ray Chen", "Noor Ali", "Lucas Meyer", "Emma Rossi", "Kenji Sato")
_LP_OBJECTS: Tuple[Tuple[str, int, Tuple[str, ...], Tuple[str, ...]], ...] = (
    # (objectType, weight, names, elements)
    ("Users", 30, _LP_AGENTS, ("Profiles", "Skills", "Max chats", "Password", "Email", "Nickname")),
    ("Skills", 15, ("Billing - Tier 1", "Billing - Tier 2", "Sales", "Retention"), ("Max chats", "Description")),
    ("Agent Groups", 10, ("Tier 1", "Tier 2", "Night shift"), ("Member of", "Name")),
    ("Profiles", 7, ("Agent", "Agent Manager", "Campaign Manager"), ("Generate secure form token", "View reports")),
    ("Campaigns", 10, ("Black Friday 2025", "Holiday Sale", "Retention Q4"), ("Goal", "Engagement")),
    ("Predefined Content", 9, ("Holiday greeting", "Refund policy", "Closing line"), ("Text", "Category")),
    ("Working hours", 5, ("Default hours",), ("Monday", "Saturday")),
    ("Special occasions", 3, ("Thanksgiving", "Christmas Eve"), ("Hours",)),
    ("LOBs", 3, ("Consumer", "Business"), ("Name",)),
    ("Conversation Routing Rules", 2, ("VIP routing", "Overflow"), ("Priority",)),
)


def _lp_row(rng: random.Random, moment: datetime) -> Dict[str, Any]:
    person = rng.choices(_LP_PEOPLE, weights=[p[6] for p in _LP_PEOPLE])[0]
    object_type, _, names, elements = rng.choices(_LP_OBJECTS, weights=[o[1] for o in _LP_OBJECTS])[0]
    name, roll = rng.choice(names), rng.random()
    if roll < 0.12:
        element, action_type, old, new = "N/A", "add new", "", name
    elif roll < 0.18:
        element, action_type, old, new = "N/A", "delete", name, ""
    else:
        element, action_type = rng.choice(elements), "edit"
        old, new = (f"{rng.randrange(1, 6)}", f"{rng.randrange(1, 9)}")
        if element == "Profiles":
            old, new = "Agent", rng.choice(("Agent Manager", "Agent, Campaign Manager", "Agent, Administrator"))
        elif element == "Password":
            old, new = "", ""
        elif element in ("Text", "Description", "Name", "Email", "Nickname", "Category", "Goal", "Engagement"):
            old, new = f"{element} v{rng.randrange(1, 5)}", f"{element} v{rng.randrange(5, 9)}"
    row: Dict[str, Any] = {"accountId": "le52642741", "changeDate": moment.strftime("%Y-%m-%d %H:%M:%S.0"),
                           "objectType": object_type, "objectName": name}
    # The API serves actionType to some accounts only; a third of the rows come without it.
    if rng.random() < 0.67:
        row["actionType"] = action_type
    row.update({"element": element, "originator": person[0], "originatorLoginName": person[1],
                "originatorUserId": person[2], "originatorUserAgent": person[3], "originatorAuthType": person[4],
                "originatorIsLpa": person[5], "oldValue": old, "newValue": new})
    return row


def liveperson_events(indexer: Indexer, count: int = 220, seed: int = 3) -> List[Event]:
    rng = random.Random(seed)
    span = int((NOW - CREATED).total_seconds()) - 900
    events = []
    for _ in range(count):
        moment = CREATED + timedelta(seconds=rng.randrange(span))
        raw = _compact(_lp_row(rng, moment))
        events.append(indexer.event(raw, "liveperson:audit", "liveperson_audit://brand_main", moment))
    return events


# -- Resolver rows ------------------------------------------------------------------------------------

_RS_USERS = (("Jane Doe", "EMP-10442"), ("Omar Haddad", "EMP-10013"), ("Ken Watanabe", "EMP-10877"),
             ("Lucia Gomez", "EMP-10231"), ("Peter Novak", "EMP-10555"), ("Mei Lin", "EMP-10090"))
_RS_ADMINS = ("Priya Natarajan", "Daniel Okafor")
_RS_EVENTS: Tuple[Tuple[str, int], ...] = (
    ("Update User", 35), ("Add User", 10), ("Update User Group", 10), ("Impersonate User", 8),
    ("Multiple Attributes Updated", 8), ("Unsuccessful Impersonate User", 3), ("Create API Key", 3),
    ("Regenerate Data Warehouse Password", 3), ("Delete User", 3), ("Update Role", 3), ("Add Role", 2),
    ("Reactivate User", 2), ("Add IP Authorization", 1), ("Archive Workflow", 1),
)


def _rs_row(rng: random.Random, moment: datetime) -> Dict[str, Any]:
    event = rng.choices([e for e, _ in _RS_EVENTS], weights=[w for _, w in _RS_EVENTS])[0]
    user, reference = rng.choice(_RS_USERS)
    by = rng.choice(_RS_ADMINS)
    subject, previous, new = user, None, None
    if event == "Update User":
        changes = (("Title: Analyst", "Title: Senior Analyst"), ("Status: Active", "Status: Inactive"),
                   ("Administrator: No", "Administrator: Yes"), ("All Access: Off", "All Access: On"),
                   ("Email: old@example.com", "Email: new@example.com"))
        previous, new = rng.choices(changes, weights=(8, 4, 1, 1, 6))[0]
    elif event in ("Update User Group",):
        subject, previous, new = rng.choice(("Risk Analysts", "Incident Team")), "Members: 4", "Members: 5"
    elif event in ("Update Role", "Add Role"):
        subject = rng.choice(("Auditors", "Investigators"))
    elif event == "Add IP Authorization":
        subject = "10.20.0.0/16"
    elif event == "Archive Workflow":
        subject = "Quarterly Review"
    elif event == "Impersonate User":
        by = f"API User impersonating {user}"
    elif event == "Unsuccessful Impersonate User":
        by = "Contractor Account"
    elif event == "Create API Key" or event == "Regenerate Data Warehouse Password":
        by = user
    row: Dict[str, Any] = {"Date and Time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "Subject": subject, "Event": event,
                           "Performed By": by}
    if subject == user:
        row["External Reference ID"] = reference
    if previous is not None:
        row["Previous Value"], row["New Value"] = previous, new
    return row


def resolver_events(indexer: Indexer, count: int = 160, seed: int = 5) -> List[Event]:
    rng = random.Random(seed)
    span = int((NOW - CREATED).total_seconds()) - 1800
    events = []
    for _ in range(count):
        moment = CREATED + timedelta(seconds=rng.randrange(span))
        raw = _compact(_rs_row(rng, moment))
        events.append(indexer.event(raw, "resolver:audit", "resolver_audit://grc_prod", moment))
    return events


# -- collection summaries and log lines ---------------------------------------------------------------


@dataclass
class Schedule:
    """One input's schedule and the incidents of its demo history."""

    source_type: str
    input_name: str
    interval_s: int
    settle_s: int
    overlap_s: int
    retention_s: int
    totals: bool  # whether the API reports a total per window (RingCentral's totalFound)
    outage: Tuple[datetime, int, str] = (CREATED, 0, "")  # first run, runs, error
    rate_limited: Dict[datetime, int] = field(default_factory=dict)
    short_window_after: Optional[datetime] = None
    record_cap_at: Optional[datetime] = None  # a run whose window held more records than one search returns
    batches: bool = False  # Resolver: summaries say how many export jobs a window needed


SCHEDULES = (
    Schedule("ringcentral", "prod", 300, 300, 900, 180 * 86400 - 3600, True,
             outage=(CREATED + timedelta(days=11), 4,
                     "RetriableSourceError: HTTP 503 Service Unavailable (gave up after 5 attempts)"),
             rate_limited={CREATED + timedelta(days=19, hours=5, minutes=m): n
                           for m, n in ((0, 1), (5, 2), (10, 3), (15, 6), (25, 2))}
             | {CREATED + timedelta(days=20, hours=1, minutes=40): 1},
             short_window_after=CREATED + timedelta(days=25),
             record_cap_at=CREATED + timedelta(days=8, hours=14, minutes=5)),
    Schedule("liveperson", "brand_main", 900, 300, 86400, 396 * 86400, False,
             outage=(CREATED + timedelta(days=6, hours=3), 3,
                     "AuthenticationError: HTTP 401 from the audit API: check the API key's four values")),
    Schedule("resolver", "grc_prod", 900, 900, 1800, 10 * 365 * 86400, False,
             outage=(CREATED + timedelta(days=15, hours=8), 2,
                     "ExportJobTimeout: export job not done after 900 s; polled again next run"),
             rate_limited={CREATED + timedelta(days=22, hours=4): 1},
             batches=True),
)
ABORT_ERROR = f"RunAborted: rate limited {MAX_RATE_LIMITED + 1} times in a row; resuming next interval"


def _log_line(moment: datetime, level: str, body: str) -> str:
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S')},{moment.microsecond // 1000:03d} log_level={level} pid=4242 " \
           f"tid=MainThread file=collector.py:run:1 | {body}"


def collection_events(indexer: Indexer, audit: List[Event]) -> List[Event]:
    """Every input's summaries, replayed on its schedule over the audit events it collected."""
    out: List[Event] = []
    for schedule in SCHEDULES:
        times = sorted(float(e["_time"]) for e in audit if e.get("source_type_demo") == schedule.source_type)
        out += _history(indexer, schedule, times)
    return out


def _history(indexer: Indexer, schedule: Schedule, times: List[float]) -> List[Event]:
    rng = random.Random(schedule.source_type)
    sourcetype = f"{schedule.source_type}:audit:collection"
    source = f"{schedule.source_type}_audit://{schedule.input_name}"
    log_source = f"/opt/splunk/var/log/splunk/ta_audit_trail_{schedule.source_type}_audit.log"

    def count(start: datetime, end: datetime) -> int:
        return sum(1 for t in times if start.timestamp() <= t < end.timestamp())

    events: List[Event] = []
    watermark: Optional[datetime] = None
    short_done = False
    run = CREATED
    outage_start, outage_runs, outage_error = schedule.outage
    while run <= NOW - timedelta(seconds=schedule.interval_s / 2):
        window_to = run - timedelta(seconds=schedule.settle_s)
        gaps: List[Dict[str, Any]] = []
        first_run = watermark is None
        if watermark is None:
            floor = max(START_DATE, run - timedelta(seconds=schedule.retention_s))
            if floor > START_DATE:
                gaps.append({"reason": "retention", "from": iso_ms(START_DATE),
                             "to": iso_ms(floor - timedelta(milliseconds=1)), "records_lost": None})
            window_from, new_from = floor, floor
        else:
            window_from, new_from = watermark - timedelta(seconds=schedule.overlap_s), watermark
        hits = schedule.rate_limited.get(run, 0)
        duration = round(rng.uniform(0.6, 1.8), 3) + RETRY_AFTER_S * min(hits, MAX_RATE_LIMITED + 1)
        for i in range(hits):
            moment = run + timedelta(seconds=1 + RETRY_AFTER_S * i)
            line = _log_line(moment, "WARNING", f"input={schedule.input_name} action=rate_limited "
                                                f"retry_after={RETRY_AFTER_S:.1f} count={i + 1}")
            events.append(indexer.event(line, "ta:audit_trail:log", log_source, moment, index="_internal"))
        summary: Dict[str, Any] = {
            "input": schedule.input_name, "source_type": schedule.source_type, "status": "complete",
            "window_from": iso_ms(window_from), "window_to": iso_ms(window_to), "pages": 1, "requests": 1 + hits,
            "records_emitted": 0, "total_found": None, "duplicates_dropped": 0, "malformed_records": 0,
            "retries": 0, "rate_limited": hits, "rate_limit_wait_seconds": RETRY_AFTER_S * hits, "gaps": gaps,
        }
        in_outage = outage_start <= run < outage_start + timedelta(seconds=schedule.interval_s * outage_runs)
        if in_outage or hits > MAX_RATE_LIMITED:
            summary["status"] = "failed"
            summary["error"] = outage_error if in_outage else ABORT_ERROR
            duration += 94.0 if in_outage else 0.0
        else:
            summary["records_emitted"] = count(new_from, window_to)
            summary["duplicates_dropped"] = count(window_from, new_from)
            if schedule.totals:
                total = summary["records_emitted"] + summary["duplicates_dropped"]
                if not short_done and schedule.short_window_after and run >= schedule.short_window_after \
                        and summary["records_emitted"]:
                    total += 1
                    short_done = True
                summary["total_found"] = total
            watermark = window_to
            if run == schedule.record_cap_at:
                summary["status"] = "partial"
                summary["gaps"].append({"reason": "record_cap", "from": iso_ms(window_from),
                                        "to": iso_ms(window_from + timedelta(seconds=41)), "records_lost": 37})
                summary["error"] = "window holds more records than the API returns for one search"
        if schedule.batches:
            # The first run backfilled the API's whole history, which needed several export jobs.
            summary["batches"] = 3 if first_run else 1
        finished = run + timedelta(seconds=duration)
        summary["lag_seconds"] = round((finished - window_to).total_seconds(), 3)
        summary["duration_seconds"] = round(duration, 3)
        if "error" in summary:
            error = summary.pop("error")
            summary["error"] = error  # last, as the input writes it
            failed = summary["status"] == "failed"
            action, level = ("collection_failed", "ERROR") if failed else ("window_partial", "WARNING")
            line = _log_line(finished, level, f'input={schedule.input_name} action={action} error="{error}"')
            events.append(indexer.event(line, "ta:audit_trail:log", log_source, finished, index="_internal"))
        events.append(indexer.event(_compact(summary), f"{sourcetype}", source, finished))
        # A run that outlasts the interval delays the next one, as Splunk never overlaps runs of an input.
        run += timedelta(seconds=schedule.interval_s * (1 + int(duration // schedule.interval_s)))
    return events


def all_events() -> List[Event]:
    """Every demo event, newest first, as a search returns them."""
    indexer = Indexer()
    audit: List[Event] = []
    for vendor, events in (("ringcentral", ringcentral_events(indexer)), ("liveperson", liveperson_events(indexer)),
                           ("resolver", resolver_events(indexer))):
        for event in events:
            if event["index"] == INDEX:
                event["source_type_demo"] = vendor
        audit += events
    events = audit + collection_events(indexer, audit)
    for event in events:
        event.pop("source_type_demo", None)
    return sorted(events, key=lambda e: -float(e["_time"]))
