"""A loopback stand-in for the splunkd REST endpoints the add-on calls.

The real splunklib 2.1.1 and solnlib 7.0.0 run against it unmodified, so the simulator speaks splunkd's wire
formats rather than whatever those libraries happen to tolerate:

* Atom feeds (``<feed>/<entry>/<content><s:dict>``) for ``storage/passwords``, ``storage/collections/config``,
  ``data/inputs``, ``server/info`` and ``kvstore/status``; the same data as splunkd's JSON envelope
  (``entry[]``, ``paging``, ``messages``) when the caller asks for ``output_mode=json``.
* JSON documents for ``storage/collections/data``, which splunkd serves as JSON whatever the output mode.
* Error bodies as splunkd sends them: ``<response><messages><msg type=..>`` (or ``{"messages": [{"type",
  "text"}]}`` in JSON mode), with the status codes splunkd uses (401, 404, 409, 400, 503).

Namespaces follow splunkd: ``/servicesNS/<owner>/<app>/...`` sees the app's objects plus system-level ones,
while ``/services/...`` and the ``-`` wildcard see everything.

Usage::

    sd = SplunkdSimulator(app="TA-audit-trail", session_key="sim-session-key", tls=True).start()
    sd.set_input(kind="ringcentral_audit", name="prod", params={"client_id": "abc", "interval": "300"})
    ...  # point the code under test at sd.server_uri / sd.session_key
    sd.stop()
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from .background import BackgroundServer, DispatchingHandler, LoopbackHTTPServer
from .tls import LoopbackTLS

if TYPE_CHECKING:
    import pytest

SPLUNK_VERSION = "9.3.2"
SPLUNK_BUILD = "d8bb32809498"
MASK = "********"
ATOM_NS = "http://www.w3.org/2005/Atom"
REST_NS = "http://dev.splunk.com/ns/rest"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
XML_TYPE = "text/xml; charset=UTF-8"
JSON_TYPE = "application/json; charset=UTF-8"
# splunkd pages listings 30 at a time unless told otherwise; count=0 (and the SDK's -1) mean "all".
DEFAULT_COUNT = 30
# Settings every modular input stanza accepts whatever its scheme declares.
COMMON_INPUT_ARGS = frozenset(
    {
        "disabled",
        "host",
        "index",
        "interval",
        "source",
        "sourcetype",
        "python.version",
        "python.required",
        "start_by_shell",
        "run_introspection",
    }
)
_MAX_BODY = 16 * 1024 * 1024
_SYSTEM_APP = "system"


class _Reply(Exception):
    """Raised anywhere in request handling to answer immediately."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


@dataclass
class _Request:
    method: str
    path: str
    base: str
    owner: Optional[str]
    app: Optional[str]
    rest: List[str]
    query: Dict[str, str]
    body: bytes
    json_mode: bool

    def form(self) -> Dict[str, str]:
        """The urlencoded POST body; splunkd also reads arguments such as output_mode from it."""
        text = self.body.decode("utf-8", errors="replace")
        return dict(parse_qsl(text, keep_blank_values=True))


@dataclass
class _Credential:
    app: str
    realm: str
    username: str
    clear_password: str

    @property
    def name(self) -> str:
        return f"{_escape_cred(self.realm)}:{_escape_cred(self.username)}:"


