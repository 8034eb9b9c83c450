"""Rebuilds every generated table in README.md and docs/**/*.md from the shipped confs (rerun after editing them).

The tables (CIM fields, lookups, event types, macros, alerts, input settings, permissions, parsing) are
written by tests/searchtime/docgen.py between ``<!-- BEGIN GENERATED: name -->`` markers; tests/test_docs.py
fails while a document holds a table that differs from what the confs say.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from searchtime import docgen

    for path in docgen.write_all():
        print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
