"""Search-time field extraction for one event, in Splunk's order, driven by props.conf and transforms.conf.

Order (Splunk docs, "Search time operation sequence"): EXTRACT, REPORT, KV_MODE, FIELDALIAS, EVAL, LOOKUP.
Each EVAL sees only the fields that existed before the EVAL step (calculated fields are independent),
and lookups see the EVAL results. Only the settings the add-on uses are emulated; anything else raises,
so a new kind of setting cannot pass unchecked.

Automatic JSON extraction reads only the start of an event: limits.conf ``[spath] extraction_cutoff``
(5,000 bytes by default) and ``[kv] maxchars`` (10,240 characters). The smaller of the two decides, and
members that end past it are not extracted; regex extractions (EXTRACT, REPORT) see the whole event.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple, Union

from . import spl_eval
from .conf import Conf
from .lookup import CsvLookup, parse_lookup_setting

FieldValue = Union[str, List[str]]
Fields = Dict[str, FieldValue]

_AUTO_KV = re.compile(r'(?<![\w.])([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^\s"|]+)')
_METADATA = {"index", "source", "sourcetype", "host", "splunk_server", "linecount", "punct"}
_FORMAT_PAIR = re.compile(r"^(?P<key>.*?)::(?P<value>.*)$")
# Index-time and descriptive settings; they do not take part in search-time extraction.
_NOT_SEARCH_TIME = {
    "description", "category", "pulldown_type", "CHARSET", "SHOULD_LINEMERGE", "LINE_BREAKER", "TRUNCATE",
    "TIME_PREFIX", "TIME_FORMAT", "MAX_TIMESTAMP_LOOKAHEAD", "TZ", "DATETIME_CONFIG", "sourcetype",
}


#: limits.conf defaults: [spath] extraction_cutoff (bytes) and [kv] maxchars (characters).
SPATH_EXTRACTION_CUTOFF = 5000
KV_MAXCHARS = 10240

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_SCANSTRING = json.decoder.scanstring  # type: ignore[attr-defined]


def _cutoff_index(raw: str, cutoff_bytes: Optional[int], max_chars: Optional[int]) -> int:
    """How many characters of raw automatic extraction reads."""
    end = len(raw)
    if max_chars is not None:
        end = min(end, max_chars)
    if cutoff_bytes is not None and len(raw[:end].encode("utf-8")) > cutoff_bytes:
        end = len(raw.encode("utf-8")[:cutoff_bytes].decode("utf-8", errors="ignore"))
    return end


class _JsonLeaves:
    """Walks a JSON text and yields (name, value, end offset) for every scalar, in document order."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.leaves: List[Tuple[str, str, int]] = []

    def parse(self) -> List[Tuple[str, str, int]]:
        end = self._value(_JSON_SPACE.match(self.text, 0).end(), "")
        if _JSON_SPACE.match(self.text, end).end() != len(self.text):
            raise ValueError("trailing data after the JSON document")
        return self.leaves

    def _value(self, pos: int, name: str) -> int:
        char = self.text[pos:pos + 1]
        if char == "{":
            return self._object(pos + 1, name)
        if char == "[":
            return self._array(pos + 1, name)
        if char == '"':
            value, end = _SCANSTRING(self.text, pos + 1, True)
            self.leaves.append((name, value, end))
            return end
        for literal, shown in (("true", "true"), ("false", "false"), ("null", None)):
            if self.text.startswith(literal, pos):
                if shown is not None:
                    self.leaves.append((name, shown, pos + len(literal)))
                return pos + len(literal)
        number = _JSON_NUMBER.match(self.text, pos)
        if not number:
            raise ValueError(f"not JSON at offset {pos}")
        self.leaves.append((name, number.group(), number.end()))
        return number.end()

    def _object(self, pos: int, name: str) -> int:
        pos = _JSON_SPACE.match(self.text, pos).end()
        if self.text.startswith("}", pos):
            return pos + 1
        while True:
            key, pos = _SCANSTRING(self.text, _JSON_SPACE.match(self.text, pos).end() + 1, True)
            pos = _JSON_SPACE.match(self.text, pos).end()
            if not self.text.startswith(":", pos):
                raise ValueError(f"expected ':' at offset {pos}")
            pos = self._value(_JSON_SPACE.match(self.text, pos + 1).end(), f"{name}.{key}" if name else key)
            pos = _JSON_SPACE.match(self.text, pos).end()
            if self.text.startswith("}", pos):
                return pos + 1
            if not self.text.startswith(",", pos):
                raise ValueError(f"expected ',' or '}}' at offset {pos}")
            pos += 1

    def _array(self, pos: int, name: str) -> int:
        pos = _JSON_SPACE.match(self.text, pos).end()
        if self.text.startswith("]", pos):
            return pos + 1
        while True:
            pos = self._value(_JSON_SPACE.match(self.text, pos).end(), name + "{}")
            pos = _JSON_SPACE.match(self.text, pos).end()
            if self.text.startswith("]", pos):
                return pos + 1
            if not self.text.startswith(",", pos):
                raise ValueError(f"expected ',' or ']' at offset {pos}")
            pos += 1


