"""Where events go: splunkd's XML event stream, behind a small protocol the collector writes to."""

from __future__ import annotations

from typing import Any, Optional, Protocol
from xml.sax.saxutils import escape


class EventSink(Protocol):
    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        """Writes one event; ``time_ms`` None lets Splunk assign the time."""
        ...

    def flush(self) -> None:
        """Returns once every written event has left the process."""
        ...


_TIME = "\x00TIME\x00"
_DATA = "\x00DATA\x00"


class SplunkEventSink:
    """Writes events for one input stanza into the stream of a ``splunklib.modularinput.EventWriter``.

    The bytes are exactly those ``EventWriter.write_event`` produces (each event's framing is rendered
    once by splunklib's own Event, with ElementTree), but without building an element tree per event
    and flushing after each one: serialising a page of events costs a fraction of that, and the one
    flush per page comes before the page's checkpoint, which is all the checkpoint needs.
    """

    def __init__(self, writer: Any, stanza: str, index: Optional[str] = None, host: Optional[str] = None) -> None:
        self._writer = writer
        self._out = writer._out
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
        if not self._writer.header_written:
            self._out.write("<stream>")
            self._writer.header_written = True
        # splunklib serialises as US-ASCII: markup characters escaped, others as character references.
        body = escape(data)
        if not body.isascii():
            body = body.encode("ascii", "xmlcharrefreplace").decode("ascii")
        if time_ms is None:
            self._out.write(between + body + tail)
        else:
            # splunkd reads <time> as seconds with up to three decimals.
            self._out.write(f"{before}{time_ms // 1000}.{time_ms % 1000:03d}{between}{body}{tail}")

    def flush(self) -> None:
        self._out.flush()
