"""A file-based (CSV) lookup as an automatic lookup applies it: match_type, case sensitivity, max_matches.

Rows are tried in file order and the first max_matches matching rows win; that is how Splunk orders
matches of a non-temporal lookup, and what the add-on's wildcard fallback rows rely on.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Pattern, Sequence, Tuple

_MATCH_TYPE = re.compile(r"(WILDCARD|CIDR|EXACT)\(\s*([^)\s]+)\s*\)")


@dataclass
class CsvLookup:
    columns: List[str]
    rows: List[Dict[str, str]]
    wildcard_fields: Tuple[str, ...] = ()
    case_sensitive: bool = True
    max_matches: int = 1000
    _patterns: List[Dict[str, Pattern[str]]] = field(default_factory=list, repr=False)

    @classmethod
    def from_transform(cls, stanza: Dict[str, str], lookups_dir: Path) -> CsvLookup:
        """Builds the lookup a transforms.conf stanza defines (filename, match_type, ...)."""
        path = lookups_dir / stanza["filename"]
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = [dict(row) for row in reader]
        wildcard = []
        for kind, name in _MATCH_TYPE.findall(stanza.get("match_type", "")):
            if kind == "CIDR":
                raise ValueError("CIDR match_type is not emulated")
            if kind == "WILDCARD":
                wildcard.append(name)
        lookup = cls(
            columns=columns,
            rows=rows,
            wildcard_fields=tuple(wildcard),
            case_sensitive=stanza.get("case_sensitive_match", "true").lower() in ("1", "true", "t", "yes"),
            max_matches=int(stanza.get("max_matches", "1000")),
        )
        lookup._compile()
        return lookup

    def _compile(self) -> None:
        flags = 0 if self.case_sensitive else re.IGNORECASE
        self._patterns = []
        for row in self.rows:
            compiled = {}
            for name, cell in row.items():
                if name in self.wildcard_fields:
                    body = ".*".join(re.escape(part) for part in cell.split("*"))
                else:
                    body = re.escape(cell)
                compiled[name] = re.compile(f"^{body}$", flags | re.DOTALL)
            self._patterns.append(compiled)

    def matches(self, inputs: Dict[str, Optional[str]], limit: Optional[int] = None) -> List[Dict[str, str]]:
        """Rows matching every input field, in file order, at most ``limit`` (default max_matches) of them.

        An event that lacks one of the input fields matches nothing, as in Splunk. Pass limit=0 for
        every matching row, which is what a reverse lookup considers.
        """
        if any(value is None for value in inputs.values()):
            return []
        limit = self.max_matches if limit is None else limit
        found = []
        for row, patterns in zip(self.rows, self._patterns):
            if all(patterns[name].match(str(value)) for name, value in inputs.items()):
                found.append(row)
                if limit and len(found) >= limit:
                    break
        return found

    def first(self, inputs: Dict[str, Optional[str]]) -> Optional[Dict[str, str]]:
        """The row an automatic lookup with max_matches = 1 applies, or None."""
        rows = self.matches(inputs)
        return rows[0] if rows else None


def parse_lookup_setting(value: str) -> Tuple[str, List[Tuple[str, str]], str, List[Tuple[str, str]]]:
    """Splits a props LOOKUP- value into (transform, [(lookup col, event field)], mode, [(col, event field)]).

    Grammar (props.conf.spec): $TRANSFORM (<match_field> (AS <event_field>)?)+
    (OUTPUT|OUTPUTNEW (<output_field> (AS <event_field>)?)+)?
    """
    words = value.split()
    transform, rest = words[0], words[1:]
    mode = ""
    for keyword in ("OUTPUT", "OUTPUTNEW"):
        if keyword in rest:
            mode = keyword
            position = rest.index(keyword)
            inputs, outputs = rest[:position], rest[position + 1:]
            break
    else:
        inputs, outputs = rest, []
    return transform, _pairs(inputs), mode, _pairs(outputs)


def _pairs(words: Sequence[str]) -> List[Tuple[str, str]]:
    pairs: List[Tuple[str, str]] = []
    index = 0
    while index < len(words):
        name = words[index]
        if index + 2 < len(words) and words[index + 1].upper() == "AS":
            pairs.append((name, words[index + 2]))
            index += 3
        else:
            pairs.append((name, name))
            index += 1
    return pairs
