"""A loopback HTTPS simulator of RingCentral's OAuth token endpoints and the Audit Trail search API.

It reproduces the documented wire formats (bodies, paging, error shapes, rate-limit headers and the
penalty that restarts on every request) and makes the undocumented behaviour (sort order, bound inclusivity,
ingestion delay, retention clipping) switchable, so collector code can be tested against each assumption.

Run in-process (``RingCentralSimulator(cfg).start()``) or as a process::

    python -m tests.sim.ringcentral_sim --records 300

which prints one JSON line with the base URL, CA path and credentials, then serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import math
import os
import random
import re
import secrets
import signal
import ssl
import sys
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any, Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from .background import ConfiguredSimulator, DispatchingHandler, LoopbackHTTPServer
from .faults import Fault, FaultQueue
from .records import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_ACCOUNT_NAME,
    generate_records,
    parse_timestamp_us,
)
from .tls import LoopbackTLS

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CONTENT_TYPE = "application/json;charset=utf-8"
SEARCH_PATH = re.compile(r"^/restapi/v1\.0/account/([^/]+)/audit-trail/search/?$")
TOKEN_PATH = "/restapi/oauth/token"
REVOKE_PATH = "/restapi/oauth/revoke"
FAULTS = ("status", "stall", "reset", "429", "malformed_record", "trickle")
_FAULT_PATHS = ("search", "token", "revoke")
_MAX_BODY = 10 * 1024 * 1024
_DAY = 86_400.0
TOKEN_ERRORS = ("echo_assertion", "echo_basic", "forged_line")
TOKEN_REPLIES = ("json", "not_json")
# What ``token_error="forged_line"`` puts after a newline in errorCode: a log line claiming a good run.
FORGED_LOG_LINE = (
    "2026-01-01 00:00:00,000 log_level=INFO pid=1 tid=MainThread file=modinput.py:_run_locked:313 | input=prod "
    "action=run_complete records_emitted=0 windows=1 duration_seconds=0.010 status=ok"
)
# Characters a JSON text must escape to be valid UTF-8: a record may hold an unpaired surrogate.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclasses.dataclass
class SimConfig:
    """Behaviour of the simulated tenant. Every field can be changed at runtime with ``set_config``.

    Hostile answers (each off by default):
        token_error: every token request is refused (400) with a body that "echo_assertion" (the JWT sent, in
            ``error``), "echo_basic" (the Authorization header sent, in ``errorCode``) or "forged_line"
            (``errorCode`` holding a newline and then ``FORGED_LOG_LINE``).
        token_reply: "not_json" answers a successful grant with 200 and an HTML page (a captive proxy).
        token_expires_in: reported as the token's ``expires_in`` instead of its lifetime (e.g. "abc").
        rate_window_header, rate_remaining_header: sent as X-Rate-Limit-Window / -Remaining on search answers
            instead of the real values (e.g. "99999999" and "0").
        paging_per_page: reported as ``paging.perPage`` (e.g. -1 or 1); paging_total False leaves the page count
            (``paging.total``) out; ignore_page True answers page 1 to every page request; total_found is
            reported as ``paging.totalFound`` (e.g. 20000, or the string "250").
    """

    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"
    jwt: str = "sim-jwt-assertion"
    account_id: str = DEFAULT_ACCOUNT_ID
    account_name: str = DEFAULT_ACCOUNT_NAME
    owner_id: str = "402539300008"  # extension id of the JWT's user
    host: str = "127.0.0.1"
    port: int = 0
    access_token_ttl: float = 3600.0
    issue_refresh_tokens: bool = False
    refresh_token_ttl: float = 604800.0
    max_sessions: int = 5
    scope: str = "ReadAuditTrail ReadAccounts"
    heavy_limit: int = 10
    heavy_window: float = 60.0  # X-Rate-Limit-Window reports it rounded up to whole seconds
    heavy_penalty: float = 60.0
    auth_limit: int = 5
    auth_window: float = 60.0
    auth_penalty: float = 60.0
    send_retry_after: bool = True
    retention_days: float = 180.0
    retention_max: int = 10000
    search_cap: int = 10000
    max_per_page: int = 1000
    default_per_page: int = 100  # the real default is undocumented
    ingestion_delay: float = 0.0
    sort: str = "newest"
    inclusive_from: bool = True
    inclusive_to: bool = True
    pretty_json: bool = True
    token_error: Optional[str] = None
    token_reply: str = "json"
    token_expires_in: Any = None
    rate_window_header: Optional[str] = None
    rate_remaining_header: Optional[str] = None
    paging_per_page: Any = None
    paging_total: bool = True
    ignore_page: bool = False
    total_found: Any = None


@dataclasses.dataclass
class _Session:
    session_id: str
    access_token: str
    access_expires: float  # monotonic
    scope: str
    endpoint_id: str
    refresh_token: Optional[str] = None
    refresh_expires: float = 0.0


@dataclasses.dataclass
class _Stored:
    event_us: int
    record_id: str
    record: Dict[str, Any]
    visible_at: Optional[float]  # wall clock; None means eventTime + ingestion_delay
    pretty: Optional[str] = None  # cached jackson_dumps text, as an element of the "records" array


class _RateGroup:
    """A sliding-window counter per (user, app) with a penalty that restarts on every rejected request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._hits: Dict[str, Deque[float]] = {}
        self._penalty_until: Dict[str, float] = {}

    def admit(self, key: str, limit: int, window: float, penalty: float, now: float) -> Tuple[bool, int, bool]:
        """Return (allowed, remaining, extended_penalty) and record the request."""
        hits = self._hits.setdefault(key, deque())
        if self._penalty_until.get(key, 0.0) > now:
            self._penalty_until[key] = now + penalty
            return False, 0, True
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            self.punish(key, penalty, now)
            return False, 0, False
        hits.append(now)
        return True, max(0, limit - len(hits)), False

    def punish(self, key: str, penalty: float, now: float) -> bool:
        """Start (or restart) the penalty; return whether one was already running."""
        running = self._penalty_until.get(key, 0.0) > now
        self._penalty_until[key] = now + penalty
        # What the real server counts once a penalty ends is undocumented; a fresh window keeps a client that
        # waited out Retry-After from being rejected again straight away.
        self._hits[key] = deque()
        return running


