"""The Splunk-edge pieces of issue 13, each against the hostile case that broke 1.0.0.

Event stream characters XML cannot carry, times before 1970, server error codes and log quoting, secrets
bound to where they were entered for, proxy and server URL parsing, total deadlines on vendor and splunkd
calls, and one run per input at a time.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from splunklib import binding as splunk_binding
from splunklib.modularinput import Event, EventWriter

from audit_trail import config, http
from audit_trail.emit import EventStream, SplunkEventSink, splunk_time, xml_safe
from audit_trail.errors import UNRECOGNISED_CODE, ConfigError, DeadlineExceeded, safe_code
from audit_trail.http import HttpSettings, build_session, proxy_with_password, split_proxy_password, url_host
from audit_trail.logs import quoted
from audit_trail.runlock import RunLock, lock_path
from audit_trail.secrets import MASK, PartialSecret, SecretStore, binding_of, resolve_secrets
from audit_trail.timefmt import format_iso_ms, parse_iso_ms
from tests.sim.background import BackgroundServer, DispatchingHandler, LoopbackHTTPServer
from tests.sim.connect_proxy import ConnectProxy
from tests.sim.splunkd_sim import SplunkdSimulator
from tests.sim.tls import LoopbackTLS

ROOT = Path(__file__).resolve().parent.parent
STANZA = "ringcentral_audit://prod"
SOURCETYPE = "ringcentral:audit"

# ------------------------------------------------------------------------------------------------ event stream

HOSTILE_STRINGS = [
    "lone high \ud800 surrogate", "lone low \udfff surrogate", "reversed pair \udc00\ud800",
    "nonchar \ufffe and \uffff", "nul \x00 bell \x07 vt \x0b ff \x0c esc \x1b us \x1f",
    "tab\tlf\ncr\r", "markup < & > ]]> \"quotes\"", "emoji \U0001F512 and Müller", "del \x7f c1 \x85",
]


def _records() -> List[Dict[str, Any]]:
    records: List[Dict[str, Any]] = [{"id": str(i), "name": text, text: "as a key"} for i, text in
                                     enumerate(HOSTILE_STRINGS)]
    records.append({"id": "nested", "initiator": {"name": "".join(HOSTILE_STRINGS)}, "list": HOSTILE_STRINGS})
    return records


def _event_data(stream_text: str) -> List[Dict[str, Any]]:
    root = ET.fromstring(stream_text)  # a standard XML parser: raises on anything XML 1.0 forbids
    return [json.loads(event.findtext("data") or "") for event in root.iter("event")]


def test_records_with_characters_xml_cannot_carry_keep_the_stream_parseable() -> None:
    out = io.StringIO()
    sink = SplunkEventSink(EventStream(out), STANZA, index="rc", host="hf-1")
    for number, record in enumerate(_records()):
        sink.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False), 1722941419000 + number, SOURCETYPE)
    sink.close()
    assert _event_data(out.getvalue()) == _records()
    # A lone surrogate comes back as the very same str, not as a replacement character.
    assert _event_data(out.getvalue())[0]["name"] == "lone high \ud800 surrogate"


def test_the_same_holds_when_writing_through_an_event_writer() -> None:
    out = io.StringIO()
    writer = EventWriter(output=out, error=io.StringIO())
    sink = SplunkEventSink(writer, STANZA)
    for record in _records():
        sink.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False), 1722941419000, SOURCETYPE)
    writer.close()
    assert _event_data(out.getvalue()) == _records()


def test_xml_safe_leaves_ordinary_text_alone_and_escapes_only_what_xml_forbids() -> None:
    ordinary = '{"a":"Müller \U0001F512 <tag> & \\"q\\"\\n","b":"\t"}'
    assert xml_safe(ordinary) is ordinary
    assert xml_safe('{"a":"\ud800\x01\ufffe"}') == '{"a":"\\ud800\\u0001\\ufffe"}'


ORDINARY_EVENTS: List[Tuple[str, Optional[int], str]] = [
    ('{"id":"1","name":"Lena Müller","note":"a < b & c > d"}', 1722941419442, SOURCETYPE),
    ('{"quote":"say \\"hi\\"","emoji":"\U0001F512","cdata":"]]>"}', 1722941419005, SOURCETYPE),
    ('{"id":"no-time"}', None, SOURCETYPE),
    ('{"input":"prod","status":"complete"}', 1722941420000, "ringcentral:audit:collection"),
    ("{}", 7, SOURCETYPE),
    ('{"before":"1970"}', -1, SOURCETYPE),
    ('{"before":"1970"}', -86_400_001, SOURCETYPE),
]


def _reference_stream(events: List[Tuple[str, Optional[int], str]], stanza: str) -> str:
    """What splunklib's EventWriter writes, with the time string splunkd reads as the intended instant."""
    out = io.StringIO()
    writer = EventWriter(output=out, error=io.StringIO())
    for data, time_ms, sourcetype in events:
        seconds = None
        if time_ms is not None:
            seconds = f"{'-' if time_ms < 0 else ''}{abs(time_ms) // 1000}.{abs(time_ms) % 1000:03d}"
        writer.write_event(Event(data=data, stanza=stanza, time=seconds, source=stanza, sourcetype=sourcetype))
    writer.close()
    return out.getvalue()


