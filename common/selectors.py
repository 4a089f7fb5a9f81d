"""Label and field selectors: parsing the query-string syntax and matching objects.

Label selector grammar as upstream's labels.Parse: comma-separated requirements
`k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`.
Field selectors are comma-separated `path=v`, `path==v`, `path!=v` over an
object's dotted field paths.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest

Labels = Mapping[str, str]

_REQUIREMENT = re.compile(
    r"""^\s*(?:
        (?P<not>!)\s*(?P<nkey>[^\s,=!<>()]+) |
        (?P<key>[^\s,=!<>()]+)\s*(?:
            (?P<op>==|=|!=|>|<)\s*(?P<value>[^\s,()]*) |
            \s(?P<setop>in|notin)\s*\((?P<values>[^()]*)\) |
        )
    )\s*$""", re.VERBOSE)


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Labels) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "gt" | "lt":
                return present and _compare_int(value, self.values[0], self.operator)
        return False


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Labels | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


EVERYTHING = LabelSelector()


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `?labelSelector=`; a malformed selector is a 400 BadRequest like upstream."""
    if not text or not text.strip():
        return EVERYTHING
    return LabelSelector(tuple(_parse_requirement(part) for part in _split_top_level(text)))


def _parse_requirement(part: str) -> Requirement:
    m = _REQUIREMENT.match(part)
    if not m:
        raise BadRequest(f"unable to parse requirement: found '{part.strip()}', expected: identifier")
    if m["not"]:
        return Requirement(m["nkey"], "!")
    key = m["key"]
    if m["setop"]:
        values = tuple(v.strip() for v in m["values"].split(",") if v.strip())
        if not values:
            raise BadRequest(f"unable to parse requirement: for '{m['setop']}' operator, values set can't be empty")
        return Requirement(key, m["setop"], values)
    if m["op"] is None:
        return Requirement(key, "exists")
    op = {"==": "=", "=": "=", "!=": "!=", ">": "gt", "<": "lt"}[m["op"]]
    if op in ("gt", "lt") and not re.fullmatch(r"-?\d+", m["value"]):
        raise BadRequest(f"unable to parse requirement: for '{m['op']}' operator, the value must be an integer")
    return Requirement(key, op, (m["value"],))


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside an `in (...)` value list."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _compare_int(value: str | None, bound: str, op: str) -> bool:
    try:
        number = int(value or "")
    except ValueError:
        return False
    return number > int(bound) if op == "gt" else number < int(bound)


def selector_from_spec(spec: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (matchLabels + matchExpressions) as a matcher.

    An empty selector matches everything, as upstream's LabelSelectorAsSelector.
    """
    if not spec:
        return EVERYTHING
    reqs = [Requirement(k, "=", (str(v),)) for k, v in sorted((spec.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in spec.get("matchExpressions") or []:
        reqs.append(Requirement(expr["key"], ops[expr["operator"]], tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def selector_to_string(spec: Mapping[str, Any] | None) -> str:
    """Render a metav1.LabelSelector in query syntax (what Scale.status.selector carries)."""
    parts = []
    for req in selector_from_spec(spec).requirements:
        match req.operator:
            case "=":
                parts.append(f"{req.key}={req.values[0]}")
            case "in" | "notin":
                parts.append(f"{req.key} {req.operator} ({','.join(req.values)})")
            case "exists":
                parts.append(req.key)
            case "!":
                parts.append(f"!{req.key}")
    return ",".join(parts)


# -- field selectors ------------------------------------------------------------

@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool = False


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return self.matches_values({req.field: field_value(obj, req.field) for req in self.requirements})

    def matches_values(self, values: Mapping[str, str]) -> bool:
        """Match precomputed `field path → string value` pairs (what the apiserver's watch cache keeps)."""
        return all((values.get(req.field, "") == req.value) != req.negate for req in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, field: str) -> str | None:
        """The value a `field=value` requirement pins, for index lookups."""
        for req in self.requirements:
            if req.field == field and not req.negate:
                return req.value
        return None


def parse_field_selector(text: str | None, supported: Callable[[str], bool] = lambda _: True) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    reqs = []
    for part in _split_unescaped(text, ","):
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)(.*)", part)
        if not m:
            raise BadRequest(f"invalid selector: '{part}'; can't understand '{part}'")
        field, op, value = m.group(1), m.group(2), _unescape(m.group(3))
        if not supported(field):
            raise BadRequest(f'field label not supported: {field}')
        reqs.append(FieldRequirement(field, value, negate=op == "!="))
    return FieldSelector(tuple(reqs))


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a dotted field, as upstream's field-label conversion sees it."""
    if path == "source" and "source" in obj:  # events: `source` selects source.component
        return (obj.get("source") or {}).get("component", "") or ""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)
