"""The IAM control plane under ``/20160918`` (what ``oci.identity.IdentityClient`` calls).

Signed calls only (API key or ``ST$`` UPST). Users see only the compartments the seed grants them;
anything a principal may not see is ``404 NotAuthorizedOrNotFound``, as in OCI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.wire import (
    OciApiError,
    json_response,
    not_found,
    oci_list_response,
    signed_endpoint,
    sort_items,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Compartment, Domain, SandboxState
    from oci_mcp_cli.sandbox.signatures import Principal

BASE = "/20160918"


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise OciApiError(400, "MissingParameter", f"Missing the required parameter {name}")
    return value


def _wire_str(value: Any) -> str:
    """A field as query params spell it (``true``/``false`` for booleans), lowercased."""
    return str(value).lower()


def _bool_param(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise OciApiError(400, "InvalidParameter", f"{name} must be true or false")
    return value == "true"


class IdentityApi:
    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    # wire forms
    def domain_wire(self, state: SandboxState, d: Domain) -> dict[str, Any]:
        url = self.ctx.domain_url(d.guid, port_443=True)  # OCI's Domain.url carries :443
        return {
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
            "freeformTags": {},
            "definedTags": {},
        }

    @staticmethod
    def compartment_wire(c: Compartment) -> dict[str, Any]:
        return {
            "id": c.id,
            "compartmentId": c.parent_id,
            "name": c.name,
            "description": c.description,
            "timeCreated": c.time_created,
            "lifecycleState": "ACTIVE",
            "isAccessible": True,
            "freeformTags": {},
            "definedTags": {},
        }

    @staticmethod
    def can_see(state: SandboxState, principal: Principal, compartment_id: str) -> bool:
        if compartment_id == state.tenancy_id:
            return True
        visible = state.visible_compartments(principal.ocid)
        return compartment_id in state.compartments and (
            visible is None or compartment_id in visible
        )

    # handlers
    def list_domains(self, request: Request, principal: Principal, body: bytes) -> Response:
        compartment = _required(request, "compartmentId")
        q = request.query_params
        with self.ctx.store.read() as state:
            if not self.can_see(state, principal, compartment):
                raise not_found(f"Compartment {compartment}")
            domains = (
                []
                if compartment != state.tenancy_id
                else [self.domain_wire(state, d) for d in state.domains.values()]
            )
        for key in (
            "displayName",
            "type",
            "url",
            "homeRegionUrl",
            "licenseType",
            "isHiddenOnLogin",
            "lifecycleState",
        ):
            wanted = q.get(key)
            if wanted:
                domains = [d for d in domains if _wire_str(d[key]) == wanted.lower()]
        return oci_list_response(request, sort_items(request, domains, "displayName"))

    def get_domain(self, request: Request, principal: Principal, body: bytes) -> Response:
        domain_id = request.path_params["id"]
        with self.ctx.store.read() as state:
            for d in state.domains.values():
                if d.ocid == domain_id:
                    return json_response(request, self.domain_wire(state, d))
        raise not_found(f"Domain {domain_id}")

    def list_regions(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            return json_response(request, [dict(r) for r in state.regions])

    def _tenancy(self, state: SandboxState, request: Request) -> None:
        if request.path_params["id"] != state.tenancy_id:
            raise not_found(f"Tenancy {request.path_params['id']}")

    def region_subscriptions(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            self._tenancy(state, request)
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
            self._tenancy(state, request)
            home_key = next(r["key"] for r in state.regions if r["name"] == state.home_region)
            return json_response(
                request,
                {
                    "id": state.tenancy_id,
                    "name": state.tenancy_name,
                    "description": "oci-mcp sandbox tenancy",
                    "homeRegionKey": home_key,
                    "upiIdcsCompatibilityLayerEndpoint": None,
                    "freeformTags": {},
                    "definedTags": {},
                },
            )

    def list_compartments(self, request: Request, principal: Principal, body: bytes) -> Response:
        parent = _required(request, "compartmentId")
        subtree = _bool_param(request, "compartmentIdInSubtree")
        access = request.query_params.get("accessLevel", "ANY").upper()
        if access not in ("ANY", "ACCESSIBLE"):
            raise OciApiError(400, "InvalidParameter", "accessLevel must be ANY or ACCESSIBLE")
        name = request.query_params.get("name")
        lifecycle = request.query_params.get("lifecycleState")
        with self.ctx.store.read() as state:
            if subtree and parent != state.tenancy_id:
                raise OciApiError(
                    400,
                    "InvalidParameter",
                    "compartmentIdInSubtree=true is only valid with the tenancy OCID",
                )
            if not self.can_see(state, principal, parent):
                raise not_found(f"Compartment {parent}")
            visible = state.visible_compartments(principal.ocid)
            found = [
                c
                for c in state.compartments.values()
                if (subtree or c.parent_id == parent)
                and (visible is None or c.id in visible)
                and (not name or c.name == name)
            ]
            wire = [self.compartment_wire(c) for c in found]
            if lifecycle:
                wire = [c for c in wire if c["lifecycleState"] == lifecycle]
            return oci_list_response(request, sort_items(request, wire, "name"))

    def get_compartment(self, request: Request, principal: Principal, body: bytes) -> Response:
        cid = request.path_params["id"]
        with self.ctx.store.read() as state:
            if cid == state.tenancy_id:
                return json_response(
                    request,
                    {
                        "id": cid,
                        "compartmentId": None,
                        "name": state.tenancy_name,
                        "description": "the tenancy (root compartment)",
                        "timeCreated": None,
                        "lifecycleState": "ACTIVE",
                        "freeformTags": {},
                        "definedTags": {},
                    },
                )
            if not self.can_see(state, principal, cid):
                raise not_found(f"Compartment {cid}")
            return json_response(request, self.compartment_wire(state.compartments[cid]))

    def get_user(self, request: Request, principal: Principal, body: bytes) -> Response:
        uid = request.path_params["id"]
        with self.ctx.store.read() as state:
            is_admin = principal.ocid == state.admin.ocid
            if uid == state.admin.ocid and is_admin:
                name, email, created = state.admin.name, "sandbox-admin@example.com", None
            else:
                found = state.find_user_by_ocid(uid)
                if found is None or not (is_admin or uid == principal.ocid):
                    raise not_found(f"User {uid}")
                domain, user = found
                name, email, created = user.user_name, user.email, domain.time_created
            return json_response(
                request,
                {
                    "id": uid,
                    "compartmentId": state.tenancy_id,
                    "name": name,
                    "description": f"{name} (sandbox)",
                    "email": email,
                    "emailVerified": True,
                    "timeCreated": created,
                    "lifecycleState": "ACTIVE",
                    "isMfaActivated": False,
                    "freeformTags": {},
                    "definedTags": {},
                },
            )


def routes(ctx: SandboxContext) -> list[Route]:
    from starlette.routing import Route

    api = IdentityApi(ctx)
    table = [
        ("/domains", api.list_domains),
        ("/domains/{id}", api.get_domain),
        ("/regions", api.list_regions),
        ("/tenancies/{id}/regionSubscriptions", api.region_subscriptions),
        ("/tenancies/{id}", api.get_tenancy),
        ("/compartments", api.list_compartments),
        ("/compartments/{id}", api.get_compartment),
        ("/users/{id}", api.get_user),
    ]
    return [Route(BASE + path, signed_endpoint(ctx, fn), methods=["GET"]) for path, fn in table]
