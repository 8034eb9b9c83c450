"""A loopback HTTPS simulator of LivePerson Conversational Cloud's Domain API and Audit Trail API.

It serves what the docs pin down (the Domain API's ``baseURI`` lookup, the GraphQL ``auditData`` query posted
as JSON, OAuth 1.0 HMAC-SHA1 request signing, ``X-Total-Count``, the ``changeDate`` format) and turns every
behaviour the docs leave open into a ``SimConfig`` switch, so collector code can be tested against each reading.

Layout: one HTTPS listener per name in ``listeners`` (default ``primary`` and ``secondary``), all signed by one
throw-away CA. The primary listener (``base_url``) answers the Domain API; whichever listener ``audit_host``
names answers the Audit Trail API, and the others answer ``moved_status`` for it, so a client that cached the
domain has to look it up again after ``set_config(audit_host=...)``.

Sections: configuration; the GraphQL parser (document -> root field, arguments, selected fields); the auditData
argument rules; OAuth 1.0 verification; HTTP plumbing; the simulator.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import random
import re
import ssl
import threading
import time
import traceback
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from .background import ConfiguredSimulator, DispatchingHandler, LoopbackHTTPServer
from .liveperson_records import (
    ACTION_TYPE,
    DEFAULT_ACCOUNT_ID,
    HIDDEN_KEYS,
    PUBLIC_FIELDS,
    Moment,
    change_date,
    generate_rows,
    to_instant,
)
from .tls import LoopbackTLS

SERVICES = ("accountConfigReadOnly", "accountConfigReadWrite")
DOMAIN_PATH = re.compile(r"^/api/account/([^/]+)/service/([^/]+)/baseURI\.json$")
DOMAIN_LIST_PATH = re.compile(r"^/api/account/([^/]+)/service/baseURI\.json$")
AUDIT_PATH = re.compile(r"^/api/account/([^/]+)/configuration/metadata/audit/?$")
ACCOUNT_ID = re.compile(r"^[a-zA-Z0-9_]{1,20}$")
FAULTS = ("status", "reset", "stall", "trickle", "429", "graphql_error", "401", "403", "insert")
DEFAULT_ZONE = "US/Eastern"
_MAX_BODY = 10 * 1024 * 1024
_DAY = 86_400

_CHOICES: Dict[str, Tuple[Any, ...]] = {
    "day_zone": ("requested", "utc", "us_eastern"),
    "accepted_zones": ("any", "region_only", "eastern_only"),
    "unaccepted_zone": ("error", "gmt", "eastern"),
    "over_max": ("clamp", "error"),
    "total_count": ("total", "page"),
    "action_type": ("selectable", "unknown_field"),
    "list_syntax": ("graphql", "comma", "coerce"),
    "tie_order": ("stable", "shuffled"),
    "errors_status": (200, 400),
    "moved_status": (401, 404),
    "unknown_account_status": (401, 404),
}


@dataclasses.dataclass
class SimConfig:
    """Behaviour of the simulated account. Every field can be changed at runtime with ``set_config``.

    Credentials and hosting:
        account_id: the one account served (default ``le81726354``).
        app_key, app_secret, access_token, access_token_secret: the OAuth 1.0 API key's four values.
        audit_permission: False makes every correctly signed audit request a 403 (key lacks the permission).
        oauth_max_skew: seconds an ``oauth_timestamp`` may be off the wall clock (default 300); beyond -> 401.
        host: bind address of every listener.
        audit_host: the listener name that serves the Audit Trail API and that the Domain API returns.
        moved_status: 404 or 401, what other listeners answer to the audit path.
        unknown_account_status: 404 or 401, what the Domain API answers for another account.

    Query semantics (documented only loosely, so switchable):
        to_date_inclusive: True includes toDate's whole day; False ends the window at toDate's midnight.
        day_zone: "requested" reads fromDate/toDate as days in the effective ``timezone``; "utc" and
            "us_eastern" read them in that zone whatever the request says.
        accepted_zones: "any" takes any IANA id (UTC, Etc/UTC and GMT included); "region_only" takes only
            Area/City ids and legacy region ids such as US/Eastern (no UTC, Etc/*, GMT); "eastern_only" takes
            only US/Eastern and America/New_York (with ``unaccepted_zone="eastern"``, every answer is US/Eastern).
        unaccepted_zone: what a zone outside ``accepted_zones`` gets: "error" (a GraphQL error naming the
            timezone), "gmt" (silently GMT), "eastern" (silently US/Eastern). No timezone means US/Eastern.
        default_first: rows when ``first`` is absent (documented 50).
        max_first: None, or the largest ``first`` served; over_max: "clamp" serves max_first rows, "error"
            answers a GraphQL error naming ``first``.
        total_count: "total" puts every match in X-Total-Count; "page" only the rows of this page.
        action_type: "selectable" serves the ``actionType`` field; "unknown_field" makes asking for it a
            GraphQL validation error, as for any undefined field.
        list_syntax: "graphql" wants lists (orderBy:["changeTimestamp"]); "comma" wants comma-separated strings
            (orderBy:"changeTimestamp", orderDirection:"ASC"); "coerce" takes lists and, as the GraphQL spec's
            input coercion does, a single string as a one-item list. In the first two the other form is a
            GraphQL error. The default order is changeTimestamp DESC.
        tie_order: "stable" keeps rows with equal sort keys in insertion order; "shuffled" deals them in a new
            random order on every request.
        errors_status: 200 or 400, the HTTP status of ``{"errors": [{"message": ...}]}`` answers.
        require_argument: True makes a query without any argument a GraphQL error (the docs' "at least one
            parameter is required", whose meaning is unclear).
        retention_days: rows older than this are gone (default 396, about 13 months).
        ingestion_delay: seconds after its instant before a row can be served (``add_records(visible_at=)``
            overrides it per batch).
        now: epoch seconds the data side treats as "now" (retention, visibility); None is the wall clock.
            OAuth timestamps are always checked against the wall clock.
    """

    account_id: str = DEFAULT_ACCOUNT_ID
    app_key: str = "sim-app-key-5f1c"
    app_secret: str = "sim-app-secret-9d2e7a"
    access_token: str = "sim-access-token-41b8"
    access_token_secret: str = "sim-token-secret-c07f3e"
    audit_permission: bool = True
    oauth_max_skew: float = 300.0
    host: str = "127.0.0.1"
    audit_host: str = "primary"
    moved_status: int = 404
    unknown_account_status: int = 404
    to_date_inclusive: bool = True
    day_zone: str = "requested"
    accepted_zones: str = "any"
    unaccepted_zone: str = "error"
    default_first: int = 50
    max_first: Optional[int] = None
    over_max: str = "clamp"
    total_count: str = "total"
    action_type: str = "selectable"
    list_syntax: str = "graphql"
    tie_order: str = "stable"
    errors_status: int = 200
    require_argument: bool = False
    retention_days: float = 396.0
    ingestion_delay: float = 0.0
    now: Optional[float] = None


def _check_config(cfg: SimConfig) -> None:
    for name, allowed in _CHOICES.items():
        if getattr(cfg, name) not in allowed:
            msg = f"{name} must be one of {allowed}, not {getattr(cfg, name)!r}"
            raise ValueError(msg)
    if cfg.max_first is not None and cfg.max_first < 1:
        msg = "max_first must be None or a positive int"
        raise ValueError(msg)


# ----- GraphQL parser ----------------------------------------------------------------------------------------
#
# Just enough of the GraphQL grammar for one query operation: anonymous or named, with variable definitions and
# defaults, aliases, arguments of every literal kind (strings with escapes, block strings, ints, floats,
# booleans, null, enums, lists, objects) and variables. Fragments and directives are refused.


class GraphQLError(Exception):
    """A request the GraphQL layer rejects; answered as ``{"errors": [{"message": str(error)}]}``."""


class EnumValue(str):
    """A bare enum literal (``ASC``), kept apart from the string ``"ASC"`` so type checks can tell them apart."""


class _Variable(str):
    """A ``$name`` reference before the request's variables are substituted."""


@dataclasses.dataclass
class Selection:
    """One field of a selection set: response key, field name, arguments and sub-selections."""

    key: str
    name: str
    args: Dict[str, Any]
    children: List[Selection]


_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<block>\"\"\"(?:\\\"\"\"|(?!\"\"\")[\s\S])*\"\"\")
  | (?P<string>"(?:[^"\\\n\r]|\\.)*")
  | (?P<float>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+))
  | (?P<int>-?(?:0|[1-9][0-9]*))
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<punct>\.\.\.|[!$&():=@\[\]{}|])
    """,
    re.VERBOSE,
)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _location(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} column {column}"


def _tokenize(text: str) -> List[Tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise GraphQLError(f"Invalid Syntax : offending token '{text[pos]}' at {_location(text, pos)}")
        kind = match.lastgroup or ""
        if kind != "skip":
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    return tokens


def _decode_string(raw: str, where: str) -> str:
    out: List[str] = []
    i, end = 1, len(raw) - 1
    while i < end:
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = raw[i + 1]
        if escape == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", raw[i + 2 : i + 6]):
            out.append(chr(int(raw[i + 2 : i + 6], 16)))
            i += 6
        elif escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        else:
            raise GraphQLError(f"Invalid Syntax : bad escape sequence '\\{escape}' at {where}")
    try:
        # \uD83D\uDE00 arrives as two surrogates; a round trip through UTF-16 joins them.
        return "".join(out).encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError as exc:
        raise GraphQLError(f"Invalid Syntax : lone surrogate in string at {where}") from exc


def _decode_block_string(raw: str) -> str:
    lines = re.split(r"\r\n|\n|\r", raw[3:-3].replace('\\"""', '"""'))
    indents = [len(line) - len(line.lstrip(" \t")) for line in lines[1:] if line.strip(" \t")]
    if indents:
        common = min(indents)
        lines = lines[:1] + [line[common:] for line in lines[1:]]
    while lines and not lines[0].strip(" \t"):
        lines.pop(0)
    while lines and not lines[-1].strip(" \t"):
        lines.pop()
    return "\n".join(lines)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> Optional[Tuple[str, str, int]]:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def at(self, kind: str, text: Optional[str] = None) -> bool:
        token = self.peek()
        return token is not None and token[0] == kind and (text is None or token[1] == text)

    def fail(self, expected: str) -> GraphQLError:
        token = self.peek()
        if token is None:
            return GraphQLError(f"Invalid Syntax : expected {expected} at end of query")
        return GraphQLError(f"Invalid Syntax : offending token '{token[1]}' at {_location(self.text, token[2])}")

    def take(self, kind: str, text: Optional[str] = None) -> str:
        if not self.at(kind, text):
            raise self.fail(text or kind)
        token = self.tokens[self.index]
        self.index += 1
        return token[1]

    def document(self) -> Tuple[Dict[str, Any], List[Selection]]:
        defaults: Dict[str, Any] = {}
        if self.peek() is None:
            raise GraphQLError("Invalid Syntax : empty query")
        if self.at("name"):
            keyword = self.take("name")
            if keyword in ("mutation", "subscription"):
                raise GraphQLError(f"Schema is not configured for {keyword}s.")
            if keyword != "query":
                self.index -= 1
                raise self.fail("query")
            if self.at("name"):
                self.take("name")
            if self.at("punct", "("):
                defaults = self.variable_definitions()
        self.refuse_directives()
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLError("The simulator takes a single operation per request; " + str(self.fail("end")))
        return defaults, selections

    def refuse_directives(self) -> None:
        if self.at("punct", "@"):
            raise GraphQLError("Directives are not supported by this endpoint")

    def variable_definitions(self) -> Dict[str, Any]:
        defaults: Dict[str, Any] = {}
        self.take("punct", "(")
        while not self.at("punct", ")"):
            self.take("punct", "$")
            name = self.take("name")
            self.take("punct", ":")
            self.type_reference()
            defaults[name] = None
            if self.at("punct", "="):
                self.take("punct", "=")
                defaults[name] = self.value(const=True)
        self.take("punct", ")")
        return defaults

    def type_reference(self) -> None:
        if self.at("punct", "["):
            self.take("punct", "[")
            self.type_reference()
            self.take("punct", "]")
        else:
            self.take("name")
        if self.at("punct", "!"):
            self.take("punct", "!")

    def selection_set(self) -> List[Selection]:
        self.take("punct", "{")
        selections = []
        while not self.at("punct", "}"):
            if self.at("punct", "..."):
                raise GraphQLError("Fragments are not supported by this endpoint")
            key = name = self.take("name")
            if self.at("punct", ":"):
                self.take("punct", ":")
                name = self.take("name")
            args = self.arguments() if self.at("punct", "(") else {}
            self.refuse_directives()
            children = self.selection_set() if self.at("punct", "{") else []
            selections.append(Selection(key, name, args, children))
        self.take("punct", "}")
        if not selections:
            raise self.fail("a field")
        return selections

    def arguments(self) -> Dict[str, Any]:
        args: Dict[str, Any] = {}
        self.take("punct", "(")
        while not self.at("punct", ")"):
            name = self.take("name")
            self.take("punct", ":")
            if name in args:
                raise GraphQLError(f"There can be only one argument named '{name}'")
            args[name] = self.value(const=False)
        self.take("punct", ")")
        if not args:
            raise self.fail("an argument")
        return args

    def value(self, const: bool) -> Any:
        token = self.peek()
        if token is None:
            raise self.fail("a value")
        kind, text, pos = token
        if kind == "punct" and text == "$" and not const:
            self.index += 1
            return _Variable(self.take("name"))
        if kind == "punct" and text == "[":
            self.index += 1
            items = []
            while not self.at("punct", "]"):
                items.append(self.value(const))
            self.index += 1
            return items
        if kind == "punct" and text == "{":
            self.index += 1
            fields: Dict[str, Any] = {}
            while not self.at("punct", "}"):
                key = self.take("name")
                self.take("punct", ":")
                fields[key] = self.value(const)
            self.index += 1
            return fields
        self.index += 1
        if kind == "string":
            return _decode_string(text, _location(self.text, pos))
        if kind == "block":
            return _decode_block_string(text)
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, EnumValue(text))
        self.index -= 1
        raise self.fail("a value")


def _substitute(value: Any, variables: Dict[str, Any]) -> Any:
    if isinstance(value, _Variable):
        if str(value) not in variables:
            raise GraphQLError(f"Variable '{value}' is not defined")
        return variables[str(value)]
    if isinstance(value, list):
        return [_substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, variables) for key, item in value.items()}
    return value


def parse_query(text: str, variables: Optional[Dict[str, Any]] = None) -> List[Selection]:
    """Parse a GraphQL query document into its root selections, with variables substituted.

    Raises:
        GraphQLError: a syntax error, an undefined variable, or an unsupported construct.
    """
    defaults, selections = _Parser(text).document()
    supplied = dict(defaults)
    supplied.update({k: v for k, v in (variables or {}).items() if k in defaults})
    for selection in selections:
        selection.args = {name: _substitute(value, supplied) for name, value in selection.args.items()}
    return selections


# ----- auditData arguments -----------------------------------------------------------------------------------

_ARGUMENTS = (
    "fromDate",
    "toDate",
    "first",
    "offset",
    "orderBy",
    "orderDirection",
    "users",
    "componentTypes",
    "language",
    "timezone",
    "lpa",
    "automaticUpdates",
)
_LIST_ARGUMENTS = ("orderBy", "orderDirection", "users", "componentTypes")
_ORDER_COLUMNS = ("changeTimestamp", *PUBLIC_FIELDS, ACTION_TYPE)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclasses.dataclass
class AuditQuery:
    """One ``auditData`` request after validation, with the configuration's readings applied."""

    key: str
    fields: List[Tuple[str, str]]  # (response key, field name), in the requested order
    zone: str  # the zone changeDate is rendered in
    day_zone: str  # the zone fromDate/toDate days are read in
    start: Optional[int]  # inclusive UTC instant
    end: Optional[int]  # exclusive UTC instant
    first: int
    offset: int
    order: List[Tuple[str, bool]]  # (column, descending)
    users: Optional[List[str]]
    component_types: Optional[List[str]]
    lpa: bool
    automatic: bool


def _wrong_type(name: str, value: Any, expected: str) -> GraphQLError:
    shown = json.dumps(value) if not isinstance(value, EnumValue) else str(value)
    return GraphQLError(
        f"Validation error of type WrongType: argument '{name}' with value '{shown}' is not a valid '{expected}'"
    )


def _is_string(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, EnumValue)


def _string_list(name: str, value: Any, syntax: str) -> List[str]:
    if syntax == "comma":
        if not _is_string(value):
            raise _wrong_type(name, value, "String")
        return [part.strip() for part in value.split(",") if part.strip()]
    if syntax == "coerce" and _is_string(value):
        return [value]
    if not isinstance(value, list) or not all(_is_string(item) for item in value):
        raise _wrong_type(name, value, "[String]")
    return list(value)


def _int_arg(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise _wrong_type(name, value, "Int")
    if value < 0:
        raise GraphQLError(f"Argument '{name}' must not be negative, got {value}")
    return value


def _day(name: str, value: Any) -> date:
    if not _is_string(value):
        raise _wrong_type(name, value, "String")
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise GraphQLError(f"Argument '{name}' must be a date formatted yyyy-MM-dd, got '{value}'") from exc


def _is_region_id(zone: str) -> bool:
    area, slash, _ = zone.partition("/")
    return bool(slash) and area != "Etc"


def _loadable(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def effective_zone(requested: Optional[str], cfg: SimConfig) -> str:
    """The zone ``changeDate`` is rendered in for a requested ``timezone`` (None: the documented default).

    Raises:
        GraphQLError: the zone is not accepted and ``unaccepted_zone`` is "error".
    """
    if requested is None:
        return DEFAULT_ZONE
    if cfg.accepted_zones == "eastern_only":
        accepted = requested in ("US/Eastern", "America/New_York")
    else:
        accepted = _loadable(requested) and (cfg.accepted_zones == "any" or _is_region_id(requested))
    if accepted:
        return requested
    if cfg.unaccepted_zone == "gmt":
        return "GMT"
    if cfg.unaccepted_zone == "eastern":
        return DEFAULT_ZONE
    raise GraphQLError(f"Invalid timezone '{requested}': not a supported time zone id")


def _midnight(day: date, zone: str) -> int:
    # Midnight is never inside a US DST gap; for zones where it is, fold=0 resolves it the usual way.
    try:
        return int(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).timestamp())
    except (OverflowError, ValueError) as exc:
        raise GraphQLError(f"Date {day.isoformat()} is out of range") from exc


def build_audit_query(selection: Selection, cfg: SimConfig) -> AuditQuery:
    """Validate ``auditData``'s arguments and fields against the switches and work out the window.

    Raises:
        GraphQLError: anything a GraphQL server would reject, in the configured dialect.
    """
    args = selection.args
    unknown = [name for name in args if name not in _ARGUMENTS]
    if unknown:
        raise GraphQLError(f"Validation error of type UnknownArgument: Unknown field argument '{unknown[0]}'")
    if cfg.require_argument and not args:
        raise GraphQLError("At least one argument is required in order to retrieve audit data")
    args = {name: value for name, value in args.items() if value is not None}
    fields = _fields(selection, cfg)

    for name in ("timezone", "language"):
        if name in args and not _is_string(args[name]):
            raise _wrong_type(name, args[name], "String")
    for name in ("lpa", "automaticUpdates"):
        if name in args and not isinstance(args[name], bool):
            raise _wrong_type(name, args[name], "Boolean")
    lists = {name: _string_list(name, args[name], cfg.list_syntax) for name in _LIST_ARGUMENTS if name in args}

    zone = effective_zone(args.get("timezone"), cfg)
    day_zone = {"requested": zone, "utc": "UTC", "us_eastern": DEFAULT_ZONE}[cfg.day_zone]
    start = end = None
    if "fromDate" in args:
        start = _midnight(_day("fromDate", args["fromDate"]), day_zone)
    if "toDate" in args:
        last = _day("toDate", args["toDate"])
        try:
            end = _midnight(last + timedelta(days=1) if cfg.to_date_inclusive else last, day_zone)
        except OverflowError as exc:
            raise GraphQLError(f"Argument 'toDate' is out of range: '{args['toDate']}'") from exc

    first = _int_arg("first", args["first"]) if "first" in args else cfg.default_first
    if cfg.max_first is not None and first > cfg.max_first:
        if cfg.over_max == "error":
            raise GraphQLError(f"Argument 'first' must not exceed {cfg.max_first}, got {first}")
        first = cfg.max_first
    offset = _int_arg("offset", args["offset"]) if "offset" in args else 0

    columns = lists.get("orderBy") or ["changeTimestamp"]
    for column in columns:
        if column not in _ORDER_COLUMNS or (column == ACTION_TYPE and cfg.action_type != "selectable"):
            raise GraphQLError(f"Argument 'orderBy' names an unknown column '{column}'")
    directions = [item.upper() for item in lists.get("orderDirection", [])]
    for direction in directions:
        if direction not in ("ASC", "DESC"):
            raise GraphQLError(f"Argument 'orderDirection' takes ASC or DESC, got '{direction}'")
    order = [(column, (directions[i] if i < len(directions) else "DESC") == "DESC") for i, column in enumerate(columns)]
    return AuditQuery(
        key=selection.key,
        fields=fields,
        zone=zone,
        day_zone=day_zone,
        start=start,
        end=end,
        first=first,
        offset=offset,
        order=order,
        users=lists.get("users"),
        component_types=lists.get("componentTypes"),
        lpa=bool(args.get("lpa", False)),
        automatic=bool(args.get("automaticUpdates", False)),
    )


def _fields(selection: Selection, cfg: SimConfig) -> List[Tuple[str, str]]:
    if not selection.children:
        raise GraphQLError(
            "Validation error of type SubSelectionRequired: Sub selection required for type 'AuditData' of field "
            "'auditData'"
        )
    known = set(PUBLIC_FIELDS) | {"__typename"}
    if cfg.action_type == "selectable":
        known.add(ACTION_TYPE)
    fields: Dict[str, str] = {}
    for child in selection.children:
        if child.name not in known:
            raise GraphQLError(
                f"Validation error of type FieldUndefined: Field '{child.name}' in type 'AuditData' is undefined"
            )
        if child.args or child.children:
            raise GraphQLError(f"Validation error: field '{child.name}' takes no arguments or sub-selection")
        if fields.get(child.key, child.name) != child.name:
            raise GraphQLError(f"Validation error of type FieldsConflict: '{child.key}' names two different fields")
        fields.setdefault(child.key, child.name)
    return list(fields.items())


# ----- OAuth 1.0 ---------------------------------------------------------------------------------------------


class _NonceBook:
    """Nonces seen within the skew window; a nonce that comes back is a replay."""

    def __init__(self) -> None:
        self._seen: Dict[Tuple[str, str, str], int] = {}

    def admit(self, key: Tuple[str, str, str], timestamp: int, horizon: float) -> bool:
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        if key in self._seen:
            return False
        self._seen[key] = timestamp
        return True


def oauth_failure(
    cfg: SimConfig, method: str, uri: str, header: str, form_body: Optional[str], nonces: _NonceBook
) -> Optional[str]:
    """Check an OAuth 1.0 HMAC-SHA1 Authorization header; return why it fails, or None when it is good.

    ``uri`` is the absolute URL the client addressed; a JSON body is not part of the base string (only
    form-encoded bodies are, as RFC 5849 says).
    """
    if not header:
        return "missing Authorization header"
    try:
        params = {k: oauth_utils.unescape(v) for k, v in oauth_utils.parse_authorization_header(header)}
    except ValueError:
        return "Authorization header is not OAuth"
    required = (
        "oauth_consumer_key",
        "oauth_token",
        "oauth_signature_method",
        "oauth_timestamp",
        "oauth_nonce",
        "oauth_signature",
    )
    missing = [name for name in required if not params.get(name)]
    if missing:
        return f"missing {missing[0]}"
    if params["oauth_signature_method"] != "HMAC-SHA1":
        return "unsupported oauth_signature_method"
    if params.get("oauth_version", "1.0") != "1.0":
        return "unsupported oauth_version"
    if params["oauth_consumer_key"] != cfg.app_key:
        return "unknown oauth_consumer_key"
    if params["oauth_token"] != cfg.access_token:
        return "unknown oauth_token"
    try:
        timestamp = int(params["oauth_timestamp"])
    except ValueError:
        return "oauth_timestamp is not an integer"
    now = time.time()
    if abs(now - timestamp) > cfg.oauth_max_skew:
        return "stale oauth_timestamp"
    query = urlsplit(uri).query
    collected = oauth_signature.collect_parameters(
        uri_query=query, body=form_body, headers={"Authorization": header}, exclude_oauth_signature=True
    )
    request = SimpleNamespace(http_method=method, uri=uri, params=collected, signature=params["oauth_signature"])
    if not oauth_signature.verify_hmac_sha1(request, cfg.app_secret, cfg.access_token_secret):
        return "invalid oauth_signature"
    key = (params["oauth_consumer_key"], params["oauth_token"], params["oauth_nonce"])
    if not nonces.admit(key, timestamp, now - cfg.oauth_max_skew):
        return "reused oauth_nonce"
    return None


# ----- HTTP plumbing -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Fault:
    kind: str
    remaining: int
    path: str
    params: Dict[str, Any]


@dataclasses.dataclass
class _Stored:
    instant: int
    seq: int
    row: Dict[str, Any]  # public fields, without changeDate
    lpa: bool
    automatic: bool
    visible_at: Optional[float]


class _Reply(Exception):
    """Raised inside request handling to send a complete JSON response."""

    def __init__(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _http_error(status: int, message: str) -> _Reply:
    return _Reply(status, {"status": status, "message": message})


class _Server(LoopbackHTTPServer):
    def __init__(self, address: Tuple[str, int], sim: LivePersonSimulator, name: str, ctx: ssl.SSLContext) -> None:
        self.sim = sim
        self.name = name
        self.context = ctx
        super().__init__(address, _Handler)


class _Handler(DispatchingHandler):
    server: _Server

    def _dispatch(self) -> None:
        self.server.sim._handle(self)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > _MAX_BODY:
            msg = "bad Content-Length"
            raise ValueError(msg)
        return self.rfile.read(length) if length else b""

    def send_json(self, reply: _Reply, trickle: Optional[float], stopping: threading.Event) -> None:
        raw = b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if trickle is None:
            self.wfile.write(raw)
            return
        self.wfile.flush()
        for index in range(len(raw)):
            if stopping.wait(trickle):
                break
            self.wfile.write(raw[index : index + 1])
            self.wfile.flush()



# ----- the simulator -----------------------------------------------------------------------------------------


class LivePersonSimulator(ConfiguredSimulator[SimConfig]):
    """The simulated LivePerson account; see the module docstring and ``SimConfig``."""

    def __init__(self, config: Optional[SimConfig] = None, listeners: Sequence[str] = ("primary", "secondary")):
        self._cfg = config or SimConfig()
        _check_config(self._cfg)
        if not listeners or len(set(listeners)) != len(listeners):
            msg = "listeners must be distinct names"
            raise ValueError(msg)
        if self._cfg.audit_host not in listeners:
            msg = f"audit_host {self._cfg.audit_host!r} is not one of {tuple(listeners)}"
            raise ValueError(msg)
        self._names = tuple(listeners)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._servers: Dict[str, _Server] = {}
        self._threads: List[threading.Thread] = []
        self._tls: Optional[LoopbackTLS] = None
        self._rows: List[_Stored] = []
        self._keys: List[Tuple[int, int]] = []  # (instant, seq) of _rows, for bisect
        self._seq = 0
        self._faults: List[_Fault] = []
        self._hooks: List[Tuple[int, Callable[[LivePersonSimulator], None]]] = []
        self._audit_seen = 0  # never reset: on_request counts from it
        self._nonces = _NonceBook()
        self._stats = self._empty_stats()

    # ----- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> LivePersonSimulator:
        """Bind one HTTPS listener per name on ``cfg.host`` (ephemeral ports) and serve from daemon threads."""
        if self._servers:
            msg = "simulator already started"
            raise RuntimeError(msg)
        self._stopping.clear()
        self._tls = LoopbackTLS()
        context = self._tls.server_context()
        for name in self._names:
            server = _Server((self._cfg.host, 0), self, name, context)
            self._servers[name] = server
            self._serve(server, f"lp-sim-{name}", 0.01)
            assert self._thread is not None
            self._threads.append(self._thread)
        self._server = self._servers[self._names[0]]
        return self

    def stop(self) -> None:
        """Stop every listener, release stalled requests and delete the CA file."""
        self._stopping.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        self._server = None
        self._thread = None
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    def listener_url(self, name: str) -> str:
        """``https://127.0.0.1:<port>`` of one listener."""
        server = self._servers.get(name)
        if server is None:
            msg = f"no running listener {name!r}"
            raise RuntimeError(msg)
        return f"https://{self._cfg.host}:{server.server_address[1]}"

    def base_uri(self, name: Optional[str] = None) -> str:
        """The bare ``host:port`` the Domain API returns for a listener (default: the current audit host)."""
        return self.listener_url(name or self.config.audit_host)[len("https://") :]

    @property
    def base_url(self) -> str:
        """URL of the primary listener, which serves the Domain API (pass it as the client's domain URL)."""
        return self.listener_url(self._names[0])

    @property
    def audit_url(self) -> str:
        """``https://<baseURI>/api/account/<account>/configuration/metadata/audit`` as the API is hosted now."""
        return f"https://{self.base_uri()}/api/account/{self.config.account_id}/configuration/metadata/audit"

    @property
    def listeners(self) -> Tuple[str, ...]:
        """Listener names; the first is the primary."""
        return self._names

    def set_config(self, **changes: Any) -> None:
        """Change configuration fields at runtime.

        Raises:
            ValueError: an unknown field, a value outside a switch's choices, or an unknown audit_host.
        """
        known = {field.name for field in dataclasses.fields(SimConfig)}
        unknown = sorted(set(changes) - known)
        if unknown:
            msg = f"unknown SimConfig fields: {unknown}"
            raise ValueError(msg)
        with self._lock:
            updated = dataclasses.replace(self._cfg, **changes)
            _check_config(updated)
            if updated.audit_host not in self._names:
                msg = f"audit_host {updated.audit_host!r} is not one of {self._names}"
                raise ValueError(msg)
            self._cfg = updated

    # ----- data --------------------------------------------------------------------------------------------

    def add_records(self, rows: Sequence[Dict[str, Any]], visible_at: Optional[float] = None) -> None:
        """Store rows (see ``liveperson_records``); ``visible_at`` (epoch seconds) overrides the ingestion delay.

        Each row needs ``instant`` (epoch seconds or an aware datetime); ``lpa`` defaults to
        ``originatorIsLpa`` and ``automatic`` to False. A ``changeDate`` key is ignored: it is rendered per request.

        Raises:
            ValueError: a row without ``instant``.
        """
        prepared = []
        for row in rows:
            if "instant" not in row:
                msg = "every row needs an instant"
                raise ValueError(msg)
            public = {k: v for k, v in row.items() if k not in HIDDEN_KEYS and k != "changeDate"}
            lpa = bool(row.get("lpa", public.get("originatorIsLpa", False)))
            prepared.append((to_instant(row["instant"]), public, lpa, bool(row.get("automatic", False))))
        with self._lock:
            for instant, public, lpa, automatic in prepared:
                self._seq += 1
                self._rows.append(_Stored(instant, self._seq, public, lpa, automatic, visible_at))
            if prepared:
                self._rows.sort(key=lambda item: (item.instant, item.seq))
                self._keys = [(item.instant, item.seq) for item in self._rows]

    def generate(self, n: int, start: Moment, end: Moment, seed: int = 1, **options: Any) -> List[Dict[str, Any]]:
        """Generate ``n`` rows with ``generate_rows`` for this account, store and return them."""
        rows = generate_rows(n, start, end, seed, account_id=self.config.account_id, **options)
        self.add_records(rows)
        return rows

    def ground_truth(self) -> List[Dict[str, Any]]:
        """Every stored row, oldest first (ties in insertion order): public fields plus ``instant``, ``lpa``,
        ``automatic`` and ``visible_at``, whether or not retention or the ingestion delay hides it now."""
        with self._lock:
            return [
                dict(item.row, instant=item.instant, lpa=item.lpa, automatic=item.automatic, visible_at=item.visible_at)
                for item in self._rows
            ]

    def clear_records(self) -> None:
        """Drop every stored row."""
        with self._lock:
            self._rows = []
            self._keys = []

    # ----- hooks, faults, stats ----------------------------------------------------------------------------

    def on_request(self, n: int, callback: Callable[[LivePersonSimulator], None]) -> None:
        """Run ``callback(sim)`` just before the ``n``-th audit request from now (1 = the next) is handled.

        The callback runs in the handler thread, before faults and authentication, so rows it adds are seen by
        that very request: the way to change the data while a client is paging.
        """
        if n < 1:
            msg = "n counts from 1"
            raise ValueError(msg)
        with self._lock:
            self._hooks.append((self._audit_seen + n, callback))

    def inject(self, kind: str, count: int = 1, **params: Any) -> None:
        """Queue ``count`` occurrences of a fault for the next matching requests.

        Kinds (params): ``status`` (status=503; 500-504, retry_after), ``reset`` (connection reset before any
        answer), ``stall`` (seconds, then the normal answer), ``trickle`` (interval=0.05: the body one byte per
        interval), ``429`` (retry_after), ``graphql_error`` (message; audit only, after authentication, with
        ``errors_status``), ``401``, ``403``, and ``insert`` (rows, after_requests=0, visible_at=None: add rows
        just before the (after_requests+1)-th audit request from now). ``path`` is "audit" (default) or
        "domain".

        Raises:
            ValueError: unknown kind, path or parameter value.
        """
        if kind not in FAULTS:
            msg = f"unknown fault {kind!r}; expected one of {FAULTS}"
            raise ValueError(msg)
        if count < 1:
            msg = "count must be at least 1"
            raise ValueError(msg)
        path = params.pop("path", "audit")
        if path not in ("audit", "domain") or (kind in ("graphql_error", "insert") and path != "audit"):
            msg = f"unsupported path {path!r} for fault {kind!r}"
            raise ValueError(msg)
        if kind == "status" and int(params.get("status", 503)) not in (500, 501, 502, 503, 504):
            msg = "status fault needs a status from 500 to 504"
            raise ValueError(msg)
        if kind == "stall" and float(params.get("seconds", 0)) <= 0:
            msg = "stall fault needs seconds > 0"
            raise ValueError(msg)
        if kind == "insert":
            rows = list(params["rows"])
            visible_at = params.get("visible_at")
            self.on_request(
                int(params.get("after_requests", 0)) + 1, lambda sim: sim.add_records(rows, visible_at=visible_at)
            )
            return
        with self._lock:
            self._faults.append(_Fault(kind, count, path, dict(params)))

    def clear_faults(self) -> None:
        """Drop queued faults and pending request hooks."""
        with self._lock:
            self._faults.clear()
            self._hooks.clear()

    def _take_fault(self, path: str) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.kind != "graphql_error":
                    return self._consume(fault)
        return None

    def _take_graphql_fault(self) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.kind == "graphql_error":
                    return self._consume(fault)
        return None

    def _consume(self, fault: _Fault) -> _Fault:
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)
        return fault

    @staticmethod
    def _empty_stats() -> Dict[str, Any]:
        return {
            "requests": [],
            "domain_lookups": 0,
            "audit_requests": 0,
            "rows_served": 0,
            "auth_failures": 0,
            "graphql_errors": 0,
            "faults": 0,
        }

    def stats(self) -> Dict[str, Any]:
        """Counters and a per-request log with every header as sent (tests look for leaked secrets).

        Each ``requests`` entry: t, listener, kind ("domain", "audit", "other"), method, path, query, headers,
        body (text), args (parsed auditData arguments), fields (selected field names), status, rows (served),
        total_count (X-Total-Count sent), fault, auth_error (why OAuth failed), error (GraphQL message).
        """
        with self._lock:
            result = dict(self._stats)
            result["requests"] = [dict(entry) for entry in self._stats["requests"]]
            return result

    def reset_stats(self) -> None:
        """Zero the counters and clear the request log (request hooks keep counting)."""
        with self._lock:
            self._stats = self._empty_stats()

    # ----- request handling --------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        listener = handler.server.name
        url = urlsplit(handler.path)
        entry: Dict[str, Any] = {
            "t": time.time(),
            "listener": listener,
            "kind": "other",
            "method": handler.command,
            "path": url.path,
            "query": url.query,
            "headers": dict(handler.headers.items()),
            "body": None,
            "args": None,
            "fields": None,
            "status": 0,
            "rows": 0,
            "total_count": None,
            "fault": None,
            "auth_error": None,
            "error": None,
        }
        try:
            raw = handler.read_body()
        except ValueError:
            handler.close_connection = True
            self._finish(handler, entry, _http_error(400, "bad Content-Length"), None)
            return
        entry["body"] = raw.decode("utf-8", "replace") if raw else None
        is_domain = listener == self._names[0] and (DOMAIN_PATH.match(url.path) or DOMAIN_LIST_PATH.match(url.path))
        audit_match = AUDIT_PATH.match(url.path)
        if is_domain:
            entry["kind"] = "domain"
        elif audit_match:
            entry["kind"] = "audit"
            self._run_hooks()

        fault = self._take_fault(entry["kind"]) if entry["kind"] in ("domain", "audit") else None
        trickle: Optional[float] = None
        if fault is not None:
            entry["fault"] = fault.kind
            with self._lock:
                self._stats["faults"] += 1
            if fault.kind == "stall":
                # Waiting on the stop event (not sleep) lets stop() release stalled connections at once.
                self._stopping.wait(float(fault.params["seconds"]))
            elif fault.kind == "reset":
                self._log(entry)
                handler.reset()
                return
            elif fault.kind == "trickle":
                trickle = float(fault.params.get("interval", 0.05))
        try:
            if fault is not None:
                self._raise_fault(fault)
            if entry["kind"] == "domain":
                reply = self._domain(handler, url.path)
            elif audit_match:
                reply = self._audit(handler, listener, audit_match.group(1), raw, entry)
            else:
                reply = _http_error(404, "Not Found")
        except _Reply as early:
            reply = early
        except Exception as exc:
            # A simulator bug: answer 500 so the client does not hang, and say so loudly in the test output.
            traceback.print_exc()
            entry["error"] = f"simulator bug: {exc!r}"
            reply = _http_error(500, "simulator bug")
        self._finish(handler, entry, reply, trickle)

    def _finish(self, handler: _Handler, entry: Dict[str, Any], reply: _Reply, trickle: Optional[float]) -> None:
        entry["status"] = reply.status
        entry["total_count"] = reply.headers.get("X-Total-Count")
        self._log(entry)
        try:
            handler.send_json(reply, trickle, self._stopping)
        except OSError:
            handler.close_connection = True

    def _log(self, entry: Dict[str, Any]) -> None:
        with self._lock:
            self._stats["requests"].append(entry)
            if entry["kind"] == "domain":
                self._stats["domain_lookups"] += 1
            elif entry["kind"] == "audit":
                self._stats["audit_requests"] += 1
                self._stats["rows_served"] += entry["rows"]
            if entry["auth_error"]:
                self._stats["auth_failures"] += 1
            if entry["error"] and entry["status"] != 500:
                self._stats["graphql_errors"] += 1

    def _run_hooks(self) -> None:
        with self._lock:
            self._audit_seen += 1
            due = [callback for at, callback in self._hooks if at == self._audit_seen]
            self._hooks = [(at, callback) for at, callback in self._hooks if at > self._audit_seen]
        for callback in due:
            try:
                callback(self)
            except Exception:
                # A broken hook is a test bug; show it instead of dropping the client's connection.
                traceback.print_exc()

    @staticmethod
    def _raise_fault(fault: _Fault) -> None:
        if fault.kind == "status":
            status = int(fault.params.get("status", 503))
            headers = {"Retry-After": str(int(fault.params["retry_after"]))} if "retry_after" in fault.params else {}
            raise _Reply(status, {"status": status, "message": "Internal Server Error"}, headers)
        if fault.kind == "429":
            headers = {"Retry-After": str(int(fault.params["retry_after"]))} if "retry_after" in fault.params else {}
            raise _Reply(429, {"status": 429, "message": "Too Many Requests"}, headers)
        if fault.kind == "401":
            raise _http_error(401, "Not Authenticated")
        if fault.kind == "403":
            raise _http_error(403, "Not Authorized")

    # ----- Domain API --------------------------------------------------------------------------------------

    def _domain(self, handler: _Handler, path: str) -> _Reply:
        if handler.command != "GET":
            return _http_error(405, "Method Not Allowed")
        cfg = self.config
        single = DOMAIN_PATH.match(path)
        account = (single or DOMAIN_LIST_PATH.match(path)).group(1)  # type: ignore[union-attr]
        if account != cfg.account_id:
            return _http_error(cfg.unknown_account_status, f"Invalid site {account}")
        base = self.base_uri(cfg.audit_host)
        if single is None:
            return _Reply(200, {"baseURIs": [{"service": s, "account": account, "baseURI": base} for s in SERVICES]})
        service = single.group(2)
        if service not in SERVICES:
            return _http_error(404, f"Unknown service {service}")
        return _Reply(200, {"service": service, "account": account, "baseURI": base})

    # ----- Audit Trail API ---------------------------------------------------------------------------------

    def _audit(self, handler: _Handler, listener: str, account: str, raw: bytes, entry: Dict[str, Any]) -> _Reply:
        cfg = self.config
        if listener != cfg.audit_host:
            return _http_error(cfg.moved_status, f"Account {account} is not served by this host")
        if handler.command != "POST":
            return _http_error(405, "Method Not Allowed")
        if account != cfg.account_id:
            return _http_error(400, f"Invalid accountId {account}")
        content_type = handler.headers.get("Content-Type", "")
        form_body = raw.decode("utf-8", "replace") if "x-www-form-urlencoded" in content_type.lower() else None
        host = handler.headers.get("Host", "")
        port = handler.server.server_address[1]
        if host not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            host = f"127.0.0.1:{port}"
        with self._lock:
            reason = oauth_failure(
                cfg,
                handler.command,
                f"https://{host}{handler.path}",
                handler.headers.get("Authorization", ""),
                form_body,
                self._nonces,
            )
        if reason is not None:
            entry["auth_error"] = reason
            return _Reply(
                401, {"status": 401, "message": "Not Authenticated"}, {"WWW-Authenticate": 'OAuth realm="liveperson"'}
            )
        if not cfg.audit_permission:
            return _http_error(403, "Not Authorized")
        if "json" not in content_type.lower():
            return _http_error(415, "Unsupported Media Type")
        try:
            payload = json.loads(raw)
        except ValueError:
            return _http_error(400, "Request body is not JSON")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return _http_error(400, "Request body needs a query string")
        try:
            query = self._parse_audit(payload, cfg, entry)
            fault = self._take_graphql_fault()
            if fault is not None:
                entry["fault"] = fault.kind
                with self._lock:
                    self._stats["faults"] += 1
                raise GraphQLError(str(fault.params.get("message", "Internal error while fetching audit data")))
        except GraphQLError as error:
            entry["error"] = str(error)
            return _Reply(cfg.errors_status, {"errors": [{"message": str(error)}]})
        rows, total = self._select(query, cfg)
        entry["rows"] = len(rows)
        count = total if cfg.total_count == "total" else len(rows)
        return _Reply(200, {"data": {query.key: rows}}, {"X-Total-Count": str(count)})

    @staticmethod
    def _parse_audit(payload: Dict[str, Any], cfg: SimConfig, entry: Dict[str, Any]) -> AuditQuery:
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise GraphQLError("variables must be a JSON object")
        roots = parse_query(payload["query"], variables)
        entry["args"] = dict(roots[0].args) if roots else None
        entry["fields"] = [child.name for child in roots[0].children] if roots else None
        for root in roots:
            if root.name != "auditData":
                raise GraphQLError(
                    f"Validation error of type FieldUndefined: Field '{root.name}' in type 'Query' is undefined"
                )
        if len(roots) != 1:
            raise GraphQLError("The simulator serves one auditData field per request")
        return build_audit_query(roots[0], cfg)

    def _select(self, query: AuditQuery, cfg: SimConfig) -> Tuple[List[Dict[str, Any]], int]:
        now = cfg.now if cfg.now is not None else time.time()
        floor = int(now - cfg.retention_days * _DAY)
        start = floor if query.start is None else max(floor, query.start)
        users = set(query.users) if query.users else None
        types = set(query.component_types) if query.component_types else None
        with self._lock:
            low = bisect.bisect_left(self._keys, (start, -1))
            high = len(self._keys) if query.end is None else bisect.bisect_left(self._keys, (query.end, -1))
            matches = [
                item
                for item in self._rows[low:high]
                if (query.lpa or not item.lpa)
                and (query.automatic or not item.automatic)
                and (item.visible_at if item.visible_at is not None else item.instant + cfg.ingestion_delay) <= now
                and (types is None or item.row.get("objectType") in types)
                and (
                    users is None
                    or not users.isdisjoint(
                        (
                            item.row.get("originator"),
                            item.row.get("originatorLoginName"),
                            item.row.get("originatorUserId"),
                        )
                    )
                )
            ]
        if cfg.tie_order == "shuffled":
            random.shuffle(matches)
        # Stable sorts from the last key to the first give a multi-key order; reverse=True keeps ties in place.
        for column, descending in reversed(query.order):
            if column in ("changeTimestamp", "changeDate"):
                matches.sort(key=lambda item: item.instant, reverse=descending)
            else:
                matches.sort(key=_field_key(column), reverse=descending)
        page = matches[query.offset : query.offset + query.first]
        return [self._render(item, query) for item in page], len(matches)

    @staticmethod
    def _render(item: _Stored, query: AuditQuery) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, name in query.fields:
            if name == "changeDate":
                out[key] = change_date(item.instant, query.zone)
            elif name == "__typename":
                out[key] = "AuditData"
            else:
                out[key] = item.row.get(name, False if name == "originatorIsLpa" else "")
        return out


def _field_key(column: str) -> Callable[[_Stored], str]:
    return lambda item: str(item.row.get(column, ""))


def audit_body(fields: Sequence[str] = PUBLIC_FIELDS, list_syntax: str = "graphql", **args: Any) -> Dict[str, str]:
    """Build a request body the way a client would: ``{"query": "{auditData(...) { fields }}"}``.

    Python values become GraphQL literals (str -> escaped string, bool, int, list); with ``list_syntax="comma"``
    lists are joined into one comma-separated string.
    """
    rendered = []
    for name, value in args.items():
        if isinstance(value, (list, tuple)) and list_syntax == "comma":
            value = ",".join(value)
        rendered.append(f"{name}:{_literal(value)}")
    arguments = f"({', '.join(rendered)})" if rendered else ""
    return {"query": f"{{auditData{arguments} {{ {' '.join(fields)} }}}}"}


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if value is None:
        return "null"
    return json.dumps(str(value))


__all__ = [
    "AUDIT_PATH",
    "DOMAIN_PATH",
    "FAULTS",
    "SERVICES",
    "AuditQuery",
    "EnumValue",
    "GraphQLError",
    "LivePersonSimulator",
    "Selection",
    "SimConfig",
    "audit_body",
    "build_audit_query",
    "effective_zone",
    "oauth_failure",
    "parse_query",
]
