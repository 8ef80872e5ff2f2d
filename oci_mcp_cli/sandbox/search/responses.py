"""Resource Search wire layer: ``SearchResources`` → ``ResourceSummaryCollection``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.operations import Call, Reply, model_wire
from oci_mcp_cli.sandbox.search import models
from oci_mcp_cli.sandbox.wire import OciApiError, paginate

if TYPE_CHECKING:
    from oci_mcp_cli.sandbox.context import SandboxContext


class SearchResponses:
    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def search_resources(self, call: Call) -> Reply:
        details = call.json_body()
        if details.get("type") != "Structured" or not isinstance(details.get("query"), str):
            raise OciApiError(
                400, "InvalidParameter", "The sandbox answers Structured searches with a query"
            )
        query = models.parse_query(details["query"])
        with self.ctx.store.read() as state:
            found = models.search(state, call.principal.ocid, query)
        items = [
            model_wire(
                "resource_search",
                "ResourceSummary",
                resource_type=r.resource_type,
                identifier=r.identifier,
                compartment_id=r.compartment_id,
                time_created=r.time_created,
                display_name=r.display_name,
                availability_domain=r.availability_domain,
                lifecycle_state=r.lifecycle_state,
                freeform_tags={},
                defined_tags={},
                system_tags={},
                identity_context={},
            )
            for r in found
        ]
        page, headers = paginate(call.request, items)
        return Reply(
            model_wire("resource_search", "ResourceSummaryCollection", items=page),
            headers=headers,
        )

    def list_resource_types(self, call: Call) -> Reply:
        """The types the sandbox's search finds (``fields`` left out: not emulated)."""
        return Reply(
            [
                model_wire("resource_search", "ResourceType", name=name)
                for name in sorted(models.TYPES.values())
            ]
        )
