"""Where events go: splunkd's XML event stream, behind a small protocol the collector writes to."""

from __future__ import annotations

import re
from typing import Any, Optional, Protocol, TextIO
from xml.sax.saxutils import escape


class EventSink(Protocol):
    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        """Writes one event; ``time_ms`` None lets Splunk assign the time."""
        ...

    def flush(self) -> None:
        """Returns once every written event has left the process."""
        ...


# Characters XML 1.0 has no way to carry, not even as character references: C0 controls other than tab, LF
# and CR, UTF-16 surrogates (which a str holds when a record had an unpaired one), U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _json_escape(match: Any) -> str:
    return f"\\u{ord(match.group()):04x}"


def xml_safe(data: str) -> str:
    """``data`` with every character XML 1.0 cannot carry written as a JSON ``\\uXXXX`` escape.

    Event data is a record's JSON, where such characters can only stand inside strings, and there the
    escape decodes to the very same character: the stream stays well-formed and ``json.loads`` gives back
    the record. (A high surrogate directly followed by a low one decodes as the pair's one character, as
    it does for any JSON encoder; records decoded from JSON never hold such a pair unjoined.)
    """
    if _NOT_XML.search(data) is None:
        return data
    return _NOT_XML.sub(_json_escape, data)


def splunk_time(time_ms: int) -> str:
    """Epoch milliseconds as the seconds-with-three-decimals splunkd reads from ``<time>``."""
    sign = "-" if time_ms < 0 else ""
    seconds, millis = divmod(abs(int(time_ms)), 1000)
    return f"{sign}{seconds}.{millis:03d}"


class EventStream:
    """The ``<stream>`` splunkd reads a modular input's events from, on an output this object owns.

    ``<stream>`` goes out before the first event and ``</stream>`` on :meth:`close` (nothing at all when no
    event was written, as splunklib's EventWriter does). splunklib's own writer must not write to the same
    output: take stdout here and leave the EventWriter unused, and its ``close()`` adds nothing.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.started = False
        self.closed = False

    def write(self, text: str) -> None:
        if self.closed:
            msg = "the event stream is already closed"
            raise RuntimeError(msg)
        if not self.started:
            self._out.write("<stream>")
            self.started = True
        self._out.write(text)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        """Ends the stream; safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        if self.started:
            self._out.write("</stream>")
        self._out.flush()


class _EventWriterStream:
    """Shares the stream of a splunklib ``EventWriter`` that may write events of its own.

    Relies on two EventWriter internals, ``_out`` and ``header_written`` (tests/test_edge_hardening.py fails
    the day splunklib changes them); an :class:`EventStream` needs neither.
    """

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self._out = writer._out

    def write(self, text: str) -> None:
        if not self._writer.header_written:
            self._out.write("<stream>")
            self._writer.header_written = True
        self._out.write(text)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self._writer.close()


_TIME = "\x00TIME\x00"
_DATA = "\x00DATA\x00"


class SplunkEventSink:
    """Writes events for one input stanza into splunkd's event stream.

    ``stream`` is an :class:`EventStream` (or, for older callers, a splunklib ``EventWriter``). The bytes of
    an event are exactly those ``EventWriter.write_event`` produces (each event's framing is rendered once by
    splunklib's own Event, with ElementTree), but without building an element tree per event and flushing
    after each one: serialising a page of events costs a fraction of that, and the one flush per page comes
    before the page's checkpoint, which is all the checkpoint needs. Unlike EventWriter, characters XML 1.0
    cannot carry are escaped (see :func:`xml_safe`) instead of making the whole stream unreadable.
    """

    def __init__(self, stream: Any, stanza: str, index: Optional[str] = None, host: Optional[str] = None) -> None:
        self._stream = stream if isinstance(stream, EventStream) else _EventWriterStream(stream)
        self._stanza = stanza
        self._index = index or None
        self._host = host or None
        self._templates: dict = {}

    def _template(self, sourcetype: str, timed: bool) -> tuple[str, str, str]:
        key = (sourcetype, timed)
        if key not in self._templates:
            import io

            from splunklib.modularinput import Event

            out = io.StringIO()
            Event(data=_DATA, stanza=self._stanza, time=_TIME if timed else None, index=self._index,
                  host=self._host, source=self._stanza, sourcetype=sourcetype, done=True, unbroken=True).write_to(out)
            text = out.getvalue()
            head, _, tail = text.partition(_DATA)
            if timed:
                before, _, between = head.partition(_TIME)
                self._templates[key] = (before, between, tail)
            else:
                self._templates[key] = ("", head, tail)
        return self._templates[key]

    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        before, between, tail = self._template(sourcetype, time_ms is not None)
        # splunklib serialises as US-ASCII: markup characters escaped, others as character references.
        body = escape(xml_safe(data))
        if not body.isascii():
            body = body.encode("ascii", "xmlcharrefreplace").decode("ascii")
        if time_ms is None:
            self._stream.write(between + body + tail)
        else:
            self._stream.write(f"{before}{splunk_time(time_ms)}{between}{body}{tail}")

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        """Flushes and ends the stream (``</stream>``); call once, when the process writes no more events."""
        self._stream.close()
