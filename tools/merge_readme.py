"""Puts each docs/<name>.md fragment into README.md at its `<!-- name -->` marker (rerun after editing them).

The fragments hold generated or measured content (CIM tables, dashboard panels, benchmark figures); tests
check them against the confs, and tests/test_docs.py checks README.md carries them verbatim.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAGMENTS = ("search-time", "dashboards", "performance")


def merge(readme: str) -> str:
    for name in FRAGMENTS:
        path = ROOT / "docs" / f"{name}.md"
        if not path.exists():
            continue
        body = path.read_text().strip()
        block = f"<!-- {name} -->\n{body}\n<!-- /{name} -->"
        pattern = re.compile(rf"<!-- {name} -->(?:.*?<!-- /{name} -->)?", re.S)
        readme = pattern.sub(lambda _m, block=block: block, readme, count=1)
    return readme


def main() -> None:
    readme = ROOT / "README.md"
    readme.write_text(merge(readme.read_text()))


if __name__ == "__main__":
    main()