def test_an_owned_stream_writes_the_bytes_event_writer_writes() -> None:
    out = io.StringIO()
    stream = EventStream(out)
    sink = SplunkEventSink(stream, STANZA)
    for data, time_ms, sourcetype in ORDINARY_EVENTS:
        sink.write(data, time_ms, sourcetype)
    sink.close()
    sink.close()  # once is enough; a second close adds nothing
    assert out.getvalue() == _reference_stream(ORDINARY_EVENTS, STANZA)
    assert out.getvalue().count("</stream>") == 1


def test_times_before_1970_are_written_as_negative_seconds() -> None:
    assert splunk_time(-1) == "-0.001"
    assert splunk_time(-1500) == "-1.500"
    assert splunk_time(-1000) == "-1.000"
    assert splunk_time(0) == "0.000"
    assert splunk_time(1722941419442) == "1722941419.442"
    out = io.StringIO()
    SplunkEventSink(EventStream(out), STANZA).write("{}", -1, SOURCETYPE)
    assert "<time>-0.001</time>" in out.getvalue()


def test_an_owned_stream_is_empty_without_events_and_refuses_writes_once_closed() -> None:
    out = io.StringIO()
    stream = EventStream(out)
    stream.close()
    assert out.getvalue() == ""
    with pytest.raises(RuntimeError):
        SplunkEventSink(stream, STANZA).write("{}", 1, SOURCETYPE)


def test_event_writer_still_has_the_internals_the_compatibility_path_uses() -> None:
    # SplunkEventSink(EventWriter) shares the writer's stream through these two internals; if splunklib
    # renames them, this fails before any event goes missing. EventStream needs neither.
    out = io.StringIO()
    writer = EventWriter(output=out, error=io.StringIO())
    assert writer._out is out
    assert writer.header_written is False
    writer.write_event(Event(data="x", stanza=STANZA))
    assert writer.header_written is True
    writer.close()
    assert out.getvalue().startswith("<stream>") and out.getvalue().endswith("</stream>")


# ---------------------------------------------------------------------------------------------------- times


