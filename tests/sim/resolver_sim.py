"""A loopback HTTPS simulator of Resolver Core's User Audit Trail export: job creation, job polling, signed download.

The documented flow is reproduced (``POST /api/audit/user/export`` with epoch ``dateStart``/``dateEnd`` and an
``x-api-key`` header answers a job id; ``GET /api/object/job/{id}`` eventually carries ``signedURL``; the URL
serves a CSV of at most ``cap`` rows, newest first, whose oldest second repeats when the next export ends
there). Everything the vendor leaves undocumented is a ``SimConfig`` switch: the job id's shape, the status
field and its values, the epoch unit and what a wrong unit gets, bound inclusivity, CSV header names, time
format, BOM, empty-export form, URL expiry and reissue, and whether the object store refuses auth headers.

Usage::

    sim = ResolverSimulator(SimConfig(cap=1000, job_seconds=0.05)).start()
    sim.generate(5000, start, end)
    ...  # point the code under test at sim.api_url with sim.config.api_key, trusting sim.ca_path
    sim.stop()
"""

from __future__ import annotations

import bisect
import copy
import csv
import dataclasses
import hashlib
import hmac
import io
import json
import math
import random
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

from .background import BackgroundServer, ConfiguredSimulator, DispatchingHandler, LoopbackHTTPServer
from .faults import Fault, FaultQueue
from .resolver_records import AuditRow, Instant, generate_rows
from .tls import LoopbackTLS

EXPORT_PATH = "/api/audit/user/export"
JOB_PATH = re.compile(r"^/api/object/job/([^/]+)$")
SIGNED_PATH = re.compile(r"^/signed/([A-Za-z0-9_-]+)/user-audit-trail\.csv$")
FAULTS = ("status", "429", "reset", "stall", "truncate", "job_fail", "auth")
FAULT_PATHS = ("export", "job", "download")
TIME_COLUMNS = ("Date and Time", "Time")
BASE_COLUMNS = ("Subject", "Event", "Performed By")
EXTRA_COLUMNS = ("Previous Value", "New Value", "External Reference ID", "Organization")
BOM = b"\xef\xbb\xbf"
_FIELD_INDEX = {
    "Subject": 1,
    "Event": 2,
    "Performed By": 3,
    "Previous Value": 4,
    "New Value": 5,
    "External Reference ID": 6,
    "Organization": 7,
}
_CHOICES: Dict[str, Tuple[Any, ...]] = {
    "job_id_form": ("json_string", "text", "number", "object"),
    "status_field": ("status", "state", None),
    "status_case": ("upper", "lower"),
    "auth_failure_status": (401, 403),
    "epoch_unit": ("seconds", "milliseconds"),
    "wrong_unit": ("nothing", "empty", "400"),
    "bound_precision": ("unit", "ms"),
    "tie_order": ("stable", "shuffled"),
    "time_column": TIME_COLUMNS,
    "time_format": ("iso_z", "iso_naive", "space"),
    "empty_export": ("header", "zero_bytes"),
    "line_terminator": ("\r\n", "\n"),
    "download_framing": ("length", "chunked"),
}
_UNIT_MS = {"seconds": 1000, "milliseconds": 1}
# Epoch values this large are milliseconds (as seconds they would lie after the year 5000); smaller non-zero ones
# are seconds. Zero, the Swagger page's prefilled value, is valid in either unit.
_MS_THRESHOLD = 10**11
_CHUNK_ROWS = 2000
_MAX_BODY = 1024 * 1024
_FIRST_NUMERIC_JOB = 12345


@dataclasses.dataclass
class SimConfig:
    """Behaviour of the simulated tenant. Every field except host, port, separate_download_listener and
    download_host can be changed at runtime with ``set_config``."""

    api_key: str = "sim-resolver-api-key"
    host: str = "127.0.0.1"
    port: int = 0
    auth_failure_status: int = 403  # the vendor documents 403 for unauthenticated session calls
    accept_bearer: bool = False  # also take "Authorization: bearer <api key>" (undocumented for API keys)
    export_status: int = 200
    job_id_form: str = "json_string"
    job_seconds: float = 0.2
    job_pending_seconds: float = 0.05  # reported PENDING this long, then RUNNING
    job_min_polls: int = 0  # the job also needs this many polls before the one that sees it done
    status_field: Optional[str] = "status"
    status_case: str = "upper"
    null_signed_url: bool = False  # unfinished jobs carry "signedURL": null instead of no member
    signed_url_ttl: float = 900.0
    reissue_url_on_poll: bool = True
    separate_download_listener: bool = False  # fixed at start()
    download_host: str = "localhost"  # host name in signed URLs when the download listener is separate
    reject_auth_headers: bool = True
    cap: int = 50_000
    epoch_unit: str = "seconds"
    wrong_unit: str = "nothing"
    bound_precision: str = "unit"  # "unit": a row's time is truncated to the request's unit before comparing
    date_end_inclusive: bool = True
    tie_order: str = "stable"
    time_column: str = "Date and Time"
    time_format: str = "space"
    time_millis: bool = False
    extra_columns: Tuple[str, ...] = ()
    reorder_columns: bool = False
    bom: bool = False
    empty_export: str = "header"
    line_terminator: str = "\r\n"
    download_framing: str = "length"
    ingestion_delay: float = 0.0
    retention_seconds: Optional[float] = None