@dataclass
class _KVCollection:
    app: str
    name: str
    config: Dict[str, str] = field(default_factory=dict)
    docs: Dict[str, Dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Input:
    app: str
    params: Dict[str, str]


@dataclass
class _Fault:
    path_substring: str
    status: int
    remaining: int
    text: Optional[str]


@dataclass
class _Hang:
    path_substring: str
    remaining: Optional[int]  # None: every matching request until clear_hangs()


@dataclass
class _Entity:
    """One Atom entry / JSON entry, independent of how it is rendered."""

    endpoint: str
    name: str
    app: str
    content: Dict[str, Any]
    sharing: str = "app"
    actions: Tuple[str, ...] = ("list", "_reload", "edit", "remove")


def _escape_cred(text: str) -> str:
    # passwords.conf stanzas are "realm:user:", so splunkd escapes the separator (and the escape character).
    return text.replace("\\", "\\\\").replace(":", "\\:")


def _split_cred_name(name: str) -> Optional[Tuple[str, str]]:
    """Parse ``realm:user:`` the way splunkd does; a bare ``user`` or ``user:`` means an empty realm."""
    parts: List[str] = []
    current: List[str] = []
    index = 0
    while index < len(name):
        char = name[index]
        if char == "\\" and index + 1 < len(name):
            current.append(name[index + 1])
            index += 2
            continue
        if char == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    if len(parts) >= 2 and parts[-1] == "":
        parts.pop()
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def _fake_encrypt(clear: str) -> str:
    # Only the shape matters ("$7$" + base64); it must never equal the clear text.
    digest = hashlib.sha256(clear.encode("utf-8")).digest()
    return "$7$" + base64.b64encode(digest + b"sim").decode("ascii")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _is_true(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "t", "yes", "y"}


def _acl(entity: _Entity) -> Dict[str, Any]:
    return {
        "app": entity.app,
        "can_change_perms": True,
        "can_list": True,
        "can_share_app": True,
        "can_share_global": True,
        "can_share_user": False,
        "can_write": True,
        "modifiable": True,
        "owner": "nobody",
        "perms": {"read": ["*"], "write": ["admin", "sc_admin"]},
        "removable": True,
        "sharing": entity.sharing,
    }


def _xml_value(value: Any) -> str:
    if isinstance(value, dict):
        keys = "".join(f"<s:key name={quoteattr(str(k))}>{_xml_value(v)}</s:key>" for k, v in value.items())
        return f"<s:dict>{keys}</s:dict>"
    if isinstance(value, (list, tuple)):
        return "<s:list>" + "".join(f"<s:item>{_xml_value(v)}</s:item>" for v in value) + "</s:list>"
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    return escape(str(value))


def _entity_href(entity: _Entity) -> str:
    return f"/servicesNS/nobody/{quote(entity.app, safe='')}/{entity.endpoint}/{quote(entity.name, safe='')}"


def _entity_links(entity: _Entity) -> Dict[str, str]:
    href = _entity_href(entity)
    links = {"alternate": href}
    for action in entity.actions:
        if action in {"list", "edit", "remove"}:
            links[action] = href
        else:
            links[action] = f"{href}/_new" if action == "create" else f"{href}/{action}"
    return links


def _atom_entry(origin: str, entity: _Entity, updated: str) -> str:
    href = _entity_href(entity)
    links = "".join(f"<link href={quoteattr(h)} rel={quoteattr(r)}/>" for r, h in _entity_links(entity).items())
    content = dict(sorted(entity.content.items()))
    content["eai:acl"] = _acl(entity)
    return (
        f"<entry><title>{escape(entity.name)}</title><id>{escape(origin + href)}</id>"
        f"<updated>{updated}</updated>{links}<author><name>nobody</name></author>"
        f'<content type="text/xml">{_xml_value(content)}</content></entry>'
    )


def _json_entry(origin: str, entity: _Entity, updated: str) -> Dict[str, Any]:
    href = _entity_href(entity)
    return {
        "name": entity.name,
        "id": origin + href,
        "updated": updated,
        "links": _entity_links(entity),
        "author": "nobody",
        "acl": _acl(entity),
        "content": dict(sorted(entity.content.items())),
    }


def _glob_contains(pattern: str, value: str) -> bool:
    # splunkd's search= is a case-insensitive substring match in which '*' is a wildcard.
    regex = ".*".join(re.escape(part) for part in pattern.lower().split("*"))
    return re.search(regex, value.lower()) is not None


def _matches_search(search: str, entity: _Entity) -> bool:
    if not search:
        return True
    if "=" in search:
        name, _, pattern = search.partition("=")
        value = entity.name if name in {"name", "title"} else entity.content.get(name)
        return value is not None and _glob_contains(pattern, str(value))
    values = [entity.name] + [str(v) for v in entity.content.values() if not isinstance(v, (dict, list))]
    return any(_glob_contains(search, v) for v in values)


def _int_arg(req: _Request, name: str, default: int) -> int:
    raw = req.query.get(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise _error(req, 400, f"Invalid value for argument '{name}': {raw}") from None


def _error_body(json_mode: bool, text: str, kind: str = "ERROR") -> Tuple[bytes, str]:
    if json_mode:
        return json.dumps({"messages": [{"type": kind, "text": text}]}).encode("utf-8"), JSON_TYPE
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<response>\n  <messages>\n'
        f'    <msg type="{kind}">{escape(text)}</msg>\n  </messages>\n</response>\n'
    )
    return xml.encode("utf-8"), XML_TYPE


def _error(req: _Request, status: int, text: str, kind: str = "ERROR") -> _Reply:
    body, content_type = _error_body(req.json_mode, text, kind)
    return _Reply(status, body, content_type)


def _kv_error(status: int, text: str) -> _Reply:
    body, content_type = _error_body(True, text)
    return _Reply(status, body, content_type)


def _json_reply(status: int, payload: Any) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), JSON_TYPE)


def _new_kv_key() -> str:
    # The KV store hands out 24-hex-digit ObjectIds.
    return secrets.token_hex(12)


def _kv_value_matches(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return value == condition
    checks: Dict[str, Callable[[Any, Any], bool]] = {
        "$gt": lambda a, b: a is not None and a > b,
        "$gte": lambda a, b: a is not None and a >= b,
        "$lt": lambda a, b: a is not None and a < b,
        "$lte": lambda a, b: a is not None and a <= b,
        "$ne": lambda a, b: a != b,
        "$in": lambda a, b: a in b,
        "$nin": lambda a, b: a not in b,
    }
    for operator, operand in condition.items():
        check = checks.get(operator)
        if check is None:
            msg = f"Unsupported query operator {operator}"
            raise ValueError(msg)
        try:
            if not check(value, operand):
                return False
        except TypeError:
            return False
    return True


def _kv_sort_key(value: Any) -> Tuple[int, float, str]:
    # The KV store (MongoDB) orders by type first: missing/null, numbers, strings, then everything else.
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, float(value), "")
    if isinstance(value, str):
        return (2, 0.0, value)
    return (3, 0.0, json.dumps(value, sort_keys=True))


