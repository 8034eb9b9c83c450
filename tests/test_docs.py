"""README.md carries the generated and measured documentation fragments verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["search-time", "dashboards", "performance"])
def test_readme_carries_each_fragment_verbatim(name: str) -> None:
    fragment = ROOT / "docs" / f"{name}.md"
    readme = (ROOT / "README.md").read_text()
    assert fragment.exists(), f"docs/{name}.md is missing"
    assert f"<!-- {name} -->\n{fragment.read_text().strip()}\n<!-- /{name} -->" in readme, (
        f"README.md's {name} section differs from docs/{name}.md: run `python tools/merge_readme.py`")


def test_readme_images_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for line in readme.splitlines():
        if "](docs/images/" in line:
            path = line.split("](", 1)[1].split(")", 1)[0]
            assert (ROOT / path).exists(), path
