"""The generated tables of the documentation, built from the shipped confs, lookups and input spec.

The documentation must say what the confs do, so every table that restates them is derived from them and
a test compares. A document holds a table between ``<!-- BEGIN GENERATED: <name> -->`` and
``<!-- END GENERATED: <name> -->``. After changing a conf, a lookup or the spec, rewrite every document with:
``python tools/merge_readme.py`` (or ``PYTHONPATH=tests python -m searchtime.docgen --write``).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from . import cim, spl_eval
from .conf import APP_ROOT, Conf, default_conf, read_conf
from .lookup import parse_lookup_setting
from .pipeline import parse_fieldalias

DOCS = APP_ROOT / "docs"
README = APP_ROOT / "README.md"
_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED: (?P=name) -->)", re.DOTALL
)
SOURCES = {"ringcentral": "ringcentral:audit", "liveperson": "liveperson:audit", "resolver": "resolver:audit"}

#: One line per output field, per source: what it means for an analyst. A test keeps them complete.
NOTES: Dict[str, Dict[str, str]] = {
    "ringcentral": {
        "action": "created, modified, deleted, lockout, unlocked (Change); success, failure (Authentication)",
        "app": "constant",
        "change_type": "`AAA` for user accounts, `configuration` otherwise",
        "cim_dataset": "All_Changes, Account_Management or Authentication: what the event types key on",
        "classified_by": "how the lookup knew the id: published, confirmed, guess, pattern, event_type, catch_all",
        "command": "the RingCentral action id, e.g. CHANGE_USER_ROLE",
        "dest": "the RingCentral account, `ringcentral:<accountId>`",
        "dvc": "same as dest",
        "input_name": "the input that collected the record (from `source`)",
        "object": "target name (user, company, template, site)",
        "object_attrs": "keys of details.parameters, e.g. oldRoleName, newRoleName; absent when the record has none",
        "object_category": "`user` for user accounts (exactly the Account_Management rows), else setting, company, "
        "template or other",
        "object_id": "target.objectId; `0` for company-level changes",
        "rc_action_key": "the lookup key: actionId, or `none` when the record has none",
        "rc_event_type_key": "the lookup key: eventType, or `none` when the record has none",
        "result": "`lockout` for locked accounts (CIM Account_Lockouts)",
        "severity": "informational, low, medium or high, per action",
        "signature": "the RingCentral action id",
        "src": "client IP; absent when the record has no clientIp",
        "src_user": "who acted (the initiator's display name)",
        "src_user_id": "the initiator's extension id: stable across renames",
        "src_user_type": "the initiator's role, e.g. Super Admin; admin roles make logins `privileged`",
        "status": "constant: the record describes an operation that took place",
        "user": "the target extension for changes to it and for logins; otherwise the initiator (display name)",
        "user_id": "the extension id of `user`: stable across renames",
        "vendor_account": "RingCentral account id",
        "vendor_product": "constant",
    },
    "liveperson": {
        "action": "created, modified or deleted: from actionType, else by rule (see the action lookup)",
        "change_type": "`AAA` for users, profiles and permissions, `configuration` otherwise",
        "cim_dataset": "All_Changes, or Account_Management for objectType Users",
        "classified_by": "how the action lookup decided: published, confirmed, guess, rule, catch_all",
        "command": "objectType and actionType, e.g. `Users: edit`",
        "dest": "the LivePerson account, `liveperson:<accountId>`",
        "dvc": "same as dest",
        "input_name": "the input that collected the row (from `source`)",
        "lp_action_type_key": "the lookup key: actionType, or `none` when the row has none",
        "lp_element_key": "the lookup key: element, or `none`",
        "lp_object_type_key": "the lookup key: objectType, or `none`",
        "lp_value_change": "added, removed, changed or none: what oldValue and newValue say",
        "new_value": "newValue (absent when empty)",
        "object": "objectName (else objectType)",
        "object_attrs": "the element changed; absent for changes of the whole object (`N/A`)",
        "object_category": "user, role, skill, group, campaign, content, schedule, ... by objectType",
        "object_classified_by": "how the object lookup knew the objectType: published, confirmed, catch_all",
        "old_value": "oldValue (absent when empty)",
        "result": "actionType as sent (edit, add new, delete)",
        "severity": "low or medium, per action",
        "src_user": "originator: who made the change",
        "src_user_id": "originatorUserId",
        "src_user_name": "originatorLoginName",
        "src_user_type": "`LivePerson staff` when originatorIsLpa is true, else `account user`",
        "status": "constant: every row is a change that took place",
        "user": "the user changed (objectName) for objectType Users; otherwise the originator",
        "user_agent": "originatorUserAgent",
        "vendor_account": "LivePerson account (site) id",
        "vendor_product": "constant",
    },
    "resolver": {
        "action": "created, modified, deleted or started (impersonations), by Event",
        "change_type": "`AAA` for users, groups, roles and keys, `configuration` otherwise",
        "cim_dataset": "All_Changes, or Account_Management for user subjects",
        "classified_by": "how the lookup knew the Event: published, confirmed, guess, pattern, catch_all",
        "command": "the Event",
        "dest": "`resolver:<input name>`: rows do not name the organisation, the input stands for it",
        "dvc": "same as dest",
        "input_name": "the input that collected the row (from `source`)",
        "new_value": "the New Value column, where the export has it",
        "object": "the Subject",
        "object_category": "user, group, role, ip authorization or other, by Event",
        "old_value": "the Previous Value column, where the export has it",
        "result": "impersonation, impersonation refused, api key created, ...: the Event's outcome",
        "rs_event_key": "the lookup key: Event, or `none`",
        "severity": "low, medium or high, per Event",
        "src_user": "Performed By, as written (`External Org User` for another organisation's events)",
        "status": "`failure` for refused impersonations, else `success`",
        "user": "the Subject for user events (users, impersonations, API keys, passwords); else Performed By",
        "user_id": "the Subject's External Reference ID, for user events",
        "vendor_product": "constant",
    },
}


def code(text: str) -> str:
    """Markdown inline code that survives backticks inside (macro references)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"


