"""Sample rows that stand in for the searches when the shipped dashboards are drawn offline.

Each dashboard's own searches run over the demo data set (``demo_events``: every source's events pushed
through the app's props, transforms and lookups) with a small SPL emulator (``tests/searchtime/spl_search``),
the inputs at their defaults and the picture's time range, 30 days. The rows are therefore exactly what
the shipped searches return from the shipped confs: a search that names a field nothing produces shows
up as an empty column or panel, and the render check fails on it.

Run ``python3 tests/dashboards/sample_rows.py`` after changing a dashboard search, the confs or the demo
data; ``test_sample_rows.py`` fails while the committed files differ from what this writes.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.dashboards.demo_events import CREATED, NOW, UTC, all_events, iso_ms  # noqa: E402
from tests.searchtime.conf import default_conf  # noqa: E402
from tests.searchtime.search_expr import EventTypes  # noqa: E402
from tests.searchtime.spl_search import Search  # noqa: E402
from tests.searchtime.studio import StudioView  # noqa: E402

HERE = Path(__file__).resolve().parent
VIEWS_DIR = REPO / "default" / "data" / "ui" / "views"
# What the picture's time picker shows: the whole demo instead of the dashboards' default 24 hours.
TOKENS = {"global_time.earliest": "-30d@d", "global_time.latest": "now"}
SEARCH_TYPES = {"ds.search", "ds.savedSearch", "ds.chain"}
_TOKEN = re.compile(r"\$([\w.]+)\$")


def day_buckets() -> List[float]:
    first = datetime(CREATED.year, CREATED.month, CREATED.day, tzinfo=UTC)
    return [(first + timedelta(days=i)).timestamp() for i in range((NOW - first).days + 1)]


def token_defaults(definition: Dict[str, Any]) -> Dict[str, str]:
    """Every input's default value, keyed by its token (what a reader sees before choosing anything)."""
    values = {}
    for item in definition.get("inputs", {}).values():
        options = item.get("options", {})
        if "token" in options and item["type"] != "input.timerange":
            values[options["token"]] = str(options.get("defaultValue", ""))
    return values


def _cell(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        return round(value, 3)
    return value


def view_rows(view: StudioView, search: Search, events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """{data source id: {fields, rows}} for one dashboard, plus the picture's tokens."""
    defaults = token_defaults(view.definition)
    out: Dict[str, Any] = {"@tokens": TOKENS}
    for ds_id, source in view.data_sources().items():
        if source["type"] not in SEARCH_TYPES:
            continue
        query = _TOKEN.sub(lambda m: defaults[m.group(1)], source["options"]["query"])
        fields, rows = search(query, events)
        table = []
        for row in rows:
            cells = [_cell(row.get(name)) for name in fields]
            if "_time" in fields:
                cells[fields.index("_time")] = iso_ms(datetime.fromtimestamp(float(row["_time"]), tz=UTC))
            table.append(cells)
        out[ds_id] = {"fields": fields, "rows": table}
    return out


def all_rows() -> Dict[str, Dict[str, Any]]:
    """Rows per dashboard (view name -> rows file content)."""
    events = all_events()
    search = Search(EventTypes(default_conf("eventtypes"), default_conf("macros")), NOW.timestamp(), day_buckets())
    views = [StudioView.read(path) for path in sorted(VIEWS_DIR.glob("*.xml"))]
    return {view.name: view_rows(view, search, events) for view in views}


def dumps(content: Dict[str, Any]) -> str:
    """JSON with one table row per line, so a review diff shows which rows changed."""
    parts = []
    for key, value in content.items():
        if "rows" in value:
            rows = ",\n".join(f"      {json.dumps(row, ensure_ascii=False)}" for row in value["rows"])
            names = json.dumps(value["fields"], ensure_ascii=False)
            body = (f'{{\n    "fields": {names},\n    "rows": [\n{rows}\n    ]\n  }}'
                    if rows else f'{{"fields": {names}, "rows": []}}')
        else:
            body = json.dumps(value, ensure_ascii=False)
        parts.append(f"  {json.dumps(key)}: {body}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    for stale in HERE.glob("*.rows.json"):
        stale.unlink()
    for view, content in all_rows().items():
        path = HERE / f"{view}.rows.json"
        path.write_text(dumps(content), encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