@pytest.mark.parametrize(("epoch_ms", "text"), [
    (-1, "1969-12-31T23:59:59.999Z"),
    (-999, "1969-12-31T23:59:59.001Z"),
    (-86_400_000, "1969-12-31T00:00:00.000Z"),
    (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
    (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
    (-59_011_545_600_000, "0099-12-31T00:00:00.000Z"),
    (0, "1970-01-01T00:00:00.000Z"),
    (1722941419442, "2024-08-06T10:50:19.442Z"),
])
def test_format_iso_ms_writes_any_time_right_and_round_trips(epoch_ms: int, text: str) -> None:
    assert format_iso_ms(epoch_ms) == text
    assert parse_iso_ms(text) == epoch_ms


# ------------------------------------------------------------------------------------ error codes and logs

JWT_LIKE = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI0MDI1MzkzMDAwMDgifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
CLIENT_SECRET = "sIm-Cl13nt-s3cr3t-XYZ0123456789abcdef"


@pytest.mark.parametrize("code", ["CMN-102", "OAU-251", "invalid_grant", "AGW-401", "429", "a.b:c-d_e", "x" * 64])
def test_safe_code_passes_real_error_codes(code: str) -> None:
    assert safe_code(code) == code


@pytest.mark.parametrize("value", [
    JWT_LIKE, "Basic c2ltLWNsaWVudC1pZDpzSW0tQ2wxM250LXMzY3IzdC1YWVowMTIz", "x" * 65, "CMN-102\naction=run_complete",
    "CMN-102 status=ok", '"quoted"', "-leading-dash", "ümlaut", "tab\there", {"errorCode": "x"}, ["x"], 1.5, True,
])
def test_safe_code_replaces_anything_else(value: object) -> None:
    assert safe_code(value) == UNRECOGNISED_CODE


def test_safe_code_refuses_an_echo_of_a_known_secret() -> None:
    assert safe_code(CLIENT_SECRET) == CLIENT_SECRET  # shaped like a code: only knowing the secret tells
    assert safe_code(CLIENT_SECRET, secrets=[CLIENT_SECRET, JWT_LIKE]) == UNRECOGNISED_CODE
    assert safe_code(CLIENT_SECRET[:20], secrets=[CLIENT_SECRET]) == UNRECOGNISED_CODE
    assert safe_code("CMN-102", secrets=[CLIENT_SECRET, ""]) == "CMN-102"
    assert safe_code(None) == safe_code("") == "-"
    assert safe_code(401) == "401"


def _log_lines(tmp_path: Path, *values: object) -> List[str]:
    path = tmp_path / "ta.log"
    logger = logging.getLogger(f"edge-hardening-{len(values)}-{id(tmp_path)}")
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    try:
        for value in values:
            logger.error("action=collection_failed error=%s", quoted(value))
    finally:
        handler.close()
        logger.removeHandler(handler)
    return path.read_text(encoding="utf-8").splitlines()


def _fields(line: str) -> List[Tuple[str, str]]:
    """key=value pairs as Splunk's automatic extraction reads them: a quoted value runs to the next quote."""
    return re.findall(r'(\w+)=("[^"]*"|[^\s"]+)', line)


def test_a_value_cannot_forge_a_log_line_or_a_field(tmp_path: Path) -> None:
    lines = _log_lines(tmp_path, "x\naction=run_complete status=ok", 'x" action=run_complete status="ok',
                       "x\\", "x\r\naction=y", "x\u2028action=y\u0085z\x00\x1b[31m")
    assert len(lines) == 5
    for line in lines:
        assert [key for key, _ in _fields(line)] == ["action", "error"]
    assert _fields(lines[0])[1] == ("error", '"x action=run_complete status=ok"')


def test_quoted_neutralises_every_control_character_and_survives_lone_surrogates(tmp_path: Path) -> None:
    every_control = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
    text = quoted(every_control + '"\\' + "\u2028\u2029")
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]", text)
    assert text.count('"') == 2 and text.startswith('"') and text.endswith('"')
    lines = _log_lines(tmp_path, "display name \ud800 here")
    assert lines == ['ERROR action=collection_failed error="display name \ufffd here"']


# ---------------------------------------------------------------------------------------------------- secrets


class FakeSecretStore:
    """storage/passwords as a dict, with SecretStore's get/set."""

    def __init__(self, values: Optional[Dict[str, str]] = None) -> None:
        self.values: Dict[str, str] = dict(values or {})
        self.writes = 0

    def get(self, input_name: str, field: str) -> Optional[str]:
        return self.values.get(f"{input_name}#{field}")

    def set(self, input_name: str, field: str, value: str) -> None:
        self.writes += 1
        self.values[f"{input_name}#{field}"] = value


PROXY = PartialSecret(split=split_proxy_password, join=proxy_with_password)
FIELDS = ("client_secret", "jwt", "proxy_url")
HOME = binding_of("ringcentral_audit", "platform.ringcentral.com", "client-id", "[::1]:3128")
ELSEWHERE = binding_of("ringcentral_audit", "evil.example.com", "client-id", "[::1]:3128")


def _resolve(params: Dict[str, str], store: FakeSecretStore, binding: str, store_new: bool = True,
             masked: Optional[List[Dict[str, str]]] = None) -> Dict[str, str]:
    sink = masked if masked is not None else []
    return resolve_secrets(params, FIELDS, store, "prod", mask_stanza=sink.append,  # type: ignore[arg-type]
                           partial={"proxy_url": PROXY}, store_new=store_new, binding=binding)


ENTERED = {"client_secret": CLIENT_SECRET, "jwt": JWT_LIKE, "proxy_url": "http://proxy-user:pr%40xy@[::1]:3128"}
MASKED = {"client_secret": MASK, "jwt": MASK, "proxy_url": f"http://proxy-user:{MASK}@[::1]:3128"}


def test_secrets_are_stored_for_their_binding_and_read_back_for_it() -> None:
    store = FakeSecretStore()
    masked: List[Dict[str, str]] = []
    first = _resolve(dict(ENTERED), store, HOME, masked=masked)
    assert first == ENTERED
    assert masked == [MASKED]
    stored = json.loads(store.values["prod#client_secret"])
    assert stored["secret"] == CLIENT_SECRET and stored["binding"] == HOME
    assert _resolve(dict(MASKED), store, HOME) == ENTERED


@pytest.mark.parametrize("store_new", [True, False])
def test_a_secret_entered_for_another_server_is_never_released(store_new: bool) -> None:
    store = FakeSecretStore()
    _resolve(dict(ENTERED), store, HOME)
    for field in FIELDS:
        params = {name: (MASKED[name] if name == field else "") for name in FIELDS}
        with pytest.raises(ConfigError) as caught:
            _resolve(params, store, ELSEWHERE, store_new=store_new)
        assert caught.value.field == field
        message = str(caught.value)
        assert "another server" in message and "enter it again" in message
        for leak in (CLIENT_SECRET, JWT_LIKE, "pr@xy", "evil.example.com", "platform.ringcentral.com", "client-id",
                     HOME, ELSEWHERE, HOME[7:19], ELSEWHERE[7:19]):
            assert leak not in message


def test_secrets_stored_by_1_0_0_are_accepted_once_and_bound_from_then_on() -> None:
    legacy = {"prod#client_secret": CLIENT_SECRET, "prod#jwt": JWT_LIKE, "prod#proxy_url": "pr@xy"}
    checked = FakeSecretStore(legacy)
    assert _resolve(dict(MASKED), checked, HOME, store_new=False) == ENTERED
    assert checked.writes == 0  # validating an edit writes nothing

    store = FakeSecretStore(legacy)
    assert _resolve(dict(MASKED), store, HOME) == ENTERED
    assert store.writes == 3 and all(value != legacy[key] for key, value in store.values.items())
    assert _resolve(dict(MASKED), store, HOME) == ENTERED
    with pytest.raises(ConfigError):
        _resolve(dict(MASKED), store, ELSEWHERE)


def test_secrets_taken_from_the_stanza_are_masked_even_when_a_later_field_fails() -> None:
    store = FakeSecretStore()
    masked: List[Dict[str, str]] = []
    params = dict(ENTERED, proxy_url="http://proxy-user:pr%40xy@[::1:3128")  # no closing bracket
    with pytest.raises(ConfigError) as caught:
        _resolve(params, store, HOME, masked=masked)
    assert caught.value.field == "proxy_url" and "pr%40xy" not in str(caught.value)
    assert masked == [{"client_secret": MASK, "jwt": MASK}]
    assert set(store.values) == {"prod#client_secret", "prod#jwt"}

    store = FakeSecretStore()
    masked.clear()
    with pytest.raises(ConfigError) as caught:
        _resolve(dict(ENTERED, proxy_url=MASKED["proxy_url"]), store, HOME, masked=masked)  # nothing stored for it
    assert caught.value.field == "proxy_url"
    assert masked == [{"client_secret": MASK, "jwt": MASK}]


def test_binding_of_is_a_digest_that_changes_with_every_part() -> None:
    assert binding_of("a", "b") == binding_of("a", "b")
    assert len({binding_of("a", "bc"), binding_of("ab", "c"), binding_of("a", "b", "c"), binding_of("abc")}) == 4
    assert "platform.ringcentral.com" not in HOME and "client-id" not in HOME


def test_url_host_names_the_same_place_however_it_is_written() -> None:
    assert url_host("https://Platform.RingCentral.com") == "platform.ringcentral.com"
    assert url_host("https://platform.ringcentral.com:443/") == "platform.ringcentral.com"
    assert url_host("platform.ringcentral.com") == "platform.ringcentral.com"
    assert url_host("https://platform.ringcentral.com:8443") == "platform.ringcentral.com:8443"
    assert url_host("http://user:pw@[::1]:3128") == "[::1]:3128"
    assert url_host("http://user:pw@[::1") == "[::1"
    assert url_host("http://user:p/w#x@proxy:3128/path") == "proxy:3128"
    assert url_host("") == ""


# ------------------------------------------------------------------------------------ proxy and server URLs


@pytest.mark.parametrize("proxy", ["http://u:p%40ss@[::1]:3128", "http://u:s3cret@[2001:db8::7]:8080/",
                                   "https://u:s3cret@proxy.example.com:3128", "http://u:s3cret@10.0.0.1:3128"])
def test_a_proxy_password_is_masked_and_restored_with_the_address_intact(proxy: str) -> None:
    masked, password = split_proxy_password(proxy)
    host = proxy.rpartition("@")[2]
    assert masked.endswith(f":{MASK}@{host}") and password is not None and password not in masked
    assert proxy_with_password(masked, password) == proxy
    assert config.proxy_url({"proxy_url": masked}, "proxy_url") == masked


def test_proxy_url_accepts_ipv6_and_refuses_broken_addresses_without_echoing_them() -> None:
    assert config.proxy_url({"p": "http://[::1]:3128"}, "p") == "http://[::1]:3128"
    for broken in ("http://u:secretpw@[::1:3128", "http://u:secretpw@::1:3128", "http://u:secretpw@host:notaport",
                   "http://u:secretpw@host", "socks5://u:secretpw@host:1080"):
        with pytest.raises(ConfigError) as caught:
            config.proxy_url({"p": broken}, "p")
        assert caught.value.field == "p" and "secretpw" not in str(caught.value)


@pytest.mark.parametrize("url", ["https://user:secretpw@platform.ringcentral.com",
                                 "https://platform.ringcentral.com:443@evil.example:8443",
                                 "https://platform.ringcentral.com@evil.example"])
def test_server_url_refuses_user_info(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.https_url({"server_url": url}, "server_url", "https://platform.ringcentral.com")
    assert caught.value.field == "server_url" and "user info" in str(caught.value)
    assert "secretpw" not in str(caught.value) and "evil" not in str(caught.value)


def test_server_url_keeps_accepting_hosts_ports_and_ipv6() -> None:
    default = "https://platform.ringcentral.com"
    assert config.https_url({}, "s", default) == default
    assert config.https_url({"s": "https://platform.ringcentral.biz/"}, "s", default) == "https://platform.ringcentral.biz"
    assert config.https_url({"s": "https://127.0.0.1:8443"}, "s", default) == "https://127.0.0.1:8443"
    assert config.https_url({"s": "https://[::1]:8443"}, "s", default) == "https://[::1]:8443"
    for bad in ("http://platform.ringcentral.com", "https://host:port", "https://host/path", "https://ho st",
                "https://host\\.evil.example", "https://[::1"):
        with pytest.raises(ConfigError):
            config.https_url({"s": bad}, "s", default)


def test_ca_bundle_says_a_directory_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config.ca_bundle({"ca_bundle": str(tmp_path)}, "ca_bundle", None)
    assert "is a directory" in str(caught.value) and "does not exist" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        config.ca_bundle({"ca_bundle": str(tmp_path / "missing.pem")}, "ca_bundle", None)
    assert "does not exist" in str(caught.value)
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    assert config.ca_bundle({"ca_bundle": "ca.pem"}, "ca_bundle", str(tmp_path)) == str(pem)


# ----------------------------------------------------------------------------------------- total deadlines


class _SlowServer(LoopbackHTTPServer):
    def __init__(self, owner: SlowHTTPServer, context: Any) -> None:
        self.owner = owner
        self.context = context
        super().__init__(("127.0.0.1", 0), _SlowHandler)


class _SlowHandler(DispatchingHandler):
    """Answers quickly on /fast and as slowly as a hostile peer can everywhere else."""

    server: _SlowServer

    def _dispatch(self) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        if path == "/fast":
            self._send(200, b'{"ok":true}')
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/trickle-body")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/trickle-body":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(owner.trickle_bytes))
            self.end_headers()
            self._trickle([b"x"] * owner.trickle_bytes)
        elif path == "/trickle-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._trickle([b"1\r\nx\r\n"] * owner.trickle_bytes + [b"0\r\n\r\n"])
        elif path == "/trickle-headers":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"p" * owner.trickle_bytes
            self._trickle([bytes([byte]) for byte in head] + [b"\r\nContent-Length: 2\r\n\r\nok"])
        else:  # accepts, and never answers
            owner.released.wait(30)
            self.close_connection = True

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, pieces: List[bytes]) -> None:
        owner = self.server.owner
        for piece in pieces:
            self.wfile.write(piece)
            self.wfile.flush()
            if owner.released.wait(owner.gap_seconds):
                break
        self.close_connection = True