def _table(header: List[str], rows: List[List[str]]) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]) + "\n"


def _ordered_fields(node: spl_eval.Node) -> List[str]:
    if node.kind == "field":
        return [str(node.value)]
    seen: List[str] = []
    for arg in node.args:
        for name in _ordered_fields(arg):
            if name not in seen:
                seen.append(name)
    return seen


def field_sources(props: Conf, sourcetype: str) -> List[Tuple[str, str, str]]:
    """(field, source, mechanism) for every alias, calculated field and lookup output of a sourcetype."""
    rows: List[Tuple[str, str, str]] = []
    for key, value in sorted(props[sourcetype].items()):
        if key.startswith("FIELDALIAS-"):
            rows += [(target, f"`{source}`", "alias") for source, target in parse_fieldalias(value)]
        elif key.startswith("EVAL-"):
            names = _ordered_fields(spl_eval.parse(value))
            # A constant has no source field: show the literal instead.
            source = ", ".join(f"`{name}`" for name in names) if names else f"`{value.strip()}`"
            rows.append((key[len("EVAL-"):], source, "eval"))
        elif key.startswith("LOOKUP-"):
            transform, inputs, _, outputs = parse_lookup_setting(value)
            source = ", ".join(f"`{event_field}`" for _, event_field in inputs)
            rows += [(target, source, f"lookup `{transform}`") for _, target in outputs]
    return sorted(rows)


def cim_table(props: Conf, vendor: str) -> str:
    """Markdown: field, CIM data sets, source field(s), mechanism, meaning."""
    rows = []
    for name, source, how in field_sources(props, SOURCES[vendor]):
        datasets = ", ".join(cim.field_datasets(name)) or "(add-on field)"
        rows.append([f"`{name}`", datasets, source, how, NOTES[vendor].get(name, "")])
    return _table(["Field", "CIM data sets", "From", "How", "Notes"], rows)


def lookup_table(csv_path: Path) -> str:
    """Markdown: a lookup's rows, in match order."""
    with csv_path.open(encoding="utf-8", newline="") as handle:
        header, *body = list(csv.reader(handle))
    return _table([f"`{column}`" for column in header], [[f"`{cell}`" if cell else " " for cell in row]
                                                         for row in body])


