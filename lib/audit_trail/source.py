"""The contract between the engine and an audit API: what a source can do, and the values that pass between them.

The engine asks a source for one page of a time window at a time, handing back the opaque cursor the
previous page returned (a page number, an offset, the next export's end date: whatever the API pages by).
A source declares what its API can and cannot do in :class:`Capabilities`; the engine plans windows,
filters rows to them, drops what was already written and decides when to read again around that.
A new audit API is one module in ``audit_trail.sources`` implementing :class:`AuditSource`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional, Protocol, Tuple

#: How an API orders a listing by record time.
ASCENDING = "ascending"
DESCENDING = "descending"
UNORDERED = "unordered"
ORDERS = (ASCENDING, DESCENDING, UNORDERED)

#: What a total reported with a page is worth.
TOTALS_EXACT = "exact"  # every match of the search, consistent from page to page
TOTALS_ABSENT = "absent"
TOTALS_UNRELIABLE = "unreliable"  # sent, but may count only the page, or be stuck: never planned on
TOTALS = (TOTALS_EXACT, TOTALS_ABSENT, TOTALS_UNRELIABLE)

#: What to do with a window holding more than one search returns.
AT_CAP_SPLIT = "split"  # the engine halves the window until each half fits
AT_CAP_CONTINUE = "continue"  # the source's cursor goes on past the cap (e.g. from the oldest row returned)
AT_CAP = (AT_CAP_SPLIT, AT_CAP_CONTINUE)

MS = 1
SECOND_MS = 1000
DAY_MS = 86_400_000

Record = Dict[str, Any]


@dataclass(frozen=True)
class Window:
    """A closed time range ``[start_ms, end_ms]`` of record times, in epoch milliseconds."""

    start_ms: int
    end_ms: int

    @property
    def width_ms(self) -> int:
        return self.end_ms - self.start_ms

    def contains(self, time_ms: int) -> bool:
        return self.start_ms <= time_ms <= self.end_ms

    def split(self, resolution_ms: int = 1) -> Tuple[Window, Window]:
        """Two halves meeting on a ``resolution_ms`` boundary and sharing that unit of time, so that whether
        the API's bounds are inclusive or exclusive, no record falls between them (repeats are dropped)."""
        middle = self.start_ms + (self.end_ms - self.start_ms) // 2
        middle -= middle % resolution_ms
        return Window(self.start_ms, middle + resolution_ms), Window(middle, self.end_ms)


@dataclass(frozen=True)
class Capabilities:
    """What an audit API can and cannot do; the engine plans around it.

    ``bound_resolution_ms``: the finest unit the search bounds are given in (1 ms, 1 s, a whole day); a source
    widens the window it is asked for to those units, and the engine filters rows back to the window.
    ``time_resolution_ms``: the unit of the times records carry; the engine never reads a unit that is still
    open, and re-reads a unit on both sides of a page boundary when one request can hold it (bounds at least
    that fine) and the source does not relist it itself.
    ``max_results``: the most rows one search returns (None: no cap), and ``at_cap`` what to do at it.
    ``max_records_kept``: the most records the API keeps at all, when documented: a search totalling that
    many already reaches every record there is. ``retention_seconds``: how far back the API holds records.
    ``processing_delay_seconds``: how late records become visible (the default settle time).
    ``max_window_seconds``: see below.
    """

    bound_resolution_ms: int = MS
    time_resolution_ms: int = MS
    order: str = UNORDERED
    totals: str = TOTALS_ABSENT
    max_results: Optional[int] = None
    at_cap: str = AT_CAP_SPLIT
    max_page_size: int = 1000
    max_records_kept: Optional[int] = None
    retention_seconds: Optional[float] = None
    processing_delay_seconds: float = 0.0
    # The widest window worth reading in one go: a backfill is read as consecutive windows of at most this
    # width, each checkpointed when done, so a run that ends on its deadline has still made progress (None:
    # no limit, for APIs whose per-search cap already bounds a window's work).
    max_window_seconds: Optional[float] = None

    def __post_init__(self) -> None:
        if self.order not in ORDERS or self.totals not in TOTALS or self.at_cap not in AT_CAP:
            msg = f"unknown capability value in {self!r}"
            raise ValueError(msg)
        if min(self.bound_resolution_ms, self.time_resolution_ms, self.max_page_size) < 1:
            msg = "resolutions and page size must be positive"
            raise ValueError(msg)

    @property
    def ties_isolable(self) -> bool:
        """Whether one request can ask for exactly one unit of record time."""
        return self.bound_resolution_ms <= self.time_resolution_ms


@dataclass(frozen=True)
class RateInfo:
    """Rate-limit state the API reported with a response (None where it sent no header)."""

    limit: Optional[int] = None
    remaining: Optional[int] = None
    window_seconds: Optional[float] = None
    group: str = ""


@dataclass
class Page:
    """One response of a listing.

    ``records``: the rows as the API sent them, in its order; any iterable, read once (a source may stream a
    large export through it). ``next_cursor``: what to pass back for the next page, None at the end of the
    listing; only the source decides the end. ``total``: the matches of the whole search, when reported.
    ``relisted``: rows whose time lies in this range are listed again here in full (a re-read across a page
    boundary, or an export walked back to the oldest row's time): they are counted afresh, so identical rows
    already counted on earlier pages of this listing are not taken for new copies. ``moved``: the listing
    changed under the cursor (rows inserted behind it, pages vanished); the engine reads the window again.
    ``unreachable``: a range of this window the listing cannot reach (e.g. one second holding more rows than an
    export returns), reported as a gap.
    """

    records: Iterable[Any]
    next_cursor: Any = None
    total: Optional[int] = None
    relisted: Optional[Window] = None
    moved: bool = False
    unreachable: Optional[Window] = None
    rate: RateInfo = field(default_factory=RateInfo)
    requests: int = 1  # requests the source made for this page (an export job is several)


class AuditSource(Protocol):
    """An audit API, seen by the engine."""

    name: str
    sourcetype: str
    capabilities: Capabilities
    page_size: int  # rows to ask for per request, as configured (at most ``capabilities.max_page_size``)
    # Small JSON values the source keeps across runs (a proven setting, a pending export job); the engine
    # assigns the checkpoint's dict before the run and saves it with the checkpoint.
    memory: Dict[str, Any]
    # Fields that can be large (free text, before/after values), written last in each event so the small
    # identifying fields stay within Splunk's automatic extraction limits. Optional.
    bulky_fields: Tuple[str, ...]

    def fetch(self, window: Window, cursor: Any, page_size: int) -> Page:
        """Returns the page at ``cursor`` (None: the first) of the records whose time lies in ``window``.

        May return rows outside the window (coarse bounds); the engine drops them. Raises RateLimited,
        RetriableSourceError, AuthenticationError or FatalSourceError.
        """
        ...

    def record_id(self, record: Record) -> Optional[str]:
        """The record's stable unique id, or None if the API gives records none (they are keyed by content)."""
        ...

    def record_time_ms(self, record: Record) -> Optional[int]:
        """The record's time in epoch ms, or None if it is missing or unreadable."""
        ...

    def check_access(self) -> None:
        """Proves the credentials work with one cheap request (used when an admin saves an input)."""
        ...

    def close(self) -> None:
        """Releases connections; called once at the end of a run."""
        ...
