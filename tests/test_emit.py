"""The event sink writes exactly the stream splunklib's EventWriter writes, with fewer flushes."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))

from splunklib.modularinput import Event, EventWriter

from audit_trail.emit import SplunkEventSink

EVENTS: List[Tuple[str, Optional[int], str]] = [
    ('{"id":"1","name":"Lena Müller","note":"a < b & c > d"}', 1722941419442, "ringcentral:audit"),
    ('{"quote":"say \\"hi\\"","emoji":"\U0001F512","cdata":"]]>"}', 1722941419005, "ringcentral:audit"),
    ('{"id":"no-time"}', None, "ringcentral:audit"),
    ('{"input":"prod","status":"complete"}', 1722941420000, "ringcentral:audit:collection"),
    ("{}", 7, "ringcentral:audit"),
]


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.mark.parametrize(("stanza", "index", "host"), [
    ("ringcentral_audit://prod", "rc_audit", "hf-1"),
    ('ringcentral_audit://a "quoted" & <odd> name', None, None),
])
def test_sink_writes_the_same_bytes_as_event_writer(stanza: str, index: Optional[str], host: Optional[str]) -> None:
    expected_out = io.StringIO()
    reference = EventWriter(output=expected_out, error=io.StringIO())
    for data, time_ms, sourcetype in EVENTS:
        reference.write_event(Event(data=data, stanza=stanza,
                                    time=None if time_ms is None else f"{time_ms // 1000}.{time_ms % 1000:03d}",
                                    index=index, host=host, source=stanza, sourcetype=sourcetype))
    reference.close()

    out = CountingStream()
    writer = EventWriter(output=out, error=io.StringIO())
    sink = SplunkEventSink(writer, stanza, index=index, host=host)
    for data, time_ms, sourcetype in EVENTS:
        sink.write(data, time_ms, sourcetype)
    sink.flush()
    writer.close()
    assert out.getvalue() == expected_out.getvalue()
    assert out.flushes <= 2  # ours and close(); EventWriter flushes after every event


def test_sink_starts_the_stream_once_even_after_other_writes() -> None:
    out = io.StringIO()
    writer = EventWriter(output=out, error=io.StringIO())
    writer.write_event(Event(data="first", stanza="s://x"))
    SplunkEventSink(writer, "s://x").write("second", 1000, "st")
    writer.close()
    assert out.getvalue().count("<stream>") == 1 and out.getvalue().endswith("</stream>")
