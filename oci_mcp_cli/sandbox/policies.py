"""IAM policy statements the sandbox evaluates (state rules, no HTTP).

The seed writes one statement form of OCI's policy language,
``Allow any-user to <verb> <resource-type> in compartment <name> where request.user.name =
'<user>'``; a statement in a compartment covers its sub-compartments, as in OCI. The tenancy
admin (``Allow group Administrators to manage all-resources in tenancy``) may do anything.
"""

from __future__ import annotations

import re

from oci_mcp_cli.sandbox.models import SandboxState

VERBS = ("inspect", "read", "use", "manage")  # each includes the ones before it
FAMILIES = {  # a resource-type and the families it covers
    "all-resources": {"object-family", "instance-family", "virtual-network-family"},
    "object-family": {"object-family"},
    "instance-family": {"instance-family"},
    "virtual-network-family": {"virtual-network-family"},
}
_STATEMENT = re.compile(
    r"^Allow any-user to (?P<verb>\w+) (?P<family>[\w-]+) in compartment (?P<compartment>[\w-]+)"
    r" where request\.user\.name\s*=\s*'(?P<user>[^']+)'$"
)


def _subtree(state: SandboxState, root: str) -> set[str]:
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [c.id for c in state.compartments.values() if c.parent_id == parent]
        found.update(children)
        frontier.extend(children)
    return found


def granted_compartments(
    state: SandboxState, principal_ocid: str, verb: str, family: str
) -> set[str] | None:
    """Compartment OCIDs where the principal holds ``verb`` (or more) on ``family``; ``None``
    means every compartment (the tenancy admin)."""
    if state.is_tenancy_admin(principal_ocid):
        return None
    found = state.find_user_by_ocid(principal_ocid)
    if found is None:
        return set()
    user_name = found[1].user_name
    by_name = {c.name: c.id for c in state.compartments.values()}
    granted: set[str] = set()
    for policy in state.policies:
        for statement in policy.statements:
            m = _STATEMENT.match(statement)
            if (
                m
                and m["user"] == user_name
                and m["compartment"] in by_name
                and VERBS.index(m["verb"]) >= VERBS.index(verb)
                and family in FAMILIES.get(m["family"], set())
            ):
                granted |= _subtree(state, by_name[m["compartment"]])
    return granted


def allows(state: SandboxState, principal_ocid: str, verb: str, family: str, cid: str) -> bool:
    granted = granted_compartments(state, principal_ocid, verb, family)
    return granted is None or cid in granted