def flatten_json(
    raw: str, cutoff_bytes: Optional[int] = None, max_chars: Optional[int] = None
) -> Dict[str, List[str]]:
    """Field names and values KV_MODE = json gives a JSON event: a.b for objects, a{} for arrays.

    Numbers keep their JSON spelling; null members produce no field. With a cutoff, only values that end
    within the first ``cutoff_bytes`` bytes and ``max_chars`` characters are extracted, as Splunk does.
    """
    limit = _cutoff_index(raw, cutoff_bytes, max_chars)
    out: Dict[str, List[str]] = {}
    for name, value, end in _JsonLeaves(raw).parse():
        if end <= limit:
            out.setdefault(name, []).append(value)
    return out


def _single(values: List[str]) -> FieldValue:
    return values[0] if len(values) == 1 else list(values)


def _add(fields: Fields, name: str, value: str, multivalue: bool) -> None:
    existing = fields.get(name)
    if existing is None:
        fields[name] = value
    elif multivalue:
        fields[name] = ([*existing] if isinstance(existing, list) else [existing]) + [value]


def _clean_key(name: str) -> str:
    return re.sub(r"^[_0-9]+", "", re.sub(r"[^A-Za-z0-9]", "_", name))


def _truthy(value: Optional[str], default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "t", "yes", "y")


def apply_report(transform: Dict[str, str], fields: Fields) -> Dict[str, List[str]]:
    """Runs one REPORT transform (REGEX + FORMAT, or named groups) over its SOURCE_KEY.

    Returns only what this transform extracted, as {field: [values]}.
    """
    allowed = {"REGEX", "FORMAT", "MV_ADD", "CLEAN_KEYS", "SOURCE_KEY", "KEEP_EMPTY_VALS"}
    unknown = set(transform) - allowed
    if unknown:
        raise ValueError(f"transform settings not emulated: {sorted(unknown)}")
    source = fields.get(transform.get("SOURCE_KEY", "_raw"), "")
    text = source if isinstance(source, str) else "\n".join(source)
    regex = re.compile(spl_eval.pcre_to_python(transform["REGEX"]))
    clean = _truthy(transform.get("CLEAN_KEYS"), True)
    keep_empty = _truthy(transform.get("KEEP_EMPTY_VALS"), False)
    multivalue = _truthy(transform.get("MV_ADD"), False)
    out: Dict[str, List[str]] = {}
    for match in regex.finditer(text):
        pairs: List[Tuple[str, str]] = []
        if "FORMAT" in transform:
            # The template is split first: a captured value may itself contain spaces.
            for part in transform["FORMAT"].split():
                pair = _FORMAT_PAIR.match(part)
                if not pair:
                    raise ValueError(f"FORMAT part {part!r} is not key::value")
                pairs.append((_substitute(pair.group("key"), match), _substitute(pair.group("value"), match)))
        else:
            pairs = [(name, value) for name, value in match.groupdict().items() if value is not None]
        for name, value in pairs:
            if value == "" and not keep_empty:
                continue
            key = _clean_key(name) if clean else name
            if key in out and not multivalue:
                continue
            out.setdefault(key, []).append(value)
    return out