def eventtype_table(eventtypes: Conf, tags: Conf) -> str:
    """Markdown: event type, its search, tags, data model."""
    rows = []
    for name, settings in eventtypes.items():
        enabled = sorted(t for t, state in tags.get(f"eventtype={name}", {}).items() if state == "enabled")
        models = sorted({cim.TAG_MODEL[t] for t in enabled if t in cim.TAG_MODEL})
        rows.append([f"`{name}`", code(settings["search"]), ", ".join(enabled), ", ".join(models)])
    return _table(["Event type", "Search", "Tags", "Data model"], rows)


def macro_table(macros: Conf) -> str:
    rows = [[f"`{name}`", code(settings["definition"]), settings.get("description", "")]
            for name, settings in macros.items()]
    return _table(["Macro", "Shipped definition", "What it is for"], rows)


def _schedule(settings: Dict[str, str]) -> str:
    if settings.get("enableSched") != "1":
        return "report (run on demand)"
    minutes = re.match(r"^\*/(\d+) ", settings["cron_schedule"])
    text = f"every {minutes.group(1)} min" if minutes else settings["cron_schedule"]
    if settings.get("realtime_schedule") == "0":
        text += ", continuous"
    if "dispatch.index_earliest" in settings:
        span = settings["dispatch.index_earliest"] + " to " + settings["dispatch.index_latest"]
        text += f"; events indexed {span}"
    return text


def saved_search_table(searches: Conf) -> str:
    rows = []
    for name, settings in searches.items():
        throttle = (f"{settings['alert.suppress.period']} per `{settings['alert.suppress.fields']}`"
                    if settings.get("alert.suppress") == "1" else "")
        rows.append([name, _schedule(settings), settings["description"], throttle])
    return _table(["Alert or report", "Schedule", "What it finds", "Throttle"], rows)


def sourcetype_table(props: Conf) -> str:
    rows = []
    for stanza, settings in props.items():
        if stanza.startswith("source::"):
            continue
        if "DATETIME_CONFIG" in settings:
            time = "when the input wrote it (sent as <time>)"
        elif "TIME_PREFIX" in settings:
            prefix = settings["TIME_PREFIX"]
            fmt = code(settings["TIME_FORMAT"]) if "TIME_FORMAT" in settings else "recognised automatically"
            time = f"after {code(prefix)}, format {fmt}, zone {settings.get('TZ', 'of the reading instance')}"
        else:
            time = "index time"
        rows.append([f"`{stanza}`", settings.get("description", ""), time, f"`{settings.get('KV_MODE', 'auto')}`"])
    return _table(["Source type", "What it holds", "`_time`", "Automatic extraction"], rows)


# Settings Splunk applies where data is parsed (heavy forwarder, or the indexers for data from a universal
# forwarder); the rest apply on search heads.
_PARSING = ("CHARSET", "SHOULD_LINEMERGE", "LINE_BREAKER", "TRUNCATE", "TIME_PREFIX", "TIME_FORMAT",
            "MAX_TIMESTAMP_LOOKAHEAD", "TZ", "DATETIME_CONFIG", "sourcetype")


def parsing_table(props: Conf) -> str:
    rows = []
    for stanza, settings in props.items():
        parsing = [key for key in settings if key in _PARSING]
        search = sorted({re.sub(r"-.*", "-*", key) for key in settings if key not in _PARSING and key not in (
            "description", "category", "pulldown_type")})
        rows.append([f"`{stanza}`", ", ".join(f"`{k}`" for k in parsing) or "none",
                     ", ".join(f"`{k}`" for k in search) or "none"])
    return _table(["Stanza", "Applied where data is parsed", "Applied on search heads"], rows)


