"""Resource Search rules: which resources a structured query finds for a principal (no HTTP).

The sandbox answers ``query all resources`` and ``query <type>[, <type>…] resources`` (types
case-insensitive), optionally ``where`` conditions joined by ``&&``: ``compartmentId = '…'``,
``displayName = '…'`` and ``displayName =~ '…'`` (case-insensitive substring) — what Oracle's
resource-search MCP server sends. Anything else (other fields, ``||``, ``return``, free text) is
refused with 400 ``InvalidParameter`` rather than answered wrongly (docs/sandbox.md). A principal
finds what it may read: resources in the compartments it sees, and those compartments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oci_mcp_cli.sandbox.identity.models import can_see
from oci_mcp_cli.sandbox.models import SandboxState
from oci_mcp_cli.sandbox.objectstorage.models import bucket_ocid
from oci_mcp_cli.sandbox.wire import OciApiError

TYPES = {t.lower(): t for t in ("Instance", "Vcn", "Subnet", "Bucket", "Compartment")}
_QUERY = re.compile(
    r"^\s*query\s+(?P<types>.+?)\s+resources(?:\s+where\s+(?P<where>.+?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>compartmentId|displayName)\s*(?P<op>=~|=)\s*'(?P<value>[^']*)'\s*$"
)


@dataclass(frozen=True)
class Query:
    types: set[str] | None  # None: all
    conditions: tuple[tuple[str, str, str], ...]  # (field, op, value)

    def matches(self, r: Found) -> bool:
        if self.types is not None and r.resource_type not in self.types:
            return False
        for field, op, value in self.conditions:
            actual = r.compartment_id if field == "compartmentId" else r.display_name
            if op == "=" and actual != value:
                return False
            if op == "=~" and value.lower() not in actual.lower():
                return False
        return True


@dataclass(frozen=True)
class Found:
    resource_type: str
    identifier: str
    compartment_id: str
    display_name: str
    time_created: str
    lifecycle_state: str | None
    availability_domain: str | None = None


UNSUPPORTED = (
    "The sandbox answers 'query all resources' and 'query <type>[, <type>] resources', with"
    " where conditions compartmentId = '…', displayName = '…' or displayName =~ '…' joined by &&"
)


def parse_query(query: str) -> Query:
    """A structured query the sandbox can answer, or 400 ``InvalidParameter``."""
    match = _QUERY.match(query)
    if match is None:
        raise OciApiError(400, "InvalidParameter", UNSUPPORTED)
    conditions = []
    for part in match["where"].split("&&") if match["where"] else []:
        cond = _CONDITION.match(part)
        if cond is None:
            raise OciApiError(400, "InvalidParameter", UNSUPPORTED)
        conditions.append((cond["field"], cond["op"], cond["value"]))
    names = [t.strip().lower() for t in match["types"].split(",")]
    if names == ["all"]:
        return Query(None, tuple(conditions))
    unknown = [n for n in names if n not in TYPES]
    if unknown:
        raise OciApiError(400, "InvalidParameter", f"Unknown resource types: {unknown}")
    return Query({TYPES[n] for n in names}, tuple(conditions))


def search(state: SandboxState, principal_ocid: str, query: Query) -> list[Found]:
    found = [
        *(
            Found(
                "Instance",
                i.id,
                i.compartment_id,
                i.display_name,
                i.time_created,
                i.lifecycle_state,
                i.availability_domain,
            )
            for i in state.instances
        ),
        *(
            Found("Vcn", v.id, v.compartment_id, v.display_name, v.time_created, "AVAILABLE")
            for v in state.vcns
        ),
        *(
            Found("Subnet", s.id, s.compartment_id, s.display_name, s.time_created, "AVAILABLE")
            for s in state.subnets
        ),
        *(
            Found("Bucket", bucket_ocid(b), b.compartment_id, b.name, b.time_created, None)
            for b in state.buckets
        ),
    ]
    visible = [r for r in found if can_see(state, principal_ocid, r.compartment_id)] + [
        Found("Compartment", c.id, c.parent_id, c.name, c.time_created, "ACTIVE")
        for c in state.compartments.values()
        if can_see(state, principal_ocid, c.id)
    ]
    kept = [r for r in visible if query.matches(r)]
    return sorted(kept, key=lambda r: (r.resource_type, r.display_name))
