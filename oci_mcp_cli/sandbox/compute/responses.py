"""Compute and Virtual Network wire layer: each handler serves one SDK operation
(``Call -> Reply``); the SDK's ``Instance`` / ``Vcn`` / ``Subnet`` models give the wire names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.compute import models
from oci_mcp_cli.sandbox.operations import Call, Reply, model_wire
from oci_mcp_cli.sandbox.wire import entity_etag, sort_items

if TYPE_CHECKING:
    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Instance, Subnet, Vcn

REGION_CODE = {"us-ashburn-1": "iad", "us-phoenix-1": "phx"}  # Instance.region, as OCI writes it


def instance_wire(i: Instance, region: str) -> dict[str, Any]:
    return model_wire(
        "core",
        "Instance",
        availability_domain=i.availability_domain,
        compartment_id=i.compartment_id,
        defined_tags={},
        display_name=i.display_name,
        extended_metadata={},
        fault_domain=i.fault_domain,
        freeform_tags={},
        id=i.id,
        launch_mode="PARAVIRTUALIZED",
        lifecycle_state=i.lifecycle_state,
        metadata={},
        region=REGION_CODE.get(region, region),
        shape=i.shape,
        system_tags={},
        time_created=i.time_created,
    )


def vcn_wire(v: Vcn) -> dict[str, Any]:
    return model_wire(
        "core",
        "Vcn",
        cidr_block=v.cidr_block,
        cidr_blocks=[v.cidr_block],
        compartment_id=v.compartment_id,
        defined_tags={},
        display_name=v.display_name,
        dns_label=v.dns_label,
        freeform_tags={},
        id=v.id,
        lifecycle_state="AVAILABLE",
        time_created=v.time_created,
        vcn_domain_name=f"{v.dns_label}.oraclevcn.com",
    )


def subnet_wire(s: Subnet) -> dict[str, Any]:
    return model_wire(
        "core",
        "Subnet",
        cidr_block=s.cidr_block,
        ipv4_cidr_blocks=[s.cidr_block],
        compartment_id=s.compartment_id,
        defined_tags={},
        display_name=s.display_name,
        dns_label=s.dns_label,
        freeform_tags={},
        id=s.id,
        lifecycle_state="AVAILABLE",
        prohibit_internet_ingress=True,
        prohibit_public_ip_on_vnic=True,
        time_created=s.time_created,
        vcn_id=s.vcn_id,
    )


def _filtered(call: Call, items: list[dict[str, Any]], **wanted: str | None) -> list[dict]:
    """Core list filters (exact match on the wire names given) then ``sortBy``/``sortOrder``."""
    kept = [i for i in items if all(v is None or i[k] == v for k, v in wanted.items())]
    return sort_items(call.request, kept, "displayName", name_sort="DISPLAYNAME")


def _entity(data: dict[str, Any]) -> Reply:
    return Reply(data, etag=entity_etag(data))


class ComputeResponses:
    """Handlers for ``ComputeClient`` and ``VirtualNetworkClient`` reads."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def list_instances(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            found = models.in_compartment(
                state, call.principal.ocid, call.required_query("compartmentId"), state.instances
            )
            wire = [instance_wire(i, state.home_region) for i in found]
        return Reply(
            _filtered(
                call,
                wire,
                displayName=call.query("displayName"),
                lifecycleState=call.query("lifecycleState"),
                availabilityDomain=call.query("availabilityDomain"),
            )
        )

    def get_instance(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            found = models.by_id(
                state, call.principal.ocid, call.path["instanceId"], state.instances, "Instance"
            )
            return _entity(instance_wire(found, state.home_region))

    def list_vcns(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            found = models.in_compartment(
                state, call.principal.ocid, call.required_query("compartmentId"), state.vcns
            )
        wire = [vcn_wire(v) for v in found]
        return Reply(
            _filtered(
                call,
                wire,
                displayName=call.query("displayName"),
                lifecycleState=call.query("lifecycleState"),
            )
        )

    def get_vcn(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            found = models.by_id(state, call.principal.ocid, call.path["vcnId"], state.vcns, "Vcn")
        return _entity(vcn_wire(found))

    def list_subnets(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            found = models.in_compartment(
                state, call.principal.ocid, call.required_query("compartmentId"), state.subnets
            )
        wire = [subnet_wire(s) for s in found]
        return Reply(
            _filtered(
                call,
                wire,
                vcnId=call.query("vcnId"),
                displayName=call.query("displayName"),
                lifecycleState=call.query("lifecycleState"),
            )
        )

    def get_subnet(self, call: Call) -> Reply:
        with self.ctx.store.read() as state:
            found = models.by_id(
                state, call.principal.ocid, call.path["subnetId"], state.subnets, "Subnet"
            )
        return _entity(subnet_wire(found))