def _substitute(template: str, match: re.Match) -> str:
    return re.sub(r"\$(\d+)", lambda m: match.group(int(m.group(1))) or "", template)


def parse_fieldalias(value: str) -> List[Tuple[str, str]]:
    """'a AS b c AS d' -> [(a, b), (c, d)]."""
    words = value.split()
    if len(words) % 3 or any(word.upper() != "AS" for word in words[1::3]):
        raise ValueError(f"FIELDALIAS value not of the form 'a AS b ...': {value!r}")
    return list(zip(words[0::3], words[2::3]))


class SearchTime:
    """The search-time knowledge of one app: props, transforms and its lookups directory."""

    def __init__(
        self,
        props: Conf,
        transforms: Conf,
        lookups_dir: Path,
        json_cutoff_bytes: Optional[int] = SPATH_EXTRACTION_CUTOFF,
        kv_maxchars: Optional[int] = KV_MAXCHARS,
    ) -> None:
        self.props = props
        self.transforms = transforms
        self.lookups_dir = lookups_dir
        # Splunk's defaults; None reads the whole event (a search head whose limits were raised).
        self.json_cutoff_bytes = json_cutoff_bytes
        self.kv_maxchars = kv_maxchars
        self._lookups: Dict[str, CsvLookup] = {}

    def lookup(self, name: str) -> CsvLookup:
        """The CSV lookup a transforms.conf stanza defines, loaded once."""
        if name not in self._lookups:
            self._lookups[name] = CsvLookup.from_transform(self.transforms[name], self.lookups_dir)
        return self._lookups[name]

    def settings(self, sourcetype: str, prefix: str) -> List[Tuple[str, str]]:
        """(name, value) of the sourcetype stanza's settings whose class starts with prefix, in name order.

        Splunk applies same-type settings in ASCII order of their names, not file order.
        """
        stanza = self.props[sourcetype]
        return sorted((key, value) for key, value in stanza.items() if key.startswith(prefix))

    def check_supported(self, sourcetype: str) -> None:
        """Raises if the stanza uses a search-time setting this emulator does not implement."""
        known = ("EXTRACT-", "REPORT-", "FIELDALIAS-", "EVAL-", "LOOKUP-")
        for key in self.props[sourcetype]:
            if key in _NOT_SEARCH_TIME or key == "KV_MODE" or key.startswith(known):
                continue
            raise ValueError(f"[{sourcetype}] {key} is not emulated")

    def extract(self, raw: str, sourcetype: str, metadata: Optional[Dict[str, str]] = None) -> Fields:
        """All search-time fields of one event, as Splunk would produce them from this app's confs."""
        self.check_supported(sourcetype)
        fields: Fields = {"_raw": raw, "sourcetype": sourcetype}
        fields.update(metadata or {})
        self._extract(fields, sourcetype)
        self._report(fields, sourcetype)
        self._kv(fields, sourcetype)
        self._alias(fields, sourcetype)
        self._eval(fields, sourcetype)
        self._lookup(fields, sourcetype)
        return fields

    def _extract(self, fields: Fields, sourcetype: str) -> None:
        for _, regex in self.settings(sourcetype, "EXTRACT-"):
            if re.search(r"\sin\s+\w+$", regex):
                raise ValueError(f"[{sourcetype}] EXTRACT ... in <field> is not emulated")
            # props.conf.spec: Splunk puts (?ms) in front of every EXTRACT regex.
            match = re.search(spl_eval.pcre_to_python(regex), str(fields["_raw"]), re.MULTILINE | re.DOTALL)
            if match:
                for name, value in match.groupdict().items():
                    if value is not None:
                        fields.setdefault(name, value)

    def _report(self, fields: Fields, sourcetype: str) -> None:
        for _, names in self.settings(sourcetype, "REPORT-"):
            for name in (part.strip() for part in names.split(",")):
                for key, values in apply_report(self.transforms[name], fields).items():
                    for value in values:
                        _add(fields, key, value, multivalue=True)

    def _kv(self, fields: Fields, sourcetype: str) -> None:
        mode = self.props[sourcetype].get("KV_MODE", "auto").lower()
        found: Dict[str, List[str]] = {}
        if mode == "json":
            found = flatten_json(str(fields["_raw"]), self.json_cutoff_bytes, self.kv_maxchars)
        elif mode == "auto":
            for key, value in _AUTO_KV.findall(str(fields["_raw"])):
                if value.startswith('"'):
                    value = value[1:-1]
                found.setdefault(key, []).append(value)
        elif mode != "none":
            raise ValueError(f"KV_MODE {mode} is not emulated")
        for key, values in found.items():
            if key in _METADATA or key.startswith("_"):
                # Automatic extraction never overrides an event's own metadata fields.
                continue
            if key in fields:
                # Splunk would merge a second extraction of the same name into a multivalue field.
                raise ValueError(f"[{sourcetype}] {key} is extracted twice (by a transform and by KV_MODE)")
            fields[key] = _single(values)

    def _alias(self, fields: Fields, sourcetype: str) -> None:
        for _, value in self.settings(sourcetype, "FIELDALIAS-"):
            for source, target in parse_fieldalias(value):
                if source in fields:
                    fields[target] = fields[source]

    def _eval(self, fields: Fields, sourcetype: str) -> None:
        snapshot = dict(fields)
        results = {}
        for key, expression in self.settings(sourcetype, "EVAL-"):
            value = spl_eval.as_field(spl_eval.Evaluator(snapshot).evaluate(spl_eval.parse(expression)))
            results[key[len("EVAL-"):]] = value
        for name, value in results.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value

    def _lookup(self, fields: Fields, sourcetype: str) -> None:
        for _, setting in self.settings(sourcetype, "LOOKUP-"):
            transform, inputs, mode, outputs = parse_lookup_setting(setting)
            table = self.lookup(transform)
            values = {column: _scalar(fields.get(event_field)) for column, event_field in inputs}
            row = table.first(values)
            if row is None:
                continue
            for column, event_field in outputs or [(c, c) for c in table.columns if c not in values]:
                if mode == "OUTPUTNEW" and event_field in fields:
                    continue
                if row.get(column):
                    fields[event_field] = row[column]


