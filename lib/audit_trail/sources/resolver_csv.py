"""Reading a Resolver User Audit Trail export: a CSV file, streamed to a spool and never taken for whole when cut.

The export's header names and time format are not documented, so the file is read by header name: every
column is kept under the name it was exported with (a UTF-8 byte order mark stripped from the first), the
time column is "Date and Time" or "Time", and times are UTC in ISO or space-separated form, with or without
milliseconds.

A download is spooled (in memory up to a megabyte, then to an anonymous temporary file) and checked before any
row is handed on: the engine writes rows as it reads them, and the cursor of a walked-back export depends on
the whole file (how many rows it holds, and the oldest one's time). The spool is read a second time, row by
row, as the page's records, so a 50,000-row file is never held in memory.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from ..timefmt import parse_iso_ms

TIME_COLUMNS = ("Date and Time", "Time")
BOM = "\ufeff"
SPOOL_MEMORY_BYTES = 1 << 20
READ_BYTES = 64 * 1024

_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s*(Z|z|[+-]\d\d:?\d\d)?")
_EPOCH_ORDINAL = datetime(1970, 1, 1, tzinfo=timezone.utc).toordinal()
_DAYS: Dict[str, int] = {}


class IncompleteExport(Exception):
    """The file is not the whole export (cut short in transit, or ending inside a row)."""


class ExportFormatError(Exception):
    """The file is whole but is not an export this module can read (no time column)."""


def parse_time(text: str) -> Tuple[Optional[int], bool]:
    """The epoch milliseconds of an export time, and whether it carried a fraction of a second.

    Accepts ``2024-05-01T12:00:00Z``, ``2024-05-01T12:00:00``, ``2024-05-01 12:00:00``, each with an optional
    fraction; a time without an offset is UTC (exported files are UTC). Returns (None, False) for anything else,
    including a date without a time of day.
    """
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None, False
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset not in (None, "Z", "z"):
        try:
            return parse_iso_ms(text), fraction is not None
        except ValueError:
            return None, False
    date = text.strip()[:10]
    day_ms = _DAYS.get(date)
    if day_ms is None:
        try:
            day_ms = (datetime(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL) * 86_400_000
        except ValueError:
            return None, False
        if len(_DAYS) < 4096:
            _DAYS[date] = day_ms
    h, m, s = int(hour), int(minute), int(second)
    if h > 23 or m > 59 or s > 59:
        return None, False
    millis = int(fraction[:3].ljust(3, "0")) if fraction else 0
    return day_ms + ((h * 60 + m) * 60 + s) * 1000 + millis, fraction is not None


class Spool:
    """Bytes kept in memory up to ``limit``, then in an anonymous temporary file (gone when closed or on exit)."""

    def __init__(self, limit: int = SPOOL_MEMORY_BYTES) -> None:
        self._limit = limit
        self._file: IO[bytes] = io.BytesIO()
        self._on_disk = False
        self.size = 0
        self.last_byte = b""
        self.quotes = 0
        self.vouched = False  # the transport said how long the body is, and all of it came

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._on_disk and self.size + len(data) > self._limit:
            disk = tempfile.TemporaryFile()  # noqa: SIM115 - kept open until the spool is closed
            disk.write(self._file.getvalue())  # type: ignore[attr-defined]
            self._file = disk
            self._on_disk = True
        self._file.write(data)
        self.size += len(data)
        self.last_byte = data[-1:]
        self.quotes += data.count(b'"')

    def reader(self) -> IO[bytes]:
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        self._file.close()


def spool_body(chunks: Iterator[bytes], expected_length: Optional[int], body_read: Callable[[], int],
               limit: int = SPOOL_MEMORY_BYTES) -> Spool:
    """Copies a response body into a spool; raises IncompleteExport unless all of it arrived.

    ``expected_length`` is the Content-Length (None when the body was chunked), ``body_read`` how many bytes of
    the body came off the wire (before any content decoding): a connection closed early ends a body with a
    Content-Length without an error on some urllib3 versions, so the count is compared here.
    """
    spool = Spool(limit)
    try:
        for chunk in chunks:
            spool.write(chunk)
    except Exception as exc:  # noqa: BLE001 - whatever the transport raised, the body is not whole
        spool.close()
        msg = f"the download broke off ({type(exc).__name__})"
        raise IncompleteExport(msg) from None
    received = body_read()
    if expected_length is not None and received < expected_length:
        spool.close()
        msg = f"the download ended after {received} of {expected_length} bytes"
        raise IncompleteExport(msg)
    spool.vouched = expected_length is not None
    # A chunked body can be ended cleanly by a server that failed while writing it: without a length to check,
    # only a file that ends with a whole row, outside any quoted value (quotes come in pairs), is whole.
    if not spool.vouched and spool.size and (spool.last_byte not in (b"\n", b"\r") or spool.quotes % 2):
        spool.close()
        msg = "the download ended inside a row"
        raise IncompleteExport(msg)
    return spool


@dataclass
class ExportFile:
    """A checked export: its columns, the time column, and what the walk back needs to know about its rows.

    ``rows`` counts every data row; ``oldest_ms``/``newest_ms`` are the extreme times of the rows whose time
    could be read; ``millis`` tells whether any time carried milliseconds (the file's time resolution).
    """

    spool: Optional[Spool]
    columns: List[str]
    time_column: Optional[str]
    rows: int = 0
    oldest_ms: Optional[int] = None
    newest_ms: Optional[int] = None
    millis: bool = False

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def records(self, keep: Callable[[Optional[int]], bool],
                seen: Callable[[Dict[str, str], Optional[int]], None]) -> Iterator[Dict[str, str]]:
        """The rows as dicts keyed by column name, in the file's order, read once from the spool.

        Rows whose time ``keep`` refuses are skipped; ``seen(row, time_ms)`` is called before each row is
        yielded, so the caller can answer the engine's time lookup for it without parsing it again.
        """
        spool = self.spool
        if spool is None:
            return
        try:
            text = io.TextIOWrapper(spool.reader(), encoding="utf-8-sig", errors="replace", newline="")
            reader = _reader(text)
            next(reader, None)
            columns = self.columns
            width = len(columns)
            where = columns.index(self.time_column) if self.time_column is not None else -1
            for values in reader:
                if not values:
                    continue
                if any(NUL_STAND_IN in value for value in values):
                    values = [value.replace(NUL_STAND_IN, "\x00") for value in values]
                row = dict(zip(columns, values))
                if len(values) > width:
                    for extra in range(width, len(values)):
                        row[f"column {extra + 1}"] = values[extra]
                time_ms = parse_time(values[where])[0] if 0 <= where < len(values) else None
                if not keep(time_ms):
                    continue
                seen(row, time_ms)
                yield row
            text.detach()
        finally:
            self.close()


# Python 3.9's csv module refuses a line holding NUL ("line contains NUL"): whoever can put one in a display name
# would make the whole export unreadable, run after run. NUL goes through as a lone surrogate, which decoded UTF-8
# never contains, and is put back in the values.
NUL_STAND_IN = "\ud800"
# The csv module refuses a field over 128 KiB by default: one long "New Value" (a pasted certificate, a long
# list) would make the export unreadable run after run. A field can be as long as the file.
FIELD_LIMIT = 1 << 30


def _reader(lines: Iterable[str]) -> Any:
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    return csv.reader(_nul_safe(lines))


def _nul_safe(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield line.replace("\x00", NUL_STAND_IN) if "\x00" in line else line


def read_export(spool: Spool) -> ExportFile:
    """Checks a whole spooled file and measures its rows; the file stays open for :meth:`ExportFile.records`.

    Zero bytes and a header alone are both an empty export. Raises ExportFormatError when rows come without a
    time column, IncompleteExport when a file whose length nobody vouched for ends with a row that has fewer
    values than the header (cut inside a row, yet ending with a line break).
    """
    if spool.size == 0:
        spool.close()
        return ExportFile(None, [], None)
    text = io.TextIOWrapper(spool.reader(), encoding="utf-8-sig", errors="replace", newline="")
    try:
        reader = _reader(text)
        header = [name.replace(NUL_STAND_IN, "\x00") for name in next(reader, None) or []]
        columns = _unique([name.lstrip(BOM) if i == 0 else name for i, name in enumerate(header)])
        time_column = _time_column(columns)
        where = columns.index(time_column) if time_column is not None else -1
        export = ExportFile(spool, columns, time_column)
        last: List[str] = []
        oldest = newest = None
        millis = False
        rows = 0
        for values in reader:
            if not values:
                continue
            rows += 1
            last = values
            if where < 0 or where >= len(values):
                continue
            time_ms, fraction = parse_time(values[where])
            if time_ms is None:
                continue
            millis = millis or fraction
            if oldest is None or time_ms < oldest:
                oldest = time_ms
            if newest is None or time_ms > newest:
                newest = time_ms
        text.detach()
    except csv.Error as exc:
        spool.close()
        msg = f"the export is not readable CSV ({type(exc).__name__})"
        raise IncompleteExport(msg) from None
    if rows and time_column is None:
        spool.close()
        msg = "the export has no 'Date and Time' or 'Time' column"
        raise ExportFormatError(msg)
    if last and len(last) < len(columns) and not spool.vouched:
        spool.close()
        msg = "the export's last row is cut short"
        raise IncompleteExport(msg)
    export.rows, export.oldest_ms, export.newest_ms, export.millis = rows, oldest, newest, millis
    return export


def _time_column(columns: List[str]) -> Optional[str]:
    by_name = {name.strip().casefold(): name for name in columns}
    for wanted in TIME_COLUMNS:
        if wanted.casefold() in by_name:
            return by_name[wanted.casefold()]
    return None


def _unique(names: List[str]) -> List[str]:
    """Column names made unique, so that two columns of one name do not fold into one key."""
    seen: Dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name} ({count})")
    return out


def time_of(record: Any, time_column: Optional[str]) -> Optional[int]:
    """The time of a row dict, from ``time_column`` or, failing that, one of the known time columns."""
    if not isinstance(record, dict):
        return None
    value = record.get(time_column) if time_column is not None else None
    if value is None:
        for name in TIME_COLUMNS:
            if name in record:
                value = record[name]
                break
    return parse_time(value)[0] if isinstance(value, str) else None
