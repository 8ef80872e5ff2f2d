"""SCIM filter expressions (RFC 7644 §3.4.2.2): parse once, evaluate against wire-form dicts.

Operators ``eq ne co sw ew pr gt ge lt le``, ``and``/``or``/``not``, parentheses; attribute names
(dotted sub-attributes included) are case-insensitive; string comparison is case-insensitive except
for the resource's case-exact attributes. Multi-valued attributes match if any value matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any

from oci_mcp_cli.sandbox.wire import ScimError

Predicate = Callable[[dict[str, Any]], bool]
_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<lb>\[)|(?P<rb>\])|(?P<str>"(?:[^"\\]|\\.)*")'
    r'|(?P<word>[^\s()\[\]"]+))'
)
_OPS = {"eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le"}
_MISSING = object()


def invalid(message: str) -> ScimError:
    return ScimError(400, f"Invalid filter: {message}", "error.common.invalidFilter")


def lookup(resource: dict[str, Any], path: str) -> Any:
    """Value at a dotted attribute path, matching names case-insensitively (lists are mapped)."""
    value: Any = resource
    for part in path.split("."):
        if isinstance(value, list):
            value = [lookup(v, part) for v in value if isinstance(v, dict)]
            value = [v for v in value if v is not _MISSING]
            continue
        if not isinstance(value, dict):
            return _MISSING
        key = next((k for k in value if k.lower() == part.lower()), None)
        if key is None:
            return _MISSING
        value = value[key]
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise invalid(f"unexpected text at {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _literal(kind: str, raw: str) -> Any:
    if kind == "str":  # RFC 7644: string values are JSON strings
        try:
            return json.loads(raw)
        except ValueError:
            raise invalid(f"bad string literal {raw}") from None
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        raise invalid(f"value {raw!r} must be quoted") from None


def _compare(op: str, actual: Any, expected: Any, exact: bool) -> bool:
    if isinstance(actual, list):
        return any(_compare(op, item, expected, exact) for item in actual)
    if actual is _MISSING or actual is None:
        return op == "ne" and expected is not None
    if isinstance(actual, str) and isinstance(expected, str):
        a, e = (actual, expected) if exact else (actual.lower(), expected.lower())
    elif isinstance(actual, bool) != isinstance(expected, bool):
        return op == "ne"
    else:
        a, e = actual, expected
    try:
        return {
            "eq": lambda: a == e,
            "ne": lambda: a != e,
            "co": lambda: isinstance(a, str) and e in a,
            "sw": lambda: isinstance(a, str) and a.startswith(e),
            "ew": lambda: isinstance(a, str) and a.endswith(e),
            "gt": lambda: a > e,
            "ge": lambda: a >= e,
            "lt": lambda: a < e,
            "le": lambda: a <= e,
        }[op]()
    except TypeError:
        return False


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], case_exact: Collection[str]):
        self.tokens, self.pos = tokens, 0
        self.case_exact = {name.lower() for name in case_exact}

    def peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].lower()
        return None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise invalid("unexpected end of filter")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expr(self) -> Predicate:
        left = self.term()
        while self.peek_word() == "or":
            self.take()
            right, prev = self.term(), left
            left = lambda r, a=prev, b=right: a(r) or b(r)  # noqa: E731
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.peek_word() == "and":
            self.take()
            right, prev = self.factor(), left
            left = lambda r, a=prev, b=right: a(r) and b(r)  # noqa: E731
        return left

    def factor(self) -> Predicate:
        if self.peek_word() == "not":
            self.take()
            inner = self.factor()
            return lambda r: not inner(r)
        kind, value = self.take()
        if kind == "lp":
            inner = self.expr()
            if self.take()[0] != "rp":
                raise invalid("missing ')'")
            return inner
        if kind != "word":
            raise invalid(f"expected an attribute name, got {value!r}")
        path = value
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "lb":
            return self.value_path(path)
        op = self.take()[1].lower()
        if op not in _OPS:
            raise invalid(f"unknown operator {op!r}")
        if op == "pr":
            return lambda r: lookup(r, path) not in (_MISSING, None, "", [])
        vkind, raw = self.take()
        if vkind not in ("str", "word"):
            raise invalid(f"expected a value after {op!r}")
        expected = _literal(vkind, raw)
        exact = path.lower() in self.case_exact
        return lambda r: _compare(op, lookup(r, path), expected, exact)

    def value_path(self, path: str) -> Predicate:
        """``attr[filter]``: some value of the complex attribute ``attr`` matches ``filter``."""
        self.take()
        inner = self.expr()
        if self.take()[0] != "rb":
            raise invalid("missing ']'")

        def matches(resource: dict[str, Any]) -> bool:
            found = lookup(resource, path)
            values = found if isinstance(found, list) else [found]
            return any(isinstance(v, dict) and inner(v) for v in values)

        return matches


def parse_filter(text: str, case_exact: Collection[str] = ()) -> Predicate:
    """Compile a SCIM filter; raises ScimError 400 (invalidFilter) on bad syntax."""
    parser = _Parser(_tokens(text), case_exact)
    if not parser.tokens:
        raise invalid("empty filter")
    predicate = parser.expr()
    if parser.pos != len(parser.tokens):
        raise invalid(f"unexpected {parser.tokens[parser.pos][1]!r}")
    return predicate
