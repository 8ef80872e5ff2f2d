"""IAM wire layer: parse the request, apply :mod:`.models`, answer in OCI's JSON shapes.

Signed calls only (API key or ``ST$`` UPST); :mod:`.urls` wraps every handler in
:func:`~oci_mcp_cli.sandbox.wire.signed_endpoint`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.identity import models
from oci_mcp_cli.sandbox.operations import Call, Reply, model_wire
from oci_mcp_cli.sandbox.wire import (
    OciApiError,
    Paging,
    entity_etag,
    json_response,
    model_wire_names,
    oci_list_response,
    sort_items,
    with_tags,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Compartment, Domain, SandboxState
    from oci_mcp_cli.sandbox.signatures import Principal

# ListCompartments pages as recorded: ``opc-limit`` echoed, capped at 100 (``limit=1000`` →
# ``opc-limit: 100``); 25 without ``limit``, as recorded IAM lists without one (docs/sandbox.md).
COMPARTMENT_PAGING = Paging(default_limit=25, page_cap=100, echo_limit=True)

DOMAIN_FILTERS = (
    "displayName",
    "type",
    "url",
    "homeRegionUrl",
    "licenseType",
    "isHiddenOnLogin",
    "lifecycleState",
)


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise OciApiError(400, "MissingParameter", f"Missing the required parameter {name}")
    return value


def _wire_str(value: object) -> str:
    """A field as query params spell it (``true``/``false`` for booleans), lowercased."""
    return str(value).lower()


def _bool_param(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise OciApiError(400, "InvalidParameter", f"{name} must be true or false")
    return value == "true"


def compartment_wire(c: Compartment, accessible: bool) -> dict[str, Any]:
    """A compartment; ``isAccessible`` only when asked about access (``accessLevel=ACCESSIBLE``
    and GET), absent otherwise, as recorded. Every listed compartment is directly accessible."""
    flag = {"isAccessible": True} if accessible else {}
    return with_tags(
        {
            **flag,
            "id": c.id,
            "compartmentId": c.parent_id,
            "name": c.name,
            "description": c.description,
            "timeCreated": c.time_created,
            "lifecycleState": "ACTIVE",
        }
    )


def root_compartment_wire(state: SandboxState) -> dict[str, Any]:
    """The tenancy as ``GET /compartments/{tenancy}`` shows it: no ``compartmentId`` key."""
    return with_tags(
        {
            "isAccessible": True,
            "id": state.tenancy_id,
            "name": state.tenancy_name,
            "description": "the tenancy (root compartment)",
            "timeCreated": models.tenancy_time_created(state),
            "lifecycleState": "ACTIVE",
        }
    )


def user_wire(state: SandboxState, user: models.IamUser) -> dict[str, Any]:
    """A user with every attribute of the SDK's ``User`` (``null`` where unset) and every
    ``UserCapabilities`` flag on (a new user's defaults)."""
    known = with_tags(
        {
            "id": user.ocid,
            "compartmentId": state.tenancy_id,
            "name": user.name,
            "description": f"{user.name} (sandbox)",
            "email": user.email,
            "emailVerified": True,
            "timeCreated": user.time_created,
            "lifecycleState": "ACTIVE",
            "isMfaActivated": False,
            "capabilities": dict.fromkeys(model_wire_names("identity", "UserCapabilities"), True),
        }
    )
    return {name: known.get(name) for name in model_wire_names("identity", "User")}


def entity_response(request: Request, data: dict[str, Any]) -> Response:
    """A single IAM resource with its ``ETag``."""
    return json_response(request, data, headers={"ETag": entity_etag(data)})


class IdentityResponses:
    """The ``/20160918`` handlers of one sandbox (``(request, principal, body) -> Response``)."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def domain_wire(self, state: SandboxState, d: Domain) -> dict[str, Any]:
        url = self.ctx.domain_url(d.guid, port_443=True)  # OCI's Domain.url carries :443
        return with_tags(
            {
                "id": d.ocid,
                "compartmentId": state.tenancy_id,
                "displayName": d.display_name,
                "description": d.description,
                "url": url,
                "homeRegionUrl": url,
                "homeRegion": state.home_region,
                "replicaRegions": [],
                "type": d.type,
                "licenseType": "free" if d.type == "DEFAULT" else "premium",
                "isHiddenOnLogin": False,
                "timeCreated": d.time_created,
                "lifecycleState": "ACTIVE",
                "lifecycleDetails": None,
            }
        )

    def list_domains(self, request: Request, principal: Principal, body: bytes) -> Response:
        compartment_id = _required(request, "compartmentId")
        q = request.query_params
        with self.ctx.store.read() as state:
            found = models.domains_in(state, principal.ocid, compartment_id)
            domains = [self.domain_wire(state, d) for d in found]
        for key in DOMAIN_FILTERS:
            wanted = q.get(key)
            if wanted:
                domains = [d for d in domains if _wire_str(d[key]) == wanted.lower()]
        return oci_list_response(request, sort_items(request, domains, "displayName"))

    def get_domain(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            domain = models.domain_by_ocid(state, request.path_params["id"])
            return json_response(request, self.domain_wire(state, domain))

    def list_regions(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            return json_response(request, [dict(r) for r in state.regions])

    def region_subscriptions(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            models.check_tenancy(state, request.path_params["id"])
            return json_response(
                request,
                [
                    {
                        "regionKey": r["key"],
                        "regionName": r["name"],
                        "status": "READY",
                        "isHomeRegion": r["name"] == state.home_region,
                    }
                    for r in state.regions
                ],
            )

    def get_tenancy(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            models.check_tenancy(state, request.path_params["id"])
            tenancy = {
                "id": state.tenancy_id,
                "name": state.tenancy_name,
                "description": "oci-mcp sandbox tenancy",
                "homeRegionKey": models.home_region_key(state),
                "upiIdcsCompatibilityLayerEndpoint": None,
            }
            return json_response(request, with_tags(tenancy))

    def list_compartments(self, request: Request, principal: Principal, body: bytes) -> Response:
        parent = _required(request, "compartmentId")
        subtree = _bool_param(request, "compartmentIdInSubtree")
        access = request.query_params.get("accessLevel", "ANY").upper()
        if access not in ("ANY", "ACCESSIBLE"):
            raise OciApiError(400, "InvalidParameter", "accessLevel must be ANY or ACCESSIBLE")
        name = request.query_params.get("name")
        lifecycle = request.query_params.get("lifecycleState")
        with self.ctx.store.read() as state:
            found = models.compartments_under(state, principal.ocid, parent, subtree, name)
            wire = [compartment_wire(c, access == "ACCESSIBLE") for c in found]
            if lifecycle:
                wire = [c for c in wire if c["lifecycleState"] == lifecycle]
            return oci_list_response(
                request, sort_items(request, wire, "name"), COMPARTMENT_PAGING
            )

    def get_compartment(self, request: Request, principal: Principal, body: bytes) -> Response:
        cid = request.path_params["id"]
        with self.ctx.store.read() as state:
            if cid == state.tenancy_id:
                return entity_response(request, root_compartment_wire(state))
            found = models.compartment(state, principal.ocid, cid)
            return entity_response(request, compartment_wire(found, accessible=True))

    def get_user(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            user = models.iam_user(state, principal.ocid, request.path_params["id"])
            return entity_response(request, user_wire(state, user))


# ---- Operations served from the SDK's metadata (``Call -> Reply``; :mod:`..operations`) ----

# Users, groups and policies page as ListCompartments was recorded (the same IAM API).
IAM_PAGING = COMPARTMENT_PAGING


def _filtered(call: Call, items: list[dict[str, Any]], name_key: str) -> list[dict[str, Any]]:
    """IAM list filters: ``name`` (exact) and ``lifecycleState``, then ``sortBy``/``sortOrder``."""
    name, lifecycle = call.query("name"), call.query("lifecycleState")
    kept = [
        i
        for i in items
        if (not name or i[name_key] == name) and (not lifecycle or i["lifecycleState"] == lifecycle)
    ]
    return sort_items(call.request, kept, name_key)


class IdentityOperations:
    """IAM handlers served through the SDK's operation metadata."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    def list_availability_domains(self, call: Call) -> Reply:
        compartment = call.required_query("compartmentId")
        with self.ctx.store.read() as state:
            ads = models.availability_domains(state, call.principal.ocid, compartment)
            wire = [
                model_wire(
                    "identity",
                    "AvailabilityDomain",
                    name=a.name,
                    id=a.id,
                    compartment_id=state.tenancy_id,
                )
                for a in ads
            ]
            return Reply(wire)

    def list_fault_domains(self, call: Call) -> Reply:
        compartment = call.required_query("compartmentId")
        ad = call.required_query("availabilityDomain")
        with self.ctx.store.read() as state:
            fds = models.fault_domains(state, call.principal.ocid, compartment, ad)
        wire = [
            model_wire(
                "identity",
                "FaultDomain",
                name=name,
                id=fid,
                compartment_id=compartment,
                availability_domain=ad,
            )
            for name, fid in fds
        ]
        return Reply(wire)

    def list_users(self, call: Call) -> Reply:
        compartment = call.required_query("compartmentId")
        with self.ctx.store.read() as state:
            users = models.tenancy_users(state, call.principal.ocid, compartment)
            return Reply(_filtered(call, [user_wire(state, u) for u in users], "name"))

    def list_groups(self, call: Call) -> Reply:
        compartment = call.required_query("compartmentId")
        with self.ctx.store.read() as state:
            groups = models.tenancy_groups(state, call.principal.ocid, compartment)
            wire = [
                model_wire(
                    "identity",
                    "Group",
                    id=g.id,
                    compartment_id=state.tenancy_id,
                    name=g.name,
                    description=g.description,
                    time_created=g.time_created,
                    lifecycle_state="ACTIVE",
                    freeform_tags={},
                    defined_tags={},
                )
                for g in groups
            ]
            return Reply(_filtered(call, wire, "name"))

    def list_policies(self, call: Call) -> Reply:
        compartment = call.required_query("compartmentId")
        with self.ctx.store.read() as state:
            found = models.tenancy_policies(state, call.principal.ocid, compartment)
            wire = [
                model_wire(
                    "identity",
                    "Policy",
                    id=p.id,
                    compartment_id=p.compartment_id,
                    name=p.name,
                    statements=list(p.statements),
                    description=p.description,
                    time_created=p.time_created,
                    lifecycle_state="ACTIVE",
                    freeform_tags={},
                    defined_tags={},
                )
                for p in found
            ]
            return Reply(_filtered(call, wire, "name"))