def _scalar(value: Optional[FieldValue]) -> Optional[str]:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def source_glob_to_regex(pattern: str) -> re.Pattern:
    """A props.conf [source::...] pattern as a regex: '...' spans directories, '*' stays in one."""
    out = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("...", index):
            out.append(".*")
            index += 3
        elif pattern[index] == "*":
            out.append("[^/\\\\]*")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("^" + "".join(out) + "$")


def sourcetype_for_source(props: Conf, source: str) -> Optional[str]:
    """The sourcetype a [source::...] stanza assigns to a file path, if any."""
    for stanza, settings in props.items():
        is_source = stanza.startswith("source::") and "sourcetype" in settings
        if is_source and source_glob_to_regex(stanza[len("source::"):]).match(source):
            return settings["sourcetype"]
    return None


def split_events(stream: str, line_breaker: str) -> List[str]:
    """Breaks a stream into events the way LINE_BREAKER does: the first group is the discarded boundary."""
    regex = re.compile(spl_eval.pcre_to_python(line_breaker))
    events = []
    start = 0
    for match in regex.finditer(stream):
        events.append(stream[start:match.start(1)])
        start = match.end(1)
    events.append(stream[start:])
    return [event for event in events if event.strip()]


def read_lines(path: Path) -> Iterable[str]:
    """Non-empty lines of a sample file."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