def _kv_doc_matches(doc: Dict[str, Any], query: Dict[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            if not all(_kv_doc_matches(doc, q) for q in condition):
                return False
        elif key == "$or":
            if not any(_kv_doc_matches(doc, q) for q in condition):
                return False
        elif not _kv_value_matches(doc.get(key), condition):
            return False
    return True


class _Server(LoopbackHTTPServer):
    def __init__(self, sim: SplunkdSimulator, context: Optional[ssl.SSLContext]) -> None:
        self.sim = sim
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(DispatchingHandler):
    server: _Server

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""
        if self.server.sim._hang(self.command, self.path):
            # Accepted and read, never answered; the connection is dropped once the hang is released.
            self.close_connection = True
            return
        status, payload, content_type = self.server.sim._handle(
            self.command, self.path, self.headers.get("Authorization"), body
        )
        self.send_response(status)
        self.send_header("Server", "Splunkd")
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Vary", "Cookie, Authorization")
        self.send_header("Content-Length", str(len(payload)))
        # splunkd echoes the client's connection choice; http.client (splunklib's default handler) relies on
        # "Connection: Close" to hand the socket to the response before it closes the connection object.
        self.send_header("Connection", "Close" if self.close_connection else "Keep-Alive")
        self.end_headers()
        self.wfile.write(payload)


class SplunkdSimulator(BackgroundServer):
    """A splunkd management port on 127.0.0.1 serving the REST endpoints the add-on uses.

    Public state can be read and seeded from the test (``set_input``, ``passwords``, ``kv_collection``,
    ``put_kv_document``, ``requests``), and failures injected with ``fail_next``, ``hang`` (accepted, never
    answered) or by switching ``kvstore_enabled`` off.
    """

    def __init__(self, app: str = "TA-audit-trail", session_key: str = "sim-session-key", tls: bool = True) -> None:
        self.app = app
        self.session_key = session_key
        self.tls = tls
        #: False makes storage/collections/* answer as splunkd does when the KV store is disabled.
        self.kvstore_enabled = True
        #: Status of those answers; splunkd uses 503 (Service Unavailable).
        self.kvstore_disabled_status = 503
        #: Some deployments still serve collections.conf through storage/collections/config while only the
        #: data endpoints fail; True reproduces that, so failures surface on get/update, not construction.
        self.kvstore_config_readable_when_disabled = False
        self._lock = threading.RLock()
        self._credentials: List[_Credential] = []
        self._collections: List[_KVCollection] = []
        self._inputs: Dict[Tuple[str, str], _Input] = {}
        self._scheme_args: Dict[str, frozenset] = {}
        self._faults: List[_Fault] = []
        self._hangs: List[_Hang] = []
        self._hang_release = threading.Event()
        self._requests: List[Dict[str, Any]] = []
        self._tls_material: Optional[LoopbackTLS] = None
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> SplunkdSimulator:
        """Bind 127.0.0.1 on a free port and serve from a daemon thread."""
        context = None
        if self.tls:
            self._tls_material = LoopbackTLS()
            context = self._tls_material.server_context()
        self._serve(_Server(self, context), "splunkd-sim", 0.05)
        return self

    def stop(self) -> None:
        """Stop serving and release the port and certificate files."""
        self.clear_hangs()
        self._shutdown()
        self._join()
        if self._tls_material is not None:
            self._tls_material.cleanup()
            self._tls_material = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def server_uri(self) -> str:
        """What splunkd puts in a modular input's ``<server_uri>``."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def ca_path(self) -> Optional[str]:
        """PEM of the CA that signed the server certificate, for callers that do verify (splunklib does not)."""
        return self._tls_material.ca_path if self._tls_material else None

    # ---------------------------------------------------------------------------------------- seeding / views
    def set_input(
        self,
        kind: str,
        name: str,
        params: Dict[str, Any],
        *,
        app: Optional[str] = None,
        scheme_args: Optional[Iterable[str]] = None,
    ) -> None:
        """Seed the ``[kind://name]`` stanza; values are stored as strings, as in inputs.conf.

        ``scheme_args`` declares the arguments of the kind's scheme; once declared, a POST of any other
        argument is refused with 400 as splunkd does. Undeclared kinds accept any argument.
        """
        with self._lock:
            stanza = {str(k): self._conf_value(v) for k, v in params.items()}
            self._inputs[(kind, name)] = _Input(app=app or self.app, params=stanza)
            if scheme_args is not None:
                self._scheme_args[kind] = frozenset(scheme_args)

    def inputs_conf(self, kind: str, name: str) -> Dict[str, str]:
        """The stanza's own settings, as splunkd would have written them to local/inputs.conf."""
        with self._lock:
            return dict(self._inputs[(kind, name)].params)

    def passwords(self) -> List[Dict[str, str]]:
        """Every storage/passwords entry as stored (solnlib's 255-character chunks stay separate)."""
        with self._lock:
            return [
                {"realm": c.realm, "username": c.username, "clear_password": c.clear_password}
                for c in self._credentials
            ]

    def kv_collection(self, name: str, app: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
        """``_key`` -> document of a KV collection, as the data endpoint would return them."""
        with self._lock:
            collection = self._find_collection(app or self.app, name, exact_app=False)
            if collection is None:
                raise KeyError(name)
            return json.loads(json.dumps(collection.docs))

    def install_collections(self, collections_conf: str, app: Optional[str] = None) -> List[str]:
        """Creates the collections an app's collections.conf declares, as splunkd does when it loads the app."""
        import configparser

        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment]
        parser.read_string(collections_conf)
        with self._lock:
            for name in parser.sections():
                if self._find_collection(app or self.app, name) is None:
                    self._collections.append(_KVCollection(app or self.app, name, config=dict(parser[name])))
        return parser.sections()

    def put_kv_document(self, name: str, key: str, doc: Dict[str, Any], app: Optional[str] = None) -> None:
        """Stores ``doc`` under ``key`` in a KV collection as is (e.g. a checkpoint whose ``state`` is unreadable)."""
        with self._lock:
            collection = self._find_collection(app or self.app, name, exact_app=False)
            if collection is None:
                raise KeyError(name)
            self._kv_store(collection, json.loads(json.dumps(doc)), key)

    def kv_collection_config(self, name: str, app: Optional[str] = None) -> Dict[str, str]:
        """The collections.conf settings of a collection (``field.state`` and the like)."""
        with self._lock:
            collection = self._find_collection(app or self.app, name, exact_app=False)
            if collection is None:
                raise KeyError(name)
            return dict(collection.config)

    @property
    def requests(self) -> List[Dict[str, Any]]:
        """Every request received: method, decoded path, query dict, body text and the status answered."""
        with self._lock:
            return [dict(r, query=dict(r["query"])) for r in self._requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(self, path_substring: str, status: int, count: int = 1, *, text: Optional[str] = None) -> None:
        """Answer the next ``count`` requests whose decoded path contains ``path_substring`` with ``status``."""
        with self._lock:
            self._faults.append(_Fault(path_substring, status, count, text))

    def hang(self, path_substring: str, count: Optional[int] = None) -> None:
        """Accept the next ``count`` requests (None: every one until ``clear_hangs``) whose decoded path contains
        ``path_substring``, read them, and never answer: a splunkd (or KV store) that accepts and goes silent.

        Hung requests appear in ``requests`` with status ``"hung"``.
        """
        with self._lock:
            self._hangs.append(_Hang(path_substring, count))

    def clear_hangs(self) -> None:
        """Stop hanging new requests and drop the connections of those hanging now."""
        with self._lock:
            self._hangs.clear()
            release, self._hang_release = self._hang_release, threading.Event()
        release.set()

    # ---------------------------------------------------------------------------------------------- dispatch
    def _hang(self, method: str, raw_target: str) -> bool:
        target = urlsplit(raw_target)
        path = "/".join(unquote(s) for s in target.path.split("/"))
        with self._lock:
            hang = next((h for h in self._hangs if h.path_substring in path), None)
            if hang is None:
                return False
            if hang.remaining is not None:
                hang.remaining -= 1
                if hang.remaining <= 0:
                    self._hangs.remove(hang)
            self._requests.append({"method": method, "path": path, "query": dict(parse_qsl(target.query)),
                                   "body": "", "status": "hung"})
            release = self._hang_release
        release.wait()
        return True

    def _handle(
        self, method: str, raw_target: str, authorization: Optional[str], body: bytes
    ) -> Tuple[int, bytes, str]:
        target = urlsplit(raw_target)
        raw_segments = target.path.split("/")
        path = "/".join(unquote(s) for s in raw_segments)
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        record = {
            "method": method,
            "path": path,
            "query": query,
            "body": body.decode("utf-8", errors="replace"),
            "status": None,
        }
        with self._lock:
            self._requests.append(record)
        req = self._parse(method, path, raw_segments, query, body)
        try:
            self._inject_fault(req)
            if authorization != f"Splunk {self.session_key}":
                raise _error(req, 401, "call not properly authenticated", kind="WARN")
            reply = self._route(req)
        except _Reply as answer:
            reply = answer
        except Exception as exc:
            # A simulator bug must still produce an HTTP answer, or the client under test would hang or retry.
            body, content_type = _error_body(req.json_mode, f"Internal simulator error: {type(exc).__name__}")
            reply = _Reply(500, body, content_type)
        with self._lock:
            record["status"] = reply.status
        return reply.status, reply.body, reply.content_type

    def _parse(self, method: str, path: str, raw_segments: List[str], query: Dict[str, str], body: bytes) -> _Request:
        segments = [unquote(s) for s in raw_segments[1:]]
        while segments and segments[-1] == "":
            segments.pop()
        owner: Optional[str] = None
        app: Optional[str] = None
        base = "/services"
        rest: List[str] = []
        if segments[:1] == ["services"]:
            rest = segments[1:]
        elif segments[:1] == ["servicesNS"] and len(segments) >= 3:
            owner = None if segments[1] == "-" else segments[1]
            app = None if segments[2] == "-" else segments[2]
            base = "/" + "/".join(quote(s, safe="") for s in segments[:3])
            rest = segments[3:]
        else:
            base = ""
            rest = segments
        output_mode = query.get("output_mode")
        if output_mode is None and method == "POST" and b"output_mode=" in body:
            output_mode = dict(parse_qsl(body.decode("utf-8", errors="replace"))).get("output_mode")
        return _Request(method, path, base, owner, app, rest, query, body, output_mode == "json")

    def _inject_fault(self, req: _Request) -> None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path_substring in req.path:
                    fault.remaining -= 1
                    text = fault.text or f"Simulated splunkd error {fault.status}"
                    if req.rest[:3] == ["storage", "collections", "data"]:
                        raise _kv_error(fault.status, text)
                    raise _error(req, fault.status, text)

    def _route(self, req: _Request) -> _Reply:
        rest = req.rest
        if req.base == "":
            raise _error(req, 404, "Not Found")
        if rest[:2] == ["storage", "passwords"]:
            return self._passwords(req, rest[2:])
        if rest[:2] == ["storage", "collections"] and len(rest) >= 3 and rest[2] in {"config", "data"}:
            self._check_kvstore(req, rest[2])
            if rest[2] == "config":
                return self._collections_config(req, rest[3:])
            return self._collections_data(req, rest[3:])
        if rest[:2] == ["data", "inputs"]:
            return self._data_inputs(req, rest[2:])
        if rest == ["server", "info"] and req.method == "GET":
            return self._server_info(req)
        if rest == ["kvstore", "status"] and req.method == "GET":
            return self._kvstore_status(req)
        raise _error(req, 404, "Not Found")

    # ------------------------------------------------------------------------------------------------ render
    def _origin(self) -> str:
        return self.server_uri

    def _feed(
        self, req: _Request, title: str, entities: List[_Entity], status: int = 200, paged: bool = True
    ) -> _Reply:
        """Render a listing, applying splunkd's search/offset/count semantics when ``paged``."""
        total = len(entities)
        count = DEFAULT_COUNT
        offset = 0
        if paged:
            search = req.query.get("search", "")
            entities = [e for e in entities if _matches_search(search, e)]
            entities.sort(key=lambda e: e.name.lower())
            total = len(entities)
            count = _int_arg(req, "count", DEFAULT_COUNT)
            offset = max(_int_arg(req, "offset", 0), 0)
            entities = entities[offset:] if count <= 0 else entities[offset : offset + count]
        per_page = count if count > 0 else total
        origin = self._origin()
        updated = _now()
        collection_path = req.base + "/" + "/".join(quote(s, safe="") for s in req.rest[: self._collection_depth(req)])
        if req.json_mode:
            payload = {
                "links": {"create": f"{collection_path}/_new", "_reload": f"{collection_path}/_reload"},
                "origin": origin + collection_path,
                "updated": updated,
                "generator": {"build": SPLUNK_BUILD, "version": SPLUNK_VERSION},
                "entry": [_json_entry(origin, e, updated) for e in entities],
                "paging": {"total": total, "perPage": per_page, "offset": offset},
                "messages": [],
            }
            return _json_reply(status, payload)
        entries = "".join(_atom_entry(origin, e, updated) for e in entities)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<feed xmlns="{ATOM_NS}" xmlns:s="{REST_NS}" xmlns:opensearch="{OPENSEARCH_NS}">'
            f"<title>{escape(title)}</title><id>{escape(origin + collection_path)}</id>"
            f"<updated>{updated}</updated>"
            f'<generator build="{SPLUNK_BUILD}" version="{SPLUNK_VERSION}"/>'
            "<author><name>Splunk</name></author>"
            f'<link href={quoteattr(collection_path + "/_new")} rel="create"/>'
            f'<link href={quoteattr(collection_path + "/_reload")} rel="_reload"/>'
            f"<opensearch:totalResults>{total}</opensearch:totalResults>"
            f"<opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>"
            f"<opensearch:startIndex>{offset}</opensearch:startIndex>"
            f"<s:messages/>{entries}</feed>\n"
        )
        return _Reply(status, xml.encode("utf-8"), XML_TYPE)

    @staticmethod
    def _collection_depth(req: _Request) -> int:
        rest = req.rest
        if rest[:2] == ["storage", "collections"] or rest[:2] == ["data", "inputs"]:
            return min(len(rest), 3)
        return min(len(rest), 2)

    def _visible(self, req: _Request, app: str) -> bool:
        return req.app is None or app in {req.app, _SYSTEM_APP}

    def _write_app(self, req: _Request) -> str:
        # Writes without an app context land at system level, which every namespace can see.
        return req.app or _SYSTEM_APP

    @staticmethod
    def _conf_value(value: Any) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        return "" if value is None else str(value)

    # --------------------------------------------------------------------------------------- storage/passwords
    def _cred_entity(self, cred: _Credential) -> _Entity:
        content = {
            "clear_password": cred.clear_password,
            "encr_password": _fake_encrypt(cred.clear_password),
            "password": MASK,
            "realm": cred.realm,
            "username": cred.username,
        }
        return _Entity("storage/passwords", cred.name, cred.app, content)

    def _find_credential(self, req: _Request, realm: str, username: str) -> Optional[_Credential]:
        for cred in self._credentials:
            if cred.realm == realm and cred.username == username and self._visible(req, cred.app):
                return cred
        return None

    def _passwords(self, req: _Request, rest: List[str]) -> _Reply:
        with self._lock:
            if not rest:
                if req.method == "GET":
                    visible = [self._cred_entity(c) for c in self._credentials if self._visible(req, c.app)]
                    return self._feed(req, "passwords", visible)
                if req.method == "POST":
                    return self._create_password(req)
                raise _error(req, 405, f"Method {req.method} not allowed")
            # Realms such as UCC's "__REST_CREDENTIAL__#app#configs/conf-x" hold a slash, and splunklib sends
            # entity paths with that slash unencoded, so the whole remainder of the path is the entry name.
            name = "/".join(rest)
            if name in {"_new", "_reload", "_acl"}:
                raise _error(req, 404, "Not Found")
            parsed = _split_cred_name(name)
            cred = self._find_credential(req, *parsed) if parsed else None
            if cred is None:
                raise _error(req, 404, f"Could not find object id={name}")
            if req.method == "GET":
                return self._feed(req, "passwords", [self._cred_entity(cred)], paged=False)
            if req.method == "POST":
                form = req.form()
                form.pop("output_mode", None)
                unknown = sorted(set(form) - {"password"})
                if unknown:
                    raise _error(req, 400, f'Argument "{unknown[0]}" is not supported by this handler.')
                if "password" not in form:
                    raise _error(req, 400, "Missing argument: password")
                cred.clear_password = form["password"]
                return self._feed(req, "passwords", [self._cred_entity(cred)], paged=False)
            if req.method == "DELETE":
                self._credentials.remove(cred)
                remaining = [self._cred_entity(c) for c in self._credentials if self._visible(req, c.app)]
                return self._feed(req, "passwords", remaining)
            raise _error(req, 405, f"Method {req.method} not allowed")

    def _create_password(self, req: _Request) -> _Reply:
        form = req.form()
        form.pop("output_mode", None)
        for required in ("name", "password"):
            if required not in form:
                raise _error(req, 400, f"Missing argument: {required}")
        unknown = sorted(set(form) - {"name", "password", "realm"})
        if unknown:
            raise _error(req, 400, f'Argument "{unknown[0]}" is not supported by this handler.')
        app = self._write_app(req)
        cred = _Credential(app, form.get("realm", ""), form["name"], form["password"])
        if any(c.app == app and c.name == cred.name for c in self._credentials):
            raise _error(req, 409, f"An object with name={cred.name} already exists")
        self._credentials.append(cred)
        return self._feed(req, "passwords", [self._cred_entity(cred)], status=201, paged=False)

    # ------------------------------------------------------------------------------- storage/collections/*
    def _check_kvstore(self, req: _Request, kind: str) -> None:
        if self.kvstore_enabled:
            return
        if kind == "config" and self.kvstore_config_readable_when_disabled:
            return
        text = "KV Store is disabled."
        if kind == "data":
            raise _kv_error(self.kvstore_disabled_status, text)
        raise _error(req, self.kvstore_disabled_status, text)

    def _find_collection(self, app: Optional[str], name: str, exact_app: bool = True) -> Optional[_KVCollection]:
        candidates = [c for c in self._collections if c.name == name]
        for collection in candidates:
            if app is None or collection.app == app:
                return collection
        if not exact_app:
            for collection in candidates:
                if collection.app == _SYSTEM_APP:
                    return collection
        return None

    def _collection_entity(self, collection: _KVCollection) -> _Entity:
        content: Dict[str, Any] = {"disabled": False}
        content.update(collection.config)
        return _Entity("storage/collections/config", collection.name, collection.app, content)

    def _collections_config(self, req: _Request, rest: List[str]) -> _Reply:
        with self._lock:
            if not rest:
                if req.method == "GET":
                    visible = [self._collection_entity(c) for c in self._collections if self._visible(req, c.app)]
                    return self._feed(req, "collections-conf", visible)
                if req.method == "POST":
                    form = req.form()
                    form.pop("output_mode", None)
                    name = form.pop("name", None)
                    if not name:
                        raise _error(req, 400, "Missing argument: name")
                    app = self._write_app(req)
                    if self._find_collection(app, name) is not None:
                        raise _error(req, 409, f"An object with name={name} already exists")
                    collection = _KVCollection(app, name, config=form)
                    self._collections.append(collection)
                    return self._feed(req, "collections-conf", [self._collection_entity(collection)], 201, False)
                raise _error(req, 405, f"Method {req.method} not allowed")
            collection = self._find_collection(req.app, rest[0], exact_app=False)
            if len(rest) != 1 or collection is None:
                raise _error(req, 404, f"Could not find object id={rest[0]}")
            if req.method == "GET":
                return self._feed(req, "collections-conf", [self._collection_entity(collection)], paged=False)
            if req.method == "POST":
                form = req.form()
                form.pop("output_mode", None)
                collection.config.update(form)
                return self._feed(req, "collections-conf", [self._collection_entity(collection)], paged=False)
            if req.method == "DELETE":
                self._collections.remove(collection)
                visible = [self._collection_entity(c) for c in self._collections if self._visible(req, c.app)]
                return self._feed(req, "collections-conf", visible)
            raise _error(req, 405, f"Method {req.method} not allowed")

    def _collections_data(self, req: _Request, rest: List[str]) -> _Reply:
        if not rest:
            raise _kv_error(400, "Must specify a collection name.")
        with self._lock:
            collection = self._find_collection(req.app, rest[0], exact_app=False)
            if collection is None:
                raise _kv_error(404, f"Collection '{rest[0]}' does not exist.")
            if len(rest) == 1:
                return self._kv_collection_level(req, collection)
            if len(rest) == 2 and req.method == "POST" and rest[1] in {"batch_save", "batch_find"}:
                return self._kv_batch(req, collection, rest[1])
            if len(rest) == 2:
                return self._kv_document(req, collection, rest[1])
            raise _kv_error(404, "Not Found")

    @staticmethod
    def _kv_json_body(req: _Request) -> Any:
        try:
            return json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _kv_error(400, "Request body is not valid JSON.") from None

    @staticmethod
    def _kv_store(collection: _KVCollection, doc: Any, key: Optional[str] = None) -> str:
        if not isinstance(doc, dict):
            raise _kv_error(400, "Document must be a JSON object.")
        key = key or (str(doc["_key"]) if doc.get("_key") not in (None, "") else _new_kv_key())
        stored = {k: v for k, v in doc.items() if k not in {"_key", "_user"}}
        stored.update({"_user": "nobody", "_key": key})
        collection.docs[key] = stored
        return key

    def _kv_collection_level(self, req: _Request, collection: _KVCollection) -> _Reply:
        if req.method == "GET":
            return _json_reply(200, self._kv_query(req, collection))
        if req.method == "POST":
            doc = self._kv_json_body(req)
            if isinstance(doc, dict) and doc.get("_key") in collection.docs:
                raise _kv_error(409, "A document with the same key already exists.")
            return _json_reply(201, {"_key": self._kv_store(collection, doc)})
        if req.method == "DELETE":
            query = self._kv_parse_query(req)
            for key in [k for k, d in collection.docs.items() if _kv_doc_matches(d, query)]:
                del collection.docs[key]
            return _Reply(200, b"", JSON_TYPE)
        raise _kv_error(405, f"Method {req.method} not allowed")

    def _kv_parse_query(self, req: _Request) -> Dict[str, Any]:
        raw = req.query.get("query")
        if not raw:
            return {}
        try:
            query = json.loads(raw)
        except ValueError:
            raise _kv_error(400, "Invalid query.") from None
        if not isinstance(query, dict):
            raise _kv_error(400, "Invalid query.")
        return query

    def _kv_query(self, req: _Request, collection: _KVCollection) -> List[Dict[str, Any]]:
        query = self._kv_parse_query(req)
        try:
            docs = [d for d in collection.docs.values() if _kv_doc_matches(d, query)]
        except ValueError as exc:
            raise _kv_error(400, str(exc)) from None
        for spec in reversed([s for s in req.query.get("sort", "").split(",") if s]):
            name, _, direction = spec.partition(":")
            docs.sort(key=lambda d, n=name: _kv_sort_key(d.get(n)), reverse=direction == "-1")
        skip = max(_int_arg(req, "skip", 0), 0)
        limit = _int_arg(req, "limit", 0)
        docs = docs[skip:] if limit <= 0 else docs[skip : skip + limit]
        fields = [f for f in req.query.get("fields", "").split(",") if f]
        if fields:
            keep = set(fields) | {"_key"}
            docs = [{k: v for k, v in d.items() if k in keep} for d in docs]
        return json.loads(json.dumps(docs))

    def _kv_batch(self, req: _Request, collection: _KVCollection, action: str) -> _Reply:
        items = self._kv_json_body(req)
        if not isinstance(items, list):
            raise _kv_error(400, "Request body must be a JSON array.")
        if action == "batch_save":
            return _json_reply(200, [self._kv_store(collection, doc) for doc in items])
        results = []
        for item in items:
            query = item.get("query", {}) if isinstance(item, dict) else {}
            results.append([d for d in collection.docs.values() if _kv_doc_matches(d, query)])
        return _json_reply(200, results)

    def _kv_document(self, req: _Request, collection: _KVCollection, key: str) -> _Reply:
        if key not in collection.docs:
            raise _kv_error(404, "Could not find object.")
        if req.method == "GET":
            return _json_reply(200, collection.docs[key])
        if req.method == "POST":
            return _json_reply(200, {"_key": self._kv_store(collection, self._kv_json_body(req), key)})
        if req.method == "DELETE":
            del collection.docs[key]
            return _Reply(200, b"", JSON_TYPE)
        raise _kv_error(405, f"Method {req.method} not allowed")

    # -------------------------------------------------------------------------------------------- data/inputs
    def _input_entity(self, kind: str, name: str, stanza: _Input) -> _Entity:
        # splunkd shows the stanza merged over the [default] stanza it inherits from.
        content: Dict[str, Any] = {"host": "$decideOnStartup", "index": "default"}
        content.update(stanza.params)
        content["disabled"] = _is_true(stanza.params.get("disabled", "0"))
        return _Entity(
            f"data/inputs/{kind}",
            name,
            stanza.app,
            content,
            actions=("list", "edit", "remove", "disable" if not content["disabled"] else "enable"),
        )

    def _kinds(self) -> List[str]:
        return sorted({kind for kind, _ in self._inputs} | set(self._scheme_args))

    def _data_inputs(self, req: _Request, rest: List[str]) -> _Reply:
        with self._lock:
            if not rest:
                if req.method != "GET":
                    raise _error(req, 405, f"Method {req.method} not allowed")
                kinds = [
                    _Entity("data/inputs", kind, _SYSTEM_APP, {}, sharing="system", actions=("list", "create"))
                    for kind in self._kinds()
                ]
                return self._feed(req, "inputs", kinds)
            kind = rest[0]
            if kind not in self._kinds():
                raise _error(req, 404, "Not Found")
            if len(rest) == 1:
                return self._input_collection(req, kind)
            name = rest[1]
            stanza = self._inputs.get((kind, name))
            if stanza is None or len(rest) > 3:
                raise _error(req, 404, f"Could not find object id={name}")
            if len(rest) == 3:
                if req.method != "POST" or rest[2] not in {"disable", "enable"}:
                    raise _error(req, 404, "Not Found")
                stanza.params["disabled"] = "1" if rest[2] == "disable" else "0"
                return self._feed(req, kind, [self._input_entity(kind, name, stanza)], paged=False)
            if req.method == "GET":
                return self._feed(req, kind, [self._input_entity(kind, name, stanza)], paged=False)
            if req.method == "POST":
                form = req.form()
                form.pop("output_mode", None)
                if "name" in form:
                    raise _error(req, 400, 'Argument "name" is not supported by this handler.')
                self._check_input_args(req, kind, form)
                stanza.params.update(form)
                return self._feed(req, kind, [self._input_entity(kind, name, stanza)], paged=False)
            if req.method == "DELETE":
                del self._inputs[(kind, name)]
                return self._input_collection(req, kind, method="GET")
            raise _error(req, 405, f"Method {req.method} not allowed")

    def _input_collection(self, req: _Request, kind: str, method: Optional[str] = None) -> _Reply:
        method = method or req.method
        if method == "GET":
            entities = [self._input_entity(k, n, s) for (k, n), s in self._inputs.items() if k == kind]
            return self._feed(req, kind, entities)
        if method == "POST":
            form = req.form()
            form.pop("output_mode", None)
            name = form.pop("name", None)
            if not name:
                raise _error(req, 400, "Missing argument: name")
            if (kind, name) in self._inputs:
                raise _error(req, 409, f"An object with name={name} already exists")
            self._check_input_args(req, kind, form)
            stanza = _Input(app=self._write_app(req), params=form)
            self._inputs[(kind, name)] = stanza
            return self._feed(req, kind, [self._input_entity(kind, name, stanza)], 201, False)
        raise _error(req, 405, f"Method {method} not allowed")

    def _check_input_args(self, req: _Request, kind: str, form: Dict[str, str]) -> None:
        declared = self._scheme_args.get(kind)
        if declared is None:
            return
        unknown = sorted(set(form) - declared - COMMON_INPUT_ARGS)
        if unknown:
            raise _error(req, 400, f'Argument "{unknown[0]}" is not supported by this handler.')

    # -------------------------------------------------------------------------------- server/info, kvstore
    def _server_info(self, req: _Request) -> _Reply:
        content = {
            "build": SPLUNK_BUILD,
            "version": SPLUNK_VERSION,
            "serverName": "splunkd-sim",
            "product_type": "enterprise",
            "os_name": "Linux",
            "kvStoreStatus": "ready" if self.kvstore_enabled else "disabled",
        }
        entity = _Entity("server/info", "server-info", _SYSTEM_APP, content, sharing="system", actions=("list",))
        return self._feed(req, "server-info", [entity], paged=False)

    def _kvstore_status(self, req: _Request) -> _Reply:
        current = {
            "status": "ready" if self.kvstore_enabled else "disabled",
            "disabled": "0" if self.kvstore_enabled else "1",
            "standalone": "1",
            "storageEngine": "wiredTiger",
        }
        entity = _Entity("kvstore/status", "status", _SYSTEM_APP, {"current": current}, "system", ("list",))
        return self._feed(req, "status", [entity], paged=False)


def no_client_backoff(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Make the real clients' retry pauses instantaneous for one test and return the pauses they asked for.

    solnlib 7.0.0 retries ``binding.HTTPError`` with ``time.sleep(2**i)`` (1, 2, 4 s); its pooled sessions
    (used by ``KVStoreCheckpointer``) also mount urllib3 ``Retry(total=5, backoff_factor=0.3)`` on 5xx.
    Only the waiting is removed: every retry still reaches the simulator and shows in ``requests``.
    """
    import solnlib.utils
    import urllib3.util.retry

    pauses: List[float] = []

    class _Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            pauses.append(seconds)

    monkeypatch.setattr(solnlib.utils, "time", _Clock)
    monkeypatch.setattr(urllib3.util.retry.Retry, "DEFAULT_BACKOFF_MAX", 0)
    return pauses
