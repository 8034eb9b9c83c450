"""What the engine needs from an audit source, and the values that pass between them.

A source turns one page request into records; the engine owns windows, paging, dedup, pacing and
checkpoints. A new audit API (LivePerson, Resolver) is a new module in ``audit_trail.sources``
implementing :class:`AuditSource`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol


@dataclass(frozen=True)
class Window:
    """A closed time range ``[start_ms, end_ms]`` of record times, in epoch milliseconds."""

    start_ms: int
    end_ms: int

    @property
    def splittable(self) -> bool:
        return self.width_ms >= 3

    def split(self) -> tuple[Window, Window]:
        """Two smaller windows sharing their middle milliseconds, so that whether the API's bounds are
        inclusive or exclusive, no millisecond falls between them (repeats are dropped by id)."""
        middle = self.start_ms + (self.end_ms - self.start_ms) // 2
        return Window(self.start_ms, middle + 1), Window(middle, self.end_ms)

    @property
    def width_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class RateInfo:
    """Rate-limit state the API reported with a response (None where it sent no header)."""

    limit: Optional[int] = None
    remaining: Optional[int] = None
    window_seconds: Optional[float] = None
    group: str = ""


@dataclass
class Page:
    """One page of a search: the records as the API sent them, and its paging totals."""

    records: List[Any]
    total_pages: Optional[int] = None
    total_found: Optional[int] = None
    per_page: Optional[int] = None  # the page size the API applied, which may be below the one asked for
    rate: RateInfo = field(default_factory=RateInfo)


@dataclass(frozen=True)
class SourceLimits:
    """What the API can give back, which the engine plans windows around."""

    retention_seconds: float
    max_results_per_search: int
    max_page_size: int
    # The most records the API keeps in all, if it documents one. When that is no more than one search
    # returns, a search totalling the cap already reaches every record there is: splitting it would
    # only spend requests. None: unknown, so a total at the cap may hide more and the window is split.
    max_records_kept: Optional[int] = None


class AuditSource(Protocol):
    """An audit API, seen by the engine."""

    name: str
    sourcetype: str
    limits: SourceLimits

    def search(self, window: Window, page: int, per_page: int) -> Page:
        """Returns page ``page`` (1-based) of the records whose time lies in ``window``.

        Raises RateLimited, RetriableSourceError, AuthenticationError or FatalSourceError.
        """
        ...

    def record_id(self, record: Dict[str, Any]) -> Optional[str]:
        """The record's stable unique id, or None if the record has none."""
        ...

    def record_time_ms(self, record: Dict[str, Any]) -> Optional[int]:
        """The record's event time in epoch ms, or None if it is missing or unreadable."""
        ...

    def check_access(self) -> None:
        """Proves the credentials work with one cheap request (used when an admin saves an input)."""
        ...

    def close(self) -> None:
        """Releases connections; called once at the end of a run."""
        ...
