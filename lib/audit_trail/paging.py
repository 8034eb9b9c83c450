"""Cursors for listings a source pages through by offset, or walks back through by end time.

Offset paging over rows ordered by time is exact only if rows with equal times come back in the same order on
every request and nothing is inserted behind the cursor; neither is promised by APIs that keep no record ids.
So the next page starts where the last page's final unit of time began: that unit is listed again in full in
one response (the engine counts it afresh), and a next page that starts with a row of another time shows
that the listing moved under the cursor (the engine then reads the window again).

Walking back is for APIs that return only the newest rows of a range: the next request ends at the oldest
row returned, so the oldest unit of time comes back whole in the next batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .source import ASCENDING, DESCENDING, Window


@dataclass(frozen=True)
class OffsetCursor:
    """Where the next page starts, and the unit of time expected first on it (None: no relisting)."""

    offset: int
    boundary_ms: Optional[int] = None


@dataclass(frozen=True)
class OffsetStep:
    """What one page of an offset listing means: which rows are new to this listing, and where to go next."""

    keep_from: int  # rows before this index are repeats of rows already listed (the listing shifted)
    next_cursor: Optional[OffsetCursor]
    relisted: Optional[Window]
    moved: bool
    oversized_tie: bool  # the whole page is one unit of time: it cannot be relisted in one request


def offset_step(cursor: Optional[OffsetCursor], times: Sequence[Optional[int]], order: str,
                unit_ms: int) -> OffsetStep:
    """Interprets a page of an offset listing whose rows have ``times`` (each already cut to ``unit_ms``).

    An empty page is the end of the listing: a short page is not, since an API may clamp the page size.
    """
    offset = cursor.offset if cursor is not None else 0
    boundary = cursor.boundary_ms if cursor is not None else None
    if not times:
        return OffsetStep(0, None, None, False, False)
    keep_from = 0
    moved = False
    relisted = None
    if boundary is not None:
        relisted = Window(boundary, boundary + unit_ms - 1)
        # Rows before the boundary unit are rows already listed, pushed here by rows inserted behind the cursor.
        while keep_from < len(times) and _before(times[keep_from], boundary, order):
            keep_from += 1
        first = times[keep_from] if keep_from < len(times) else None
        moved = keep_from > 0 or first != boundary
    last = times[-1]
    trailing = 0
    for value in reversed(times):
        if value != last:
            break
        trailing += 1
    if last is None or order not in (ASCENDING, DESCENDING) or trailing == len(times):
        return OffsetStep(keep_from, OffsetCursor(offset + len(times)), relisted, moved,
                          trailing == len(times) and len(times) > 1)
    return OffsetStep(keep_from, OffsetCursor(offset + len(times) - trailing, last), relisted, moved, False)


def _before(value: Optional[int], boundary: int, order: str) -> bool:
    if value is None:
        return False
    return value < boundary if order == ASCENDING else value > boundary


def walk_back(window: Window, batch_end_ms: int, requested_end_ms: int, oldest_ms: Optional[int], rows: int,
              cap: int, unit_ms: int) -> Tuple[Optional[int], Window, Optional[Window]]:
    """The next end time of a listing walked back newest first, and what the current batch relists.

    ``batch_end_ms`` is the end this batch was planned with, ``requested_end_ms`` the (possibly wider) end the
    request actually covered: every row up to it is listed afresh, so it is all relisted. A batch holding fewer
    rows than ``cap`` reached the start of the range: the walk ends. One holding the cap may have been cut
    inside its oldest unit of time, so the next batch ends there and lists that unit again. Returns the next
    end (None: done), the relisted range, and the range the walk cannot reach (a single unit of time holding
    more rows than the cap stops it), if any.
    """
    relisted = Window(window.start_ms, max(batch_end_ms, requested_end_ms))
    if rows < cap or oldest_ms is None or oldest_ms < window.start_ms:
        return None, relisted, None
    next_end = oldest_ms + unit_ms - 1
    if next_end >= batch_end_ms:
        # The whole batch is one unit of time and holds the cap: walking back cannot get past it.
        return None, relisted, Window(window.start_ms, oldest_ms + unit_ms - 1)
    return next_end, relisted, None


def cut_times(times: List[Optional[int]], unit_ms: int) -> List[Optional[int]]:
    return [t - t % unit_ms if t is not None else None for t in times]