class SlowHTTPServer(BackgroundServer):
    """A loopback server that sends bodies and headers one byte at a time, or nothing at all."""

    def __init__(self, tls: Optional[LoopbackTLS] = None, trickle_bytes: int = 40, gap_seconds: float = 0.1) -> None:
        self.tls = tls
        self.trickle_bytes = trickle_bytes
        self.gap_seconds = gap_seconds
        self.released = threading.Event()

    def start(self) -> SlowHTTPServer:
        self._serve(_SlowServer(self, self.tls.server_context() if self.tls else None), "slow-http", 0.05)
        return self

    def stop(self) -> None:
        self.released.set()
        self._shutdown()
        self._join()

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"


@pytest.fixture()
def slow() -> Iterator[SlowHTTPServer]:
    with SlowHTTPServer() as server:
        yield server


@pytest.fixture(scope="module")
def tls() -> Iterator[LoopbackTLS]:
    material = LoopbackTLS()
    yield material
    material.cleanup()


def _timed(call: Callable[[], Any]) -> Tuple[Optional[BaseException], float]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:  # returned for the test to inspect
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# Per read, every trickle passes this; the whole call cannot.
READ_TIMEOUT = (2.0, 2.0)


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-chunked", "/trickle-headers", "/redirect", "/silent"])
def test_a_vendor_call_ends_at_its_total_deadline_however_slowly_the_server_answers(
        slow: SlowHTTPServer, path: str) -> None:
    session = build_session(HttpSettings(timeout=READ_TIMEOUT, total_seconds=0.5))
    error, elapsed = _timed(lambda: session.get(slow.base_url + path, timeout=READ_TIMEOUT))
    assert isinstance(error, requests.Timeout) and isinstance(error, http.HttpDeadlineExceeded)
    assert isinstance(error, DeadlineExceeded) and "127.0.0.1" in str(error) and path not in str(error)
    assert elapsed < 1.5
    # The pooled session is still good for the next call.
    assert session.get(slow.base_url + "/fast", timeout=READ_TIMEOUT).json() == {"ok": True}


