"""The documentation: built from the repository, current with the confs, linked, and covering what an
admin needs (issue 14, point 11), with README.md short and the developer commands near its top."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from searchtime import docgen  # noqa: E402
from searchtime.conf import default_conf  # noqa: E402

ADMIN = ROOT / "docs" / "admin"
ADMIN_PAGES = ("index", "install", "configure", "alerts", "dashboards", "operate", "troubleshooting", "reference",
               "release-notes")
_LINK = re.compile(r"\]\(([^)#\s]+)?(#[^)\s]+)?\)")


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def admin(page: str) -> str:
    return text(ADMIN / f"{page}.md")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    cleaned = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return cleaned.replace(" ", "-")


def anchors(path: Path) -> List[str]:
    return [slug(line.lstrip("#")) for line in text(path).splitlines() if line.startswith("#")]


# -- built from the repository ------------------------------------------------------------------------


def test_every_generated_table_matches_the_confs() -> None:
    blocks = docgen.generated_blocks()
    stale = []
    for path in docgen.documents():
        for name, body in docgen.document_blocks(text(path)).items():
            assert name in blocks, f"{path.name}: unknown generated block {name}"
            if body != blocks[name]:
                stale.append(f"{path.relative_to(ROOT)}: {name}")
    assert not stale, f"stale tables, run `python tools/merge_readme.py`: {stale}"


def test_every_table_the_confs_give_is_in_the_docs() -> None:
    present = {name for path in docgen.documents() for name in docgen.document_blocks(text(path))}
    assert set(docgen.generated_blocks()) <= present


def test_the_cim_tables_explain_every_field() -> None:
    props = default_conf("props")
    for vendor, sourcetype in docgen.SOURCES.items():
        names = {name for name, _, _ in docgen.field_sources(props, sourcetype)}
        assert names <= set(docgen.NOTES[vendor]), (vendor, sorted(names - set(docgen.NOTES[vendor])))
        assert set(docgen.NOTES[vendor]) <= names, (vendor, sorted(set(docgen.NOTES[vendor]) - names))


def test_a_generated_block_is_rewritten_and_an_unknown_one_kept() -> None:
    doc = "a\n<!-- BEGIN GENERATED: x -->\nold\n<!-- END GENERATED: x -->\n<!-- BEGIN GENERATED: y -->\nkeep\n" \
          "<!-- END GENERATED: y -->\n"
    new = docgen.rewrite(doc, {"x": "new\n"})
    assert docgen.document_blocks(new) == {"x": "new\n", "y": "keep\n"}


# -- README.md ----------------------------------------------------------------------------------------


def test_readme_is_short_and_keeps_the_two_setup_commands_near_its_top() -> None:
    readme = text(ROOT / "README.md")
    assert len(readme.encode()) < 8000
    top = "\n".join(readme.splitlines()[:20])
    assert "make test" in top and "make demo" in top


def test_readme_links_every_admin_page_and_the_developer_guide() -> None:
    readme = text(ROOT / "README.md")
    for page in ADMIN_PAGES[1:]:
        assert f"(docs/admin/{page}.md)" in readme, page
    assert "(docs/developer-guide.md)" in readme


def test_readme_txt_points_to_the_admin_guide_the_package_ships() -> None:
    readme_txt = text(ROOT / "README.txt")
    assert "docs/admin/index.md" in readme_txt
    for page in ADMIN_PAGES[1:]:
        assert f"{page}.md" in readme_txt, page


# -- links and pictures -------------------------------------------------------------------------------


def _documents() -> List[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    for target, anchor in _LINK.findall(text(path)):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        linked = (path.parent / target).resolve() if target else path
        assert linked.exists(), f"{path.name}: broken link {target}"
        if anchor and linked.suffix == ".md":
            assert anchor[1:] in anchors(linked), f"{path.name}: no heading for {target}{anchor}"


def test_every_dashboard_picture_is_shown_and_exists() -> None:
    shown = set(re.findall(r"\(\.\./images/([\w.-]+\.png)\)", admin("dashboards")))
    assert shown == {p.name for p in (ROOT / "docs" / "images").glob("*.png") if "classification" not in p.name}


def test_developer_guide_links_the_architecture_written_elsewhere() -> None:
    guide = text(ROOT / "docs" / "developer-guide.md")
    assert "(architecture.md)" in guide and (ROOT / "docs" / "architecture.md").exists()
    assert "(performance.md)" in guide


# -- what an admin needs -------------------------------------------------------------------------------

MUST_SAY: Dict[str, List[str]] = {
    "install": ["heavy forwarder", "Inputs Data Manager", "Victoria", "deployer", "search head cluster",
                "every member", "Where parsing happens", "ringcentral_audit_index", "liveperson_audit_index",
                "resolver_audit_index", "cim_Change_indexes", "Create an index"],
    "configure": ["local/inputs.conf", "deployment server", "storage/passwords", "JWT", "App key",
                  "Administrator", "no logins", "no sign-ins"],
    "operate": ["Disable every input", "local/", "storage/passwords", "ta_audit_trail_checkpoints", "KV store",
                "Rotate", "JWT", "Splunk Cloud", "new name", "audit_trail_retired_inputs", "overwritten"],
    "troubleshooting": ["component=ExecProcessor", "extraction_cutoff", "[kv] maxchars", "ta:audit_trail:log",
                        "Audit events outside the index macros"],
    "reference": ["UNCONFIRMED", "LOGIN_FAILED", "ACCOUNT_LOCKED", "*_LOCKED", "CHANGE_LOCKOUT_POLICY",
                  "classified_by", "user_id", "src_user_id", "local/transforms.conf", "Account_Lockouts",
                  "no logins", "Sign-ins are not"],
    "alerts": ["realtime_schedule = 0", "index time", "twice its interval", "throttle", "How soon",
               "Prove the alert once on a test user"],
    "release-notes": ["Known issues", "audit_trail_collection_health"],
}


@pytest.mark.parametrize("page", sorted(MUST_SAY))
def test_each_admin_page_covers_what_it_must(page: str) -> None:
    body = admin(page)
    missing = [needle for needle in MUST_SAY[page] if needle.lower() not in body.lower()]
    assert not missing, f"{page}.md does not mention {missing}"


def test_every_alert_has_a_runbook() -> None:
    alerts = admin("alerts")
    for name, settings in default_conf("savedsearches").items():
        if settings.get("enableSched") != "1":
            continue
        section = alerts.split(f"### {name}\n", 1)
        assert len(section) == 2, f"alerts.md has no section for {name}"
        assert "Runbook:" in section[1].split("\n### ", 1)[0], f"{name} has no runbook line"


def test_every_report_and_dashboard_is_described() -> None:
    alerts, dashboards = admin("alerts"), admin("dashboards")
    for name, settings in default_conf("savedsearches").items():
        if settings.get("enableSched") != "1":
            assert name in alerts, name
    for view in sorted((ROOT / "default" / "data" / "ui" / "views").glob("*.xml")):
        label = re.search(r"<label>(.*?)</label>", text(view)).group(1)
        assert f"## {label} (`{view.stem}`)" in dashboards, view.stem


def test_every_collection_summary_key_is_explained() -> None:
    import json

    reference = admin("reference")
    keys = {key for vendor in ("ringcentral", "liveperson", "resolver")
            for line in text(ROOT / "tests" / "samples" / f"{vendor}_audit_collection.jsonl").splitlines()
            for key in json.loads(line)}
    assert not [key for key in keys if f"`{key}`" not in reference]


def test_no_admin_page_claims_all_knowledge_is_search_time() -> None:
    for page in ADMIN_PAGES:
        assert "all knowledge is search-time" not in admin(page).lower(), page
