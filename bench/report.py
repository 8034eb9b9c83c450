"""The one table ``make bench`` prints: figure, target, measured, and whether the target is met."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence


@dataclass(frozen=True)
class Figure:
    name: str
    target: str
    measured: str
    met: bool


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table, so the same text reads well in a terminal and pastes into the README."""
    rows: List[Sequence[str]] = [("figure", "target", "measured", "result")]
    rows += [(f.name, f.target, f.measured, "pass" if f.met else "MISS") for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    lines = [line(rows[0]), "|" + "|".join("-" * (width + 2) for width in widths) + "|"]
    lines += [line(row) for row in rows[1:]]
    return "\n".join(lines)