def test_one_call_can_set_its_own_total_deadline(slow: SlowHTTPServer) -> None:
    session = build_session(HttpSettings(timeout=READ_TIMEOUT, total_seconds=None))
    error, elapsed = _timed(lambda: session.post(slow.base_url + "/trickle-body", json={}, timeout=(2.0, 2.0, 0.4)))
    assert isinstance(error, requests.Timeout) and elapsed < 1.5
    slow.trickle_bytes, slow.gap_seconds = 3, 0.05
    assert session.get(slow.base_url + "/trickle-body", timeout=(2.0, 2.0, 5.0)).content == b"xxx"


def test_the_deadline_holds_over_tls_and_through_a_connect_proxy(tls: LoopbackTLS) -> None:
    with SlowHTTPServer(tls=tls) as server, ConnectProxy() as proxy:
        direct = build_session(HttpSettings(timeout=READ_TIMEOUT, ca_bundle=tls.ca_path, total_seconds=0.5))
        tunnelled = build_session(HttpSettings(timeout=READ_TIMEOUT, ca_bundle=tls.ca_path, total_seconds=0.5,
                                               proxy_url=proxy.url))
        for session in (direct, tunnelled):
            for path in ("/trickle-body", "/trickle-headers"):
                url = server.base_url + path
                error, elapsed = _timed(functools.partial(session.get, url, timeout=READ_TIMEOUT))
                assert isinstance(error, requests.Timeout), (session, path, error)
                assert elapsed < 1.5
            assert session.get(server.base_url + "/fast", timeout=READ_TIMEOUT).json() == {"ok": True}
        assert proxy.tunnels >= 1


