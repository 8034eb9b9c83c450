"""Where events go: splunklib's XML event stream, behind a small protocol the collector writes to."""

from __future__ import annotations

from typing import Any, Optional, Protocol


class EventSink(Protocol):
    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        """Writes one event; ``time_ms`` None lets Splunk assign the time."""
        ...

    def flush(self) -> None:
        """Returns once every written event has left the process."""
        ...


class SplunkEventSink:
    """Writes events for one input stanza through ``splunklib.modularinput.EventWriter``."""

    def __init__(self, writer: Any, stanza: str, index: Optional[str] = None, host: Optional[str] = None) -> None:
        from splunklib.modularinput import Event

        self._event = Event
        self._writer = writer
        self._stanza = stanza
        self._index = index or None
        self._host = host or None

    def write(self, data: str, time_ms: Optional[int], sourcetype: str) -> None:
        event = self._event(
            data=data,
            stanza=self._stanza,
            # splunkd reads <time> as seconds with up to three decimals.
            time=None if time_ms is None else f"{time_ms // 1000}.{time_ms % 1000:03d}",
            index=self._index,
            host=self._host,
            source=self._stanza,
            sourcetype=sourcetype,
            done=True,
            unbroken=True,
        )
        self._writer.write_event(event)

    def flush(self) -> None:
        # Event.write_to flushes after every event; flushing the stream again makes the promise
        # explicit for the checkpoint that follows.
        self._writer._out.flush()
