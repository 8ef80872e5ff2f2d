"""The Compute and Virtual Network operations served (routes, parameters and response models
from the SDK's metadata, :mod:`..operations`), read from the SDK on the first request under their
paths: a sandbox start need not import ``oci.core`` (:func:`..operations.lazy_routes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oci_mcp_cli.sandbox.compute.responses import ComputeResponses
from oci_mcp_cli.sandbox.hosts import FAMILY_PATH_PREFIXES
from oci_mcp_cli.sandbox.operations import Served, lazy_routes, operation_routes

if TYPE_CHECKING:
    from starlette.routing import BaseRoute, Route

    from oci_mcp_cli.sandbox.context import SandboxContext

COMPUTE = "oci.core.ComputeClient"
NETWORK = "oci.core.VirtualNetworkClient"


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    def build() -> list[Route]:
        api = ComputeResponses(ctx)
        compute = [
            Served("list_instances", api.list_instances),
            Served("get_instance", api.get_instance),
        ]
        network = [
            Served("list_vcns", api.list_vcns),
            Served("get_vcn", api.get_vcn),
            Served("list_subnets", api.list_subnets),
            Served("get_subnet", api.get_subnet),
        ]
        return operation_routes(ctx, COMPUTE, compute) + operation_routes(ctx, NETWORK, network)

    return [lazy_routes(FAMILY_PATH_PREFIXES["core"], build)]