def test_a_call_through_the_sdk_style_send_gets_the_deadline_too(slow: SlowHTTPServer) -> None:
    session = build_session(HttpSettings(timeout=READ_TIMEOUT, total_seconds=0.5))
    prepared = requests.Request("POST", slow.base_url + "/trickle-body", data=b"grant").prepare()
    error, elapsed = _timed(lambda: session.send(prepared, timeout=READ_TIMEOUT))
    assert isinstance(error, requests.Timeout) and elapsed < 1.5


def _splunkd_call(handler: Callable[..., Dict[str, Any]], url: str) -> Dict[str, Any]:
    return handler(url, {"method": "GET", "headers": [("Authorization", "Splunk key")], "body": ""})


@pytest.mark.parametrize("path", ["/trickle-body", "/trickle-headers", "/silent"])
def test_a_splunkd_call_ends_at_its_total_deadline(slow: SlowHTTPServer, path: str) -> None:
    handler = http.splunkd_handler(total_seconds=0.5, timeout=2.0)
    error, elapsed = _timed(lambda: _splunkd_call(handler, slow.base_url + path + "?search=realm%3Dx"))
    assert isinstance(error, DeadlineExceeded) and path in str(error) and "realm" not in str(error)
    assert elapsed < 1.5
    answer = _splunkd_call(handler, slow.base_url + "/fast")
    assert answer["status"] == 200 and json.loads(answer["body"].read()) == {"ok": True}


