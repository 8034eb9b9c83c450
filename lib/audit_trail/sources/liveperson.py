"""LivePerson Conversational Cloud Audit Trail API: a GraphQL ``auditData`` query, paged by ``first``/``offset``.

Facts this module relies on (LivePerson's developer docs) and the readings it survives where they are silent:
- The audit host is found with the Domain API (service ``accountConfigReadOnly``); the answer is a bare host.
  It is cached across runs and looked up again after a connection error or a 401/404 from the cached host.
- Requests are signed with OAuth 1.0 HMAC-SHA1 (an API key's four values).
- ``fromDate``/``toDate`` are whole days; whether ``toDate`` is inclusive and in which zone the days are read
  is not said, so the days asked for cover the window under every reading and rows are filtered back to it.
- Rows have no id (the engine keys them by content); ``changeDate`` has one-second resolution and is rendered
  in the requested ``timezone`` (default US/Eastern). UTC is asked for; which zone was really used is proven
  once by asking for the same rows in America/New_York, and remembered. If only US/Eastern is ever served, the
  repeated hour of the November fall-back is placed by the rows' ascending order (a row alone in that hour
  cannot be placed: it is logged and taken as the first of the two hours).
- The end of a listing is an empty page: the server may clamp ``first`` and ``X-Total-Count`` may count only
  the page. Rows of equal ``changeTimestamp`` may come in any order, so a second that spans a page boundary
  is listed again in full (the engine's offset cursor).
- A GraphQL error about ``first``, ``actionType``, the list syntax or the zone, with status 200 or 400, is a
  cue to fall back (smaller ``first``, no ``actionType``, the other list syntax, the next zone id); what was
  learnt is kept in the checkpoint.
- Retention is 13 months; no rate limit is documented (a 429 is honoured if it ever comes).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from ..config import integer, required, text
from ..errors import (
    AuthenticationError,
    ConfigError,
    FatalSourceError,
    RateLimited,
    RetriableSourceError,
)
from ..http import retry_after
from ..logs import quoted
from ..pacing import RetryPolicy
from ..paging import OffsetCursor, offset_step
from ..source import ASCENDING, DAY_MS, DESCENDING, SECOND_MS, TOTALS_UNRELIABLE, Capabilities, Page, Window

if TYPE_CHECKING:
    from ..modinput import BuildContext, InputSpec

SCHEME = "liveperson_audit"
SOURCETYPE = "liveperson:audit"
DEFAULT_DOMAIN_URL = "https://api.liveperson.net"
SERVICE = "accountConfigReadOnly"
DOMAIN_PATH = "/api/account/{account}/service/" + SERVICE + "/baseURI.json"
AUDIT_PATH = "/api/account/{account}/configuration/metadata/audit"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
FIELDS = ("accountId", "objectType", "objectName", "actionType", "element", "oldValue", "newValue", "originator",
          "originatorLoginName", "originatorUserId", "originatorUserAgent", "originatorAuthType", "originatorIsLpa",
          "changeDate")
# UTC under three names (the last for servers that take only Area/City ids), then US/Eastern as a last resort.
UTC_ZONES = ("UTC", "Etc/UTC", "Atlantic/Reykjavik")
EASTERN = "America/New_York"
CAPABILITIES = Capabilities(bound_resolution_ms=DAY_MS, time_resolution_ms=SECOND_MS, order=ASCENDING,
                            totals=TOTALS_UNRELIABLE, max_results=None, max_page_size=MAX_PAGE_SIZE,
                            retention_seconds=396 * 86400.0, processing_delay_seconds=60.0,
                            # A 13-month backfill is read a week at a time, each week checkpointed.
                            max_window_seconds=7 * 86400.0)
# LivePerson's retry guidance: 5xx three times, 5 s apart and growing; 4xx never.
RETRY = RetryPolicy(max_attempts=4, backoff_factor=5.0, backoff_max=60.0, default_retry_after=30.0)
SECRET_FIELDS = ("app_secret", "access_token", "access_token_secret")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_]{1,20}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$")
_CHANGE_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?$")
DOMAIN_MAX_AGE_SECONDS = 86400.0


@dataclass(frozen=True)
class LivePersonSettings:
    account_id: str
    app_key: str
    app_secret: str
    access_token: str
    access_token_secret: str
    domain_url: str
    include_lpa: bool
    include_automatic_updates: bool
    page_size: int

    @classmethod
    def parse(cls, params: Dict[str, str]) -> LivePersonSettings:
        from ..config import https_url

        account = required(params, "account_id", "enter the LivePerson site id (account number)")
        if not _ACCOUNT.match(account):
            msg = "must be the LivePerson site id: letters, digits and _, at most 20"
            raise ConfigError("account_id", msg)  # noqa: EM101 - the field name, not the message
        return cls(
            account_id=account,
            app_key=required(params, "app_key", "copy the App key of the API key created in Conversational Cloud"),
            app_secret=required(params, "app_secret", "copy the Secret of that API key"),
            access_token=required(params, "access_token", "copy the Access token of that API key"),
            access_token_secret=required(params, "access_token_secret", "copy the Access token secret of that key"),
            domain_url=https_url(params, "domain_url", DEFAULT_DOMAIN_URL),
            include_lpa=_boolean(params, "include_lpa", True),
            include_automatic_updates=_boolean(params, "include_automatic_updates", True),
            page_size=integer(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        )


def _boolean(params: Dict[str, str], name: str, default: bool) -> bool:
    raw = text(params, name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "t", "y"):
        return True
    if raw in ("0", "false", "no", "f", "n"):
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


class _GraphQLRejected(Exception):
    """The server refused the query; ``topic`` names the argument its message is about, if one we can change."""

    def __init__(self, topic: Optional[str]) -> None:
        super().__init__(topic or "query")
        self.topic = topic


def _topic(messages: Sequence[str]) -> Optional[str]:
    """What a GraphQL error is about, read from its messages (which are never repeated anywhere)."""
    joined = " ".join(messages).lower()
    for topic, words in (("timezone", ("timezone", "time zone")), ("actionType", ("actiontype",)),
                         ("list_syntax", ("orderby", "orderdirection")), ("first", ("'first'", " first"))):
        if any(word in joined for word in words):
            return topic
    return None


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid GraphQL string literal


class LivePersonSource:
    """The LivePerson audit trail; the cursor is an offset (with the second to relist)."""

    name = "liveperson"
    sourcetype = SOURCETYPE
    capabilities = CAPABILITIES
    bulky_fields: Tuple[str, ...] = ("oldValue", "newValue")  # free text: a whole skill description or certificate

    def __init__(self, settings: LivePersonSettings, session: Any, timeout: Any, logger: Any = None,
                 clock: Any = time.time) -> None:
        from requests_oauthlib import OAuth1

        self.settings = settings
        self.session = session
        self.timeout = timeout
        self.page_size = settings.page_size
        self.memory: Dict[str, Any] = {}
        self._logger = logger
        self._clock = clock
        self._auth = OAuth1(settings.app_key, client_secret=settings.app_secret,
                            resource_owner_key=settings.access_token,
                            resource_owner_secret=settings.access_token_secret, signature_method="HMAC-SHA1",
                            signature_type="AUTH_HEADER")
        self._times: Dict[int, Optional[int]] = {}
        self._fold_after: Optional[Tuple[str, bool]] = None  # US/Eastern only: last wall time and its fold
        self._refreshed = False  # the domain was looked up again during this page

    # -- the domain -------------------------------------------------------------------------------

    def _domain(self, refresh: bool = False) -> str:
        cached = self.memory.get("domain")
        if (not refresh and isinstance(cached, dict) and cached.get("account") == self.settings.account_id
                and self._clock() - float(cached.get("at", 0)) < DOMAIN_MAX_AGE_SECONDS):
            return str(cached["host"])
        import requests

        url = self.settings.domain_url + DOMAIN_PATH.format(account=self.settings.account_id)
        try:
            # The Domain API needs no authentication: nothing of the key is sent to it.
            response = self.session.get(url, params={"version": "1.0"}, timeout=self.timeout, auth=None)
        except requests.RequestException as exc:
            msg = f"Domain API request failed: {type(exc).__name__}"
            raise RetriableSourceError(msg) from None
        status = response.status_code
        if status in (401, 404):
            msg = f"the Domain API does not know this site id (HTTP {status}); check account_id and domain_url"
            raise ConfigError("account_id", msg)  # noqa: EM101 - the field name, not the message
        if status >= 500 or status == 429:
            msg = f"Domain API HTTP {status}"
            raise RetriableSourceError(msg, status)
        host = None
        try:
            body = response.json()
            host = body.get("baseURI") if isinstance(body, dict) else None
        except ValueError:
            pass
        if status != 200 or not isinstance(host, str) or not _HOST.match(host):
            msg = f"the Domain API answered HTTP {status} without a usable baseURI"
            raise FatalSourceError(msg, status)
        self.memory["domain"] = {"host": host, "account": self.settings.account_id, "at": self._clock()}
        return host

    # -- requests ---------------------------------------------------------------------------------

    def _args(self, window: Window, offset: int, first: int, zone: str) -> Dict[str, Any]:
        start_day, end_day = _days(window)
        args: Dict[str, Any] = {"fromDate": start_day, "toDate": end_day, "first": first, "offset": offset}
        syntax = self.memory.get("list_syntax", "graphql")
        if syntax == "graphql":
            args.update(orderBy=["changeTimestamp"], orderDirection=["ASC"])
        elif syntax == "comma":
            args.update(orderBy="changeTimestamp", orderDirection="ASC")
        args.update(timezone=zone, lpa=self.settings.include_lpa,
                    automaticUpdates=self.settings.include_automatic_updates)
        return args

    def _query(self, args: Dict[str, Any]) -> str:
        fields = [f for f in FIELDS if f != "actionType" or self.memory.get("action_type", True)]
        rendered = ", ".join(f"{name}:{_literal(value)}" for name, value in args.items())
        return f"{{auditData({rendered}) {{ {' '.join(fields)} }}}}"

    def _post(self, args: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], Any]:
        """One audit request; returns the rows and the response. Raises _GraphQLRejected for a refused query."""
        import requests

        host = self._domain()
        url = f"https://{host}" + AUDIT_PATH.format(account=self.settings.account_id)
        body = json.dumps({"query": self._query(args)})
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            response = self.session.post(url, data=body, headers=headers, auth=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            self.memory.pop("domain", None)  # the next attempt looks the host up again
            msg = f"audit request failed: {type(exc).__name__}"
            raise RetriableSourceError(msg) from None
        status = response.status_code
        if status in (401, 404) and not self._refreshed:
            # The account may have moved: look the domain up again once before calling the key wrong.
            self._refreshed = True
            old = host
            if self._domain(refresh=True) != old:
                msg = f"the audit host moved (HTTP {status}); using the new one"
                raise RetriableSourceError(msg, status, immediate=True)
        payload: Any = None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if status in (200, 400) and isinstance(errors, list) and errors:
            messages = [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
            raise _GraphQLRejected(_topic(messages))
        if status == 200:
            data = payload.get("data") if isinstance(payload, dict) else None
            rows = data.get("auditData") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                # A proxy's page or a changed API; "no rows" would move the checkpoint past rows never read.
                msg = "the audit API answered 200 without an auditData list"
                raise RetriableSourceError(msg, 200)
            return rows, response
        raise self._error(response)

    def _error(self, response: Any) -> Exception:
        status = response.status_code
        if status == 429:
            return RateLimited("audit API rate limited (HTTP 429)", retry_after(response), "audit")
        if status >= 500:
            return RetriableSourceError(f"audit API HTTP {status}", status)
        if status == 401:
            return AuthenticationError(
                "LivePerson rejected the request's OAuth signature (HTTP 401): check app_key, app_secret, "
                "access_token and access_token_secret, and that this machine's clock is right", status)
        if status == 403:
            return AuthenticationError(
                "LivePerson refused the audit trail to this API key (HTTP 403): edit the key in Conversational "
                "Cloud and grant it read access to the Audit Trail (Administration category)", status)
        return FatalSourceError(f"the audit API rejected the request (HTTP {status})", status)

    def _request(self, args_for: Any) -> Tuple[List[Dict[str, Any]], Any, int]:
        """Sends the query, falling back on what the server refuses; returns rows, response and requests made."""
        for requests_made in range(1, 13):
            args = args_for()
            try:
                rows, response = self._post(args)
                return rows, response, requests_made
            except _GraphQLRejected as refused:
                if not self._fall_back(refused.topic, args):
                    msg = ("the audit API refused the query with a GraphQL error that no fallback answers; see "
                           "README 'Troubleshooting'")
                    raise FatalSourceError(msg, 400) from None
        msg = "the audit API refused every form of the query"
        raise FatalSourceError(msg, 400)

    def _fall_back(self, topic: Optional[str], args: Dict[str, Any]) -> bool:
        memory = self.memory
        if topic == "timezone":
            tried = memory.get("zone_index", 0) + 1
            if tried > len(UTC_ZONES):
                return False
            memory["zone_index"] = tried
            memory.pop("zone_proven", None)
        elif topic == "actionType" and memory.get("action_type", True):
            memory["action_type"] = False
        elif topic == "list_syntax":
            order = ("graphql", "comma", "none")
            current = memory.get("list_syntax", "graphql")
            if current == "none":
                return False
            memory["list_syntax"] = order[order.index(current) + 1]
        elif topic == "first" and args.get("first", 1) > 1:
            memory["max_first"] = max(1, int(args["first"]) // 2)
        else:
            return False
        self._log("action=query_fallback topic=%s", quoted(topic or "-"))
        return True

    def _log(self, msg: str, *args: Any) -> None:
        if self._logger is not None:
            self._logger.info(msg, *args)

    # -- the contract -----------------------------------------------------------------------------

    @property
    def _zone(self) -> str:
        index = int(self.memory.get("zone_index", 0))
        return UTC_ZONES[index] if index < len(UTC_ZONES) else EASTERN

    @property
    def _order(self) -> str:
        return DESCENDING if self.memory.get("list_syntax") == "none" else ASCENDING

    def _first(self, wanted: int) -> int:
        return max(1, min(wanted, int(self.memory.get("max_first", MAX_PAGE_SIZE))))

    def fetch(self, window: Window, cursor: Any, page_size: int) -> Page:
        self._refreshed = False
        position: Optional[OffsetCursor] = cursor
        if position is None:
            self._fold_after = None
        offset = position.offset if position is not None else 0
        size = page_size
        rows, _response, requests_made = self._request(lambda: self._args(window, offset, self._first(size),
                                                                          self._zone))
        rows, made = self._prove_zone(window, offset, size, rows)
        requests_made += made
        times, _ = self._page_times(rows)
        step = offset_step(position, times, self._order, SECOND_MS)
        if step.oversized_tie and self._first(MAX_PAGE_SIZE) > len(rows):
            # One second fills the page: ask again for as many rows as the server gives, so it comes whole.
            size = MAX_PAGE_SIZE
            rows, _response, made = self._request(lambda: self._args(window, offset, self._first(size), self._zone))
            requests_made += made
            times, _ = self._page_times(rows)
            step = offset_step(position, times, self._order, SECOND_MS)
        kept = rows[step.keep_from:]
        # Placed again without the rows the listing shifted onto this page: they must not move the fold.
        kept_times, self._fold_after = self._page_times(kept)
        self._times = {id(row): t for row, t in zip(kept, kept_times)}
        next_cursor = step.next_cursor
        last = times[-1] if times else None
        ordered = all(a is not None and b is not None and a <= b for a, b in zip(times, times[1:]))
        if self._order == ASCENDING and ordered and last is not None and last > window.end_ms:
            # Oldest first (and this page shows it): a row past the window's end means every later row is too.
            # The whole days the bounds cover need not be listed to their end, nor an empty page asked for.
            next_cursor = None
        return Page(records=kept, next_cursor=next_cursor, relisted=step.relisted, moved=step.moved,
                    requests=requests_made)

    def _prove_zone(self, window: Window, offset: int, size: int,
                    rows: List[Dict[str, Any]]) -> Tuple[List[Dict[str, Any]], int]:
        """Proves, once, that rows asked for in a UTC zone really come in UTC: the same rows asked for in
        America/New_York must read differently. A zone the server silently replaced by US/Eastern reads the same,
        and the next UTC name is tried; when none is honoured, times are read as US/Eastern."""
        made = 0
        while not self.memory.get("zone_proven") and rows and self._zone != EASTERN:
            eastern, _, spent = self._request(lambda: self._args(window, offset, self._first(size), EASTERN))
            made += spent
            # The first row that has a time, in both answers (the same row: same offset, same ascending order).
            ours = next((r.get("changeDate") for r in rows if isinstance(r, dict) and r.get("changeDate")), None)
            theirs = next((r.get("changeDate") for r in eastern if isinstance(r, dict) and r.get("changeDate")),
                          None)
            if ours is None:
                break  # nothing to prove it by yet: the next page with a time will
            if ours != theirs:
                self.memory["zone_proven"] = self._zone
                self._log("action=zone_proven zone=%s", quoted(self._zone))
                break
            self.memory["zone_index"] = int(self.memory.get("zone_index", 0)) + 1
            if self._zone == EASTERN:
                self._log("action=zone_proven zone=%s note=%s", EASTERN,
                          quoted("the API ignores the requested timezone; times are converted from US/Eastern"))
                return eastern, made
            rows, _, spent = self._request(lambda: self._args(window, offset, self._first(size), self._zone))
            made += spent
        return rows, made

    def _time_of(self, row: Any) -> Optional[int]:
        times, _ = self._page_times([row])
        return times[0]

    def _page_times(self, rows: Sequence[Any]) -> Tuple[List[Optional[int]], Optional[Tuple[str, bool]]]:
        """The UTC times of a page's rows, and the repeated-hour state to carry to the next page.

        In US/Eastern, a wall time of the hour repeated when clocks fall back is placed by the rows' ascending
        order: a step back in wall time within that hour marks the second occurrence, so rows before a step back
        (on this page) are in the first, rows after one (on this page or an earlier one) in the second. A row
        with no step back on either side cannot be placed: it is taken as the second occurrence, which at worst
        writes it an hour late (the first would put it before windows already read, and lose it), and logged.
        """
        values = [row.get("changeDate") if isinstance(row, dict) else None for row in rows]
        walls = [_wall(value) for value in values]
        if self._zone != EASTERN:
            return [None if w is None else _epoch_ms(w.replace(tzinfo=timezone.utc)) for w in walls], None
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(EASTERN)
        state = self._fold_after
        times: List[Optional[int]] = []
        for index, (value, wall) in enumerate(zip(values, walls)):
            if wall is None or value is None:
                times.append(None)
                continue
            first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
            if first.utcoffset() == second.utcoffset():
                state = None
                times.append(_epoch_ms(first))
                continue
            if state is not None and (state[1] or value < state[0]):
                fold = True
            elif _steps_back_later(values, walls, index, zone):
                fold = False
            elif state is not None:
                fold = state[1]
            else:
                fold = True
                if self._logger is not None:
                    self._logger.warning("action=ambiguous_time change_date=%s assumed=%s", quoted(value),
                                         quoted("second occurrence (EST)"))
            state = (value, fold)
            times.append(_epoch_ms(second if fold else first))
        return times, state

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        return None  # LivePerson audit rows carry no id: the engine keys them by content

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        found = self._times.get(id(record), -1)
        return self._time_of(record) if found == -1 else found

    def check_access(self) -> None:
        now_ms = int(self._clock() * 1000)
        self._request(lambda: self._args(Window(now_ms - 60_000, now_ms), 0, 1, self._zone))

    def close(self) -> None:
        self.session.close()


def _wall(value: Any) -> Optional[datetime]:
    """A changeDate (``yyyy-MM-dd HH:mm:ss.S``) as a naive wall time, or None."""
    match = _CHANGE_DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _ambiguous(wall: datetime, zone: Any) -> bool:
    return wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()


def _steps_back_later(values: Sequence[Any], walls: Sequence[Optional[datetime]], index: int, zone: Any) -> bool:
    """Whether, after row ``index`` and still inside the repeated hour, the wall time steps back."""
    previous = values[index]
    for value, wall in zip(values[index + 1:], walls[index + 1:]):
        if wall is None:
            continue
        if not _ambiguous(wall, zone):
            return False
        if value < previous:
            return True
        previous = value
    return False


def _days(window: Window) -> Tuple[str, str]:
    """Days that cover the window whether they are read in UTC or US/Eastern, and whatever toDate's inclusivity:
    from the US/Eastern day of its start (never later than the UTC one) to the day after its UTC end."""
    from zoneinfo import ZoneInfo

    start = datetime.fromtimestamp(window.start_ms / 1000, tz=timezone.utc)
    end = datetime.fromtimestamp(window.end_ms / 1000, tz=timezone.utc)
    first_day = min(start.date(), start.astimezone(ZoneInfo(EASTERN)).date())
    last_day = end.date() + timedelta(days=1)
    return first_day.isoformat(), last_day.isoformat()


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


def _build(context: BuildContext) -> LivePersonSource:
    settings = LivePersonSettings.parse(context.params)
    policies = context.policies
    return LivePersonSource(settings, context.session, policies.timeout, logger=context.logger)


def spec() -> InputSpec:
    """The ``liveperson_audit`` modular input (argument names are a contract with admins' configs)."""
    from ..config import Setting
    from ..http import proxy_with_password, split_proxy_password, url_host
    from ..modinput import InputSpec
    from ..secrets import PartialSecret

    return InputSpec(
        scheme=SCHEME,
        title="LivePerson Audit Trail",
        description="Collects the LivePerson Conversational Cloud Audit Trail (who changed which user, skill, "
                    "profile, campaign or certificate) as liveperson:audit events, each change exactly once.",
        arguments=(
            Setting("account_id", "Account ID", "The LivePerson site id (letters, digits, _; at most 20)",
                    required=True),
            Setting("app_key", "App key", "App key of an OAuth 1.0 API key with read access to the Audit Trail",
                    required=True),
            Setting("app_secret", "Secret", "Secret of that API key; moved to storage/passwords on the first run",
                    required=True),
            Setting("access_token", "Access token", "Access token of that API key; moved to storage/passwords on "
                    "the first run", required=True),
            Setting("access_token_secret", "Access token secret", "Access token secret of that API key; moved to "
                    "storage/passwords on the first run", required=True),
            Setting("domain_url", "Domain API URL", f"Where LivePerson's Domain API answers. Default "
                    f"{DEFAULT_DOMAIN_URL}", DEFAULT_DOMAIN_URL),
            Setting("include_lpa", "Include LivePerson staff changes", "true or false. Default true", "true"),
            Setting("include_automatic_updates", "Include automatic updates", "true or false. Default true",
                    "true"),
            Setting("page_size", "Page size", f"Rows per request (first), 1-{MAX_PAGE_SIZE}. Default "
                    f"{DEFAULT_PAGE_SIZE}", str(DEFAULT_PAGE_SIZE), "number"),
        ),
        secret_fields=(*SECRET_FIELDS, "proxy_url"),
        partial_secrets={"proxy_url": PartialSecret(split=split_proxy_password, join=proxy_with_password)},
        defaults={"settle_seconds": "300"},
        retry=RETRY,
        build=_build,
        destination=lambda params: (url_host(params.get("domain_url") or DEFAULT_DOMAIN_URL),
                                    (params.get("account_id") or "").strip(), (params.get("app_key") or "").strip()),
    )
