"""Evaluates the search language subset event types use, against one event's fields.

Supported: field=value and field!=value (quoted or not, * wildcards, values matched without regard to
case as Splunk does), field IN (v1, v2), eventtype=<name>, NOT, AND, OR, implicit AND, parentheses,
and `macro` expansion from macros.conf. Pipes, subsearches and anything else raise SearchSyntaxError:
Splunk forbids them in event types, and the tests must notice a search they cannot evaluate.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Set, Tuple, Union

FieldValue = Union[str, List[str]]
Fields = Dict[str, FieldValue]

_MACRO = re.compile(r"`([^`(]+)(?:\(([^`]*)\))?`")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\()
      | (?P<rparen>\))
      | (?P<comma>,)
      | (?P<term>[A-Za-z_][\w.{}:]*\s*(?:!=|=)\s*(?:"(?:[^"\\]|\\.)*"|[^\s()"]+))
      | (?P<word>"(?:[^"\\]|\\.)*"|[^\s(),"|\[\]]+)
      | (?P<bad>[|\[\]])
    )""",
    re.VERBOSE,
)


class SearchSyntaxError(ValueError):
    """The search is outside the subset event types may use."""


def expand_macros(search: str, macros: Dict[str, Dict[str, str]], depth: int = 0) -> str:
    """Replaces each `name` with its definition, recursively; an undefined macro raises."""
    if depth > 10:
        raise SearchSyntaxError("macro expansion nests too deeply")

    def replace(match: re.Match) -> str:
        name = match.group(1).strip()
        if match.group(2) is not None:
            raise SearchSyntaxError(f"macro arguments are not supported: {match.group(0)}")
        if name not in macros:
            raise SearchSyntaxError(f"undefined macro `{name}`")
        return "(" + expand_macros(macros[name]["definition"], macros, depth + 1) + ")"

    return _MACRO.sub(replace, search)


def _tokens(search: str) -> List[Tuple[str, str]]:
    tokens = []
    pos = 0
    search = search.strip()
    while pos < len(search):
        match = _TOKEN.match(search, pos)
        if not match:
            raise SearchSyntaxError(f"cannot read search at {search[pos:pos + 30]!r}")
        kind = match.lastgroup
        if kind == "bad":
            raise SearchSyntaxError(f"pipes and subsearches are not allowed here: {search!r}")
        tokens.append((str(kind), match.group(kind).strip()))
        pos = match.end()
        while pos < len(search) and search[pos].isspace():
            pos += 1
    return tokens


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return re.sub(r'\\(["\\])', r"\1", text[1:-1])
    return text


def value_matches(pattern: str, value: str) -> bool:
    """Splunk's field=value: whole-value, case-insensitive, * matches any run of characters."""
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.match(f"^{body}$", value, re.IGNORECASE | re.DOTALL) is not None


Predicate = Callable[[Fields], bool]


