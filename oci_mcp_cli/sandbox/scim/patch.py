"""SCIM PatchOp (RFC 7644 §3.5.2) applied to wire-form dicts; ``op`` and ``path`` case-insensitive.

Paths: ``attr``, ``attr.sub`` and ``attr[filter]`` (value filter on a multi-valued attribute, for
``remove`` and ``replace``). Attribute names are mapped to their canonical spelling. A path (or a
key of a path-less value) may be fully qualified (RFC 7644 §3.10): ``<resource schema URN>:attr``
means ``attr``; ``<extension schema URN>:attr`` is ``attr`` of the object keyed by that URN.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from oci_mcp_cli.sandbox.scim.filter import (
    has_schema,
    is_qualified,
    key_ci,
    parse_filter,
    split_qualified,
)
from oci_mcp_cli.sandbox.wire import ScimError

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_PATH = re.compile(r"^(?P<attr>[^\[\].\s]+)(?:\[(?P<filter>.+)\])?(?:\.(?P<sub>[^\[\].\s]+))?$")
Canonical = Callable[[str], str]


def bad(detail: str, message_id: str = "error.common.validation.invalidPatchOp") -> ScimError:
    return ScimError(400, detail, message_id)


def get_ci(data: dict[str, Any], key: str, default: Any = None) -> Any:
    """``data[key]`` with a case-insensitive key."""
    return next((v for k, v in data.items() if k.lower() == key.lower()), default)


def _add(resource: dict[str, Any], attr: str, sub: str | None, value: Any) -> None:
    if sub:
        resource.setdefault(attr, {})
        if not isinstance(resource[attr], dict):
            raise bad(f"{attr} is not a complex attribute")
        resource[attr][sub] = value
        return
    current = resource.get(attr)
    if isinstance(current, list):
        for item in value if isinstance(value, list) else [value]:
            if item not in current:
                current.append(item)
    elif isinstance(current, dict) and isinstance(value, dict):
        current.update(value)
    else:
        resource[attr] = value


def _same(item: Any, wanted: Any) -> bool:
    """A removal value matches an item equal to it, or a complex item holding all its sub-values."""
    if isinstance(item, dict) and isinstance(wanted, dict):
        return all(item.get(k) == v for k, v in wanted.items())
    return item == wanted


def _remove_values(resource: dict[str, Any], attr: str, value: Any) -> None:
    """``remove`` with a ``value`` on a multi-valued attribute drops only those values."""
    wanted = value if isinstance(value, list) else [value]
    kept = [i for i in resource[attr] if not any(_same(i, w) for w in wanted)]
    if kept:
        resource[attr] = kept
    else:  # an emptied multi-valued attribute becomes unassigned (RFC 7644 §3.5.2.2)
        resource.pop(attr)


def _check_writable(attr: str, read_only: Collection[str]) -> None:
    if attr in read_only:
        raise bad(
            f"Attribute {attr} is read-only and cannot be modified.",
            "error.common.validation.readOnlyAttribute",
        )


def _as_spelled(data: dict[str, Any]) -> Canonical:
    """Names inside an extension object: an existing key's spelling, else as given."""
    return lambda name: key_ci(data, name) or name


@dataclass
class _Target:
    """Where a (possibly fully qualified) path applies: the object, the path within it, how names
    are spelled there and its read-only attributes; ``extension`` names a missing extension object
    to attach once the operation has put something in it."""

    data: dict[str, Any]
    path: str
    canonical: Canonical
    read_only: Collection[str]
    extension: str | None = None

    def attach_to(self, resource: dict[str, Any]) -> None:
        if self.extension is not None and self.data:
            resource[self.extension] = self.data


def _resolve(
    resource: dict[str, Any], path: str, canonical: Canonical, read_only: Collection[str]
) -> _Target:
    if not is_qualified(path):
        return _Target(resource, path, canonical, read_only)
    head = path.split("[", 1)[0]
    with contextlib.suppress(ScimError):
        canonical(head)  # the whole name is an attribute: an extension object itself
        return _Target(resource, path, canonical, read_only)
    schema, attr = split_qualified(head)
    relative = attr + path[len(head) :]
    try:
        extension = canonical(schema)
    except ScimError:
        if has_schema(resource, schema):
            return _Target(resource, relative, canonical, read_only)
        raise bad(f"Invalid PatchOp path {path!r}: unknown schema {schema}") from None
    _check_writable(extension, read_only)
    current = resource.get(extension)
    if current is None:
        return _Target({}, relative, _as_spelled({}), (), extension)
    if not isinstance(current, dict):
        raise bad(f"{extension} is not a complex attribute")
    return _Target(current, relative, _as_spelled(current), ())


