"""Realistic LivePerson Conversational Cloud audit rows for the simulator and the tests.

A row is a dict of the public ``auditData`` fields (everything except ``changeDate``, which depends on the zone
a request asks for) plus three hidden keys the API never returns:

- ``instant``: the change's true UTC instant, whole epoch seconds (the API renders 1-second resolution);
- ``lpa``: made by a LivePerson administrator (filtered out unless a request says ``lpa:true``);
- ``automatic``: an automatic update (filtered out unless a request says ``automaticUpdates:true``).

Rows have no id: two rows with the same fields in the same second are genuine repeats, and ``identical`` makes
them on purpose. Object types, elements and ``N/A`` for object-level changes follow the published audit-trail
docs; originator login names, user ids, user agents and auth types are illustrative, since the docs show only
placeholders for them.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from zoneinfo import ZoneInfo

DEFAULT_ACCOUNT_ID = "le81726354"

# Fields every request may select, in the documented order.
PUBLIC_FIELDS: Tuple[str, ...] = (
    "accountId",
    "objectType",
    "objectName",
    "element",
    "oldValue",
    "newValue",
    "originator",
    "originatorLoginName",
    "originatorUserId",
    "originatorUserAgent",
    "originatorAuthType",
    "originatorIsLpa",
    "changeDate",
)
# Only in the 2017 version of the docs; the simulator serves it behind a switch.
ACTION_TYPE = "actionType"
HIDDEN_KEYS: Tuple[str, ...] = ("instant", "lpa", "automatic")
ACTION_TYPES = ("Edit", "Add new", "Delete")

Moment = Union[datetime, int, float]

_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
)
_API_AGENT = "python-requests/2.32"

# (display name, login name, user id, auth type). One name is non-ASCII on purpose.
_ADMINS: Tuple[Tuple[str, str, str, str], ...] = (
    ("Alice Smith", "alice.smith", "3217480012", "LE_LOGIN"),
    ("Bob Jones", "bob.jones", "3217480113", "SSO"),
    ("Chiara Rossi", "chiara.rossi", "3217480214", "SSO"),
    ("Dmitri Volkov", "dmitri.volkov", "3217480315", "LE_LOGIN"),
    ("Léa Dubois", "lea.dubois", "3217480416", "SSO"),
    ("Provisioning Bot", "provisioning-bot", "3217480517", "API_KEY"),
)
_LPAS: Tuple[Tuple[str, str, str, str], ...] = (
    ("LivePerson Admin", "lpa_mkaplan", "1000000021", "LPA"),
    ("LivePerson Admin", "lpa_tnguyen", "1000000022", "LPA"),
)
# How the API labels automatic updates is not documented; a system originator is the natural reading.
_SYSTEM = ("System", "system", "", "SYSTEM")

_AGENTS = ("Grace Chen", "Hiro Tanaka", "Ivan Petrov", "Julia Novak", "Kwame Mensah", "Lena Müller", "Omar Haddad")
_SKILLS = ("Billing", "Sales", "Tier 2 Support", "Spanish", "Retention", "VIP")
_PROFILES = ("Agent", "Agent Manager", "Campaign Manager", "Administrator", "Audit Reviewer")
_GROUPS = ("Main group", "Tier 1", "Tier 2", "EMEA", "Night shift")


_FLIP = ("false", "true")
# objectType -> (object names, [(element, (old, new) choices)]). "N/A" marks an object-level add or delete.
_CATALOG: Dict[str, Tuple[Sequence[str], Sequence[Tuple[str, Sequence[Tuple[str, str]]]]]] = {
    "Users": (
        _AGENTS,
        (
            ("Password", (("", ""),)),
            ("Profile", tuple((a, b) for a in _PROFILES[:3] for b in _PROFILES[:3] if a != b)),
            ("Member of", tuple((a, b) for a in _GROUPS for b in _GROUPS[:3] if a != b)),
            ("Skills", (("Billing", "Billing, Sales"), ("Sales", ""), ("", "Spanish"))),
            ("Max no. of live chats", (("3", "5"), ("5", "4"), ("Unlimited", "8"))),
            ("Enabled", (_FLIP, ("true", "false"))),
            ("Email", (("old@example.com", "new@example.com"),)),
            ("N/A", (("", ""),)),
        ),
    ),
    "Skills": (
        _SKILLS,
        (
            ("Name", (("Billing", "Billing & Payments"), ("Sales", "Sales EMEA"))),
            ("Description", (("", "Handles invoices"), ("Old text", "New text"))),
            ("Max wait time", (("60", "120"), ("300", "180"))),
            ("Transfer to skill", (("", "Tier 2 Support"),)),
            ("N/A", (("", ""),)),
        ),
    ),
    "Profiles": (
        _PROFILES,
        (
            ("Generate secure form token", (_FLIP,)),
            ("View audit trail", (_FLIP, ("true", "false"))),
            ("Edit users", (_FLIP,)),
            ("N/A", (("", ""),)),
        ),
    ),
    "Campaigns": (
        ("Spring Promo", "Checkout Help", "Retention Q3", "Pricing page"),
        (
            ("Status", (("Published", "Unpublished"), ("Unpublished", "Published"))),
            ("Goal", (("Interact with consumers", "Increase sales"),)),
            ("Time frame", (("", "2024-06-01 - 2024-06-30"),)),
            ("N/A", (("", ""),)),
        ),
    ),
    "Agent Groups": (
        _GROUPS,
        (
            ("Name", (("Tier 1", "Tier 1 - Americas"),)),
            ("Parent group", (("Main group", "EMEA"), ("EMEA", "Main group"))),
            ("N/A", (("", ""),)),
        ),
    ),
    "LOBs": (("Retail", "Wholesale", "Care"), (("Name", (("Care", "Customer Care"),)), ("N/A", (("", ""),)))),
    "Predefined Content": (
        ("Greeting", "Closing", "Refund policy"),
        (
            ("Text", (("Hi, how can I help?", "Hello! How can I help you today?"),)),
            ("Categories", (("", "Greetings"), ("Greetings", "Policies"))),
            ("N/A", (("", ""),)),
        ),
    ),
    "Content Categories": (
        ("Greetings", "Policies", "Escalations"),
        (("Name", (("Policy", "Policies"),)), ("N/A", (("", ""),))),
    ),
    "Post Conversation Survey": (
        ("CSAT survey", "NPS survey"),
        (("Status", (("Inactive", "Active"),)), ("N/A", (("", ""),))),
    ),
    "Working Hours": (
        ("Default working hours", "Weekend support"),
        (("Monday", (("09:00-17:00", "08:00-18:00"),)), ("Saturday", (("Closed", "10:00-14:00"),))),
    ),
    "Special Occasions": (("Holidays", "Inventory day"), (("Date", (("", "2024-12-25"),)), ("N/A", (("", ""),)))),
}
_TYPES = tuple(_CATALOG)
# Object types an automatic job plausibly touches (schedules and user availability).
_AUTOMATIC_TYPES = ("Working Hours", "Special Occasions", "Users")


def to_instant(moment: Moment) -> int:
    """Whole UTC epoch seconds of an aware datetime or a number of epoch seconds (fractions are dropped)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            msg = "naive datetime; give a timezone"
            raise ValueError(msg)
        return int(moment.timestamp() // 1)
    return int(moment // 1)


def change_date(instant: int, zone: str = "US/Eastern") -> str:
    """``changeDate`` as the API renders it: ``yyyy-MM-dd HH:mm:ss.0`` wall time in ``zone``."""
    local = datetime.fromtimestamp(instant, timezone.utc).astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S") + ".0"


def identical(row: Dict[str, Any], k: int) -> List[Dict[str, Any]]:
    """``k`` independent copies of ``row``: genuine repeats (same fields, same second)."""
    return [dict(row) for _ in range(k)]


def public_view(row: Dict[str, Any]) -> Dict[str, Any]:
    """The row without its hidden keys."""
    return {key: value for key, value in row.items() if key not in HIDDEN_KEYS}


def generate_rows(
    n: int,
    start: Moment,
    end: Moment,
    seed: int = 1,
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    same_second: Optional[Moment] = None,
    repeat_share: float = 0.0,
    lpa_share: float = 0.05,
    automatic_share: float = 0.1,
) -> List[Dict[str, Any]]:
    """Make ``n`` rows with instants spread over [start, end], oldest first.

    Args:
        n: number of rows.
        start, end: the span (aware datetimes or epoch seconds).
        seed: the same seed gives the same rows.
        account_id: the ``accountId`` field.
        same_second: put every row in this one second instead (distinct rows unless ``repeat_share`` says so).
        repeat_share: chance that a row is an identical copy of the row before it, in the same second.
        lpa_share: share of rows made by LivePerson administrators (``lpa`` and ``originatorIsLpa`` true).
        automatic_share: share of automatic updates (hidden ``automatic`` flag).
    """
    rng = random.Random(seed)
    low, high = to_instant(start), to_instant(end)
    if high < low:
        msg = "end is before start"
        raise ValueError(msg)
    if same_second is not None:
        instants = [to_instant(same_second)] * n
    else:
        instants = sorted(rng.randint(low, high) for _ in range(n))
    rows: List[Dict[str, Any]] = []
    for index in range(n):
        if rows and rng.random() < repeat_share:
            rows.append(dict(rows[-1]))
            continue
        rows.append(_make_row(rng, account_id, instants[index], lpa_share, automatic_share))
    return rows


def _make_row(rng: random.Random, account_id: str, instant: int, lpa_share: float, auto_share: float) -> Dict[str, Any]:
    draw = rng.random()
    automatic = draw < auto_share
    lpa = not automatic and draw < auto_share + lpa_share
    object_type = rng.choice(_AUTOMATIC_TYPES if automatic else _TYPES)
    names, elements = _CATALOG[object_type]
    element, values = rng.choice(elements)
    old, new = rng.choice(values)
    action = rng.choice(ACTION_TYPES[1:]) if element == "N/A" else "Edit"
    if automatic:
        who = _SYSTEM
        agent = ""
    elif lpa:
        who = rng.choice(_LPAS)
        agent = rng.choice(_BROWSERS)
    else:
        who = rng.choice(_ADMINS)
        agent = _API_AGENT if who[3] == "API_KEY" else rng.choice(_BROWSERS)
    return {
        "accountId": account_id,
        "objectType": object_type,
        "objectName": rng.choice(names),
        "element": element,
        "oldValue": old,
        "newValue": new,
        "originator": who[0],
        "originatorLoginName": who[1],
        "originatorUserId": who[2],
        "originatorUserAgent": agent,
        "originatorAuthType": who[3],
        "originatorIsLpa": lpa,
        "actionType": action,
        "instant": instant,
        "lpa": lpa,
        "automatic": automatic,
    }