def _validate(cfg: SimConfig) -> None:
    for name, allowed in _CHOICES.items():
        if getattr(cfg, name) not in allowed:
            msg = f"{name} must be one of {allowed}"
            raise ValueError(msg)
    unknown = [name for name in cfg.extra_columns if name not in EXTRA_COLUMNS]
    if unknown:
        msg = f"extra_columns must come from {EXTRA_COLUMNS}, not {unknown}"
        raise ValueError(msg)
    if cfg.cap < 1:
        msg = "cap must be at least 1"
        raise ValueError(msg)


def format_time(at_ms: int, style: str = "space", millis: bool = False) -> str:
    """Print an instant as the export does: UTC, ``iso_z``/``iso_naive``/``space`` style, optional milliseconds."""
    seconds, fraction = divmod(at_ms, 1000)
    t = time.gmtime(seconds)
    sep = " " if style == "space" else "T"
    text = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}{sep}{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if millis:
        text += f".{fraction:03d}"
    return text + "Z" if style == "iso_z" else text


@dataclasses.dataclass(frozen=True)
class _Format:
    """How one export file is written; fixed when its job finishes, as the real file is written once."""

    columns: Tuple[str, ...]
    sources: Tuple[int, ...]  # index into AuditRow, 0 meaning the formatted time
    time_format: str
    time_millis: bool
    bom: bool
    empty_export: str
    line_terminator: str

    @classmethod
    def of(cls, cfg: SimConfig) -> _Format:
        extras = tuple(cfg.extra_columns)
        if cfg.reorder_columns:
            columns = ("Subject", "Event", *extras, "Performed By", cfg.time_column)
        else:
            columns = (cfg.time_column, *BASE_COLUMNS, *extras)
        sources = tuple(_FIELD_INDEX.get(name, 0) for name in columns)
        return cls(columns, sources, cfg.time_format, cfg.time_millis, cfg.bom, cfg.empty_export, cfg.line_terminator)

    def values(self, row: AuditRow) -> List[str]:
        return [str(row[i]) if i else format_time(row.at_ms, self.time_format, self.time_millis) for i in self.sources]

    def render(self, rows: List[AuditRow]) -> Iterator[bytes]:
        """The file in chunks of a few thousand rows, so a 50,000-row export is never one string."""
        if not rows and self.empty_export == "zero_bytes":
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=self.line_terminator)
        writer.writerow(self.columns)
        prefix = BOM if self.bom else b""
        for start in range(0, max(len(rows), 1), _CHUNK_ROWS):
            writer.writerows(self.values(row) for row in rows[start : start + _CHUNK_ROWS])
            yield prefix + buffer.getvalue().encode("utf-8")
            prefix = b""
            buffer.seek(0)
            buffer.truncate()


@dataclasses.dataclass
class _Job:
    job_id: str
    wire_id: Any  # as the API shows it: int for the "number" form
    created: float  # monotonic
    low_ms: int
    high_ms: int  # inclusive; below low_ms means nothing matches
    object_key: str
    fail_on_finish: Optional[str] = None
    error: Optional[str] = None
    polls: int = 0
    rows: Optional[List[AuditRow]] = None
    fmt: Optional[_Format] = None
    size: Optional[int] = None
    url: Optional[str] = None
    export_entry: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Issued:
    job: _Job
    issued: float  # monotonic
    ttl: float


