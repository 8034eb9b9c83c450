"""A small evaluator for the subset of Splunk's eval language that the add-on's EVAL- settings use.

It follows Splunk where the add-on depends on it: a dotted name must be quoted ('a.b') because a bare
dot is string concatenation; null propagates through concatenation and string functions; a comparison
with null is not true; coalesce skips nulls; multivalue fields are lists. An unsupported function or
syntax raises EvalError, so a new EVAL cannot silently escape the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

# A field value: None (null), a single string, or a list of strings (multivalue).
Value = Union[None, str, float, bool, List[str]]
Fields = Dict[str, Union[str, List[str]]]


class EvalError(ValueError):
    """The expression is outside the supported subset, or malformed."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<field>'(?:[^'\\]|\\.)*')
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<op>==|!=|<=|>=|[=<>+\-*/%.(),])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Node:
    kind: str  # "str", "num", "field", "call", "binop", "not", "neg"
    value: object = None
    args: Tuple[Node, ...] = ()


def _tokenize(text: str) -> List[Tuple[str, str]]:
    tokens = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise EvalError(f"cannot read eval expression at {text[pos:pos + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _unescape(literal: str) -> str:
    # Splunk eval strings escape only the quote and the backslash; "\d" in a regex stays "\d".
    return re.sub(r'\\(["\\])', r"\1", literal[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> Optional[Tuple[str, str]]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: Optional[str] = None) -> Tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise EvalError(f"expected {value!r}, found {token!r}")
        self.pos += 1
        return token

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token is not None and token[0] in ("op", "name") and token[1] in values

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise EvalError(f"unexpected {self.peek()!r}")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.at("OR"):
            self.take()
            node = Node("binop", "OR", (node, self.and_expr()))
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.at("AND"):
            self.take()
            node = Node("binop", "AND", (node, self.not_expr()))
        return node

    def not_expr(self) -> Node:
        if self.at("NOT"):
            self.take()
            return Node("not", None, (self.not_expr(),))
        return self.comparison()

    def comparison(self) -> Node:
        node = self.additive()
        while self.at("==", "=", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            node = Node("binop", "==" if op == "=" else op, (node, self.additive()))
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.at("+", "-", "."):
            op = self.take()[1]
            node = Node("binop", op, (node, self.multiplicative()))
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.at("*", "/", "%"):
            op = self.take()[1]
            node = Node("binop", op, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            return Node("neg", None, (self.unary(),))
        return self.primary()

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "string":
            return Node("str", _unescape(text))
        if kind == "number":
            return Node("num", float(text))
        if kind == "field":
            return Node("field", text[1:-1])
        if kind == "op" and text == "(":
            node = self.or_expr()
            self.take(")")
            return node
        if kind == "name":
            if self.at("("):
                self.take("(")
                args: List[Node] = []
                if not self.at(")"):
                    args.append(self.or_expr())
                    while self.at(","):
                        self.take(",")
                        args.append(self.or_expr())
                self.take(")")
                return Node("call", text, tuple(args))
            return Node("field", text)
        raise EvalError(f"unexpected {text!r}")


def parse(expression: str) -> Node:
    """Parses one eval expression into a tree; raises EvalError outside the supported subset."""
    return _Parser(expression).parse()


def referenced_fields(node: Node) -> Set[str]:
    """Every field name the expression reads (mvmap's loop variable included, as Splunk reads it too)."""
    if node.kind == "field":
        return {str(node.value)}
    found: Set[str] = set()
    for arg in node.args:
        found |= referenced_fields(arg)
    return found


def called_functions(node: Node) -> Set[str]:
    """Every function name the expression calls."""
    found = {str(node.value)} if node.kind == "call" else set()
    for arg in node.args:
        found |= called_functions(arg)
    return found


def _text(value: Value) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, list):
        raise EvalError("a multivalue field where this subset only supports a single value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


def _number(value: Value) -> Optional[float]:
    text = _text(value)
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _truth(value: Value) -> bool:
    return value is True


def _as_list(value: Value) -> List[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [str(_text(value))]


def _from_list(values: Sequence[str]) -> Value:
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def _compare(op: str, left: Value, right: Value) -> Optional[bool]:
    if left is None or right is None:
        return None
    lnum, rnum = _number(left), _number(right)
    if lnum is not None and rnum is not None:
        pair: Tuple[object, object] = (lnum, rnum)
    else:
        pair = (_text(left), _text(right))
    a, b = pair
    result = {
        "==": a == b,
        "!=": a != b,
        "<": a < b,  # type: ignore[operator]
        ">": a > b,  # type: ignore[operator]
        "<=": a <= b,  # type: ignore[operator]
        ">=": a >= b,  # type: ignore[operator]
    }[op]
    return bool(result)


class Evaluator:
    """Evaluates parsed expressions against one event's fields; ``now`` is what now() returns."""

    def __init__(self, fields: Fields, now: Optional[float] = None) -> None:
        self.fields = fields
        self.now = now

    def evaluate(self, node: Node) -> Value:
        handler = getattr(self, "_eval_" + node.kind)
        return handler(node)

    def _eval_str(self, node: Node) -> Value:
        return str(node.value)

    def _eval_num(self, node: Node) -> Value:
        return float(node.value)  # type: ignore[arg-type]

    def _eval_field(self, node: Node) -> Value:
        value = self.fields.get(str(node.value))
        if isinstance(value, list):
            return _from_list(value)
        return value

    def _eval_not(self, node: Node) -> Value:
        return not _truth(self.evaluate(node.args[0]))

    def _eval_neg(self, node: Node) -> Value:
        number = _number(self.evaluate(node.args[0]))
        return None if number is None else -number

    def _eval_binop(self, node: Node) -> Value:
        op = str(node.value)
        if op == "AND":
            return _truth(self.evaluate(node.args[0])) and _truth(self.evaluate(node.args[1]))
        if op == "OR":
            return _truth(self.evaluate(node.args[0])) or _truth(self.evaluate(node.args[1]))
        left, right = self.evaluate(node.args[0]), self.evaluate(node.args[1])
        if op == ".":
            ltext, rtext = _text(left), _text(right)
            return None if ltext is None or rtext is None else ltext + rtext
        if op in ("==", "!=", "<", ">", "<=", ">="):
            return _compare(op, left, right)
        lnum, rnum = _number(left), _number(right)
        if lnum is None or rnum is None:
            return None
        if op == "+":
            return lnum + rnum
        if op == "-":
            return lnum - rnum
        if op == "*":
            return lnum * rnum
        if op == "/":
            return None if rnum == 0 else lnum / rnum
        return lnum % rnum

    def _eval_call(self, node: Node) -> Value:
        name = str(node.value)
        special = {"if": self._fn_if, "case": self._fn_case, "coalesce": self._fn_coalesce, "mvmap": self._fn_mvmap,
                   "now": self._fn_now}
        if name in special:
            return special[name](node.args)
        function = _FUNCTIONS.get(name)
        if function is None:
            raise EvalError(f"eval function {name}() is not supported by the test evaluator")
        return function(*[self.evaluate(arg) for arg in node.args])

    def _fn_if(self, args: Tuple[Node, ...]) -> Value:
        if len(args) != 3:
            raise EvalError("if() takes three arguments")
        return self.evaluate(args[1]) if _truth(self.evaluate(args[0])) else self.evaluate(args[2])

    def _fn_case(self, args: Tuple[Node, ...]) -> Value:
        if len(args) % 2:
            raise EvalError("case() takes condition/value pairs")
        for condition, value in zip(args[::2], args[1::2]):
            if _truth(self.evaluate(condition)):
                return self.evaluate(value)
        return None

    def _fn_coalesce(self, args: Tuple[Node, ...]) -> Value:
        for arg in args:
            value = self.evaluate(arg)
            if value is not None:
                return value
        return None

    def _fn_now(self, args: Tuple[Node, ...]) -> Value:
        if args or self.now is None:
            raise EvalError("now() needs the search's time, and takes no arguments")
        return float(self.now)

    def _fn_mvmap(self, args: Tuple[Node, ...]) -> Value:
        # mvmap(X, expr): expr sees X's name bound to each value in turn, as Splunk does.
        if len(args) != 2 or args[0].kind != "field":
            raise EvalError("mvmap() is supported with a field as its first argument")
        name = str(args[0].value)
        results: List[str] = []
        for item in _as_list(self.fields.get(name)):
            scoped = dict(self.fields)
            scoped[name] = item
            results.extend(_as_list(Evaluator(scoped, self.now).evaluate(args[1])))
        return _from_list(results)


def _fn_replace(value: Value, pattern: Value, replacement: Value) -> Value:
    text = _text(value)
    if text is None:
        return None
    return re.sub(pcre_to_python(str(_text(pattern))), str(_text(replacement)), text)


def _fn_nullif(value: Value, other: Value) -> Value:
    # nullif(X, Y): null when X equals Y (as text), else X.
    return None if value is not None and other is not None and _text(value) == _text(other) else value


def _fn_match(value: Value, pattern: Value) -> Value:
    text = _text(value)
    if text is None:
        return None
    return re.search(pcre_to_python(str(_text(pattern))), text) is not None


def _fn_mvdedup(value: Value) -> Value:
    seen: List[str] = []
    for item in _as_list(value):
        if item not in seen:
            seen.append(item)
    return _from_list(seen)


def _fn_mvcount(value: Value) -> Value:
    return None if value is None else float(len(_as_list(value)))


def _fn_mvindex(value: Value, start: Value, end: Value = None) -> Value:
    items = _as_list(value)
    first = int(_number(start) or 0)
    last = first if end is None else int(_number(end) or 0)
    last = len(items) + last if last < 0 else last
    first = len(items) + first if first < 0 else first
    return _from_list(items[first:last + 1])


def _splunk_format(fmt: str, moment: datetime) -> str:
    # Splunk's %3N (milliseconds) and %Z/%z; times are shown in UTC here, as a search head set to UTC would.
    fmt = fmt.replace("%3N", f"{moment.microsecond // 1000:03d}")
    return moment.strftime(fmt)


def _fn_strftime(value: Value, fmt: Value) -> Value:
    number = _number(value)
    if number is None:
        return None
    return _splunk_format(str(_text(fmt)), datetime.fromtimestamp(number, tz=timezone.utc))


def _fn_strptime(value: Value, fmt: Value) -> Value:
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.strptime(text, str(_text(fmt)).replace("%3N", "%f"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _fn_round(value: Value, digits: Value = None) -> Value:
    number = _number(value)
    if number is None:
        return None
    places = int(_number(digits) or 0)
    return float(round(number, places)) if places else float(round(number))


def _fn_like(value: Value, pattern: Value) -> Value:
    text = _text(value)
    if text is None:
        return None
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(_text(pattern)))
    return re.fullmatch(body, text, re.DOTALL) is not None


def _fn_mvzip(first: Value, second: Value, sep: Value = ",") -> Value:
    pairs = zip(_as_list(first), _as_list(second))
    return _from_list([f"{a}{_text(sep)}{b}" for a, b in pairs])


def _string_fn(function: Callable[[str], object]) -> Callable[[Value], Value]:
    def apply(value: Value) -> Value:
        text = _text(value)
        return None if text is None else function(text)  # type: ignore[return-value]

    return apply


_FUNCTIONS: Dict[str, Callable[..., Value]] = {
    "null": lambda: None,
    "true": lambda: True,
    "false": lambda: False,
    "isnull": lambda value: value is None,
    "isnotnull": lambda value: value is not None,
    "isnum": lambda value: _number(value) is not None,
    "lower": _string_fn(str.lower),
    "upper": _string_fn(str.upper),
    "len": _string_fn(lambda text: float(len(text))),
    "tostring": _string_fn(str),
    "replace": _fn_replace,
    "nullif": _fn_nullif,
    "match": _fn_match,
    "mvdedup": _fn_mvdedup,
    "mvcount": _fn_mvcount,
    "mvindex": _fn_mvindex,
    "mvappend": lambda *values: _from_list([item for value in values for item in _as_list(value)]),
    "mvjoin": lambda value, sep: None if value is None else str(_text(sep)).join(_as_list(value)),
    "strftime": _fn_strftime,
    "strptime": _fn_strptime,
    "round": _fn_round,
    "like": _fn_like,
    "mvzip": _fn_mvzip,
}

#: Functions the evaluator knows, for checks that want to report unsupported ones by name.
SUPPORTED_FUNCTIONS = frozenset(_FUNCTIONS) | {"if", "case", "coalesce", "mvmap", "now"}


def pcre_to_python(pattern: str) -> str:
    """Translates the PCRE spellings Splunk accepts into Python's re syntax (named groups)."""
    return re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)


def evaluate(expression: str, fields: Fields, now: Optional[float] = None) -> Value:
    """Evaluates one eval expression against an event's fields (a convenience around parse())."""
    return Evaluator(fields, now).evaluate(parse(expression))


def as_field(value: Value) -> Union[None, str, List[str]]:
    """Turns an eval result into what Splunk stores in a field: null, text, or a multivalue list."""
    if value is None:
        return None
    if isinstance(value, list):
        return value
    return _text(value)
