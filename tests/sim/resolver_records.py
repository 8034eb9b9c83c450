"""Deterministic User Audit Trail rows for the Resolver simulator, shaped like the vendor's CSV export.

Rows carry no id (the export has none), only their instant and the exported columns. The event names
Add User, Update User, Impersonate User, Unsuccessful Impersonate User, Regenerate Data Warehouse Password,
Create API Key, Update User Group and Multiple Attributes Updated are named by the vendor's help pages; the
other add/update/delete events for groups, roles, confidential logins and IP authorization are guesses in
the same pattern.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

Instant = Union[datetime, int]

EXTERNAL_ORG_USER = "External Org User"
DEFAULT_ORGANIZATION = "Acme Insurance"

# (display name, e-mail). One name has a comma and one is non-ASCII so CSV quoting and UTF-8 are exercised
# by ordinary data, not only by hand-made rows.
_PEOPLE: Tuple[Tuple[str, str], ...] = (
    ("Jane Smith", "jane.smith@acme.com"),
    ("Omar Haddad", "omar.haddad@acme.com"),
    ("Li Wei", "li.wei@acme.com"),
    ("Priya Natarajan", "priya.n@acme.com"),
    ("Tom O'Brien", "tom.obrien@acme.com"),
    ("Smith, Jr., Robert", "robert.smith@acme.com"),
    ("Zoë Müller", "zoe.mueller@acme.de"),
    ("Kofi Boateng", "kofi.boateng@acme.com"),
    ("María García", "maria.garcia@acme.es"),
    ("Sam Taylor", "sam.taylor@acme.com"),
)
_ADMINS: Tuple[Tuple[str, str], ...] = (
    ("Alex Admin", "alex.admin@acme.com"),
    ("Rita Root", "rita.root@acme.com"),
    ("Integration API", "api.integration@acme.com"),
)
_GROUPS = ("Claims Adjusters", "Risk, Compliance & Audit", "IT Security", 'The "A" Team', "Auditors")
_ROLES = ("Risk Manager", "Incident Investigator", "Read Only", "Control Owner")
_ORGANIZATIONS = (DEFAULT_ORGANIZATION, "Acme Insurance (Sandbox)", "Acme Europe GmbH")
_ATTRIBUTES = ("Admin", "All Access", "Status", "Email", "First Name", "Login Type")

# (event, subject kind, weight). Weights only make the mix look like a real tenant: mostly user updates.
_EVENTS: Tuple[Tuple[str, str, int], ...] = (
    ("Add User", "user", 10),
    ("Update User", "user", 30),
    ("Delete User", "user", 3),
    ("Impersonate User", "user", 6),
    ("Unsuccessful Impersonate User", "user", 2),
    ("Regenerate Data Warehouse Password", "user", 2),
    ("Create API Key", "user", 2),
    ("Multiple Attributes Updated", "user", 10),
    ("Add User Group", "group", 2),
    ("Update User Group", "group", 8),
    ("Delete User Group", "group", 1),
    ("Add Role", "role", 1),
    ("Update Role", "role", 6),
    ("Delete Role", "role", 1),
    ("Update Confidential Login", "confidential", 1),
    ("Update IP Authorization", "ip", 1),
)
_EVENT_TABLE: List[Tuple[str, str]] = [(event, kind) for event, kind, weight in _EVENTS for _ in range(weight)]
EVENTS: Tuple[str, ...] = tuple(event for event, _kind, _weight in _EVENTS)


class AuditRow(NamedTuple):
    """One exported row: its true instant in epoch milliseconds (UTC) and the column values."""

    at_ms: int
    subject: str
    event: str
    performed_by: str
    previous_value: str = ""
    new_value: str = ""
    external_reference_id: str = ""
    organization: str = DEFAULT_ORGANIZATION


def to_epoch_ms(moment: Instant) -> int:
    """Epoch milliseconds of a datetime (naive means UTC) or an int already in milliseconds."""
    if isinstance(moment, int):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _person(who: Tuple[str, str]) -> str:
    return f"{who[0]} ({who[1]})"


def _one(rng: random.Random, at_ms: int) -> AuditRow:
    event, kind = rng.choice(_EVENT_TABLE)
    roll = rng.random()
    if roll < 0.06:
        performed_by = EXTERNAL_ORG_USER
    elif roll < 0.1:
        performed_by = f"{_person(_ADMINS[2])} impersonating {_person(rng.choice(_PEOPLE))}"
    else:
        performed_by = _person(rng.choice(_ADMINS))
    previous = new = ""
    reference = f"EXT-{rng.randrange(10_000, 99_999)}"
    if kind == "user":
        # Deleted subjects are shown by id only, as the vendor documents.
        subject = (
            f"Unknown User with id {rng.randrange(2, 5000)}" if rng.random() < 0.05 else _person(rng.choice(_PEOPLE))
        )
    elif kind == "group":
        subject = rng.choice(_GROUPS)
    elif kind == "role":
        subject = rng.choice(_ROLES)
    elif kind == "confidential":
        subject = f"Confidential Login {rng.randrange(1, 40)}"
        reference = ""  # anonymous logins have no external reference id
    else:
        subject = f"192.0.2.{rng.randrange(1, 255)}/32"
    if event == "Multiple Attributes Updated":
        names = rng.sample(_ATTRIBUTES, 2)
        previous = "\n".join(f"{name}: false" for name in names)
        new = "\n".join(f"{name}: true" for name in names)
    elif event.startswith("Update"):
        name = rng.choice(_ATTRIBUTES)
        previous, new = f"{name}: {rng.choice(('off', 'on'))}", f'{name}: "{rng.choice(("off", "on"))}"'
    organization = _ORGANIZATIONS[0] if rng.random() < 0.85 else rng.choice(_ORGANIZATIONS)
    return AuditRow(at_ms, subject, event, performed_by, previous, new, reference, organization)


def newest_first(rows: Sequence[AuditRow]) -> List[AuditRow]:
    """Rows sorted newest first; rows of one instant keep their order."""
    return sorted(rows, key=lambda row: -row.at_ms)


def generate_rows(
    n: int, start: Instant, end: Instant, seed: int = 1, *, whole_seconds: bool = False
) -> List[AuditRow]:
    """``n`` rows with instants uniform over [start, end], newest first; the same arguments give the same rows.

    ``whole_seconds`` puts every instant on a whole second (no milliseconds), as a second-precision source would.

    Raises:
        ValueError: negative ``n`` or start after end.
    """
    if n < 0:
        msg = "n must not be negative"
        raise ValueError(msg)
    start_ms, end_ms = to_epoch_ms(start), to_epoch_ms(end)
    if start_ms > end_ms:
        msg = "start must not be after end"
        raise ValueError(msg)
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        at_ms = rng.randint(start_ms, end_ms)
        if whole_seconds:
            at_ms -= at_ms % 1000
        rows.append(_one(rng, at_ms))
    return newest_first(rows)


def burst_rows(n: int, second: Instant, seed: int = 1, *, same_instant: bool = False) -> List[AuditRow]:
    """``n`` distinct rows inside the one second that contains ``second`` (e.g. 3,000 at a walk-back boundary).

    ``same_instant`` puts them all on the second's first millisecond instead of spreading them over it.
    """
    base = to_epoch_ms(second)
    base -= base % 1000
    rng = random.Random(seed)
    rows = [_one(rng, base if same_instant else base + rng.randrange(1000)) for _ in range(n)]
    return newest_first(rows)


def repeated(row: AuditRow, k: int, at: Optional[Instant] = None) -> List[AuditRow]:
    """``k`` identical copies of ``row`` (genuine repeats, which an exactly-once collector must all keep)."""
    if at is not None:
        row = row._replace(at_ms=to_epoch_ms(at))
    return [row] * k
