"""Reading the app's .conf files with a Splunk conf parser, plus the mistakes such parsers let through.

Values come from addonfactory-splunk-conf-parser-lib (the parser Splunk's add-on tooling uses). Splunk
joins a line ending in a backslash with the next one, keeping the newline; the parser keeps the
backslash, so read_conf() turns "\\\n" back into the newline Splunk sees.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

from addonfactory_splunk_conf_parser_lib import TABConfigParser

APP_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = APP_ROOT / "default"

Conf = Dict[str, Dict[str, str]]

_CONTINUATION = re.compile(r"\\\n[ \t]*")
_STANZA = re.compile(r"^\[(?P<name>.+)\]\s*$")
_SETTING = re.compile(r"^(?P<key>[^=\s][^=]*?)\s*=")


def read_conf(path: Path) -> Conf:
    """Returns {stanza: {setting: value}} as Splunk would see the file."""
    parser = TABConfigParser()
    with path.open(encoding="utf-8") as handle:
        parser.read_file(handle)
    return {
        stanza: {key: _CONTINUATION.sub("\n", value) for key, value in settings.items()}
        for stanza, settings in parser.item_dict().items()
    }


def default_conf(name: str) -> Conf:
    """Reads default/<name>.conf."""
    return read_conf(DEFAULT_DIR / f"{name}.conf")


def hygiene_problems(path: Path) -> List[str]:
    """Problems a lenient parser hides: duplicates, stray lines, and values it would cut short.

    Splunk keeps the last of two identical settings and merges repeated stanzas, so a duplicate is
    almost always an edit that silently lost. The parser also cuts a value at " ;", which Splunk does not.
    """
    problems: List[str] = []
    stanza = None
    seen_stanzas: Dict[str, int] = {}
    seen_keys: Dict[str, int] = {}
    continued = False
    raw = path.read_bytes()
    if b"\r" in raw:
        problems.append(f"{path.name}: carriage returns; use LF line ends")
    for number, line in enumerate(raw.decode("utf-8").split("\n"), start=1):
        where = f"{path.name}:{number}"
        was_continued, continued = continued, line.endswith("\\")
        if was_continued:
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0].isspace():
            problems.append(f"{where}: starts with whitespace (the parser would glue it to the previous value)")
            continue
        header = _STANZA.match(line)
        if header:
            stanza = header.group("name")
            if stanza in seen_stanzas:
                problems.append(f"{where}: stanza [{stanza}] repeated (first at line {seen_stanzas[stanza]})")
            seen_stanzas[stanza] = number
            seen_keys = {}
            continue
        setting = _SETTING.match(line)
        if not setting:
            problems.append(f"{where}: neither a stanza, a setting nor a comment")
            continue
        if stanza is None:
            problems.append(f"{where}: setting outside any stanza")
        key = setting.group("key")
        if key in seen_keys:
            problems.append(f"{where}: {key} repeated in [{stanza}] (first at line {seen_keys[key]})")
        seen_keys[key] = number
        if " ;" in line or "\t;" in line:
            problems.append(f"{where}: ' ;' in a value; the conf parser would drop everything after it")
    return problems


def setting_names(conf: Conf) -> Dict[str, List[str]]:
    """{stanza: [setting, ...]} for checks against the .conf.spec files."""
    return {stanza: sorted(settings) for stanza, settings in conf.items()}
