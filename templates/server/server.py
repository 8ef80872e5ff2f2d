"""My OCI tools, served behind OCI IAM sign-in.

Run it with the same sign-in, per-user OCI signer cache, /health route and logging as oci-mcp's
built-in server:

    oci-mcp serve --app server.py:mcp

Every OCI call in a tool runs *as the signed-in user*: `oci_client(ClientClass)` builds an OCI SDK
client whose requests are signed with that user's session token (UPST). Sync tools run in a worker
thread, so blocking SDK calls never stall the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from oci.object_storage import ObjectStorageClient
from pydantic import Field

from oci_mcp_cli.server.clients import oci_client
from oci_mcp_cli.server.errors import oci_error

mcp = FastMCP("my-oci-tools")


@mcp.tool(annotations={"readOnlyHint": True})
def my_buckets(
    compartment_id: Annotated[str, Field(description="OCID of the compartment to list")],
) -> dict[str, object]:
    """List the Object Storage buckets the signed-in user can see in one compartment."""
    client = oci_client(ObjectStorageClient)
    try:
        namespace = client.get_namespace().data
        buckets = client.list_buckets(namespace, compartment_id).data
    except Exception as exc:  # OCI code, message and opc-request-id; never a traceback
        raise oci_error(exc, "list_buckets") from exc
    return {"namespace": namespace, "buckets": sorted(b.name for b in buckets)}