def _apply_value(
    resource: dict[str, Any],
    name: str,
    value: Any,
    canonical: Canonical,
    read_only: Collection[str],
) -> None:
    """An operation without a path: ``value`` holds attribute -> value."""
    if isinstance(value, dict):
        for key in value:
            if key != "schemas":
                target = _resolve(resource, key, canonical, read_only)
                _check_writable(target.canonical(target.path), target.read_only)
    if name == "remove":
        raise bad("A remove operation needs a path", "error.common.validation.noTarget")
    if not isinstance(value, dict):
        raise bad(f"{name} without a path needs an object value")
    for key, item in value.items():
        if key == "schemas":
            continue
        target = _resolve(resource, key, canonical, read_only)  # after the previous key's change
        attr = target.canonical(target.path)
        if name == "add":
            _add(target.data, attr, None, item)
        else:
            target.data[attr] = item
        target.attach_to(resource)


def _apply_one(
    resource: dict[str, Any], op: dict[str, Any], canonical: Canonical, read_only: Collection[str]
) -> None:
    name = str(get_ci(op, "op", "")).lower()
    if name not in ("add", "replace", "remove"):
        raise bad(f"Invalid PatchOp op {get_ci(op, 'op')!r}: use add, replace or remove")
    path, value = get_ci(op, "path"), get_ci(op, "value")
    if path is None:
        _apply_value(resource, name, value, canonical, read_only)
        return
    target = _resolve(resource, str(path).strip(), canonical, read_only)
    match = _PATH.match(target.path)
    if not match:
        raise bad(f"Invalid PatchOp path {path!r}")
    _apply_path(target.data, name, match, value, target.canonical, target.read_only)
    target.attach_to(resource)


def _apply_path(
    resource: dict[str, Any],
    name: str,
    match: re.Match[str],
    value: Any,
    canonical: Canonical,
    read_only: Collection[str],
) -> None:
    attr, flt, sub = canonical(match["attr"]), match["filter"], match["sub"]
    _check_writable(attr, read_only)
    if sub and isinstance(resource.get(attr), dict):
        sub = next((k for k in resource[attr] if k.lower() == sub.lower()), sub)
    if flt:
        items = resource.get(attr)
        if not isinstance(items, list):
            raise bad(f"{attr} is not multi-valued", "error.common.validation.noTarget")
        selected = parse_filter(flt)
        hits = [i for i, item in enumerate(items) if isinstance(item, dict) and selected(item)]
        if name == "remove" and not sub:
            resource[attr] = [item for i, item in enumerate(items) if i not in hits]
            if not resource[attr]:
                resource.pop(attr)
            return
        if not hits:  # RFC 7644 §3.5.2.3: a replace/add whose filter matches nothing
            raise bad(f"No value of {attr} matches [{flt}]", "error.common.validation.noTarget")
        for i in hits:
            if sub:
                sub_key = next((k for k in items[i] if k.lower() == sub.lower()), sub)
                if name == "remove":
                    items[i].pop(sub_key, None)
                else:
                    items[i][sub_key] = value
            elif name == "replace":
                if not isinstance(value, dict):
                    raise bad(f"replace of {attr}[{flt}] needs an object value")
                items[i] = value
            else:
                raise bad(f"add to {attr}[{flt}] needs a sub-attribute path")
        return
    if name == "remove":
        if sub:
            if isinstance(resource.get(attr), dict):
                resource[attr].pop(sub, None)
        elif value is not None and isinstance(resource.get(attr), list):
            _remove_values(resource, attr, value)
        else:
            resource.pop(attr, None)
    elif name == "replace":
        if sub:
            resource.setdefault(attr, {})[sub] = value
        else:
            resource[attr] = value
    else:
        _add(resource, attr, sub, value)


def apply_patch(
    resource: dict[str, Any], body: Any, canonical: Canonical, read_only: Collection[str] = ()
) -> dict[str, Any]:
    """A patched copy of ``resource``; raises ScimError 400 for a malformed PatchOp or an
    operation on a ``read_only`` attribute (RFC 7644 §3.5.2: mutability)."""
    if not isinstance(body, dict):
        raise bad("The request body must be a PatchOp object")
    schemas = get_ci(body, "schemas")
    if not isinstance(schemas, list) or PATCH_SCHEMA not in schemas:
        raise bad(
            f"Missing required attribute(s): schemas ({PATCH_SCHEMA}).",
            "error.common.validation.missingReqAttributes",
        )
    operations = get_ci(body, "Operations")
    if not isinstance(operations, list) or not operations:
        raise bad(
            "Missing required attribute(s): Operations.",
            "error.common.validation.missingReqAttributes",
        )
    patched = copy.deepcopy(resource)
    for op in operations:
        if not isinstance(op, dict):
            raise bad("Each PatchOp operation must be an object")
        _apply_one(patched, op, canonical, read_only)
    return patched