def jackson_dumps(value: Any) -> str:
    """Serialise like the real server: Jackson's default pretty printer (`"key" : value`, inline arrays)."""
    return _jackson(value, 0)


def _jackson(value: Any, level: int) -> str:
    if isinstance(value, _Preformatted):
        return str(value)
    if isinstance(value, dict):
        if not value:
            return "{ }"
        pad = "  " * (level + 1)
        members = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)} : {_jackson(v, level + 1)}" for k, v in value.items()
        ]
        return "{\n" + ",\n".join(members) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        return "[ " + ", ".join(_jackson(item, level) for item in value) + " ]"
    return json.dumps(value, ensure_ascii=False)


def _api_error(code: str, message: str, top_code: Optional[str] = None, **extra: str) -> Dict[str, Any]:
    # Legacy top-level errorCode/message next to errors[], as seen in real 429 and 401 bodies.
    return {
        "errorCode": top_code or code,
        "message": message,
        "errors": [dict({"errorCode": code, "message": message}, **extra)],
    }


def _oauth_error(error: str, code: str, message: str, **extra: str) -> Dict[str, Any]:
    return {
        "error": error,
        "errors": [dict({"errorCode": code, "message": message}, **extra)],
        "error_description": message,
    }


def _bad_parameter(name: str, value: Any) -> Dict[str, Any]:
    shown = value if isinstance(value, str) else json.dumps(value)
    return _api_error("CMN-101", f"Parameter [{name}] value is invalid.", parameterName=name, parameterValue=shown)


def _same(supplied: str, expected: str) -> bool:
    # Constant-time, and on bytes: compare_digest rejects non-ASCII str, which a client may well send.
    return hmac.compare_digest(supplied.encode("utf-8"), expected.encode("utf-8"))


def _escape_surrogates(text: str) -> str:
    """``text`` (a JSON text) with unpaired surrogates written as ``\\uXXXX`` escapes, as a JSON encoder that
    outputs UTF-8 must; they can only stand inside strings, where the escape means the same character."""
    if _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _server_error(status: int) -> Dict[str, Any]:
    if status == 500:
        return _api_error("CMN-203", "Internal Server Error")
    return _api_error("CMN-201", "Service Temporary Unavailable")


def _wire(item: _Stored) -> _Preformatted:
    # Pretty printing dominates the cost of large pages; records never change, so print each one once.
    if item.pretty is None:
        item.pretty = _jackson(item.record, 1)
    return _Preformatted(item.pretty)


_FILTERS = ("actionIds", "excludeActionIds", "initiatorIds", "targetIds", "siteId", "searchString")


def _record_matches(record: Dict[str, Any], query: Dict[str, Any]) -> bool:
    """Apply the request's filter fields (not the time window) to one record."""
    if query.get("actionIds") and record.get("actionId") not in query["actionIds"]:
        return False
    if query.get("excludeActionIds") and record.get("actionId") in query["excludeActionIds"]:
        return False
    initiator = record.get("initiator") or {}
    target = record.get("target") or {}
    if query.get("initiatorIds") and initiator.get("extensionId") not in query["initiatorIds"]:
        return False
    if query.get("targetIds") and target.get("objectId") not in query["targetIds"]:
        return False
    if query.get("siteId") and target.get("siteId") != query["siteId"]:
        return False
    needle = (query.get("searchString") or "").lower()
    if needle:
        # The spec lists exactly these fields for searchString; case-insensitivity is an assumption.
        haystack = [
            initiator.get("name"),
            initiator.get("role"),
            initiator.get("extensionNumber"),
            target.get("name"),
            target.get("extensionNumber"),
        ]
        haystack += [p.get("value") for p in (record.get("details") or {}).get("parameters", [])]
        if not any(needle in str(value).lower() for value in haystack if value is not None):
            return False
    return True