class _Reply(Exception):
    """Raised inside request handling to send a complete response at once."""

    def __init__(self, status: int, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json_reply(status: int, value: Any, headers: Optional[Dict[str, str]] = None) -> _Reply:
    return _Reply(status, json.dumps(value).encode("utf-8"), "application/json; charset=utf-8", headers)


def _xml_reply(
    status: int,
    code: str,
    message: str,
    headers: Optional[Dict[str, str]] = None,
    extra: Optional[Dict[str, str]] = None,
) -> _Reply:
    # Shaped like an S3-compatible object store's error document, which is what a pre-signed URL talks to.
    members = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in (extra or {}).items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>{members}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId><HostId>{secrets.token_urlsafe(24)}</HostId></Error>"
    )
    return _Reply(status, body.encode("utf-8"), "application/xml", headers)


def _same(supplied: str, expected: str) -> bool:
    return hmac.compare_digest(supplied.encode("utf-8"), expected.encode("utf-8"))


def _amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Server(LoopbackHTTPServer):
    def __init__(self, address: Tuple[str, int], sim: ResolverSimulator, context: ssl.SSLContext, name: str) -> None:
        self.sim = sim
        self.context = context
        self.listener = name
        super().__init__(address, _Handler)


class _Handler(DispatchingHandler):
    server: _Server

    def _dispatch(self) -> None:
        self.server.sim._handle(self)

    def read_body(self) -> bytes:
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        length = int(length_text)
        if length < 0 or length > _MAX_BODY:
            msg = "bad Content-Length"
            raise ValueError(msg)
        return self.rfile.read(length)

    def send_reply(self, reply: _Reply, close: bool = False) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body)


    def hang_up(self) -> None:
        # An orderly close mid-body: the client sees a short read, not a reset.
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _DownloadListener(BackgroundServer):
    """The object store's own host, so tests can see exactly what reaches it."""

    def __init__(self, server: _Server) -> None:
        self._pending = server

    def start(self) -> _DownloadListener:
        self._serve(self._pending, "resolver-sim-download", 0.01)
        return self

    def stop(self) -> None:
        self._shutdown()
        self._join()


