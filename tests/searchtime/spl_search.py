"""Runs the SPL the dashboards use over emulated events, so their sample rows come from their own searches.

Events are the field dictionaries the search-time emulator produces (plus _time, index, sourcetype).
Supported: a base search (the event type subset, with macros and eventtype=), then eval, where, stats,
timechart (daily buckets over a fixed range), sort, head, table, rename, fillnull, foreach, spath,
mvexpand; and the generating tstats with append. Anything else raises, so a dashboard search that this
cannot run is noticed instead of drawn from invented rows.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import spl_eval
from .search_expr import EventTypes, expand_macros, value_matches

Row = Dict[str, Any]
Table = Tuple[List[str], List[Row]]


class SearchError(ValueError):
    """The search uses a command or argument outside the supported subset."""


def split_pipeline(query: str) -> List[str]:
    """The commands of a search; a | inside quotes or [subsearch] brackets does not split."""
    commands, current, quote, depth = [], "", "", 0
    for char in query:
        if quote:
            quote = "" if char == quote else quote
        elif char == '"':
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "|" and depth == 0:
            commands.append(current.strip())
            current = ""
            continue
        current += char
    commands.append(current.strip())
    return commands


def split_top(text: str, separator: str = ",") -> List[str]:
    """Splits on a separator outside quotes, parentheses and brackets."""
    parts, current, quote, depth = [], "", "", 0
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    parts.append(current.strip())
    return [part for part in parts if part]


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


@dataclass
class Aggregation:
    function: str
    argument: str  # a field name, or an eval expression when is_eval
    is_eval: bool
    name: str


_AGG_HEAD = re.compile(r"\s*(\w+)")


def parse_aggregations(text: str) -> List[Aggregation]:
    """`count AS n dc(x) max(eval(if(a, _time, null()))) AS t` -> aggregations, in order."""
    out: List[Aggregation] = []
    pos = 0
    while pos < len(text):
        head = _AGG_HEAD.match(text, pos)
        if not head:
            break
        function, pos = head.group(1), head.end()
        argument, is_eval = "", False
        if pos < len(text) and text[pos] == "(":
            depth, start = 0, pos
            while True:
                depth += {"(": 1, ")": -1}.get(text[pos], 0)
                pos += 1
                if depth == 0:
                    break
            argument = text[start + 1:pos - 1].strip()
            if argument.startswith("eval(") and argument.endswith(")"):
                argument, is_eval = argument[len("eval("):-1], True
        label = f"{function}({argument})" if argument and not is_eval else function
        alias = re.match(r'\s+AS\s+("[^"]+"|\w+)', text[pos:], re.I)
        if alias:
            label, pos = _unquote(alias.group(1)), pos + alias.end()
        out.append(Aggregation(function, argument, is_eval, label))
    return out


def _number(value: Any) -> Optional[float]:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _tidy(number: Optional[float]) -> Union[None, int, float]:
    if number is None:
        return None
    return int(number) if float(number).is_integer() else round(number, 3)


class Search:
    """One app's search-time knowledge plus a fixed clock: runs searches over a list of events."""

    def __init__(self, eventtypes: EventTypes, now: float, buckets: Sequence[float]) -> None:
        self.eventtypes = eventtypes
        self.now = now
        # timechart's bucket start times (one per day of the picture's range).
        self.buckets = list(buckets)

    def __call__(self, query: str, events: List[Row]) -> Table:
        """(field order, rows) of the search over the events, which must be sorted newest first."""
        self._all_events = events
        return self.run(expand_macros(query, self.eventtypes.macros), events)

    def run(self, query: str, events: List[Row]) -> Table:
        commands = split_pipeline(query)
        if commands[0] == "":
            fields, rows = self._generating(commands[1])
            commands = commands[2:]
        else:
            predicate = self.eventtypes.predicate(commands[0])
            rows = [dict(event) for event in events if predicate(event)]
            fields = []
            commands = commands[1:]
        for command in commands:
            name, _, args = command.partition(" ")
            handler: Optional[Callable[[str, List[str], List[Row]], Table]] = getattr(self, f"_cmd_{name}", None)
            if handler is None:
                raise SearchError(f"command {name!r} is not supported: {command!r}")
            fields, rows = handler(args.strip(), fields, rows)
        if not fields:
            fields = sorted({key for row in rows for key in row if not key.startswith("_")})
        return fields, rows

    # -- generating commands --------------------------------------------------------------------------

    def _generating(self, command: str) -> Table:
        match = re.match(r"^tstats\s+(.*?)\s+WHERE\s+(.*?)\s+BY\s+(.*)$", command, re.S | re.I)
        if not match:
            raise SearchError(f"only `| tstats <aggs> WHERE <search> BY <fields>` is supported: {command!r}")
        aggs, where, by = match.groups()
        predicate = self.eventtypes.predicate(where)
        rows = [event for event in self._all_events if predicate(event)]
        return self._cmd_stats(f"{aggs} BY {by}", [], rows)

    # -- streaming commands ---------------------------------------------------------------------------

    def _cmd_eval(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        assignments = []
        for part in split_top(args):
            target, expression = part.split("=", 1)
            assignments.append((target.strip(), spl_eval.parse(expression)))
        for row in rows:
            for target, tree in assignments:
                value = spl_eval.as_field(spl_eval.Evaluator(row, self.now).evaluate(tree))
                if value is None:
                    row.pop(target, None)
                else:
                    row[target] = value
        added = [target for target, _ in assignments if target not in fields]
        return fields + added if fields else fields, rows

    def _cmd_where(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        tree = spl_eval.parse(args)
        return fields, [row for row in rows if spl_eval.Evaluator(row, self.now).evaluate(tree) is True]

    def _cmd_search(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        predicate = self.eventtypes.predicate(args)
        return fields, [row for row in rows if predicate(row)]

    def _cmd_fillnull(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        match = re.match(r'^value=("[^"]*"|\S+)\s+(.*)$', args)
        if not match:
            raise SearchError(f"fillnull needs value= and fields: {args!r}")
        value, names = _unquote(match.group(1)), match.group(2).split()
        for row in rows:
            for name in names:
                row.setdefault(name, value)
        return fields, rows

    def _cmd_head(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        return fields, rows[:int(args)]

    def _cmd_sort(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        keys = re.findall(r"([+-]?)\s*(\w+)", args)
        for sign, name in reversed(keys):
            numeric = all(_number(row.get(name)) is not None for row in rows if row.get(name) is not None)

            def key(row: Row, name: str = name, numeric: bool = numeric) -> Tuple[int, Any]:
                value = row.get(name)
                if value is None:
                    return (1, 0)
                return (0, _number(value) if numeric else str(value))

            present = [row for row in rows if row.get(name) is not None]
            missing = [row for row in rows if row.get(name) is None]
            rows = sorted(present, key=key, reverse=sign == "-") + missing
        return fields, rows

    def _cmd_table(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        names = [name for name in re.split(r"[\s,]+", args) if name]
        return names, rows

    def _cmd_rename(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        for part in split_top(args):
            match = re.match(r'^("[^"]+"|[\w.{}]+)\s+AS\s+("[^"]+"|[\w.{}]+)$', part, re.I)
            if not match:
                raise SearchError(f"rename part {part!r} is not 'a AS b'")
            old, new = _unquote(match.group(1)), _unquote(match.group(2))
            fields = [new if name == old else name for name in fields]
            for row in rows:
                if old in row:
                    row[new] = row.pop(old)
        return fields, rows

    def _cmd_foreach(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        match = re.match(r"^(\S+)\s+\[(.*)\]$", args, re.S)
        if not match:
            raise SearchError(f"foreach needs a pattern and a [subsearch]: {args!r}")
        pattern, template = match.groups()
        prefix, _, suffix = pattern.partition("*")
        for row in rows:
            for name in sorted(k for k in list(row) if value_matches(pattern, k) and k.startswith(prefix)):
                matched = name[len(prefix):len(name) - len(suffix) if suffix else None]
                body = template.replace("<<FIELD>>", name).replace("<<MATCHSTR>>", matched)
                for command in split_pipeline(body):
                    verb, _, rest = command.partition(" ")
                    if verb != "eval":
                        raise SearchError(f"foreach supports eval only: {command!r}")
                    self._cmd_eval(rest.strip(), [], [row])
        return fields, rows

    def _cmd_spath(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        options = dict(re.findall(r"(\w+)=(\S+)", args))
        out: List[Row] = []
        for row in rows:
            if "input" in options:
                document = json.loads(str(row.get(options["input"], "{}")))
                for key, value in document.items():
                    if value is not None:
                        row[key] = str(value)
            else:
                document = json.loads(str(row["_raw"]))
                path = options["path"]
                if not path.endswith("{}"):
                    raise SearchError(f"spath path= supports array paths (a{{}}) only: {path!r}")
                items = document.get(path[:-2], [])
                row[options.get("output", path)] = [json.dumps(item, separators=(",", ":")) for item in items]
            out.append(row)
        return fields, out

    def _cmd_mvexpand(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        out: List[Row] = []
        for row in rows:
            values = row.get(args)
            for value in values if isinstance(values, list) else ([] if values is None else [values]):
                out.append({**row, args: value})
        return fields, out

    def _cmd_append(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        match = re.match(r"^\[\s*(.*)\]$", args, re.S)
        if not match:
            raise SearchError(f"append needs a [subsearch]: {args!r}")
        sub_fields, sub_rows = self.run(match.group(1), self._all_events)
        return fields + [name for name in sub_fields if name not in fields], rows + sub_rows

    # -- transforming commands ------------------------------------------------------------------------

    def _aggregate(self, aggregation: Aggregation, rows: List[Row]) -> Any:
        function, argument = aggregation.function, aggregation.argument
        if aggregation.is_eval:
            tree = spl_eval.parse(argument)
            values = [spl_eval.as_field(spl_eval.Evaluator(row, self.now).evaluate(tree)) for row in rows]
        elif argument:
            values = [row.get(argument) for row in rows]
        else:
            values = [True] * len(rows)
        if function == "count":
            if aggregation.is_eval:
                return sum(1 for value in values if value in (True, "true"))
            return sum(1 for value in values if value is not None)
        present = [value for value in values if value is not None]
        if function == "dc":
            return len({json.dumps(value) for value in present})
        if function == "values":
            flat = sorted({str(v) for value in present for v in (value if isinstance(value, list) else [value])})
            return flat if len(flat) > 1 else (flat[0] if flat else None)
        if function == "latest":
            return present[0] if present else None
        numbers = [number for number in (_number(value) for value in present) if number is not None]
        if function == "sum":
            return _tidy(sum(numbers)) if numbers else None
        if function == "max":
            return _tidy(max(numbers)) if numbers else None
        if function == "min":
            return _tidy(min(numbers)) if numbers else None
        raise SearchError(f"stats function {function}() is not supported")

    def _cmd_stats(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        parts = re.split(r"\s+BY\s+", args, maxsplit=1, flags=re.I)
        aggregations = parse_aggregations(parts[0])
        by = parts[1].split() if len(parts) > 1 else []
        groups: Dict[Tuple[Any, ...], List[Row]] = {}
        for row in rows:
            key = tuple(row.get(name) for name in by)
            if by and any(value is None for value in key):
                continue  # stats drops events without every BY field
            groups.setdefault(tuple(json.dumps(v) for v in key), []).append(row)
        if not by and not groups:
            groups[()] = []
        out = []
        for key in sorted(groups):
            members = groups[key]
            result: Row = {name: json.loads(value) for name, value in zip(by, key)}
            for aggregation in aggregations:
                result[aggregation.name] = self._aggregate(aggregation, members)
            out.append(result)
        return by + [aggregation.name for aggregation in aggregations], out

    def _cmd_timechart(self, args: str, fields: List[str], rows: List[Row]) -> Table:
        args = re.sub(r"^span=\S+\s+", "", args)
        if re.search(r"\sBY\s", args, re.I):
            aggs_text, by = re.split(r"\s+BY\s+", args, maxsplit=1, flags=re.I)
        else:
            aggs_text, by = args, ""
        aggregations = parse_aggregations(aggs_text)
        edges = [*self.buckets, self.buckets[-1] + 86400]

        def bucket_rows(index: int) -> List[Row]:
            return [row for row in rows if edges[index] <= float(row["_time"]) < edges[index + 1]]

        buckets = [bucket_rows(i) for i in range(len(self.buckets))]
        out: List[Row] = []
        if by:
            if len(aggregations) != 1:
                raise SearchError("timechart ... BY supports one aggregation")
            series = sorted({str(row[by]) for row in rows if row.get(by) is not None})
            for start, members in zip(self.buckets, buckets):
                result: Row = {"_time": start}
                for name in series:
                    value = self._aggregate(aggregations[0], [row for row in members if str(row.get(by)) == name])
                    zero = aggregations[0].function in ("count", "sum")
                    result[name] = 0 if value is None and zero else value
                out.append(result)
            return ["_time", *series], out
        for start, members in zip(self.buckets, buckets):
            result = {"_time": start}
            for aggregation in aggregations:
                value = self._aggregate(aggregation, members)
                result[aggregation.name] = 0 if value is None and aggregation.function in ("count", "sum") else value
            out.append(result)
        return ["_time", *[aggregation.name for aggregation in aggregations]], out
