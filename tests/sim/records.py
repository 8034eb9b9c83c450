"""Deterministic, schema-faithful Audit Trail records for the simulator, demos and sample data.

The record shape follows ``AccountHistoryPublicRecord`` from RingCentral's public OpenAPI spec. Only
CHANGE_USER_ROLE, CHANGE_SECRET_INFO, CHANGE_USER_INFO and LOGIN_SUCCESSFULLY are action ids seen in
authoritative sources; every other id in ``ACTION_IDS`` is an illustrative guess (see the comments below).
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

DEFAULT_ACCOUNT_ID = "400012345678"
DEFAULT_ACCOUNT_NAME = "Example Corp"

# Illustrative guesses, not confirmed against a real tenant: the public docs say failed logins and lockouts
# are recorded but name no action id for them.
LOGIN_FAILED = "LOGIN_FAILED"
ACCOUNT_LOCKED = "ACCOUNT_LOCKED"

_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$")

# (extensionId, extensionNumber, name, role). A fixed roster keeps users stable across seeds, so
# dashboards built on sample data show the same people every time. One name is non-ASCII on purpose.
_ROSTER: Tuple[Tuple[str, str, str, str], ...] = (
    ("402539300008", "101", "Alice Smith", "Super Admin"),
    ("402539301008", "102", "Bob Jones", "User Admin"),
    ("402539302008", "103", "Charlie Williams", "Standard"),
    ("402539303008", "104", "Dana Lee", "Standard (International)"),
    ("402539304008", "105", "Evan Brown", "Billing Admin"),
    ("402539305008", "106", "Fatima Khan", "Phone System Admin"),
    ("402539306008", "107", "Grace Chen", "Standard"),
    ("402539307008", "108", "Hiro Tanaka", "Standard"),
    ("402539308008", "109", "Ivan Petrov", "Standard (International)"),
    ("402539309008", "110", "Julia Rossi", "Standard"),
    ("402539310008", "111", "Kwame Mensah", "Standard"),
    ("402539311008", "112", "Lena Müller", "Super Admin"),
)
_ADMIN_ROLES = ("Super Admin", "User Admin", "Phone System Admin", "Billing Admin")
_ROLE_NAMES = ("Super Admin", "User Admin", "Standard", "Standard (International)", "Phone System Admin")
_SITE_IDS = ("871836004", "871836005", "871836006")
_DEVICES = (
    "RingCentral App (Windows)",
    "RingCentral App (macOS)",
    "RingCentral App (iOS)",
    "RingCentral App (Android)",
    "Web (Chrome)",
    "Admin Portal",
)
_COMMENTS = (
    "Bulk update via CSV import",
    "Requested in ticket HR-1042",
    "Changed via Admin Portal",
    "Automated provisioning",
)
# RFC 5737 documentation ranges, so sample data never names a real host.
_IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")

_Person = Tuple[str, str, str, str]
# A builder returns (eventType, target, details parameters) for one action.
_Builder = Callable[[random.Random, _Person, _Person, str], Tuple[str, Dict[str, str], List[Dict[str, str]]]]


def _extension_target(person: _Person, rng: random.Random) -> Dict[str, str]:
    target = {
        "objectId": person[0],
        "objectType": "Extension",
        "name": person[2],
        "extensionNumber": person[1],
    }
    if rng.random() < 0.3:
        target["siteId"] = rng.choice(_SITE_IDS)
    return target


def _params(*pairs: Tuple[str, str]) -> List[Dict[str, str]]:
    return [{"key": key, "value": value} for key, value in pairs]


def _case(rng: random.Random, word: str) -> str:
    # The real API mixes "UPDATE" and "Create"; mostly upper case, sometimes not, so consumers must normalise.
    roll = rng.random()
    if roll < 0.7:
        return word.upper()
    return word.capitalize() if roll < 0.85 else word.lower()


def _login(rng: random.Random, actor: _Person, _other: _Person, _account: str) -> tuple:
    params = _params(("deviceName", rng.choice(_DEVICES))) if rng.random() < 0.5 else []
    return "Create", _extension_target(actor, rng), params


def _login_failed(rng: random.Random, actor: _Person, _other: _Person, _account: str) -> tuple:
    params = _params(("deviceName", rng.choice(_DEVICES))) if rng.random() < 0.5 else []
    return "Create", _extension_target(actor, rng), params


def _locked(rng: random.Random, actor: _Person, _other: _Person, _account: str) -> tuple:
    return _case(rng, "update"), _extension_target(actor, rng), []


def _role(rng: random.Random, _actor: _Person, other: _Person, _account: str) -> tuple:
    old, new = rng.sample(_ROLE_NAMES, 2)
    return (
        _case(rng, "update"),
        _extension_target(other, rng),
        _params(("oldRoleName", old), ("newRoleName", new)),
    )


def _secret(rng: random.Random, _actor: _Person, other: _Person, _account: str) -> tuple:
    setting = "Password" if rng.random() < 0.8 else "PIN"
    return _case(rng, "update"), _extension_target(other, rng), _params(("settingName", setting))


def _user_info(rng: random.Random, _actor: _Person, other: _Person, _account: str) -> tuple:
    first, last = other[2].split(" ", 1)
    login = first.lower()
    choice = rng.randrange(3)
    if choice == 0:
        pairs = (("oldEmail", f"{login}@old.example.com"), ("newEmail", f"{login}@example.com"))
    elif choice == 1:
        pairs = (("oldLastName", last + "-Old"), ("newLastName", last))
    else:
        pairs = (("oldJobTitle", "Analyst"), ("newJobTitle", "Senior Analyst"))
    return _case(rng, "update"), _extension_target(other, rng), _params(*pairs)


def _call_handling(rng: random.Random, _actor: _Person, other: _Person, _account: str) -> tuple:
    rule = rng.choice(("Business Hours", "After Hours", "Holiday"))
    return _case(rng, "update"), _extension_target(other, rng), _params(("ruleName", rule))


def _create_ext(rng: random.Random, _actor: _Person, other: _Person, _account: str) -> tuple:
    return _case(rng, "create"), _extension_target(other, rng), _params(("extensionType", "User"))


def _delete_ext(rng: random.Random, _actor: _Person, other: _Person, _account: str) -> tuple:
    return _case(rng, "delete"), _extension_target(other, rng), []


def _company(rng: random.Random, _actor: _Person, _other: _Person, account: str) -> tuple:
    # The spec gives objectId "0" for company-level targets.
    target = {"objectId": "0", "objectType": "Company", "name": account}
    pairs = (("oldCompanyName", account + " Inc"), ("newCompanyName", account))
    return _case(rng, "update"), target, _params(*pairs)


def _account_settings(rng: random.Random, _actor: _Person, _other: _Person, account: str) -> tuple:
    target = {"objectId": "0", "objectType": "Account", "name": account}
    return _case(rng, "update"), target, _params(("settingName", "Session Timeout"), ("newValue", "30"))


def _template(rng: random.Random, _actor: _Person, _other: _Person, _account: str) -> tuple:
    target = {"objectId": str(rng.randrange(10**8, 10**9)), "objectType": "Template", "name": "Sales Team"}
    return _case(rng, "update"), target, _params(("templateName", "Sales Team"))


# (actionId, relative weight, initiator must be an admin, builder). Logins dominate, as in a real tenant.
# Ids after the first four are illustrative guesses, not confirmed against a real tenant.
_CATALOGUE: Tuple[Tuple[str, int, bool, _Builder], ...] = (
    ("LOGIN_SUCCESSFULLY", 35, False, _login),
    ("CHANGE_USER_INFO", 12, True, _user_info),
    ("CHANGE_SECRET_INFO", 8, False, _secret),
    ("CHANGE_USER_ROLE", 5, True, _role),
    (LOGIN_FAILED, 8, False, _login_failed),
    (ACCOUNT_LOCKED, 1, False, _locked),
    ("CHANGE_CALL_HANDLING_RULES", 10, False, _call_handling),
    ("CREATE_EXTENSION", 3, True, _create_ext),
    ("DELETE_EXTENSION", 2, True, _delete_ext),
    ("CHANGE_COMPANY_INFO", 2, True, _company),
    ("CHANGE_ACCOUNT_SETTINGS", 2, True, _account_settings),
    ("CHANGE_TEMPLATE", 2, True, _template),
)

#: Every action id the generator emits, for sample data and search-time tests.
ACTION_IDS: Tuple[str, ...] = tuple(entry[0] for entry in _CATALOGUE)

# Actions that a user performs on themselves (login events), rather than an admin on someone else.
_SELF_ACTIONS = frozenset(("LOGIN_SUCCESSFULLY", LOGIN_FAILED, ACCOUNT_LOCKED, "CHANGE_SECRET_INFO"))


def to_epoch_ms(moment: datetime) -> int:
    """Convert a datetime to epoch milliseconds; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_event_time(epoch_ms: int) -> str:
    """Format epoch milliseconds the way the API prints ``eventTime`` (UTC, millisecond, ``Z``)."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{epoch_ms % 1000:03d}Z"


def parse_timestamp_us(text: str) -> int:
    """Parse an ISO-8601 timestamp with optional fraction (any digits) and ``Z``/offset to epoch microseconds.

    Raises:
        ValueError: the text is not such a timestamp.
    """
    match = _TIMESTAMP.match(text)
    if match is None:
        msg = f"not an ISO-8601 timestamp: {text!r}"
        raise ValueError(msg)
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    zone = match.group(8)
    offset_minutes = 0
    if zone != "Z":
        digits = zone[1:].replace(":", "")
        offset_minutes = int(digits[:2]) * 60 + int(digits[2:])
        offset_minutes = -offset_minutes if zone[0] == "-" else offset_minutes
    seconds = int(moment.timestamp()) - offset_minutes * 60
    return seconds * 1_000_000 + int(fraction)


def _pick_weighted(rng: random.Random) -> Tuple[str, bool, _Builder]:
    total = sum(entry[1] for entry in _CATALOGUE)
    roll = rng.randrange(total)
    for action_id, weight, admin_only, builder in _CATALOGUE:
        if roll < weight:
            return action_id, admin_only, builder
        roll -= weight
    raise AssertionError("unreachable: weights cover the roll")


def _one_record(rng: random.Random, epoch_ms: int, account_id: str, account_name: str) -> Dict[str, object]:
    action_id, admin_only, builder = _pick_weighted(rng)
    admins = [person for person in _ROSTER if person[3] in _ADMIN_ROLES]
    actor = rng.choice(admins if admin_only else _ROSTER)
    other = actor if action_id in _SELF_ACTIONS else rng.choice(_ROSTER)
    event_type, target, params = builder(rng, actor, other, account_name)
    record: Dict[str, object] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "eventTime": format_event_time(epoch_ms),
        "eventType": event_type,
    }
    # Optional members are left out, never sent as null, as in the real samples.
    if params:
        record["details"] = {"parameters": params}
    record["accountId"] = account_id
    if rng.random() < 0.7:
        record["accountName"] = account_name
    record["actionId"] = action_id
    record["clientIp"] = rng.choice(_IP_PREFIXES) + str(rng.randrange(1, 255))
    if rng.random() < 0.08:
        record["comment"] = rng.choice(_COMMENTS)
    record["initiator"] = {
        "extensionId": actor[0],
        "extensionNumber": actor[1],
        "name": actor[2],
        "role": actor[3],
    }
    record["target"] = target
    return record


def sort_key_newest(record: Dict[str, object]) -> Tuple[int, str]:
    """Sort key putting the newest record first and breaking eventTime ties by id."""
    return (-parse_timestamp_us(str(record["eventTime"])), str(record["id"]))


def generate_records(
    n: int,
    start: datetime,
    end: datetime,
    seed: int = 1,
    *,
    same_time: Optional[datetime] = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    account_name: str = DEFAULT_ACCOUNT_NAME,
) -> List[Dict[str, object]]:
    """Return ``n`` records with eventTime uniform over [start, end] (or all at ``same_time``), newest first.

    The same arguments always give the same records.
    """
    if n < 0:
        msg = "n must not be negative"
        raise ValueError(msg)
    start_ms, end_ms = to_epoch_ms(start), to_epoch_ms(end)
    if start_ms > end_ms:
        msg = "start must not be after end"
        raise ValueError(msg)
    fixed_ms = None if same_time is None else to_epoch_ms(same_time)
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        epoch_ms = fixed_ms if fixed_ms is not None else rng.randint(start_ms, end_ms)
        records.append(_one_record(rng, epoch_ms, account_id, account_name))
    records.sort(key=sort_key_newest)
    return records