def input_table(spec: Path, defaults: Conf, scheme: str) -> str:
    """Markdown: an input's settings, their defaults and meaning, from README/inputs.conf.spec."""
    text = spec.read_text(encoding="utf-8")
    section = re.search(rf"^\[{scheme}://<name>\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
    rows = []
    for match in re.finditer(r"^(\w+) = <(\w+)>\n((?:\*.*\n?)*)", section, re.M):
        name, kind, body = match.groups()
        lines = [line[1:].strip() for line in body.splitlines()]
        default = next((line[len("Default:"):].strip() for line in lines if line.startswith("Default:")), "")
        default = defaults.get(scheme, {}).get(name, default) or "(none)"
        meaning = " ".join(line for line in lines if not line.startswith("Default:"))
        if kind == "password" and "storage/passwords" not in meaning:
            meaning += " A secret: kept in storage/passwords, masked in the stanza."
        rows.append([f"`{name}`", code(default) if default != "(none)" else default, meaning])
    rows.append(["`interval`", f"`{defaults.get(scheme, {}).get('interval', '')}`",
                 "Seconds between runs (Splunk's own setting), as are `index` and `host`."])
    return _table(["Setting", "Default", "Meaning"], rows)


def input_schemes(spec: Path) -> List[str]:
    return re.findall(r"^\[(\w+)://<name>\]", spec.read_text(encoding="utf-8"), re.M)


def permissions_table(meta: Path) -> str:
    rows = []
    stanza = None
    settings: Dict[str, Dict[str, str]] = {}
    for line in meta.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\[(.*)\]\s*$", line)
        if header:
            stanza = header.group(1)
            settings[stanza] = {}
        elif "=" in line and not line.startswith("#") and stanza is not None:
            key, value = line.split("=", 1)
            settings[stanza][key.strip()] = value.strip()
    for name, values in settings.items():
        rows.append([f"`[{name}]`", f"`{values['access']}`" if "access" in values else "as `[]`",
                     f"`{values.get('export', 'as []')}`"])
    return _table(["Objects", "Access", "Export"], rows)


def generated_blocks() -> Dict[str, str]:
    """{block name: markdown} for every table the documentation may hold."""
    props = default_conf("props")
    spec = APP_ROOT / "README" / "inputs.conf.spec"
    inputs = read_conf(APP_ROOT / "default" / "inputs.conf")
    blocks: Dict[str, Callable[[], str]] = {
        "sourcetypes": lambda: sourcetype_table(props),
        "parsing": lambda: parsing_table(props),
        "eventtypes": lambda: eventtype_table(default_conf("eventtypes"), default_conf("tags")),
        "macros": lambda: macro_table(default_conf("macros")),
        "saved-searches": lambda: saved_search_table(default_conf("savedsearches")),
        "permissions": lambda: permissions_table(APP_ROOT / "metadata" / "default.meta"),
    }
    for vendor in SOURCES:
        blocks[f"cim-{vendor}"] = lambda vendor=vendor: cim_table(props, vendor)
    for path in sorted((APP_ROOT / "lookups").glob("*.csv")):
        blocks[f"lookup-{path.stem}"] = lambda path=path: lookup_table(path)
    for scheme in input_schemes(spec):
        blocks[f"inputs-{scheme}"] = lambda scheme=scheme: input_table(spec, inputs, scheme)
    return {name: build() for name, build in blocks.items()}


def documents() -> List[Path]:
    """README.md and every Markdown file under docs/."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def document_blocks(text: str) -> Dict[str, str]:
    """{block name: body} of the generated blocks found in a document."""
    return {match.group("name"): match.group("body") for match in _BLOCK.finditer(text)}


def rewrite(text: str, blocks: Dict[str, str]) -> str:
    """The document with each generated block's body replaced (an unknown block is left as it is)."""
    return _BLOCK.sub(lambda m: m.group(1) + blocks.get(m.group("name"), m.group("body")) + m.group(4), text)


def write_all() -> List[Path]:
    """Rewrites every document's generated blocks; returns the documents that changed."""
    blocks = generated_blocks()
    changed = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, blocks)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: List[str]) -> int:
    """Prints the blocks, or with --write updates them in every document."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="update README.md and docs/**/*.md in place")
    args = parser.parse_args(argv)
    if not args.write:
        for name, body in generated_blocks().items():
            sys.stdout.write(f"## {name}\n{body}\n")
        return 0
    for path in write_all():
        sys.stdout.write(f"updated {path.relative_to(APP_ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
