"""What ``make bench`` prints: per source, one table (figure, target, measured, whether the target is met) and
the notes that say what its cells are made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence


@dataclass(frozen=True)
class Figure:
    name: str
    target: str
    measured: str
    met: bool


@dataclass
class Section:
    """One source's results. ``skipped`` says why there are none (the input is not in the package)."""

    title: str
    figures: List[Figure] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    samples: Dict[str, Any] = field(default_factory=dict)
    skipped: Optional[str] = None
    seconds: float = 0.0


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table, so the same text reads well in a terminal and pastes into docs/performance.md."""
    rows: List[Sequence[str]] = [("figure", "target", "measured", "result")]
    rows += [(f.name, f.target, f.measured, "pass" if f.met else "MISS") for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    lines = [line(rows[0]), "|" + "|".join("-" * (width + 2) for width in widths) + "|"]
    lines += [line(row) for row in rows[1:]]
    return "\n".join(lines)


def render(section: Section) -> str:
    head = f"### {section.title}"
    if section.skipped is not None:
        return f"{head}\n\nNot measured: {section.skipped}"
    notes = "\n".join(f"- {line}" for line in section.notes)
    return f"{head}\n\n{table(section.figures)}\n\n{notes}"