class _Reply(Exception):
    """Raised inside request handling to send a complete response immediately."""

    def __init__(
        self, status: int, body: Any, headers: Optional[Dict[str, str]] = None, pretty: Optional[bool] = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.pretty = pretty  # None: decide from the configuration when sending


class _Preformatted(str):
    """A value already serialised by ``jackson_dumps`` at the nesting level where it will be inserted."""


class _Server(LoopbackHTTPServer):
    def __init__(self, address: Tuple[str, int], sim: RingCentralSimulator, context: ssl.SSLContext) -> None:
        self.sim = sim
        self.context = context
        super().__init__(address, _Handler)


class _Handler(DispatchingHandler):
    server: _Server

    def _dispatch(self) -> None:
        sim = self.server.sim
        try:
            body = self._read_body()
        except ValueError:
            self._send(400, _api_error("CMN-101", "Invalid request body length"), {}, close=True)
            return
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            status, payload = sim._control(self.command, url.path, body)
            self._send(status, payload, {})
            return
        sim._handle_api(self, url.path, url.query, body)

    def _read_body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        length = int(length_text)
        if length < 0 or length > _MAX_BODY:
            msg = "bad Content-Length"
            raise ValueError(msg)
        return self.rfile.read(length)

    def _send(
        self,
        status: int,
        body: Any,
        headers: Dict[str, str],
        close: bool = False,
        pretty: Optional[bool] = None,
        trickle: Optional[float] = None,
    ) -> None:
        if pretty is None:
            pretty = self.server.sim.config.pretty_json
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        else:
            text = jackson_dumps(body) if pretty else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            raw = _escape_surrogates(text).encode("utf-8")
        headers = dict(headers)
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", CONTENT_TYPE))
        self.send_header("RCRequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if trickle is None:
            self.wfile.write(raw)
            return
        # A peer that keeps the connection alive a byte at a time: no read ever waits long.
        self.wfile.flush()
        stopping = self.server.sim._stopping
        for index in range(len(raw)):
            if stopping.wait(trickle):
                break
            self.wfile.write(raw[index : index + 1])
            self.wfile.flush()



class RingCentralSimulator(ConfiguredSimulator[SimConfig]):
    """The simulated RingCentral platform; see the module docstring and ``SimConfig``."""

    def __init__(self, config: Optional[SimConfig] = None) -> None:
        self._cfg = config or SimConfig()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._stored: List[_Stored] = []
        self._sessions: Dict[str, _Session] = {}
        self._faults = FaultQueue()
        self._heavy = _RateGroup("heavy")
        self._auth = _RateGroup("auth")
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._tls: Optional[LoopbackTLS] = None
        self._stats = self._empty_stats()

    # ----- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> RingCentralSimulator:
        """Bind ``cfg.host:cfg.port`` and serve HTTPS from a daemon thread."""
        if self._server is not None:
            msg = "simulator already started"
            raise RuntimeError(msg)
        self._stopping.clear()
        self._tls = LoopbackTLS()
        self._serve(_Server((self._cfg.host, self._cfg.port), self, self._tls.server_context()), "rc-sim", 0.01)
        return self

    def stop(self) -> None:
        """Stop serving, release stalled requests and delete the CA file."""
        self._stopping.set()
        self._shutdown()
        self._join()
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the running server."""
        if self._server is None:
            msg = "simulator not started"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    def set_config(self, **changes: Any) -> None:
        """Change configuration fields at runtime.

        Raises:
            ValueError: an unknown field name, sort mode, token_error or token_reply.
        """
        known = {field.name for field in dataclasses.fields(SimConfig)}
        unknown = sorted(set(changes) - known)
        if unknown:
            msg = f"unknown SimConfig fields: {unknown}"
            raise ValueError(msg)
        if changes.get("sort", "newest") not in ("newest", "oldest", "shuffled"):
            msg = "sort must be newest, oldest or shuffled"
            raise ValueError(msg)
        if changes.get("token_error") not in (None, *TOKEN_ERRORS):
            msg = f"token_error must be None or one of {TOKEN_ERRORS}"
            raise ValueError(msg)
        if changes.get("token_reply", "json") not in TOKEN_REPLIES:
            msg = f"token_reply must be one of {TOKEN_REPLIES}"
            raise ValueError(msg)
        with self._lock:
            self._cfg = dataclasses.replace(self._cfg, **changes)

    # ----- data ------------------------------------------------------------------------------------------

    def add_records(self, records: List[Dict[str, Any]], visible_at: Optional[float] = None) -> None:
        """Store records; ``visible_at`` (epoch seconds) overrides the ingestion delay (late arrivals).

        Raises:
            ValueError: a record lacks ``id`` or a parsable ``eventTime``.
        """
        stored = []
        for record in records:
            if not isinstance(record.get("id"), str) or not isinstance(record.get("eventTime"), str):
                msg = "records need string id and eventTime"
                raise ValueError(msg)
            stored.append(_Stored(parse_timestamp_us(record["eventTime"]), record["id"], record, visible_at))
        with self._lock:
            known = {item.record_id for item in stored}
            self._stored = [item for item in self._stored if item.record_id not in known] + stored
            self._stored.sort(key=lambda item: (-item.event_us, item.record_id))

    def generate(
        self, n: int, start: datetime, end: datetime, seed: int = 1, same_time: Optional[datetime] = None
    ) -> List[Dict[str, Any]]:
        """Generate ``n`` records over [start, end] (or all at ``same_time``), store and return them."""
        cfg = self.config
        records = generate_records(
            n, start, end, seed, same_time=same_time, account_id=cfg.account_id, account_name=cfg.account_name
        )
        self.add_records(records)
        return records

    @property
    def records(self) -> List[Dict[str, Any]]:
        """The records the API can currently return (visible and retained), newest first."""
        with self._lock:
            return [item.record for item in self._retained(time.time())]

    def _retained(self, now: float) -> List[_Stored]:
        cfg = self._cfg
        oldest_us = int((now - cfg.retention_days * _DAY) * 1_000_000)
        kept = []
        for item in self._stored:
            if item.event_us < oldest_us:
                break
            visible_at = item.visible_at
            if visible_at is None:
                visible_at = item.event_us / 1_000_000 + cfg.ingestion_delay
            if visible_at > now:
                continue
            kept.append(item)
            if len(kept) >= cfg.retention_max:
                break
        return kept

    # ----- faults, tokens, stats -------------------------------------------------------------------------

    def inject(self, fault: str, count: int = 1, **params: Any) -> None:
        """Queue ``count`` occurrences of a fault for the next matching requests (see FAULTS).

        Params: ``path`` ("search", "token" or "revoke"); ``status`` for "status" (500-504, with an optional
        ``retry_after``); ``seconds`` for "stall" (then the normal answer); ``interval`` for "trickle" (the normal
        answer, its body one byte per interval); ``retry_after`` for "429" (the Retry-After sent, any value);
        ``missing`` for "malformed_record".

        Raises:
            ValueError: unknown fault, path or status.
        """
        if fault not in FAULTS:
            msg = f"unknown fault {fault!r}; expected one of {FAULTS}"
            raise ValueError(msg)
        path = params.pop("path", "search")
        if path not in _FAULT_PATHS or (fault == "malformed_record" and path != "search"):
            msg = f"unsupported path {path!r} for fault {fault!r}"
            raise ValueError(msg)
        if fault == "status" and params.get("status", 503) not in (500, 502, 503, 504):
            msg = "status fault needs status 500, 502, 503 or 504"
            raise ValueError(msg)
        if fault == "stall" and float(params.get("seconds", 0)) <= 0:
            msg = "stall fault needs seconds > 0"
            raise ValueError(msg)
        if fault == "trickle" and float(params.get("interval", 0.05)) <= 0:
            msg = "trickle fault needs interval > 0"
            raise ValueError(msg)
        self._faults.add(fault, count, path, params)

    def _take_fault(self, path: str, kinds: Tuple[str, ...]) -> Optional[Fault]:
        return self._faults.take(path, kinds)

    def clear_faults(self) -> None:
        """Drop every queued fault that has not fired yet."""
        self._faults.clear()

    def expire_tokens(self) -> None:
        """Make every issued access token invalid now, as if it had expired early (refresh tokens survive)."""
        now = time.monotonic()
        with self._lock:
            for session in self._sessions.values():
                session.access_expires = min(session.access_expires, now)

    @staticmethod
    def _empty_stats() -> Dict[str, Any]:
        return {
            "requests": [],
            "heavy_requests": 0,
            "auth_requests": 0,
            "token_grants": 0,
            "revokes": 0,
            "rate_limited": 0,
            "penalty_extensions": 0,
        }

    def stats(self) -> Dict[str, Any]:
        """Counters and a per-request log (never including credentials or tokens)."""
        now = time.monotonic()
        with self._lock:
            result = dict(self._stats)
            result["requests"] = [dict(entry) for entry in self._stats["requests"]]
            result["valid_tokens"] = sum(1 for s in self._sessions.values() if s.access_expires > now)
            return result

    def reset_stats(self) -> None:
        """Zero all counters and clear the request log."""
        with self._lock:
            self._stats = self._empty_stats()

    def _log(
        self,
        method: str,
        path: str,
        group: Optional[str],
        status: int,
        body: Any,
        had_auth: bool,
        fault: Optional[str],
    ) -> None:
        with self._lock:
            self._stats["requests"].append(
                {
                    "t": time.time(),
                    "method": method,
                    "path": path,
                    "group": group,
                    "status": status,
                    "body": body,
                    "had_auth": had_auth,
                    "fault": fault,
                }
            )
            if status == 429:
                self._stats["rate_limited"] += 1

    # ----- request handling ------------------------------------------------------------------------------

    def _handle_api(self, handler: _Handler, path: str, query: str, raw: bytes) -> None:
        match = SEARCH_PATH.match(path)
        if match:
            kind, group = "search", "heavy"
        elif path in (TOKEN_PATH, REVOKE_PATH):
            kind, group = ("token" if path == TOKEN_PATH else "revoke"), "auth"
        else:
            kind, group = "other", None
        had_auth = handler.headers.get("Authorization") is not None
        logged_body = None
        if kind == "search":
            try:
                logged_body = json.loads(raw) if raw else None
            except ValueError:
                logged_body = None
            if not isinstance(logged_body, dict):
                logged_body = None
        with self._lock:
            if group == "heavy":
                self._stats["heavy_requests"] += 1
            elif group == "auth":
                self._stats["auth_requests"] += 1

        fault = self._take_fault(kind, ("status", "stall", "reset", "429", "trickle")) if group else None
        fault_name = fault.kind if fault else None
        trickle = float(fault.params.get("interval", 0.05)) if fault is not None and fault.kind == "trickle" else None
        if fault is not None and fault.kind == "stall":
            # Waiting on the stop event (not sleep) lets stop() release stalled connections at once.
            self._stopping.wait(float(fault.params["seconds"]))
        if fault is not None and fault.kind == "reset":
            self._log(handler.command, path, group, 0, logged_body, had_auth, fault_name)
            handler.reset()
            return
        try:
            if handler.command != "POST" and kind != "other":
                raise _Reply(405, _api_error("CMN-405", "Method not allowed"))
            if fault is not None and fault.kind == "status":
                self._raise_status_fault(fault)
            if match is not None:
                reply = self._search(handler, match.group(1), raw, fault)
            elif kind == "token":
                reply = self._token(handler, raw, fault)
            elif kind == "revoke":
                reply = self._revoke(handler, query, raw, fault)
            else:
                reply = _Reply(
                    404,
                    _api_error("CMN-102", "Resource for parameter [path] is not found", parameterName="path"),
                )
        except _Reply as early:
            reply = early
        self._log(handler.command, path, group, reply.status, logged_body, had_auth, fault_name)
        try:
            handler._send(reply.status, reply.body, reply.headers, pretty=reply.pretty, trickle=trickle)
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _raise_status_fault(fault: Fault) -> None:
        status = int(fault.params.get("status", 503))
        headers = {}
        if "retry_after" in fault.params:
            headers["Retry-After"] = str(int(fault.params["retry_after"]))
        raise _Reply(status, _server_error(status), headers)

    def _rate_limit(self, group: _RateGroup, key: str, fault: Optional[Fault]) -> Dict[str, str]:
        """Count the request in its group; return the rate headers or raise a 429 reply."""
        cfg = self._cfg
        if group is self._heavy:
            limit, window, penalty = cfg.heavy_limit, cfg.heavy_window, cfg.heavy_penalty
        else:
            limit, window, penalty = cfg.auth_limit, cfg.auth_window, cfg.auth_penalty
        now = time.monotonic()
        with self._lock:
            if fault is not None and fault.kind == "429":
                # A request that lands inside a penalty still extends it, even when a fault answers it.
                allowed, remaining, extended = False, 0, group.punish(key, penalty, now)
            else:
                allowed, remaining, extended = group.admit(key, limit, window, penalty, now)
            if extended:
                self._stats["penalty_extensions"] += 1
        headers = {
            "X-Rate-Limit-Group": group.name,
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Window": str(max(1, math.ceil(window))),
        }
        if group is self._heavy:
            if cfg.rate_window_header is not None:
                headers["X-Rate-Limit-Window"] = cfg.rate_window_header
            if cfg.rate_remaining_header is not None:
                headers["X-Rate-Limit-Remaining"] = cfg.rate_remaining_header
        if not allowed:
            if fault is not None and fault.kind == "429" and "retry_after" in fault.params:
                headers["Retry-After"] = str(fault.params["retry_after"])
            elif cfg.send_retry_after:
                # The whole penalty is left: it has just been (re)started by this very request.
                headers["Retry-After"] = str(max(1, math.ceil(penalty)))
            raise _Reply(429, _api_error("CMN-301", "Request rate exceeded"), headers)
        return headers

    # ----- OAuth -----------------------------------------------------------------------------------------

    def _client_id_from(self, handler: _Handler) -> Tuple[Optional[str], Optional[str]]:
        header = handler.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None, None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, sep, secret = decoded.partition(":")
        return (client_id, secret) if sep else (None, None)

    def _authenticate_client(self, handler: _Handler) -> str:
        client_id, secret = self._client_id_from(handler)
        cfg = self._cfg
        if client_id is None:
            raise _Reply(401, _oauth_error("invalid_client", "OAU-123", "Client authentication is required"))
        if not (_same(client_id, cfg.client_id) and _same(secret or "", cfg.client_secret)):
            raise _Reply(401, _oauth_error("invalid_client", "OAU-146", "Invalid client credentials"))
        return client_id

    def _form(self, handler: _Handler, raw: bytes) -> Dict[str, str]:
        content_type = handler.headers.get("Content-Type", "")
        if raw and "application/x-www-form-urlencoded" not in content_type.lower():
            raise _Reply(415, _api_error("CMN-415", "Unsupported Media Type"))
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise _Reply(400, _oauth_error("invalid_request", "OAU-101", "Request body is not valid")) from exc
        return {key: values[0] for key, values in parsed.items()}

    def _token(self, handler: _Handler, raw: bytes, fault: Optional[Fault]) -> _Reply:
        client_key = self._client_id_from(handler)[0] or "-"
        headers = self._rate_limit(self._auth, client_key, fault)
        try:
            if self._cfg.token_error is not None:
                raise _Reply(400, self._hostile_token_error(handler, raw), headers)
            self._authenticate_client(handler)
            form = self._form(handler, raw)
            grant = form.get("grant_type", "")
            with self._lock:
                if grant == JWT_GRANT:
                    info = self._jwt_grant(form)
                elif grant == "refresh_token":
                    info = self._refresh_grant(form)
                elif not grant:
                    raise _Reply(
                        400,
                        _oauth_error(
                            "invalid_request",
                            "OAU-101",
                            "Parameter [grant_type] is missing",
                            parameterName="grant_type",
                        ),
                    )
                else:
                    raise _Reply(
                        400,
                        _oauth_error(
                            "unsupported_grant_type",
                            "OAU-125",
                            "Unsupported grant type",
                            parameterName="grant_type",
                        ),
                    )
                self._stats["token_grants"] += 1
        except _Reply as reply:
            reply.headers.update(headers)
            raise
        if self._cfg.token_reply == "not_json":
            page = b"<html><head><title>Sign in</title></head><body>Proxy authentication required</body></html>"
            return _Reply(200, page, dict(headers, **{"Content-Type": "text/html; charset=utf-8"}))
        return _Reply(200, info, headers)

    def _hostile_token_error(self, handler: _Handler, raw: bytes) -> Dict[str, Any]:
        """The error body of ``token_error``: what the client sent, echoed into the fields it reads codes from."""
        mode = self._cfg.token_error
        if mode == "echo_assertion":
            assertion = parse_qs(raw.decode("utf-8", "replace")).get("assertion", [""])[0]
            return {"error": assertion, "error_description": "Invalid assertion"}
        if mode == "echo_basic":
            return {"errorCode": handler.headers.get("Authorization", ""), "message": "Invalid client"}
        return {"errorCode": "OAU-140\n" + FORGED_LOG_LINE, "message": "Invalid resource owner credentials"}

    def _jwt_grant(self, form: Dict[str, str]) -> Dict[str, Any]:
        cfg = self._cfg
        assertion = form.get("assertion")
        if not assertion:
            raise _Reply(
                400,
                _oauth_error(
                    "invalid_request",
                    "OAU-101",
                    "Parameter [assertion] is missing",
                    parameterName="assertion",
                ),
            )
        if not _same(assertion, cfg.jwt):
            # The SPEC models token-endpoint errors as 400; the docs' error table says 401 for some codes.
            raise _Reply(400, _oauth_error("invalid_grant", "OAU-140", "Invalid resource owner credentials"))
        ttl = cfg.access_token_ttl
        requested = form.get("access_token_ttl", "")
        if requested.isdigit():
            ttl = min(ttl, float(requested))
        now = time.monotonic()
        session = _Session(
            session_id=str(random.getrandbits(63)),
            access_token=secrets.token_urlsafe(32),
            access_expires=now + ttl,
            scope=cfg.scope,
            endpoint_id=form.get("endpoint_id") or secrets.token_urlsafe(16),
        )
        if cfg.issue_refresh_tokens:
            session.refresh_token = secrets.token_urlsafe(32)
            session.refresh_expires = now + cfg.refresh_token_ttl
        self._purge_sessions(now)
        self._sessions[session.session_id] = session
        # The platform keeps a handful of parallel sessions per user and app; the oldest are dropped first.
        while len(self._sessions) > cfg.max_sessions:
            del self._sessions[next(iter(self._sessions))]
        return self._token_info(session, ttl)

    def _refresh_grant(self, form: Dict[str, str]) -> Dict[str, Any]:
        cfg = self._cfg
        token = form.get("refresh_token", "")
        now = time.monotonic()
        for session in self._sessions.values():
            if session.refresh_token and _same(session.refresh_token, token):
                if session.refresh_expires <= now:
                    break
                # Refresh tokens are single-use and the old access token dies at once. The real platform
                # keeps the old refresh token for a grace period; the simulator is stricter.
                session.access_token = secrets.token_urlsafe(32)
                session.access_expires = now + cfg.access_token_ttl
                session.refresh_token = secrets.token_urlsafe(32)
                session.refresh_expires = now + cfg.refresh_token_ttl
                return self._token_info(session, cfg.access_token_ttl)
        raise _Reply(400, _oauth_error("invalid_grant", "OAU-211", "Invalid token"))

    def _token_info(self, session: _Session, ttl: float) -> Dict[str, Any]:
        info: Dict[str, Any] = {
            "access_token": session.access_token,
            "token_type": "bearer",
            "expires_in": max(1, int(ttl)) if self._cfg.token_expires_in is None else self._cfg.token_expires_in,
        }
        if session.refresh_token:
            info["refresh_token"] = session.refresh_token
            info["refresh_token_expires_in"] = max(1, int(session.refresh_expires - time.monotonic()))
        info.update(
            {
                "scope": session.scope,
                "owner_id": self._cfg.owner_id,
                "endpoint_id": session.endpoint_id,
                "session_id": session.session_id,
            }
        )
        return info

    def _purge_sessions(self, now: float) -> None:
        dead = [
            sid
            for sid, session in self._sessions.items()
            if session.access_expires <= now and (session.refresh_token is None or session.refresh_expires <= now)
        ]
        for sid in dead:
            del self._sessions[sid]

    def _revoke(self, handler: _Handler, query: str, raw: bytes, fault: Optional[Fault]) -> _Reply:
        client_key = self._client_id_from(handler)[0] or "-"
        headers = self._rate_limit(self._auth, client_key, fault)
        try:
            self._authenticate_client(handler)
            form = self._form(handler, raw)
        except _Reply as reply:
            reply.headers.update(headers)
            raise
        token = form.get("token") or (parse_qs(query).get("token") or [""])[0]
        with self._lock:
            for sid, session in list(self._sessions.items()):
                if token and token in (session.access_token, session.refresh_token):
                    del self._sessions[sid]
            self._stats["revokes"] += 1
        return _Reply(200, None, headers)

    # ----- Audit Trail search ----------------------------------------------------------------------------

    def _bearer_session(self, handler: _Handler) -> _Session:
        header = handler.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _Reply(
                401,
                _api_error("OAU-123", "Invalid Authorization header value", top_code="InvalidAuthorizationHeader"),
            )
        now = time.monotonic()
        with self._lock:
            for session in self._sessions.values():
                if _same(session.access_token, token):
                    if session.access_expires <= now:
                        raise _Reply(401, _api_error("OAU-128", "Access token expired", top_code="TokenExpired"))
                    return session
        raise _Reply(401, _api_error("OAU-213", "Token not found", top_code="TokenInvalid"))

    def _search(self, handler: _Handler, account: str, raw: bytes, fault: Optional[Fault]) -> _Reply:
        session = self._bearer_session(handler)
        cfg = self._cfg
        headers = self._rate_limit(self._heavy, f"{cfg.owner_id}:{cfg.client_id}", fault)
        try:
            if "ReadAuditTrail" not in session.scope.split():
                raise _Reply(
                    403,
                    _api_error(
                        "CMN-401",
                        "Application permission [ReadAuditTrail] is required",
                        permissionName="ReadAuditTrail",
                    ),
                )
            if account not in ("~", cfg.account_id):
                raise _Reply(
                    404,
                    _api_error(
                        "CMN-102",
                        "Resource for parameter [accountId] is not found",
                        parameterName="accountId",
                        parameterValue=account,
                    ),
                )
            query = self._parse_search_body(handler, raw)
            with self._lock:
                cfg = self._cfg
                body = self._run_search(cfg, query, time.time())
        except _Reply as reply:
            reply.headers.update(headers)
            raise
        return _Reply(200, body, headers, pretty=cfg.pretty_json)

    def _parse_search_body(self, handler: _Handler, raw: bytes) -> Dict[str, Any]:
        if not raw.strip():
            return {}
        if "json" not in handler.headers.get("Content-Type", "").lower():
            raise _Reply(415, _api_error("CMN-415", "Unsupported Media Type"))
        try:
            query = json.loads(raw)
        except ValueError as exc:
            raise _Reply(400, _api_error("CMN-103", "JSON can't be parsed")) from exc
        if not isinstance(query, dict):
            raise _Reply(400, _api_error("CMN-103", "JSON can't be parsed"))
        for name in ("page", "perPage"):
            value = query.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise _Reply(400, _bad_parameter(name, value))
        if query.get("perPage") is not None and query["perPage"] > self._cfg.max_per_page:
            raise _Reply(400, _bad_parameter("perPage", query["perPage"]))
        for name in ("actionIds", "excludeActionIds", "initiatorIds", "targetIds"):
            value = query.get(name)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise _Reply(400, _bad_parameter(name, value))
        for name in ("searchString", "siteId"):
            value = query.get(name)
            if value is not None and not isinstance(value, str):
                raise _Reply(400, _bad_parameter(name, value))
        for name in ("eventTimeFrom", "eventTimeTo"):
            value = query.get(name)
            if value is None:
                continue
            try:
                query[name + "_us"] = parse_timestamp_us(value) if isinstance(value, str) else None
            except ValueError:
                query[name + "_us"] = None
            if query[name + "_us"] is None:
                raise _Reply(400, _bad_parameter(name, value))
        return query

    def _run_search(self, cfg: SimConfig, query: Dict[str, Any], now: float) -> Dict[str, Any]:
        to_us = query.get("eventTimeTo_us", int(now * 1_000_000))
        # The spec's default for eventTimeFrom says "eventTimeFrom-24 hours", evidently meant as eventTimeTo.
        from_us = query.get("eventTimeFrom_us", to_us - 86_400_000_000)
        if from_us > to_us:
            raise _Reply(400, _bad_parameter("eventTimeFrom", query["eventTimeFrom"]))
        # Timestamps are integer microseconds, so an exclusive bound is the inclusive one moved by 1 us.
        low = from_us if cfg.inclusive_from else from_us + 1
        high = to_us if cfg.inclusive_to else to_us - 1
        filtered = any(query.get(name) for name in _FILTERS)
        matches = [
            item
            for item in self._retained(now)
            if low <= item.event_us <= high and (not filtered or _record_matches(item.record, query))
        ]
        if cfg.sort == "oldest":
            matches.sort(key=lambda item: (item.event_us, item.record_id))
        elif cfg.sort == "shuffled":
            # Seeded by the filter (not the page), so every page of one query sees the same order.
            filters = {k: v for k, v in query.items() if k not in ("page", "perPage")}
            seed = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()
            random.Random(seed).shuffle(matches)
        page = 1 if cfg.ignore_page else query.get("page") or 1
        per_page = query.get("perPage") or cfg.default_per_page
        reachable = matches[: cfg.search_cap]
        start = (page - 1) * per_page
        page_items = reachable[start : start + per_page]
        records: List[Any] = [_wire(item) if cfg.pretty_json else item.record for item in page_items]
        malformed = self._take_fault("search", ("malformed_record",)) if records else None
        if malformed is not None:
            missing = str(malformed.params.get("missing", "eventTime"))
            records.insert(len(records) // 2, self._malformed(page_items[0].record, missing))
        paging: Dict[str, Any] = {
            "page": page,
            "perPage": per_page if cfg.paging_per_page is None else cfg.paging_per_page,
            # Both count every match, even past search_cap, so a client cannot page by them alone.
            "total": math.ceil(len(matches) / per_page),
            "totalFound": len(matches) if cfg.total_found is None else cfg.total_found,
        }
        if not cfg.paging_total:
            del paging["total"]
        return {"records": records, "paging": paging}

    @staticmethod
    def _malformed(template: Dict[str, Any], missing: str) -> Dict[str, Any]:
        broken = json.loads(json.dumps(template))
        broken["id"] = str(uuid.uuid4())
        broken.pop(missing, None)
        return broken

    # ----- control endpoints for out-of-process callers --------------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> Tuple[int, Any]:
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(payload, dict):
            return 400, {"error": "body must be a JSON object"}
        try:
            if method == "GET" and path == "/_sim/stats":
                return 200, self.stats()
            if method != "POST":
                return 405, {"error": "use POST"}
            if path == "/_sim/reset_stats":
                self.reset_stats()
            elif path == "/_sim/config":
                self.set_config(**payload)
            elif path == "/_sim/generate":
                end = datetime.now(timezone.utc)
                start = end - timedelta(days=float(payload.get("days", 30)))
                made = self.generate(int(payload.get("n", 100)), start, end, int(payload.get("seed", 1)))
                return 200, {"generated": len(made)}
            elif path == "/_sim/inject":
                params = {k: v for k, v in payload.items() if k not in ("fault", "count")}
                self.inject(str(payload.get("fault")), int(payload.get("count", 1)), **params)
            elif path == "/_sim/expire_tokens":
                self.expire_tokens()
            else:
                return 404, {"error": "unknown control endpoint"}
        except (TypeError, ValueError) as exc:
            return 400, {"error": str(exc)}
        return 200, {"ok": True}


def _load_credentials(path: Optional[str]) -> Dict[str, str]:
    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    wanted = ("client_id", "client_secret", "jwt", "account_id")
    return {key: str(data[key]) for key in wanted if key in data}


def main(argv: Optional[List[str]] = None) -> int:
    """Run the simulator as a process until SIGTERM/SIGINT; print one JSON line describing it first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300, help="records to generate")
    parser.add_argument("--days", type=float, default=30.0, help="spread records over the last N days")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--heavy-window", type=float, default=60.0)
    parser.add_argument("--heavy-penalty", type=float, default=60.0)
    parser.add_argument("--token-ttl", type=float, default=3600.0)
    parser.add_argument("--ingestion-delay", type=float, default=0.0)
    parser.add_argument(
        "--credentials-file",
        help="JSON file with client_id, client_secret, jwt and/or account_id to use instead of the defaults",
    )
    args = parser.parse_args(argv)

    cfg = SimConfig(
        port=args.port,
        heavy_window=args.heavy_window,
        heavy_penalty=args.heavy_penalty,
        access_token_ttl=args.token_ttl,
        ingestion_delay=args.ingestion_delay,
        **_load_credentials(args.credentials_file),
    )
    sim = RingCentralSimulator(cfg)
    done = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sim.start()
    try:
        end = datetime.now(timezone.utc)
        sim.generate(args.records, end - timedelta(days=args.days), end, seed=args.seed)
        line = {
            "base_url": sim.base_url,
            "ca_path": sim.ca_path,
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "jwt": cfg.jwt,
            "account_id": cfg.account_id,
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
