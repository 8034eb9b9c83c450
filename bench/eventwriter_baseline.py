"""The CPU baseline: splunklib's EventWriter alone, writing given events to stdout.

Run by bench/run.py on Splunk's Python, exactly like the input::

    python eventwriter_baseline.py <app lib dir> <events.jsonl>

Each line of the file is one event as the input wrote it (data, time, stanza, source, sourcetype, index,
host); they are written through ``EventWriter.write_event`` as ``Event`` objects with the same fields, so
the output is the input's stream byte for byte.
"""

import json
import sys


def main(lib_dir: str, events_path: str) -> int:
    sys.path.insert(0, lib_dir)
    from splunklib.modularinput import Event, EventWriter

    writer = EventWriter()
    with open(events_path, encoding="utf-8") as handle:
        for line in handle:
            fields = json.loads(line)
            writer.write_event(Event(
                data=fields["data"], stanza=fields["stanza"], time=fields["time"], index=fields["index"],
                host=fields["host"], source=fields["source"], sourcetype=fields["sourcetype"], done=True,
                unbroken=True,
            ))
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
