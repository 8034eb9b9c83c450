"""The per-window collection summary: what was read, what was written, and what the API could not give.

``status`` is complete, partial (failed after writing some records), failed, or stopped (the run used its
budget or deadline, or splunkd stopped it; the next run resumes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .source import Window
from .timefmt import format_iso_ms


@dataclass(frozen=True)
class Gap:
    """Records the API no longer returns: older than its retention, or past its per-search cap."""

    reason: str
    from_ms: int
    to_ms: int
    records_lost: Optional[int]

    def to_dict(self) -> Dict[str, Any]:
        return {"reason": self.reason, "from": format_iso_ms(self.from_ms), "to": format_iso_ms(self.to_ms),
                "records_lost": self.records_lost}


@dataclass
class WindowSummary:
    window: Window
    source_name: str  # the audit source's name; the summary event's "source_type" field, kept for 1.0.0 searches
    started_at: float
    finished_at: float = 0.0
    status: str = "running"
    pages: int = 0
    requests: int = 0
    records_emitted: int = 0
    total_found: Optional[int] = None
    duplicates_dropped: int = 0
    malformed_records: int = 0
    retries: int = 0
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0
    gaps: List[Gap] = field(default_factory=list)
    error: Optional[str] = None
    input_name: str = ""
    batches: Optional[int] = None  # export jobs the window needed, for sources whose pages are export batches

    @classmethod
    def start(cls, window: Window, source_name: str, now: float) -> WindowSummary:
        return cls(window=window, source_name=source_name, started_at=now)

    @property
    def window_from(self) -> str:
        return format_iso_ms(self.window.start_ms)

    @property
    def window_to(self) -> str:
        return format_iso_ms(self.window.end_ms)

    def carry_over(self, parent: WindowSummary) -> None:
        """Takes on what a window that was split found and spent before it was split."""
        self.started_at = min(self.started_at, parent.started_at)
        self.gaps.extend(parent.gaps)
        for counter in ("pages", "requests", "retries", "rate_limited", "rate_limit_wait_seconds"):
            setattr(self, counter, getattr(self, counter) + getattr(parent, counter))

    def finish(self, now: float, status: str, error: Optional[str] = None) -> None:
        self.finished_at = now
        self.status = status
        self.error = error

    def to_event(self) -> Dict[str, Any]:
        event: Dict[str, Any] = {
            "input": self.input_name,
            "source_type": self.source_name,
            "status": self.status,
            "window_from": self.window_from,
            "window_to": self.window_to,
            "pages": self.pages,
            "requests": self.requests,
            "records_emitted": self.records_emitted,
            "total_found": self.total_found,
            "duplicates_dropped": self.duplicates_dropped,
            "malformed_records": self.malformed_records,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 3),
            "gaps": [gap.to_dict() for gap in self.gaps],
            "lag_seconds": round(self.finished_at - self.window.end_ms / 1000.0, 3),
            "duration_seconds": round(self.finished_at - self.started_at, 3),
        }
        if self.batches is not None:
            event["batches"] = self.batches
        if self.error:
            event["error"] = self.error
        return event