class ResolverSimulator(ConfiguredSimulator[SimConfig]):
    """The simulated Resolver Core tenant and its object store; see the module docstring and ``SimConfig``."""

    def __init__(self, config: Optional[SimConfig] = None) -> None:
        self._cfg = config or SimConfig()
        _validate(self._cfg)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        # (-at_ms, insertion sequence, row, visible_at): ascending order is newest first, ties in insertion order.
        self._stored: List[Tuple[int, int, AuditRow, Optional[float]]] = []
        self._seq = 0
        self._jobs: Dict[str, _Job] = {}
        self._objects: Dict[str, _Job] = {}
        self._issued: Dict[str, _Issued] = {}
        self._next_number = _FIRST_NUMERIC_JOB
        self._faults = FaultQueue()
        self._signing_key = secrets.token_bytes(32)
        self._tls: Optional[LoopbackTLS] = None
        self._download: Optional[_DownloadListener] = None
        self._stats = self._empty_stats()

    # ----- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> ResolverSimulator:
        """Bind ``cfg.host:cfg.port`` (and a second port for downloads if configured) and serve HTTPS."""
        if self._server is not None:
            msg = "simulator already started"
            raise RuntimeError(msg)
        cfg = self._cfg
        self._stopping.clear()
        self._tls = LoopbackTLS(tuple(dict.fromkeys((cfg.host, "127.0.0.1", "localhost", cfg.download_host))))
        self._serve(_Server((cfg.host, cfg.port), self, self._tls.server_context(), "api"), "resolver-sim", 0.01)
        if cfg.separate_download_listener:
            server = _Server((cfg.host, 0), self, self._tls.server_context(), "download")
            self._download = _DownloadListener(server).start()
        return self

    def stop(self) -> None:
        """Stop both listeners, release stalled requests and delete the CA file."""
        self._stopping.set()
        if self._download is not None:
            self._download.stop()
            self._download = None
        self._shutdown()
        self._join()
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the API listener."""
        if self._server is None:
            msg = "simulator not started"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"

    @property
    def api_url(self) -> str:
        """The API root, ``{base_url}/api``."""
        return self.base_url + "/api"

    @property
    def download_base_url(self) -> str:
        """Scheme, host and port that signed URLs point at."""
        if self._download is None:
            return self.base_url
        return f"https://{self._cfg.download_host}:{self._download.port}"

    def set_config(self, **changes: Any) -> None:
        """Change configuration fields at runtime; jobs already finished keep the file they wrote.

        Raises:
            ValueError: an unknown field or a value outside the field's choices.
        """
        known = {field.name for field in dataclasses.fields(SimConfig)}
        unknown = sorted(set(changes) - known)
        if unknown:
            msg = f"unknown SimConfig fields: {unknown}"
            raise ValueError(msg)
        if "extra_columns" in changes:
            changes["extra_columns"] = tuple(changes["extra_columns"])
        with self._lock:
            updated = dataclasses.replace(self._cfg, **changes)
            _validate(updated)
            self._cfg = updated

    # ----- data ------------------------------------------------------------------------------------------

    def add_records(self, rows: Iterable[AuditRow], visible_at: Optional[float] = None) -> None:
        """Store rows; ``visible_at`` (epoch seconds) overrides ``at + ingestion_delay`` (late arrivals).

        Identical rows are kept as separate rows: the export shows every copy.
        """
        with self._lock:
            for row in rows:
                if not isinstance(row, AuditRow):
                    msg = "rows must be AuditRow tuples"
                    raise TypeError(msg)
                self._stored.append((-row.at_ms, self._seq, row, visible_at))
                self._seq += 1
            self._stored.sort()

    def generate(
        self, n: int, start: Instant, end: Instant, seed: int = 1, *, whole_seconds: bool = False
    ) -> List[AuditRow]:
        """Generate ``n`` rows over [start, end] with ``generate_rows``, store and return them (newest first)."""
        rows = generate_rows(n, start, end, seed, whole_seconds=whole_seconds)
        self.add_records(rows)
        return rows

    def ground_truth(self, visible_only: bool = False) -> List[AuditRow]:
        """Every stored row (or only those an export could return now), newest first; ``at_ms`` is its instant."""
        now = time.time()
        with self._lock:
            cfg = self._cfg
            rows = [(row, visible_at) for _, _, row, visible_at in self._stored]
        return [row for row, visible_at in rows if not visible_only or self._shows(cfg, row, visible_at, now)]

    def csv_fields(self, row: AuditRow) -> Dict[str, str]:
        """The row as an export written under the current configuration shows it: column name to text."""
        fmt = _Format.of(self.config)
        return dict(zip(fmt.columns, fmt.values(row)))

    @staticmethod
    def _shows(cfg: SimConfig, row: AuditRow, visible_at: Optional[float], now: float) -> bool:
        if visible_at is None:
            visible_at = row.at_ms / 1000 + cfg.ingestion_delay
        if visible_at > now:
            return False
        return cfg.retention_seconds is None or row.at_ms >= (now - cfg.retention_seconds) * 1000

    def _select(self, cfg: SimConfig, low_ms: int, high_ms: int, now: float) -> List[AuditRow]:
        if high_ms < low_ms:
            return []
        first = bisect.bisect_left(self._stored, (-high_ms,))
        last = bisect.bisect_left(self._stored, (-low_ms + 1,))
        chosen: List[AuditRow] = []
        for index in range(first, last):
            _, _, row, visible_at = self._stored[index]
            if not self._shows(cfg, row, visible_at, now):
                continue
            chosen.append(row)
            if cfg.tie_order == "stable" and len(chosen) >= cfg.cap:
                break
        if cfg.tie_order == "shuffled":
            # Rows of one instant come in a new order in every export, so which of them a cap keeps varies too.
            rng = random.Random()
            chosen.sort(key=lambda row: (-row.at_ms, rng.random()))
            del chosen[cfg.cap :]
        return chosen

    # ----- faults and stats ------------------------------------------------------------------------------

    def inject(self, kind: str, count: int = 1, **params: Any) -> None:
        """Queue ``count`` occurrences of a fault for the next matching requests.

        ``path`` (a keyword) is "export", "job" or "download"; it defaults to "download" for truncate and to
        "export" otherwise. Parameters: status ``status`` (500/502/503/504) and optional ``retry_after``;
        429 ``retry_after`` (default 1, None to omit); stall ``seconds`` and, on downloads, ``after_bytes``;
        truncate ``mode`` ("length"/"chunked", default the configured framing), ``fraction`` (0.5) or
        ``bytes``, ``clean_end``; job_fail ``error``; auth ``status`` (401/403; downloads always 403).

        Raises:
            ValueError: an unknown kind, path or parameter value.
        """
        if kind not in FAULTS:
            msg = f"unknown fault {kind!r}; expected one of {FAULTS}"
            raise ValueError(msg)
        path = params.pop("path", "download" if kind == "truncate" else "export")
        if path not in FAULT_PATHS:
            msg = f"path must be one of {FAULT_PATHS}"
            raise ValueError(msg)
        if (kind == "truncate" and path != "download") or (kind == "job_fail" and path == "download"):
            msg = f"fault {kind!r} does not apply to path {path!r}"
            raise ValueError(msg)
        if kind == "status" and params.get("status", 503) not in (500, 502, 503, 504):
            msg = "status fault needs status 500, 502, 503 or 504"
            raise ValueError(msg)
        if kind == "auth" and params.get("status", 401) not in (401, 403):
            msg = "auth fault needs status 401 or 403"
            raise ValueError(msg)
        if kind == "stall" and float(params.get("seconds", 0)) <= 0:
            msg = "stall fault needs seconds > 0"
            raise ValueError(msg)
        if kind == "truncate" and params.get("mode", "length") not in ("length", "chunked"):
            msg = "truncate mode must be length or chunked"
            raise ValueError(msg)
        if count < 1:
            msg = "count must be at least 1"
            raise ValueError(msg)
        self._faults.add(kind, count, path, params)

    def _take_fault(self, path: str, kinds: Tuple[str, ...]) -> Optional[Fault]:
        return self._faults.take(path, kinds)

    def clear_faults(self) -> None:
        """Drop every queued fault that has not fired yet."""
        self._faults.clear()

    def expire_urls(self) -> None:
        """Make every signed URL issued so far expired now."""
        with self._lock:
            for issued in self._issued.values():
                issued.ttl = min(issued.ttl, time.monotonic() - issued.issued - 0.001)

    @staticmethod
    def _empty_stats() -> Dict[str, Any]:
        return {
            "requests": [],
            "exports": [],
            "job_polls": {},
            "downloads": [],
            "statuses": {"export": {}, "job": {}, "download": {}, "other": {}},
            "jobs_created": 0,
            "urls_issued": 0,
        }

    def stats(self) -> Dict[str, Any]:
        """A deep copy of the counters and logs (see the report in the test module for the keys)."""
        with self._lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        """Zero the counters and clear every log."""
        with self._lock:
            self._stats = self._empty_stats()

    # ----- request handling ------------------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        listener = handler.server.listener
        kind = self._classify(listener, url.path)
        entry: Dict[str, Any] = {
            "t": time.time(),
            "listener": listener,
            "method": handler.command,
            "path": url.path,
            "query": url.query,
            "kind": kind,
            "headers": [[name, value] for name, value in handler.headers.items()],
            "status": 0,
            "fault": None,
        }
        try:
            raw = handler.read_body()
        except ValueError:
            self._finish(entry, 400)
            handler.send_reply(_json_reply(400, {"message": "Bad Content-Length"}), close=True)
            return
        fault = None
        if kind in FAULT_PATHS:
            fault = self._take_fault(kind, ("status", "429", "reset", "stall", "truncate", "auth"))
        entry["fault"] = fault.kind if fault else None
        if kind == "job":
            job_id = JOB_PATH.match(url.path).group(1)  # type: ignore[union-attr]
            with self._lock:
                polls = self._stats["job_polls"]
                polls[job_id] = polls.get(job_id, 0) + 1
        if fault is not None and fault.kind == "stall" and not (kind == "download" and "after_bytes" in fault.params):
            # Waiting on the stop event (not sleep) lets stop() release stalled connections at once.
            self._stopping.wait(float(fault.params["seconds"]))
        if fault is not None and fault.kind == "reset":
            self._finish(entry, 0)
            handler.reset()
            return
        try:
            if fault is not None and fault.kind in ("status", "429", "auth"):
                raise self._fault_reply(fault, kind)
            if kind == "export":
                reply = self._export(handler, raw)
            elif kind == "job":
                reply = self._poll(handler, url.path)
            elif kind == "download":
                job = self._authorise_download(handler, url.path, url.query, entry)
                self._stream(handler, job, fault, entry)
                return
            else:
                reply = _json_reply(404, {"message": f"Cannot {handler.command} {url.path}"})
        except _Reply as early:
            reply = early
        if kind == "download":
            self._log_download(entry, None, reply.status, 0, False)
        else:
            self._finish(entry, reply.status)
        try:
            handler.send_reply(reply)
        except OSError:
            handler.close_connection = True

    def _classify(self, listener: str, path: str) -> str:
        if listener == "download":
            return "download" if SIGNED_PATH.match(path) else "other"
        if path.rstrip("/") == EXPORT_PATH:
            return "export"
        if JOB_PATH.match(path):
            return "job"
        if self._download is None and SIGNED_PATH.match(path):
            return "download"
        return "other"

    def _finish(self, entry: Dict[str, Any], status: int) -> None:
        entry["status"] = status
        with self._lock:
            self._stats["requests"].append(entry)
            counts = self._stats["statuses"][entry["kind"]]
            counts[status] = counts.get(status, 0) + 1

    def _fault_reply(self, fault: Fault, kind: str) -> _Reply:
        if fault.kind == "auth":
            if kind == "download":
                return _xml_reply(403, "AccessDenied", "Access Denied")
            status = int(fault.params.get("status", self._cfg.auth_failure_status))
            return _json_reply(status, {"message": "Unauthorized" if status == 401 else "Forbidden"})
        headers: Dict[str, str] = {}
        retry_after = fault.params.get("retry_after", 1 if fault.kind == "429" else None)
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after))
        status = 429 if fault.kind == "429" else int(fault.params.get("status", 503))
        if kind == "download":
            code = {429: "SlowDown", 500: "InternalError", 503: "ServiceUnavailable"}.get(status, "InternalError")
            message = "Please reduce your request rate." if status == 429 else "Please try again."
            return _xml_reply(status, code, message, headers)
        message = "Too Many Requests" if status == 429 else "Service Unavailable"
        return _json_reply(status, {"message": message}, headers)

    def _authenticate(self, handler: _Handler, cfg: SimConfig) -> None:
        key = handler.headers.get("x-api-key")
        allowed = key is not None and _same(key, cfg.api_key)
        if not allowed and cfg.accept_bearer:
            scheme, _, token = handler.headers.get("Authorization", "").partition(" ")
            allowed = scheme.lower() == "bearer" and _same(token.strip(), cfg.api_key)
        if not allowed:
            status = cfg.auth_failure_status
            raise _json_reply(status, {"message": "Unauthorized" if status == 401 else "Forbidden"})

    # ----- export jobs -----------------------------------------------------------------------------------

    def _export(self, handler: _Handler, raw: bytes) -> _Reply:
        record: Dict[str, Any] = {"t": time.time(), "dateStart": None, "dateEnd": None, "job_id": None, "rows": None}
        try:
            reply = self._create_job(handler, raw, record)
        except _Reply as failure:
            reply = failure
        record["status"] = reply.status
        with self._lock:
            self._stats["exports"].append(record)
        return reply

    def _create_job(self, handler: _Handler, raw: bytes, record: Dict[str, Any]) -> _Reply:
        if handler.command != "POST":
            raise _json_reply(405, {"message": "Method Not Allowed"})
        cfg = self.config
        self._authenticate(handler, cfg)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _json_reply(400, {"message": "Request body must be a JSON object"})
        record["dateStart"], record["dateEnd"] = body.get("dateStart"), body.get("dateEnd")
        for name in ("dateStart", "dateEnd"):
            if not _is_number(body.get(name)):
                raise _json_reply(400, {"message": f"{name} must be a Unix timestamp"})
        start, end = body["dateStart"], body["dateEnd"]
        wrong = any(self._wrong_unit(value, cfg.epoch_unit) for value in (start, end))
        if wrong and cfg.wrong_unit == "400":
            raise _json_reply(400, {"message": "dateStart and dateEnd must be Unix timestamps"})
        low_ms, high_ms = self._bounds(cfg, start, end)
        if wrong and cfg.wrong_unit == "empty":
            low_ms, high_ms = 0, -1
        fail_fault = self._take_fault("export", ("job_fail",))
        with self._lock:
            if cfg.job_id_form == "number":
                wire_id: Any = self._next_number
                self._next_number += 1
            else:
                wire_id = str(uuid.uuid4())
            job = _Job(
                job_id=str(wire_id),
                wire_id=wire_id,
                created=time.monotonic(),
                low_ms=low_ms,
                high_ms=high_ms,
                object_key=secrets.token_urlsafe(18),
                fail_on_finish=str(fail_fault.params.get("error", "Export failed")) if fail_fault else None,
                export_entry=record,
            )
            self._jobs[job.job_id] = job
            self._objects[job.object_key] = job
            self._stats["jobs_created"] += 1
        record["job_id"] = job.job_id
        if cfg.job_id_form == "text":
            return _Reply(cfg.export_status, job.job_id.encode("utf-8"), "text/plain; charset=utf-8")
        if cfg.job_id_form == "object":
            return _json_reply(cfg.export_status, {"id": job.job_id})
        return _json_reply(cfg.export_status, wire_id)

    @staticmethod
    def _wrong_unit(value: float, unit: str) -> bool:
        if unit == "seconds":
            return abs(value) >= _MS_THRESHOLD
        return 0 < abs(value) < _MS_THRESHOLD

    @staticmethod
    def _bounds(cfg: SimConfig, start: float, end: float) -> Tuple[int, int]:
        """The inclusive window in milliseconds that rows must fall in."""
        unit = _UNIT_MS[cfg.epoch_unit]
        # Decimal keeps 1714564800.123 seconds from becoming 1714564800123.0002 ms.
        low, high = Decimal(repr(start)), Decimal(repr(end))
        if cfg.bound_precision == "unit" and unit > 1:
            # Each row's time is truncated to the unit first, so a window ending at second T keeps all of T.
            low_ms = math.ceil(low) * unit
            high_ms = (math.floor(high) + 1) * unit - 1 if cfg.date_end_inclusive else math.ceil(high) * unit - 1
            return low_ms, high_ms
        low_ms = math.ceil(low * unit)
        high_ms = math.floor(high * unit) if cfg.date_end_inclusive else math.ceil(high * unit) - 1
        return low_ms, high_ms

    def _poll(self, handler: _Handler, path: str) -> _Reply:
        if handler.command != "GET":
            raise _json_reply(405, {"message": "Method Not Allowed"})
        cfg = self.config
        self._authenticate(handler, cfg)
        job_id = JOB_PATH.match(path).group(1)  # type: ignore[union-attr]
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise _json_reply(404, {"message": f"Job {job_id} not found"})
        fail_fault = self._take_fault("job", ("job_fail",))
        now = time.monotonic()
        with self._lock:
            job.polls += 1
            if fail_fault is not None and job.error is None and job.rows is None:
                job.error = str(fail_fault.params.get("error", "Export failed"))
            elapsed = now - job.created
            done = elapsed >= cfg.job_seconds and job.polls > cfg.job_min_polls
            # Rows are chosen when the job is first seen finished: the real job reads the trail while it runs,
            # so rows that become visible before then are in the file.
            if done and job.error is None and job.rows is None:
                if job.fail_on_finish is not None:
                    job.error = job.fail_on_finish
                else:
                    job.rows = self._select(cfg, job.low_ms, job.high_ms, time.time())
                    job.fmt = _Format.of(cfg)
                    job.export_entry["rows"] = len(job.rows)
            answer: Dict[str, Any] = {"id": job.wire_id}
            if job.error is not None:
                label = "FAILED"
                answer["error"] = job.error
            elif job.rows is not None:
                label = "COMPLETED"
                if cfg.reissue_url_on_poll or job.url is None:
                    job.url = self._issue_url(job, cfg)
                answer["signedURL"] = job.url
            else:
                label = "PENDING" if elapsed < cfg.job_pending_seconds else "RUNNING"
                if cfg.null_signed_url:
                    answer["signedURL"] = None
        if cfg.status_field is not None:
            answer[cfg.status_field] = label if cfg.status_case == "upper" else label.lower()
        return _json_reply(200, answer)

    # ----- signed downloads ------------------------------------------------------------------------------

    def _issue_url(self, job: _Job, cfg: SimConfig) -> str:
        issued = time.time()
        date = _amz_date(issued)
        expires = max(1, math.ceil(cfg.signed_url_ttl))
        self._stats["urls_issued"] += 1
        # A serial number in the signed text makes every issue unique even within one X-Amz-Date second.
        text = f"{job.object_key}\n{date}\n{expires}\n{self._stats['urls_issued']}\n{secrets.token_hex(4)}"
        signature = hmac.new(self._signing_key, text.encode("utf-8"), hashlib.sha256).hexdigest()
        self._issued[signature] = _Issued(job, time.monotonic(), cfg.signed_url_ttl)
        credential = quote(f"SIMACCESSKEY/{date[:8]}/us-east-1/s3/aws4_request", safe="")
        query = (
            f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={date}"
            f"&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )
        return f"{self.download_base_url}/signed/{job.object_key}/user-audit-trail.csv?{query}"

    def _authorise_download(self, handler: _Handler, path: str, query: str, entry: Dict[str, Any]) -> _Job:
        cfg = self.config
        if handler.command != "GET":
            raise _xml_reply(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        names = {name.lower() for name in handler.headers}
        if cfg.reject_auth_headers and names & {"authorization", "x-api-key"}:
            raise _xml_reply(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; send either the query-string signature or an Authorization header",
                extra={"ArgumentName": "Authorization"},
            )
        params = parse_qs(query)
        signature = (params.get("X-Amz-Signature") or [""])[0]
        object_key = SIGNED_PATH.match(path).group(1)  # type: ignore[union-attr]
        with self._lock:
            issued = self._issued.get(signature)
        if issued is None or issued.job.object_key != object_key:
            raise _xml_reply(403, "SignatureDoesNotMatch", "The signature does not match the request.")
        entry["job_id"] = issued.job.job_id
        age = time.monotonic() - issued.issued
        if age > issued.ttl:
            now = time.time()
            raise _xml_reply(
                403,
                "AccessDenied",
                "Request has expired",
                extra={
                    "X-Amz-Expires": str(max(1, math.ceil(issued.ttl))),
                    "Expires": datetime.fromtimestamp(now - age + issued.ttl, timezone.utc).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "ServerTime": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        return issued.job

    def _stream(self, handler: _Handler, job: _Job, fault: Optional[Fault], entry: Dict[str, Any]) -> None:
        cfg = self.config
        rows, fmt = job.rows or [], job.fmt or _Format.of(cfg)
        if job.size is None:
            # The real file's length is known before it is sent; count it once per job instead of keeping it.
            job.size = sum(len(chunk) for chunk in fmt.render(rows))
        truncate = fault if fault is not None and fault.kind == "truncate" else None
        stall = fault if fault is not None and fault.kind == "stall" else None
        framing = str(truncate.params.get("mode", cfg.download_framing)) if truncate else cfg.download_framing
        chunks: Iterable[bytes] = fmt.render(rows)
        cut: Optional[int] = None
        if truncate is not None:
            data = b"".join(chunks)
            cut = self._cut_point(data, truncate.params, framing)
            chunks = [data[:cut]]
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Content-Disposition", f'attachment; filename="user-audit-trail-{job.job_id}.csv"')
        handler.send_header("ETag", f'"{hashlib.md5(job.object_key.encode()).hexdigest()}"')
        handler.send_header("x-amz-request-id", secrets.token_hex(8).upper())
        if framing == "length":
            handler.send_header("Content-Length", str(job.size))
        else:
            handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        sent = 0
        planned = job.size if cut is None else cut
        stall_at = int(stall.params["after_bytes"]) if stall is not None and "after_bytes" in stall.params else None
        logged: Optional[Dict[str, Any]] = None
        try:
            for chunk in chunks:
                if stall_at is not None and sent + len(chunk) >= stall_at:
                    self._write(handler, chunk[: stall_at - sent], framing)
                    self._stopping.wait(float(stall.params["seconds"]))  # type: ignore[union-attr]
                    chunk, sent = chunk[stall_at - sent :], stall_at
                    stall_at = None
                if logged is None and sent + len(chunk) >= planned:
                    # Logged before the last bytes leave, so a client that has read everything finds its entry.
                    logged = self._log_download(entry, job, 200, planned, cut is None)
                self._write(handler, chunk, framing)
                sent += len(chunk)
            if logged is None:
                logged = self._log_download(entry, job, 200, sent, cut is None)
            if cut is None or (framing == "chunked" and truncate is not None and truncate.params.get("clean_end")):
                if framing == "chunked":
                    handler.wfile.write(b"0\r\n\r\n")
            else:
                handler.hang_up()
        except OSError:
            handler.close_connection = True
            with self._lock:
                if logged is None:
                    logged = self._log_download(entry, job, 200, sent, False)
                logged.update(bytes_sent=sent, complete=False)

    @staticmethod
    def _cut_point(data: bytes, params: Dict[str, Any], framing: str) -> int:
        cut = int(params["bytes"]) if "bytes" in params else int(len(data) * float(params.get("fraction", 0.5)))
        cut = max(0, min(cut, len(data) - 1))
        if framing == "chunked":
            # Cut inside a row's text: a cut right after a line end would leave only whole rows behind.
            while cut > 1 and data[cut - 1 : cut] in (b"\r", b"\n"):
                cut -= 1
            cut = max(1, cut - 1)
        return cut

    @staticmethod
    def _write(handler: _Handler, chunk: bytes, framing: str) -> None:
        if not chunk:
            return
        if framing == "chunked":
            handler.wfile.write(f"{len(chunk):x}\r\n".encode("ascii") + chunk + b"\r\n")
        else:
            handler.wfile.write(chunk)

    def _log_download(
        self, entry: Dict[str, Any], job: Optional[_Job], status: int, sent: int, complete: bool
    ) -> Dict[str, Any]:
        record = {
            "t": entry["t"],
            "job_id": job.job_id if job else entry.get("job_id"),
            "listener": entry["listener"],
            "headers": entry["headers"],
            "status": status,
            "bytes_sent": sent,
            "size": job.size if job else None,
            "rows": len(job.rows or []) if job else None,
            "complete": complete,
            "fault": entry["fault"],
        }
        with self._lock:
            self._stats["downloads"].append(record)
        self._finish(entry, status)
        return record
