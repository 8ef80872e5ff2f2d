"""Small SCIM helpers over the SDK models: PatchOp building and filter quoting."""

from __future__ import annotations

from typing import Any

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Op = tuple[str, str, Any]
"""(op, path, value); op is ADD | REMOVE | REPLACE (the SDK model accepts uppercase only)."""


def patch_op(ops: list[Op]) -> Any:
    """An ``oci.identity_domains.models.PatchOp`` for ``ops``."""
    from oci.identity_domains.models import Operations, PatchOp

    operations = []
    for op, path, value in ops:
        operation = Operations(op=op.upper(), path=path)
        if op.upper() != "REMOVE":
            operation.value = value
        operations.append(operation)
    return PatchOp(schemas=[PATCH_OP_SCHEMA], operations=operations)


def eq_filter(attribute: str, value: str) -> str:
    """``attribute eq "value"`` with the value's quotes and backslashes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{attribute} eq "{escaped}"'


def merged(existing: list[str] | None, wanted: list[str]) -> list[str]:
    """``existing`` followed by the ``wanted`` items it lacks (order kept, no duplicates)."""
    result = list(existing or [])
    result.extend(item for item in wanted if item not in result)
    return result
