"""The built-in read-only tools. Each acts on OCI as the signed-in user (UPST), never as an admin.

Tools are sync functions registered through ``bulkhead``: each runs in a bounded pool of its own
(``--oci-workers`` threads) under the call's deadline (``--tool-timeout``), so the token exchange
and every blocking OCI SDK call stay off the event loop, and a storm of slow calls to one tool
cannot starve the others. Arguments are validated before any call. Lists are paged here, through
the client's own (bounded) retry only — ``oci.pagination`` would wrap a second retry around it.
"""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from oci_mcp_cli.server.clients import (
    bulkhead,
    current_runtime,
    current_user,
    oci_client,
    upst_claims,
)
from oci_mcp_cli.server.errors import tool_error

REGION_RE = re.compile(r"^[a-z]{2,}-[a-z]+-\d+$")
OCID_RE = re.compile(r"^ocid1\.[a-z0-9_]+\.[a-z0-9]+\.[a-z0-9.-]*\.[A-Za-z0-9_-]+$")

Region = Annotated[
    str | None,
    Field(
        description="OCI region identifier such as 'us-ashburn-1'; omit for the server's default."
    ),
]


def check_region(region: str | None) -> str | None:
    """Validate a region identifier (ToolError when malformed)."""
    if region is not None and not REGION_RE.match(region):
        raise tool_error(f"invalid region {region!r}: expected an identifier like 'us-ashburn-1'")
    return region


def check_ocid(value: str, what: str) -> str:
    """Validate an OCID (ToolError when malformed)."""
    if not OCID_RE.match(value or ""):
        raise tool_error(
            f"invalid {what} {value!r}: expected an OCID like 'ocid1.compartment.oc1..aaaa…'"
        )
    return value


def _call(operation: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from oci_mcp_cli.server.errors import oci_error

    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        raise oci_error(exc, operation) from None


def _all_pages(operation: str, fn: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """Every item of a paged list call; each page goes through the client's retry once."""
    items: list[Any] = []
    page: str | None = None
    while True:
        response = _call(operation, fn, *args, **({**kwargs, "page": page} if page else kwargs))
        items.extend(response.data)
        page = response.next_page
        if not page:
            return items


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def whoami() -> dict[str, Any]:
    """Who you are in OCI: user name, user OCID, tenancy OCID, identity domain and when your
    sign-in token expires. Use it to confirm which identity the other tools act as."""
    user = current_user()
    upst = upst_claims()
    claims = user.claims
    return {
        "user_name": user.name,
        "user_ocid": upst.get("sub") or claims.get("user_ocid"),
        "tenancy_ocid": upst.get("tenant") or claims.get("ca_ocid"),
        "domain": claims.get("domain") or claims.get("tenant_iss"),
        "domain_url": current_runtime().settings.domain_url,
        "token_expires_at": _iso(claims.get("exp")),
    }


def list_regions() -> list[dict[str, Any]]:
    """The OCI regions your tenancy is subscribed to (name, key, status, whether it is the home
    region). Use a region name from here as the `region` argument of other tools."""
    from oci.identity import IdentityClient

    tenancy = upst_claims().get("tenant")
    client = oci_client(IdentityClient)
    items = _call("ListRegionSubscriptions", client.list_region_subscriptions, tenancy).data
    return [
        {
            "region": r.region_name,
            "key": r.region_key,
            "status": r.status,
            "is_home_region": r.is_home_region,
        }
        for r in items
    ]


def get_namespace(region: Region = None) -> dict[str, str]:
    """Your tenancy's Object Storage namespace (needed to address buckets and objects)."""
    from oci.object_storage import ObjectStorageClient

    client = oci_client(ObjectStorageClient, region=check_region(region))
    return {"namespace": _call("GetNamespace", client.get_namespace).data}


def list_compartments(region: Region = None) -> list[dict[str, Any]]:
    """All compartments of the tenancy that you can access (the whole subtree), with their OCID,
    name, description, parent OCID and lifecycle state. Pass an `id` to list_buckets."""
    from oci.identity import IdentityClient

    tenancy = upst_claims().get("tenant")
    client = oci_client(IdentityClient, region=check_region(region))
    items = _all_pages(
        "ListCompartments",
        client.list_compartments,
        tenancy,
        compartment_id_in_subtree=True,
        access_level="ACCESSIBLE",
    )
    return [
        {
            "id": c.id,
            "name": c.name,
            "description": c.description,
            "parent_id": c.compartment_id,
            "lifecycle_state": c.lifecycle_state,
        }
        for c in items
    ]


def list_buckets(
    compartment_id: Annotated[
        str, Field(description="OCID of the compartment (from list_compartments).")
    ],
    region: Region = None,
) -> list[dict[str, Any]]:
    """The Object Storage buckets in one compartment that you can see (name, namespace, created)."""
    from oci.object_storage import ObjectStorageClient

    check_ocid(compartment_id, "compartment_id")
    client = oci_client(ObjectStorageClient, region=check_region(region))
    namespace = _call("GetNamespace", client.get_namespace).data
    items = _all_pages("ListBuckets", client.list_buckets, namespace, compartment_id)
    return [
        {"name": b.name, "namespace": b.namespace, "time_created": _iso_dt(b.time_created)}
        for b in items
    ]


def _iso_dt(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


TOOLS = (whoami, list_regions, get_namespace, list_compartments, list_buckets)


def register_tools(mcp: Any) -> None:
    """Add the built-in tools to a FastMCP server, annotated read-only, each in its own pool."""
    from mcp.types import ToolAnnotations

    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )
    for fn in TOOLS:
        tool = bulkhead(fn)
        # Described here, so FastMCP does not parse the docstring (with griffe: ≈ 50 ms of every
        # start; none of ours has an Args section, and parameters carry their Field descriptions).
        tool.__doc__ = None
        mcp.tool(tool, annotations=read_only, description=inspect.getdoc(fn))