def test_secret_store_calls_have_a_total_deadline(slow: SlowHTTPServer) -> None:
    store = SecretStore("key", "TA-audit-trail", "ringcentral_audit", "http", "127.0.0.1", slow.port,
                        total_seconds=0.5)
    error, elapsed = _timed(lambda: store.get("prod", "jwt"))
    assert isinstance(error, DeadlineExceeded) and elapsed < 1.5


def test_secret_store_still_round_trips_long_secrets_through_splunkd() -> None:
    with SplunkdSimulator() as splunkd:
        def store() -> SecretStore:
            return SecretStore(splunkd.session_key, splunkd.app, "ringcentral_audit", splunkd.scheme, splunkd.host,
                               splunkd.port)
        long_secret = JWT_LIKE * 12  # several of solnlib's 255-character chunks
        store().set("prod", "jwt", long_secret)
        assert store().get("prod", "jwt") == long_secret
        assert len(splunkd.passwords()) > 1


def test_splunkd_handler_works_as_a_splunklib_context_handler() -> None:
    with SplunkdSimulator() as splunkd:
        context = splunk_binding.Context(handler=http.splunkd_handler(5.0), scheme=splunkd.scheme,
                                         host=splunkd.host, port=splunkd.port, token=splunkd.session_key,
                                         owner="nobody", app=splunkd.app)
        body = json.loads(context.get("storage/passwords", output_mode="json").body.read())
        assert body["entry"] == []


# ------------------------------------------------------------------------------------------ one run at a time

_HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
from audit_trail.runlock import RunLock
lock = RunLock(sys.argv[2], sys.argv[3])
print(lock.try_acquire(), flush=True)
sys.stdin.readline()
"""


def _holder(directory: Path, key: str) -> Tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(ROOT / "lib"), str(directory), key],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def test_a_second_process_cannot_run_the_same_input_until_the_first_is_gone(tmp_path: Path) -> None:
    key = "ringcentral_audit/prod"
    first, acquired = _holder(tmp_path, key)
    try:
        assert acquired == "True"
        second, acquired_too = _holder(tmp_path, key)
        second.communicate("\n", timeout=10)
        assert acquired_too == "False"
        lock = RunLock(str(tmp_path), key)
        assert lock.try_acquire() is False
        assert lock.holder() == first.pid
        other, acquired_other = _holder(tmp_path, "ringcentral_audit/other")
        other.communicate("\n", timeout=10)
        assert acquired_other == "True"  # another input is not held up
    finally:
        first.kill()  # SIGKILL: no cleanup runs, the operating system drops the lock
        first.wait(10)
    with RunLock(str(tmp_path), key) as acquired_now:
        assert acquired_now is True
        third, acquired_third = _holder(tmp_path, key)
        third.communicate("\n", timeout=10)
        assert acquired_third == "False"
    third, acquired_third = _holder(tmp_path, key)
    third.communicate("\n", timeout=10)
    assert acquired_third == "True"


def test_run_lock_within_one_process(tmp_path: Path) -> None:
    directory = tmp_path / "not" / "yet"
    first, second = RunLock(str(directory), "k"), RunLock(str(directory), "k")
    assert first.try_acquire() and first.try_acquire() and first.held
    assert second.try_acquire() is False
    first.release()
    first.release()
    assert second.try_acquire() is True
    second.release()
    assert os.path.exists(lock_path(str(directory), "k"))  # left in place on purpose
    assert lock_path("d", "a/b") != lock_path("d", "a_b")


def test_run_lock_reports_an_unusable_directory_instead_of_calling_it_busy(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        RunLock(str(blocker / "dir"), "k").try_acquire()

