"""SCIM filter expressions (RFC 7644 §3.4.2.2): parse once, evaluate against wire-form dicts.

Operators ``eq ne co sw ew pr gt ge lt le``, ``and``/``or``/``not``, parentheses, value filters
``attr[filter]``; attribute names (dotted sub-attributes included) are case-insensitive; string
comparison is case-insensitive except for the resource's case-exact attributes. Multi-valued
attributes match if any value matches. A name may be fully qualified (RFC 7644 §3.10): the schema
URN, ``:``, the attribute path — the resource's own schema (``urn:…:idcs:App:displayName``) or an
extension schema whose attributes sit in the object keyed by its URN
(``urn:…:extension:enterprise:2.0:User:employeeNumber``).
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


def key_ci(data: dict[str, Any], name: str) -> str | None:
    """The key of ``data`` spelled like ``name`` but for case, or None."""
    lowered = name.lower()
    return next((k for k in data if k.lower() == lowered), None)


def is_qualified(path: str) -> bool:
    return path[:4].lower() == "urn:"


def split_qualified(path: str) -> tuple[str, str]:
    """``(schema URN, attribute path)`` of a fully qualified name (attribute names hold no ``:``,
    so the URN ends at the last colon)."""
    schema, _, attr = path.rpartition(":")
    return schema, attr


def has_schema(resource: dict[str, Any], schema: str) -> bool:
    """Does ``resource`` list ``schema`` (case-insensitively) in its ``schemas``?"""
    key = key_ci(resource, "schemas")
    schemas = resource.get(key) if key is not None else None
    return isinstance(schemas, list) and any(
        isinstance(s, str) and s.lower() == schema.lower() for s in schemas
    )


def lookup(resource: dict[str, Any], path: str) -> Any:
    """Value at an attribute path, matching names case-insensitively (lists are mapped); the path
    may be fully qualified with the resource's schema or an extension schema's URN."""
    if is_qualified(path):
        whole = key_ci(resource, path)  # an extension object itself
        if whole is not None:
            return resource[whole]
        schema, attr = split_qualified(path)
        extension = key_ci(resource, schema)
        if extension is not None:
            return _lookup(resource[extension], attr)
        return _lookup(resource, attr) if has_schema(resource, schema) else _MISSING
    return _lookup(resource, path)


def _lookup(resource: Any, path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if isinstance(value, list):
            value = [_lookup(v, part) for v in value if isinstance(v, dict)]
            value = [v for v in value if v is not _MISSING]
            continue
        if not isinstance(value, dict):
            return _MISSING
        key = key_ci(value, part)
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

    def is_case_exact(self, path: str) -> bool:
        """Case-exact attributes are named unqualified; a core-schema prefix is dropped."""
        name = split_qualified(path)[1] if is_qualified(path) else path
        return name.lower() in self.case_exact

    def peek_word(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word":
            return self.tokens[self.pos][1].lower()
        return None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise invalid("unexpected end of filter")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _operands(self, keyword: str, operand: Callable[[], Predicate]) -> list[Predicate]:
        """``operand (keyword operand)*``: the operands of a run of ``or`` (or ``and``)."""
        parts = [operand()]
        while self.peek_word() == keyword:
            self.take()
            parts.append(operand())
        return parts

    def expr(self) -> Predicate:
        parts = self._operands("or", self.term)
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def term(self) -> Predicate:
        parts = self._operands("and", self.factor)
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

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
        exact = self.is_case_exact(path)
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
