"""HTTP layer of the SCIM admin API: ``/<guid>/admin/v1/{Apps,AppStatusChanger,Settings,
IdentityPropagationTrusts,Groups,Grants,Users}``.
Every call needs a valid OCI signature (API key or ``ST$``
UPST; 401 ``NotAuthenticated`` otherwise) *of an administrator of that domain*: the tenancy admin,
or a user of the domain with the Identity Domain Administrator role (401 ``NotAuthorized``
otherwise — see :func:`authorize`).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.sandbox.scim import resources as res
from oci_mcp_cli.sandbox.scim.filter import lookup, parse_filter
from oci_mcp_cli.sandbox.scim.patch import get_ci
from oci_mcp_cli.sandbox.wire import (
    SCIM_LIST,
    ScimError,
    empty_response,
    json_response,
    signed_endpoint,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from oci_mcp_cli.sandbox.context import SandboxContext
    from oci_mcp_cli.sandbox.models import Domain, SandboxState
    from oci_mcp_cli.sandbox.signatures import Principal

ATTRIBUTE_SETS = ("all", "always", "never", "request", "default")
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
DEFAULT_COUNT, MAX_COUNT = 50, 1000


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise ScimError(
            400, "The request body is not valid JSON.", "error.common.invalidJson"
        ) from None


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _attribute_sets(request: Request) -> list[str]:
    sets = [s.lower() for s in _split(request.query_params.getlist("attributeSets"))]
    bad = [s for s in sets if s not in ATTRIBUTE_SETS]
    if bad:
        raise ScimError(
            400,
            f"Invalid attributeSets value(s) {', '.join(bad)}: use {'|'.join(ATTRIBUTE_SETS)}.",
            res.INVALID,
        )
    return sets


def project(
    rt: res.ResourceType, resource: dict[str, Any], attributes: list[str], sets: list[str]
) -> dict[str, Any]:
    """Apply ``attributes=`` / ``attributeSets=``: the default set (every attribute but the
    ``returned: request`` ones) unless a subset was asked; request-only attributes only when
    named in ``attributes`` or asked for with ``attributeSets=request|all`` (union)."""
    asked = {a.split(".")[0].lower() for a in attributes}
    with_requested = any(s in ("all", "request") for s in sets)
    hidden = {a.lower() for a in rt.on_request} - asked
    if with_requested:
        hidden = set()
    if any(s in ("all", "default") for s in sets) or (not attributes and not sets):
        return {k: v for k, v in resource.items() if k.lower() not in hidden}
    keep = {a.lower() for a in ("schemas", "meta", *rt.always)} | asked
    if with_requested:
        keep |= {a.lower() for a in rt.on_request}
    return {k: v for k, v in resource.items() if k.lower() in keep}


NOT_AUTHORIZED = "NotAuthorized"


def authorize(state: SandboxState, domain: Domain, principal: Principal) -> None:
    """Who may call the admin API of ``domain``, whatever the signature (API key or UPST):
    the tenancy admin (an IAM policy over every domain), or an active user of this domain with the
    Identity Domain Administrator role. Anyone else: 401 ``NotAuthorized`` (docs/sandbox.md)."""
    if state.is_tenancy_admin(principal.ocid):
        return
    user = next((u for u in domain.users.values() if u.ocid == principal.ocid), None)
    if user is not None and user.is_domain_admin():
        return
    raise ScimError(
        401,
        f"{NOT_AUTHORIZED}: {principal.user_name} is not authorized to use the admin API of "
        f"identity domain {domain.display_name}: it needs the Identity Domain Administrator role "
        "in this domain.",
        NOT_AUTHORIZED,
    )


class ScimApi:
    """Handlers bound to one sandbox context."""

    def __init__(self, ctx: SandboxContext):
        self.ctx = ctx

    # helpers
    def guarded(self, handler: Callable[..., Response]) -> Callable[..., Response]:
        """``handler`` behind :func:`authorize` (an unknown domain is still 404)."""

        def checked(request: Request, principal: Principal, body: bytes) -> Response:
            with self.ctx.store.read() as state:
                authorize(state, self.domain(state, request), principal)
            return handler(request, principal, body)

        checked.__name__ = getattr(handler, "__name__", "handler")
        return checked

    def domain(self, state: SandboxState, request: Request) -> Domain:
        guid = request.path_params["guid"]
        domain = state.domain_by_guid(guid)
        if domain is None:
            raise ScimError(
                404, f"Identity domain {guid} not found.", "error.common.resourceNotFound"
            )
        return domain

    def render(
        self,
        request: Request,
        rt: res.ResourceType,
        resource: dict[str, Any],
        status: int = 200,
    ) -> Response:
        body = self.wire(request, rt, resource)
        sets = _attribute_sets(request)
        attrs = _split(request.query_params.getlist("attributes"))
        headers = {"ETag": body["meta"]["version"]} if "version" in body.get("meta", {}) else {}
        if status == 201:
            headers["Location"] = body["meta"]["location"]
        return json_response(request, project(rt, body, attrs, sets), status, headers)

    def wire(self, request: Request, rt: res.ResourceType, resource: dict[str, Any]) -> dict:
        body = copy.deepcopy(resource)
        domain_url = self.ctx.domain_url(request.path_params["guid"])
        base = f"{domain_url}/admin/v1/{rt.endpoint}"
        body.setdefault("meta", {})["location"] = f"{base}/{body.get('id', '')}"
        return res.with_refs(body, domain_url)

    @staticmethod
    def check_if_match(request: Request, resource: dict[str, Any]) -> None:
        wanted = request.headers.get("if-match")
        if not wanted or wanted.strip() == "*":
            return
        version = resource.get("meta", {}).get("version")
        tags = [t.strip().removeprefix("W/").strip('"') for t in wanted.split(",")]
        if version not in tags:
            raise ScimError(
                412,
                "If-Match does not match the resource version.",
                "error.common.preconditionFailed",
            )

    def list_response(
        self,
        request: Request,
        rt: res.ResourceType,
        items: list[dict[str, Any]],
        params: dict[str, Any],
    ) -> Response:
        flt = params.get("filter")
        if flt:
            predicate = parse_filter(str(flt), rt.case_exact)
            items = [i for i in items if predicate(i)]
        sort_by = params.get("sortBy")
        if sort_by:
            order = str(params.get("sortOrder") or "ascending").lower()
            if order not in ("ascending", "descending"):
                raise ScimError(400, f"Invalid sortOrder {order!r}.", res.INVALID)
            items = sorted(
                items,
                key=lambda i: str(lookup(i, str(sort_by))).lower(),
                reverse=order == "descending",
            )
        try:
            start = max(int(params.get("startIndex") or 1), 1)
            count = int(params["count"]) if params.get("count") not in (None, "") else DEFAULT_COUNT
        except ValueError:
            raise ScimError(400, "startIndex and count must be integers.", res.INVALID) from None
        count = DEFAULT_COUNT if count < 0 else min(count, MAX_COUNT)
        page = items[start - 1 : start - 1 + count]
        sets = _attribute_sets(request)
        attrs = params.get("attributes") or []
        wire = [project(rt, self.wire(request, rt, i), attrs, sets) for i in page]
        return json_response(
            request,
            {
                "schemas": [SCIM_LIST],
                "totalResults": len(items),
                "Resources": wire,
                "startIndex": start,
                "itemsPerPage": len(wire),
            },
        )

    def query_params(self, request: Request) -> dict[str, Any]:
        q = request.query_params
        return {
            "filter": q.get("filter"),
            "sortBy": q.get("sortBy"),
            "sortOrder": q.get("sortOrder"),
            "startIndex": q.get("startIndex"),
            "count": q.get("count"),
            "attributes": _split(q.getlist("attributes")),
        }

    # generic collection handlers
    def collection(self, rt: res.ResourceType, table: Callable[[Domain], dict[str, dict]]):  # noqa: ANN201
        def list_items(request: Request, principal: Principal, body: bytes) -> Response:
            with self.ctx.store.read() as state:
                items = list(table(self.domain(state, request)).values())
                return self.list_response(request, rt, items, self.query_params(request))

        def search(request: Request, principal: Principal, body: bytes) -> Response:
            data = _json_body(body)
            if not isinstance(data, dict) or SEARCH_SCHEMA not in (get_ci(data, "schemas") or []):
                raise ScimError(
                    400, f"Missing required attribute(s): schemas ({SEARCH_SCHEMA}).", res.MISSING
                )
            params = {
                k: get_ci(data, k)
                for k in ("filter", "sortBy", "sortOrder", "startIndex", "count", "attributes")
            }
            with self.ctx.store.read() as state:
                items = list(table(self.domain(state, request)).values())
                return self.list_response(request, rt, items, params)

        def get_item(request: Request, principal: Principal, body: bytes) -> Response:
            with self.ctx.store.read() as state:
                item = res.get_resource(
                    table(self.domain(state, request)), rt, request.path_params["rid"]
                )
                return self.render(request, rt, item)

        return list_items, search, get_item

    def mutation(
        self,
        rt: res.ResourceType,
        table: Callable[[Domain], dict[str, dict]],
        apply: Callable[[Domain, str, Any], dict[str, Any] | None],
    ):  # noqa: ANN201
        """PUT/PATCH/DELETE handler: If-Match, apply under the lock, render (204 when None)."""

        def handler(request: Request, principal: Principal, body: bytes) -> Response:
            data = _json_body(body) if request.method != "DELETE" else None
            with self.ctx.store.mutate() as state:
                domain = self.domain(state, request)
                rid = request.path_params["rid"]
                if rid in table(domain):
                    self.check_if_match(request, table(domain)[rid])
                result = apply(domain, rid, data)
                if result is None:
                    return empty_response(request)
                return self.render(request, rt, result)

        return handler

    def creation(
        self,
        rt: res.ResourceType,
        create: Callable[[SandboxState, Domain, Any, str], dict[str, Any]],
    ):  # noqa: ANN201
        def handler(request: Request, principal: Principal, body: bytes) -> Response:
            data = _json_body(body)
            with self.ctx.store.mutate() as state:
                item = create(state, self.domain(state, request), data, principal.user_name)
                return self.render(request, rt, item, 201)

        return handler

    # special cases
    def status_changer(self, request: Request, principal: Principal, body: bytes) -> Response:
        data = _json_body(body)
        with self.ctx.store.mutate() as state:
            result = res.change_app_status(
                self.domain(state, request), request.path_params["rid"], data
            )
        result["meta"]["location"] = (
            f"{self.ctx.domain_url(request.path_params['guid'])}"
            f"/admin/v1/AppStatusChanger/{result['id']}"
        )
        return json_response(request, result)

    def users(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            domain = self.domain(state, request)
            items = [res.user_resource(domain, u) for u in domain.users.values()]
            return self.list_response(request, res.USERS, items, self.query_params(request))

    def user(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            domain = self.domain(state, request)
            user = res.get_user(domain, request.path_params["rid"])
            return self.render(request, res.USERS, res.user_resource(domain, user))

    def user_update(self, request: Request, principal: Principal, body: bytes) -> Response:
        """PUT (replace) or PATCH (PatchOp) of a User, with If-Match."""
        data = _json_body(body)
        with self.ctx.store.mutate() as state:
            domain = self.domain(state, request)
            rid = request.path_params["rid"]
            self.check_if_match(request, res.user_resource(domain, res.get_user(domain, rid)))
            update = res.patch_user if request.method == "PATCH" else res.put_user
            result = update(domain, rid, data, principal.ocid)
            return self.render(request, res.USERS, result)

    def settings_list(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            item = self.domain(state, request).settings
            return self.list_response(request, res.SETTINGS, [item], self.query_params(request))

    def settings_get(self, request: Request, principal: Principal, body: bytes) -> Response:
        with self.ctx.store.read() as state:
            item = res.get_settings(self.domain(state, request), request.path_params["rid"])
            return self.render(request, res.SETTINGS, item)


def _delete(fn: Callable[[Domain, str], None]) -> Callable[[Domain, str, Any], None]:
    def apply(domain: Domain, rid: str, _body: Any) -> None:
        fn(domain, rid)

    return apply


def _immutable(request: Request, principal: Principal, body: bytes) -> Response:
    """Grants cannot be changed: the service offers no PUT or PATCH on them (the SDK has no
    put_grant/patch_grant); 405 in the SCIM error format (docs/sandbox.md, Assumptions)."""
    raise ScimError(
        405,
        f"MethodNotAllowed: {request.method} is not supported on Grants: a Grant is immutable; "
        "delete it and create a new one.",
        "MethodNotAllowed",
    )


def routes(ctx: SandboxContext) -> list[Route]:
    """The SCIM admin routes (mounted after the OAuth routes so SigningCert/jwk is not shadowed)."""
    from starlette.routing import Route

    api = ScimApi(ctx)
    prefix = "/{guid}/admin/v1"
    out: list[Route] = []

    def add(path: str, handler: Any, method: str) -> None:
        endpoint = signed_endpoint(ctx, api.guarded(handler), "scim")
        out.append(Route(prefix + path, endpoint, methods=[method]))

    for rules in (res.APPS, res.TRUSTS, res.GROUPS, res.GRANTS):
        rt, table = rules.rt, rules.table
        list_items, search, get_item = api.collection(rt, table)
        base = f"/{rt.endpoint}"
        add(base, list_items, "GET")
        add(base, api.creation(rt, functools.partial(res.create, rules)), "POST")
        if rt is not res.TRUST:
            add(f"{base}/.search", search, "POST")
        add(base + "/{rid}", get_item, "GET")
        if rules is res.GRANTS:
            add(base + "/{rid}", _immutable, "PUT")
            add(base + "/{rid}", _immutable, "PATCH")
        else:
            put = api.mutation(rt, table, functools.partial(res.put, rules))
            add(base + "/{rid}", put, "PUT")
            patch = api.mutation(rt, table, functools.partial(res.patch, rules))
            add(base + "/{rid}", patch, "PATCH")
        delete = _delete(functools.partial(res.delete, rules))
        add(base + "/{rid}", api.mutation(rt, table, delete), "DELETE")
    add("/AppStatusChanger/{rid}", api.status_changer, "PUT")
    add("/Settings", api.settings_list, "GET")
    add("/Settings/{rid}", api.settings_get, "GET")
    settings_table = lambda d: {"Settings": d.settings}  # noqa: E731
    add("/Settings/{rid}", api.mutation(res.SETTINGS, settings_table, res.put_settings), "PUT")
    add("/Settings/{rid}", api.mutation(res.SETTINGS, settings_table, res.patch_settings), "PATCH")
    add("/Users", api.users, "GET")
    add("/Users/{rid}", api.user, "GET")
    add("/Users/{rid}", api.user_update, "PUT")
    add("/Users/{rid}", api.user_update, "PATCH")
    return out
