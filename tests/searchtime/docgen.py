"""The generated tables of docs/search-time.md, built from props.conf, the lookup CSV and event types.

The documentation must say what the confs do, so its tables are derived from them and a test compares.
After changing the confs, rewrite the tables with:  PYTHONPATH=tests python -m searchtime.docgen --write
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

from . import cim, spl_eval
from .conf import APP_ROOT, Conf, default_conf
from .lookup import parse_lookup_setting
from .pipeline import parse_fieldalias

DOC = APP_ROOT / "docs" / "search-time.md"
AUDIT = "ringcentral:audit"
_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.DOTALL
)

#: One line per output field: what it means for an analyst. Kept here so the table is complete.
NOTES: Dict[str, str] = {
    "action": "created, modified, deleted, lockout, unlocked (Change); success, failure (Authentication)",
    "app": "constant",
    "change_type": "`AAA` for user accounts, `configuration` otherwise",
    "cim_dataset": "All_Changes, Account_Management or Authentication: what the event types key on",
    "command": "the RingCentral action id, e.g. CHANGE_USER_ROLE",
    "dest": "the RingCentral account, `ringcentral:<accountId>`",
    "dvc": "same as dest",
    "object": "target name (user, company, template, site)",
    "object_attrs": "keys of details.parameters, e.g. oldRoleName, newRoleName; absent when the record has none",
    "object_category": "`user` for user accounts (exactly the Account_Management rows), else setting, company, "
    "template or other",
    "object_id": "target.objectId; `0` for company-level changes",
    "result": "`lockout` for locked accounts (CIM Account_Lockouts)",
    "severity": "informational, low, medium or high, per action",
    "signature": "the RingCentral action id",
    "src": "client IP; absent when the record has no clientIp",
    "src_user": "who performed the change (the initiator)",
    "status": "constant: the record describes an operation that took place",
    "user": "the target extension for changes to it and for logins; otherwise the initiator",
    "vendor_account": "RingCentral account id",
    "vendor_product": "constant",
}


def _ordered_fields(node: spl_eval.Node) -> List[str]:
    if node.kind == "field":
        return [str(node.value)]
    seen: List[str] = []
    for arg in node.args:
        for name in _ordered_fields(arg):
            if name not in seen:
                seen.append(name)
    return seen


def field_sources(props: Conf) -> List[Tuple[str, str, str]]:
    """(field, source, mechanism) for every alias, calculated field and lookup output of ringcentral:audit."""
    stanza = props[AUDIT]
    rows: List[Tuple[str, str, str]] = []
    for key, value in sorted(stanza.items()):
        if key.startswith("FIELDALIAS-"):
            rows += [(target, f"`{source}`", "alias") for source, target in parse_fieldalias(value)]
        elif key.startswith("EVAL-"):
            tree = spl_eval.parse(value)
            names = _ordered_fields(tree)
            # A constant has no source field: show the literal instead.
            source = ", ".join(f"`{name}`" for name in names) if names else f"`{value.strip()}`"
            rows.append((key[len("EVAL-"):], source, "eval"))
        elif key.startswith("LOOKUP-"):
            transform, inputs, _, outputs = parse_lookup_setting(value)
            source = ", ".join(f"`{event_field}`" for _, event_field in inputs)
            rows += [(target, source, f"lookup `{transform}`") for _, target in outputs]
    return sorted(rows)


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def cim_table(props: Conf) -> str:
    """Markdown: CIM field, data sets, source field(s), mechanism, meaning."""
    lines = [
        _row(["Field", "CIM data sets", "From", "How", "Notes"]),
        _row(["---"] * 5),
    ]
    for name, source, how in field_sources(props):
        datasets = ", ".join(cim.field_datasets(name)) or "(add-on field)"
        lines.append(_row([f"`{name}`", datasets, source, how, NOTES.get(name, "")]))
    return "\n".join(lines) + "\n"


def lookup_table(csv_path: Path) -> str:
    """Markdown: the action lookup's rows, in match order."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    lines = [_row([f"`{column}`" for column in header]), _row(["---"] * len(header))]
    lines += [_row([f"`{cell}`" if cell else " " for cell in row]) for row in body]
    return "\n".join(lines) + "\n"


def eventtype_table(eventtypes: Conf, tags: Conf) -> str:
    """Markdown: event type, what it matches beyond the macro and sourcetype, tags, data model."""
    lines = [_row(["Event type", "Matches", "Tags", "Data model"]), _row(["---"] * 4)]
    for name, settings in eventtypes.items():
        condition = settings["search"].replace("`ringcentral_audit_index`", "").replace(
            'sourcetype="ringcentral:audit"', ""
        ).strip()
        enabled = sorted(t for t, state in tags.get(f"eventtype={name}", {}).items() if state == "enabled")
        models = sorted({cim.TAG_MODEL[t] for t in enabled if t in cim.TAG_MODEL})
        lines.append(_row([f"`{name}`", f"`{condition}`", ", ".join(enabled), ", ".join(models)]))
    return "\n".join(lines) + "\n"


def generated_blocks() -> Dict[str, str]:
    """{block name: markdown} for every generated block of the document."""
    props = default_conf("props")
    return {
        "cim-table": cim_table(props),
        "lookup-table": lookup_table(APP_ROOT / "lookups" / "ringcentral_audit_actions.csv"),
        "eventtype-table": eventtype_table(default_conf("eventtypes"), default_conf("tags")),
    }


def document_blocks(text: str) -> Dict[str, str]:
    """{block name: body} of the generated blocks found in a document."""
    return {match.group("name"): match.group("body") for match in _BLOCK.finditer(text)}


def rewrite(text: str, blocks: Dict[str, str]) -> str:
    """The document with each generated block's body replaced."""
    return _BLOCK.sub(lambda m: m.group(1) + blocks[m.group("name")] + m.group(4), text)


def main(argv: List[str]) -> int:
    """Prints the blocks, or with --write updates them in docs/search-time.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update docs/search-time.md in place")
    args = parser.parse_args(argv)
    blocks = generated_blocks()
    if not args.write:
        for name, body in blocks.items():
            sys.stdout.write(f"## {name}\n{body}\n")
        return 0
    text = DOC.read_text(encoding="utf-8")
    missing = set(blocks) - set(document_blocks(text))
    if missing:
        sys.stderr.write(f"{DOC}: no generated block for {sorted(missing)}\n")
        return 1
    DOC.write_text(rewrite(text, blocks), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