class _Parser:
    def __init__(self, tokens: List[Tuple[str, str]], eventtype: Callable[[str, Fields], bool]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.eventtype = eventtype
        self.fields_used: Set[str] = set()

    def peek(self) -> Optional[Tuple[str, str]]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def is_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1] in words

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise SearchSyntaxError(f"unexpected {self.peek()!r}")
        return predicate

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.is_word("OR"):
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda ev, ps=tuple(parts): any(p(ev) for p in ps))

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.peek() is not None and self.peek()[0] != "rparen" and not self.is_word("OR"):
            if self.is_word("AND"):
                self.pos += 1
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda ev, ps=tuple(parts): all(p(ev) for p in ps))

    def not_expr(self) -> Predicate:
        if self.is_word("NOT"):
            self.pos += 1
            inner = self.not_expr()
            return lambda ev: not inner(ev)
        return self.atom()

    def atom(self) -> Predicate:
        token = self.peek()
        if token is None:
            raise SearchSyntaxError("search ends too early")
        kind, text = token
        self.pos += 1
        if kind == "lparen":
            inner = self.or_expr()
            if self.peek() is None or self.peek()[0] != "rparen":
                raise SearchSyntaxError("unbalanced parentheses")
            self.pos += 1
            return inner
        if kind == "term":
            return self.term(text)
        if kind == "word" and self.peek() is not None and self.peek() == ("word", "IN"):
            return self.in_list(text)
        raise SearchSyntaxError(f"bare search terms are not used by this app's event types: {text!r}")

    def term(self, text: str) -> Predicate:
        match = re.match(r'^([^\s!=]+)\s*(!=|=)\s*(.*)$', text)
        if not match:
            raise SearchSyntaxError(f"cannot read term {text!r}")
        name, op, raw_value = match.group(1), match.group(2), _unquote(match.group(3))
        if name == "eventtype":
            if op != "=":
                raise SearchSyntaxError("eventtype!= is not supported")
            return lambda ev: self.eventtype(raw_value, ev)
        self.fields_used.add(name)

        def has(ev: Fields) -> bool:
            value = ev.get(name)
            values = value if isinstance(value, list) else ([] if value is None else [value])
            return any(value_matches(raw_value, str(v)) for v in values)

        if op == "=":
            return has
        # field!=value needs the field to exist; NOT field=value does not.
        return lambda ev: name in ev and not has(ev)

    def in_list(self, name: str) -> Predicate:
        self.pos += 1  # IN
        if self.peek() is None or self.peek()[0] != "lparen":
            raise SearchSyntaxError("IN must be followed by a parenthesised list")
        self.pos += 1
        values = []
        while self.peek() is not None and self.peek()[0] != "rparen":
            kind, text = self.peek()
            self.pos += 1
            if kind == "word":
                values.append(_unquote(text))
            elif kind != "comma":
                raise SearchSyntaxError(f"unexpected {text!r} in IN list")
        self.pos += 1
        self.fields_used.add(name)

        def has(ev: Fields) -> bool:
            value = ev.get(name)
            candidates = value if isinstance(value, list) else ([] if value is None else [value])
            return any(value_matches(pattern, str(v)) for pattern in values for v in candidates)

        return has


class EventTypes:
    """The app's event types with macros expanded, evaluable against events."""

    def __init__(self, eventtypes: Dict[str, Dict[str, str]], macros: Dict[str, Dict[str, str]]) -> None:
        self.definitions = eventtypes
        self.macros = macros
        self._compiled: Dict[str, Predicate] = {}
        self.fields_used: Dict[str, Set[str]] = {}
        for name in eventtypes:
            self._compile(name)

    def _compile(self, name: str) -> Predicate:
        if name not in self._compiled:
            search = expand_macros(self.definitions[name]["search"], self.macros)
            parser = _Parser(_tokens(search), self._match_named)
            self._compiled[name] = parser.parse()
            self.fields_used[name] = parser.fields_used
        return self._compiled[name]

    def _match_named(self, name: str, event: Fields) -> bool:
        if name not in self.definitions:
            raise SearchSyntaxError(f"undefined eventtype {name}")
        return self._compile(name)(event)

    def matching(self, event: Fields) -> List[str]:
        """Names of the event types the event belongs to, sorted."""
        return sorted(name for name in self.definitions if self._compile(name)(event))

    def predicate(self, search: str) -> Predicate:
        """Any search in the supported subset (macros expanded, eventtype= resolved) as a predicate."""
        parser = _Parser(_tokens(expand_macros(search, self.macros)), self._match_named)
        return parser.parse()


def tags_for(eventtype_names: List[str], tags: Dict[str, Dict[str, str]]) -> Set[str]:
    """Tags tags.conf gives to events of these event types."""
    found: Set[str] = set()
    for name in eventtype_names:
        for tag, state in tags.get(f"eventtype={name}", {}).items():
            if state.strip().lower() == "enabled":
                found.add(tag)
    return found
