"""SCIM resource rules of a sandbox domain: Apps, IdentityPropagationTrusts, Groups, Grants,
Settings, Users.

Pure state logic on wire-form dicts (no HTTP): validation, generated attributes, uniqueness,
immutability. Every rule violation raises :class:`ScimError` with the status the service uses.
Attribute names are canonicalised with the SDK models' ``attribute_map`` (SCIM names are
case-insensitive); attributes that no model knows are rejected.
"""

from __future__ import annotations

import copy
import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from oci_mcp_cli.sandbox.models import TO_GROUP, TO_USER, Domain, SandboxState, User
from oci_mcp_cli.sandbox.scim.patch import apply_patch, get_ci
from oci_mcp_cli.sandbox.scim.scopes import validate_scopes
from oci_mcp_cli.sandbox.seed import GROUP_SCHEMA, SETTINGS_SCHEMA, hex32, now_iso, ocid
from oci_mcp_cli.sandbox.wire import ScimError

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
TRUST_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:IdentityPropagationTrust"
STATUS_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GRANT_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:Grant"
TO_APP = "ADMINISTRATOR_TO_APP"
# Grant mechanisms the sandbox emulates, and the grantee type each needs (SDK Grant docstring).
GRANTEE_TYPES = {TO_USER: "User", TO_GROUP: "Group", TO_APP: "App"}
# The documented custom-app templates (reference §2.1; "Create an Enterprise Application":
# CustomEnterpriseAppTemplateId). App Catalog templates: see scim/catalog.py.
APP_TEMPLATES = frozenset(
    {
        "CustomWebAppTemplateId",
        "CustomBrowserMobileTemplateId",
        "CustomSAMLAppTemplateId",
        "CustomEnterpriseAppTemplateId",
    }
)
CLIENT_TYPES = ("confidential", "public", "trusted")
SECRET_CLIENT_TYPES = frozenset({"confidential", "trusted"})
TRUST_TYPES = ("JWT", "SAML", "SPNEGO", "AWS", "X509")
SUBJECT_TYPES = ("User", "App", "Resource")
CSR_ACCESS = ("readOnly", "readWrite", "none")
COMMON_READ_ONLY = (
    "id",
    "ocid",
    "meta",
    "idcsCreatedBy",
    "idcsLastModifiedBy",
    "idcsPreventedOperations",
    "deleteInProgress",
    "idcsLastUpgradedInRelease",
    "domainOcid",
    "compartmentOcid",
    "tenancyOcid",
)
MISSING = "error.common.validation.missingReqAttributes"
INVALID = "error.common.validation.invalidValue"
UNIQUE = "error.common.validation.uniqueness"


@dataclass(frozen=True)
class ResourceType:
    """What differs between SCIM resource types."""

    name: str  # resourceType, e.g. "App"
    endpoint: str  # URL segment, e.g. "Apps"
    schema: str
    model: str  # oci.identity_domains.models class whose attribute_map names the attributes
    always: tuple[str, ...]  # returned even with attributes=/attributeSets=always
    case_exact: tuple[str, ...] = ()
    read_only: tuple[str, ...] = COMMON_READ_ONLY
    # SCIM++ ``returned: request``: only in a response that asks for them (``attributes=tags``,
    # ``attributeSets=request|all``); e.g. App/trust ``tags`` (the SDK models' docs).
    on_request: tuple[str, ...] = ("tags",)


APP = ResourceType(
    "App",
    "Apps",
    APP_SCHEMA,
    "App",
    ("id", "displayName", "name"),
    ("allowedGrants", "redirectUris", "clientType"),
    (*COMMON_READ_ONLY, "clientSecret", "hashedClientSecret"),
)
TRUST = ResourceType(
    "IdentityPropagationTrust",
    "IdentityPropagationTrusts",
    TRUST_SCHEMA,
    "IdentityPropagationTrust",
    ("id", "issuer", "name"),
    ("issuer", "type"),
)
SETTINGS = ResourceType("Settings", "Settings", SETTINGS_SCHEMA, "Setting", ("id",))
USERS = ResourceType("User", "Users", USER_SCHEMA, "User", ("id", "userName"))
# Group ``members`` and Grant ``compositeKey`` are ``returned: request`` in the SDK models.
GROUP = ResourceType(
    "Group",
    "Groups",
    GROUP_SCHEMA,
    "Group",
    ("id", "displayName"),
    ("members.value", "members.type"),
    on_request=("tags", "members"),
)
GRANT = ResourceType(
    "Grant",
    "Grants",
    GRANT_SCHEMA,
    "Grant",
    ("id", "grantMechanism", "grantee", "app"),
    ("grantMechanism", "grantee.value", "grantee.type", "app.value"),
    (*COMMON_READ_ONLY, "compositeKey", "isFulfilled", "grantor"),
    on_request=("tags", "compositeKey"),
)


@functools.cache
def attribute_names(rt: ResourceType) -> dict[str, str]:
    """lowercase name -> canonical wire name, from the SDK model."""
    from oci.identity_domains import models

    names = list(getattr(models, rt.model)().attribute_map.values())
    return {name.lower(): name for name in names}


@functools.cache
def model_types(model: str) -> dict[str, str]:
    """lowercase wire name -> SDK swagger type (``str``, ``list[str]``, ``AppScopes``, ...)."""
    from oci.identity_domains import models

    instance = getattr(models, model)()
    return {
        wire.lower(): instance.swagger_types[attr] for attr, wire in instance.attribute_map.items()
    }


def _type_ok(value: Any, kind: str) -> bool:
    """Does a JSON value fit an SDK swagger type? (Unknown sub-attributes are not judged here.)"""
    if value is None or kind == "object":
        return True
    if kind.startswith("list["):
        return isinstance(value, list) and all(_type_ok(v, kind[5:-1]) for v in value)
    if kind.startswith("dict("):
        return isinstance(value, dict)
    simple = {"str": str, "datetime": str, "date": str, "bool": bool}
    if kind in simple:
        return isinstance(value, simple[kind])
    if kind in ("int", "float"):
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (kind == "float" or isinstance(value, int))
        )
    if not isinstance(value, dict):
        return False
    types = model_types(kind)
    return all(_type_ok(v, types[k.lower()]) for k, v in value.items() if k.lower() in types)


def check_types(rt: ResourceType, resource: dict[str, Any]) -> None:
    """400 for a writable attribute whose JSON type does not match the SDK model's schema."""
    types = model_types(rt.model)
    for attr, value in resource.items():
        if attr in rt.read_only or attr.lower() not in types:
            continue
        if not _type_ok(value, types[attr.lower()]):
            raise ScimError(
                400,
                f"Invalid value for {attr}: expected {types[attr.lower()]}, "
                f"got {type(value).__name__}.",
                INVALID,
            )


def canonical_for(rt: ResourceType):  # noqa: ANN201 - returns a Canonical callable
    def canonical(name: str) -> str:
        found = attribute_names(rt).get(name.lower())
        if found is None:
            raise ScimError(
                400,
                f"Unknown attribute {name!r} for resource type {rt.name}.",
                "error.common.validation.invalidAttribute",
            )
        return found

    return canonical


def normalize(rt: ResourceType, body: Any) -> dict[str, Any]:
    """Body with canonical attribute names; read-only attributes dropped (SCIM ignores them)."""
    if not isinstance(body, dict):
        raise ScimError(400, "The request body must be a JSON object.", INVALID)
    canonical = canonical_for(rt)
    out = {canonical(k): v for k, v in body.items()}
    for key in rt.read_only:
        out.pop(key, None)
    return out


def require(rt: ResourceType, resource: dict[str, Any], required: tuple[str, ...]) -> None:
    """400 naming every missing required attribute (``schemas`` must list the type's schema)."""
    missing = []
    for path in required:
        value: Any = resource
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value in (None, "", []):
            missing.append(path)
    schemas = resource.get("schemas")
    if "schemas" not in missing and (not isinstance(schemas, list) or rt.schema not in schemas):
        missing.insert(0, "schemas")
    if missing:
        raise ScimError(400, f"Missing required attribute(s): {','.join(missing)}.", MISSING)


def check_enum(resource: dict[str, Any], attr: str, allowed: tuple[str, ...]) -> None:
    value = resource.get(attr)
    if value is not None and value not in allowed:
        raise ScimError(
            400, f"Invalid value {value!r} for {attr}: use one of {', '.join(allowed)}.", INVALID
        )


def check_bool(resource: dict[str, Any], *attrs: str) -> None:
    for attr in attrs:
        if attr in resource and not isinstance(resource[attr], bool):
            raise ScimError(400, f"Invalid value for {attr}: expected a boolean.", INVALID)


def new_meta(rt: ResourceType) -> dict[str, Any]:
    now = now_iso()
    return {"resourceType": rt.name, "created": now, "lastModified": now, "version": hex32()}


def touch(resource: dict[str, Any]) -> None:
    resource["meta"] = {**resource["meta"], "lastModified": now_iso(), "version": hex32()}


def stamp(state: SandboxState, domain: Domain, rt: ResourceType, creator: str) -> dict[str, Any]:
    """Read-only attributes every created resource carries."""
    return {
        "id": hex32(),
        "ocid": ocid("domain" + rt.name.lower()),
        "meta": new_meta(rt),
        "domainOcid": domain.ocid,
        "compartmentOcid": state.tenancy_id,
        "tenancyOcid": state.tenancy_id,
        "idcsCreatedBy": created_by(state, domain, creator),
    }


def created_by(state: SandboxState, domain: Domain, creator: str) -> dict[str, Any]:
    """``idcsCreatedBy`` as stored: the creating user's SCIM ``id`` in this domain (its OCID when
    it is not a user of the domain: the tenancy admin acting on another domain). ``$ref`` is
    added when the resource is rendered (:func:`with_refs`), in the URL form of the request."""
    user = next(
        (u for u in domain.users.values() if u.user_name.lower() == creator.lower()), None
    )
    value = user.id if user is not None else state.admin.ocid
    return {"value": value, "display": creator, "type": "User"}


REF_ENDPOINTS = {"App": "Apps", "Group": "Groups", "User": "Users"}


def with_refs(resource: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Add ``$ref`` (``<domain>/admin/v1/Users/<id>``, ``.../Apps/<id>``, ``.../Groups/<id>``) to
    the references a response carries: ``idcsCreatedBy``/``idcsLastModifiedBy``, a Grant's
    ``grantee``/``grantor``/``app`` and a Group's ``members``, as real responses do."""
    refs = [resource.get(k) for k in ("idcsCreatedBy", "idcsLastModifiedBy", "grantee", "grantor")]
    refs += [m for m in resource.get("members") or [] if isinstance(m, dict)]
    for ref in refs:
        if isinstance(ref, dict) and ref.get("value"):
            endpoint = REF_ENDPOINTS.get(ref.get("type") or "User", "Users")
            ref["$ref"] = f"{base_url}/admin/v1/{endpoint}/{ref['value']}"
    app = resource.get("app")
    if GRANT_SCHEMA in (resource.get("schemas") or []) and isinstance(app, dict) and app.get(
        "value"
    ):
        app["$ref"] = f"{base_url}/admin/v1/Apps/{app['value']}"
    return resource


def keep_read_only(
    rt: ResourceType, current: dict[str, Any], new: dict[str, Any]
) -> dict[str, Any]:
    for key in rt.read_only:
        if key in current:
            new[key] = copy.deepcopy(current[key])
        else:
            new.pop(key, None)
    return new


def check_immutable(current: dict[str, Any], new: dict[str, Any], *paths: str) -> None:
    for path in paths:
        head, _, sub = path.partition(".")
        before, after = current.get(head), new.get(head)
        if sub:
            before = before.get(sub) if isinstance(before, dict) else None
            after = after.get(sub) if isinstance(after, dict) else None
        if after is not None and after != before:
            raise ScimError(
                400,
                f"Attribute {path} is immutable and cannot be changed.",
                "error.common.validation.immutableAttribute",
            )


# ---- Apps -------------------------------------------------------------------------------------


def _check_uri(attr: str, uri: Any, any_scheme: bool) -> None:
    parts = urlsplit(uri) if isinstance(uri, str) else None
    if parts is None or not parts.scheme or not (parts.netloc or parts.path):
        raise ScimError(400, f"Invalid {attr} value {uri!r}: not an absolute URI.", INVALID)
    if parts.scheme != "https" and not any_scheme:
        raise ScimError(
            400,
            f"Invalid {attr} value {uri!r}: only https URLs are allowed unless "
            "allUrlSchemesAllowed is true.",
            "error.app.invalidRedirectUri",
        )


def validate_app(domain: Domain, app: dict[str, Any]) -> None:
    require(APP, app, ("schemas", "displayName", "basedOnTemplate.value"))
    check_types(APP, app)
    template = app["basedOnTemplate"]["value"]
    if template not in APP_TEMPLATES:
        raise ScimError(400, f"Unknown app template {template!r}.", INVALID)
    check_enum(app, "clientType", CLIENT_TYPES)
    check_bool(
        app,
        "active",
        "allowAccessControl",
        "isOAuthClient",
        "allUrlSchemesAllowed",
        "allowOffline",
        "bypassConsent",
        "isOAuthResource",
    )
    name = app.get("name")
    if name is not None and (not isinstance(name, str) or not name.replace("_", "").isalnum()):
        raise ScimError(400, f"Invalid name {name!r}: only letters, digits and '_'.", INVALID)
    any_scheme = app.get("allUrlSchemesAllowed") is True
    for attr in ("redirectUris", "postLogoutRedirectUris"):
        values = app.get(attr) or []
        if not isinstance(values, list):
            raise ScimError(400, f"Invalid value for {attr}: expected a list.", INVALID)
        for uri in values:
            _check_uri(attr, uri, any_scheme)
    if app.get("logoutUri"):
        _check_uri("logoutUri", app["logoutUri"], any_scheme)
    validate_scopes(domain, app)  # resource apps, scopes[].fqs, allowedScopes
    for other in domain.apps.values():
        if other["id"] == app.get("id"):
            continue
        if str(other.get("displayName", "")).lower() == str(app["displayName"]).lower():
            raise ScimError(
                409, f"An App with displayName {app['displayName']!r} already exists.", UNIQUE
            )
        if name is not None and other.get("name") == name:
            raise ScimError(409, f"An App with name {name!r} already exists.", UNIQUE)


def _app_defaults(app: dict[str, Any]) -> None:
    """Generated on create: ``name`` (the OAuth client id), ``active`` false, and a client
    secret for a confidential/trusted web app."""
    app.setdefault("name", hex32())
    app.setdefault("active", False)
    if (
        app["basedOnTemplate"]["value"] == "CustomWebAppTemplateId"
        and app.get("clientType") in SECRET_CLIENT_TYPES
    ):
        app["clientSecret"] = f"idcscs-{uuid.uuid4()}"


def _check_app_deletable(app: dict[str, Any]) -> None:
    if app.get("active"):
        raise ScimError(
            409,
            "Cannot delete an active App: deactivate it first with "
            'PUT /admin/v1/AppStatusChanger/{id} {"active": false}.',
            "error.app.deleteActiveApp",
        )


def change_app_status(domain: Domain, app_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ScimError(400, "The request body must be a JSON object.", INVALID)
    missing = [k for k in ("schemas", "active") if get_ci(body, k) is None]
    schemas = get_ci(body, "schemas")
    if not missing and (not isinstance(schemas, list) or STATUS_SCHEMA not in schemas):
        missing.append("schemas")
    if missing:
        raise ScimError(400, f"Missing required attribute(s): {','.join(missing)}.", MISSING)
    active = get_ci(body, "active")
    if not isinstance(active, bool):
        raise ScimError(400, "Invalid value for active: expected a boolean.", INVALID)
    app = get_resource(domain.apps, APP, app_id)
    app["active"] = active
    touch(app)
    return {
        "schemas": [STATUS_SCHEMA],
        "id": app_id,
        "active": active,
        "meta": {**app["meta"], "resourceType": "AppStatusChanger"},
    }


# ---- Identity propagation trusts ----------------------------------------------------------------


def validate_trust(domain: Domain, trust: dict[str, Any]) -> None:
    require(TRUST, trust, ("schemas", "name", "type", "issuer"))
    check_types(TRUST, trust)
    check_enum(trust, "type", TRUST_TYPES)
    check_enum(trust, "subjectType", SUBJECT_TYPES)
    check_bool(trust, "active", "allowImpersonation")
    if trust.get("clientClaimName") and not trust.get("clientClaimValues"):
        raise ScimError(
            400, "clientClaimValues cannot be empty when clientClaimName is set.", INVALID
        )
    for list_attr in ("clientClaimValues", "oauthClients"):
        if trust.get(list_attr) is not None and not isinstance(trust[list_attr], list):
            raise ScimError(400, f"Invalid value for {list_attr}: expected a list.", INVALID)
    for other in domain.trusts.values():
        if other["id"] != trust.get("id") and other.get("issuer") == trust["issuer"]:
            raise ScimError(
                409,
                f"An IdentityPropagationTrust with issuer {trust['issuer']!r} already exists.",
                UNIQUE,
            )


def _trust_defaults(trust: dict[str, Any]) -> None:
    trust.setdefault("active", False)


# ---- Groups and Grants ---------------------------------------------------------------------------


def not_found(rt_name: str, rid: Any) -> ScimError:
    return ScimError(
        404, f"Resource {rid} of type {rt_name} not found.", "error.common.resourceNotFound"
    )


def _members(domain: Domain, members: Any) -> list[dict[str, Any]]:
    """``members`` as stored: one ``{value, type, display, ocid}`` per user (deduplicated by
    ``value``); a member that is not a User of this domain is refused (400)."""
    if members is None:
        return []
    if not isinstance(members, list):
        raise ScimError(400, "Invalid value for members: expected a list.", INVALID)
    out: dict[str, dict[str, Any]] = {}
    for member in members:
        value = get_ci(member, "value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value:
            raise ScimError(400, "Missing required attribute(s): members.value.", MISSING)
        kind = get_ci(member, "type") or "User"
        if kind != "User":
            raise ScimError(
                400, f"Invalid value {kind!r} for members.type: use User.", INVALID
            )
        user = domain.users.get(value)
        if user is None:
            raise ScimError(
                400, f"Invalid value for members: {value} is not a User of this domain.", INVALID
            )
        out[value] = {
            "value": value,
            "type": "User",
            "display": user.display_name,
            "ocid": user.ocid,
        }
    return list(out.values())


def validate_group(domain: Domain, group: dict[str, Any]) -> None:
    """``schemas`` + ``displayName`` required; ``displayName`` unique (case-insensitive, 409);
    members resolved to the domain's users."""
    require(GROUP, group, ("schemas", "displayName"))
    check_types(GROUP, group)
    members = _members(domain, group.get("members"))
    if members:
        group["members"] = members
    else:
        group.pop("members", None)
    for other in domain.groups.values():
        if other["id"] != group.get("id") and (
            str(other.get("displayName", "")).lower() == str(group["displayName"]).lower()
        ):
            raise ScimError(
                409, f"A Group with displayName {group['displayName']!r} already exists.", UNIQUE
            )


GRANT_WRITABLE = ("schemas", "grantMechanism", "grantee", "app", "tags")


def _grant_target(domain: Domain, kind: str, value: str) -> dict[str, Any]:
    """The wire reference ``{value, display}`` to the User, Group or App ``value``; 404 when no
    such resource exists in the domain."""
    if kind == "User":
        user = domain.users.get(value)
        if user is None:
            raise not_found("User", value)
        return {"value": value, "display": user.display_name}
    found = (domain.groups if kind == "Group" else domain.apps).get(value)
    if found is None:
        raise not_found(kind, value)
    return {"value": value, "display": found.get("displayName", "")}


def validate_grant(domain: Domain, grant: dict[str, Any]) -> None:
    """An app grant: the mechanism one the sandbox emulates, the grantee type the mechanism
    needs, grantee and app existing (404), no duplicate (app, grantee, mechanism) (409).
    Fills in the references' ``display``."""
    require(GRANT, grant, ("schemas", "grantMechanism", "grantee.value", "grantee.type"))
    check_types(GRANT, grant)
    extra = [k for k in grant if k not in GRANT_WRITABLE]
    if extra:
        raise ScimError(
            400,
            f"Grant attribute(s) {', '.join(extra)} are not emulated by the sandbox (it emulates "
            "app grants: grantMechanism, grantee, app).",
            INVALID,
        )
    mechanism = grant["grantMechanism"]
    check_enum(grant, "grantMechanism", grant_mechanisms())
    if mechanism not in GRANTEE_TYPES:
        raise ScimError(
            400,
            f"grantMechanism {mechanism} is not emulated by the sandbox: use one of "
            f"{', '.join(GRANTEE_TYPES)}.",
            INVALID,
        )
    grantee_in = grant["grantee"]
    kind = get_ci(grantee_in, "type")
    if kind != GRANTEE_TYPES[mechanism]:
        raise ScimError(
            400,
            f"Invalid value {kind!r} for grantee.type: grantMechanism {mechanism} grants to a "
            f"{GRANTEE_TYPES[mechanism]}.",
            INVALID,
        )
    app_in = grant.get("app")
    app_id = get_ci(app_in, "value") if isinstance(app_in, dict) else None
    if not isinstance(app_id, str) or not app_id:
        raise ScimError(400, "Missing required attribute(s): app.value.", MISSING)
    grantee = _grant_target(domain, kind, str(get_ci(grantee_in, "value")))
    grant["grantee"] = {**grantee, "type": kind}
    grant["app"] = _grant_target(domain, "App", app_id)
    key = composite_key(grant)
    for other in domain.grants.values():
        if other["id"] != grant.get("id") and composite_key(other) == key:
            raise ScimError(
                409,
                f"A Grant of app {app_id} to {kind} {grantee['value']} with grantMechanism "
                f"{mechanism} already exists (id {other['id']}).",
                UNIQUE,
            )


@functools.cache
def grant_mechanisms() -> tuple[str, ...]:
    """The SDK's allowed values of ``Grant.grantMechanism`` (from its docstring)."""
    from oci.identity_domains.models import Grant

    doc = Grant.grant_mechanism.__doc__ or ""
    line = doc.split("Allowed values for this property are:", 1)[1].split("\n", 1)[0]
    return tuple(v for v in re.findall(r'"([A-Z_]+)"', line))


def composite_key(grant: dict[str, Any]) -> str:
    grantee = grant.get("grantee") or {}
    return ":".join(
        (
            str(grant.get("grantMechanism")),
            str((grant.get("app") or {}).get("value")),
            str(grantee.get("type")),
            str(grantee.get("value")),
        )
    )


def _grant_defaults(grant: dict[str, Any]) -> None:
    """Generated on create: ``grantor`` (the creating admin), ``isFulfilled``, ``compositeKey``."""
    grant["grantor"] = {k: v for k, v in grant["idcsCreatedBy"].items() if k != "$ref"}
    grant["isFulfilled"] = True
    grant["compositeKey"] = composite_key(grant)


def _no_defaults(resource: dict[str, Any]) -> None:
    """Nothing generated on create."""


def drop_grants_of(domain: Domain, rid: str) -> None:
    """Deleting an App or a Group deletes the Grants of it and to it (docs/sandbox.md)."""
    for gid, grant in list(domain.grants.items()):
        refs = ((grant.get("app") or {}).get("value"), (grant.get("grantee") or {}).get("value"))
        if rid in refs:
            del domain.grants[gid]


# ---- Generic CRUD of the collection resources (Apps, trusts, Groups, Grants) --------------------

Table = Callable[[Domain], dict[str, dict[str, Any]]]


def _no_check(resource: dict[str, Any]) -> None:
    """No delete precondition."""


def _no_cascade(domain: Domain, rid: str) -> None:
    """Nothing else goes with a deleted resource."""


@dataclass(frozen=True)
class Rules:
    """The per-type rules of a collection resource; :func:`create`, :func:`put`, :func:`patch`
    and :func:`delete` apply them the same way for every type."""

    rt: ResourceType
    table: Table  # the domain's store of this type, by id
    validate: Callable[[Domain, dict[str, Any]], None]  # the whole resource, after every change
    immutable: tuple[str, ...]  # (dotted) attributes a replace may not change
    defaults: Callable[[dict[str, Any]], None]  # generated on create
    carried: tuple[str, ...] = ()  # taken from the current resource on replace (server-assigned)
    keep_active: bool = False  # a replace without ``active`` keeps it (else: false)
    check_delete: Callable[[dict[str, Any]], None] = _no_check
    has_active: bool = True  # the type has an ``active`` attribute (Groups, Grants: no)
    on_delete: Callable[[Domain, str], None] = _no_cascade  # what goes with a deleted resource


APPS = Rules(
    APP,
    lambda d: d.apps,
    validate_app,
    ("name", "basedOnTemplate.value"),
    _app_defaults,
    carried=("name",),
    keep_active=True,
    check_delete=_check_app_deletable,
    on_delete=drop_grants_of,
)
TRUSTS = Rules(TRUST, lambda d: d.trusts, validate_trust, ("name",), _trust_defaults)
GROUPS = Rules(
    GROUP,
    lambda d: d.groups,
    validate_group,
    (),
    _no_defaults,
    has_active=False,
    on_delete=drop_grants_of,
)
# Grants are immutable: no PUT/PATCH route (scim/routes.py answers 405).
GRANTS = Rules(
    GRANT, lambda d: d.grants, validate_grant, (), _grant_defaults, has_active=False
)


def create(
    rules: Rules, state: SandboxState, domain: Domain, body: Any, creator: str
) -> dict[str, Any]:
    resource = normalize(rules.rt, body)
    rules.validate(domain, resource)
    resource.update(stamp(state, domain, rules.rt, creator))
    rules.defaults(resource)
    rules.table(domain)[resource["id"]] = resource
    return resource


def _replace(
    rules: Rules, domain: Domain, current: dict[str, Any], new: dict[str, Any]
) -> dict[str, Any]:
    check_immutable(current, new, *rules.immutable)
    new = keep_read_only(rules.rt, current, new)
    for key in rules.carried:
        new[key] = current[key]
    if rules.has_active:
        new.setdefault("active", current.get("active", False) if rules.keep_active else False)
    rules.validate(domain, new)
    touch(new)
    rules.table(domain)[current["id"]] = new
    return new


def put(rules: Rules, domain: Domain, rid: str, body: Any) -> dict[str, Any]:
    current = get_resource(rules.table(domain), rules.rt, rid)
    return _replace(rules, domain, current, normalize(rules.rt, body))


def patch(rules: Rules, domain: Domain, rid: str, body: Any) -> dict[str, Any]:
    current = get_resource(rules.table(domain), rules.rt, rid)
    patched = apply_patch(current, body, canonical_for(rules.rt), rules.rt.read_only)
    return _replace(rules, domain, current, patched)


def delete(rules: Rules, domain: Domain, rid: str) -> None:
    rules.check_delete(get_resource(rules.table(domain), rules.rt, rid))
    del rules.table(domain)[rid]
    rules.on_delete(domain, rid)


# ---- Settings -----------------------------------------------------------------------------------


def get_settings(domain: Domain, setting_id: str) -> dict[str, Any]:
    if setting_id != "Settings":
        raise ScimError(
            404,
            f"Settings {setting_id!r} not found: the only id is 'Settings'.",
            "error.common.resourceNotFound",
        )
    return domain.settings


def _validate_settings(settings: dict[str, Any]) -> None:
    check_types(SETTINGS, settings)
    check_enum(settings, "csrAccess", CSR_ACCESS)
    check_bool(settings, "signingCertPublicAccess")


def put_settings(domain: Domain, setting_id: str, body: Any) -> dict[str, Any]:
    current = get_settings(domain, setting_id)
    new = normalize(SETTINGS, body)
    require(SETTINGS, new, ("schemas", "csrAccess"))
    new = keep_read_only(SETTINGS, current, new)
    new.setdefault("signingCertPublicAccess", False)
    _validate_settings(new)
    touch(new)
    domain.settings = new
    return new


def patch_settings(domain: Domain, setting_id: str, body: Any) -> dict[str, Any]:
    current = get_settings(domain, setting_id)
    new = keep_read_only(
        SETTINGS, current, apply_patch(current, body, canonical_for(SETTINGS), SETTINGS.read_only)
    )
    _validate_settings(new)
    touch(new)
    domain.settings = new
    return new


# ---- Users and lookups --------------------------------------------------------------------------


def user_resource(domain: Domain, user: User) -> dict[str, Any]:
    """The SCIM User (never the password)."""
    given, _, family = user.display_name.partition(" ")
    return {
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "ocid": user.ocid,
        "userName": user.user_name,
        "displayName": user.display_name,
        "name": {"givenName": given, "familyName": family or given, "formatted": user.display_name},
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "active": user.active,
        "domainOcid": domain.ocid,
        "meta": {
            "resourceType": "User",
            "created": domain.time_created,
            "lastModified": user.last_modified or domain.time_created,
            "version": user.version or user.id,
        },
    }


def get_user(domain: Domain, user_id: str) -> User:
    user = domain.users.get(user_id)
    if user is None:
        raise ScimError(
            404, f"Resource {user_id} of type User not found.", "error.common.resourceNotFound"
        )
    return user


# What a PUT/PATCH of a User may change: everything else the sandbox derives (``name`` from
# ``displayName``) or does not store, and a request that would change it is refused (400).
USER_EMULATED = "userName, displayName, active and the primary emails value"


def put_user(domain: Domain, user_id: str, body: Any, actor_ocid: str) -> dict[str, Any]:
    """Replace a User (RFC 7644 §3.5.1): ``schemas`` and ``userName`` required; an omitted
    ``active`` keeps its value (docs/sandbox.md, Assumptions)."""
    user = get_user(domain, user_id)
    new = normalize(USERS, body)
    require(USERS, new, ("schemas", "userName"))
    return _update_user(domain, user, new, actor_ocid)


def patch_user(domain: Domain, user_id: str, body: Any, actor_ocid: str) -> dict[str, Any]:
    """PatchOp on a User (e.g. ``replace active false`` to deactivate it)."""
    user = get_user(domain, user_id)
    current = user_resource(domain, user)
    patched = apply_patch(current, body, canonical_for(USERS), USERS.read_only)
    for key in USERS.read_only:
        patched.pop(key, None)
    return _update_user(domain, user, patched, actor_ocid)


def _primary_email(new: dict[str, Any]) -> str:
    emails = new.get("emails") or []
    primary = [e for e in emails if isinstance(e, dict) and e.get("primary") is True]
    value = primary[0].get("value") if primary else None
    if not isinstance(value, str) or "@" not in value:
        raise ScimError(
            400,
            "The primary email must be specified.",
            "error.identity.user.primaryEmailNotSpecified",
        )
    return value


def _update_user(domain: Domain, user: User, new: dict[str, Any], actor_ocid: str) -> dict:
    """Apply a new wire form of ``user``: validate, then change the emulated fields."""
    check_types(USERS, new)
    if new.get("name") == user_resource(domain, user).get("name"):
        new = {k: v for k, v in new.items() if k != "name"}  # unchanged: follows displayName
    user_name = new.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise ScimError(400, "Missing required attribute(s): userName.", MISSING)
    for other in domain.users.values():
        if other.id != user.id and other.user_name.lower() == user_name.lower():
            raise ScimError(409, f"A User with userName {user_name!r} already exists.", UNIQUE)
    active = new.get("active", user.active)
    if not isinstance(active, bool):
        raise ScimError(400, "Invalid value for active: expected a boolean.", INVALID)
    if not active and user.active and actor_ocid == user.ocid:
        raise ScimError(
            400,
            f"User {user.user_name} cannot deactivate itself.",
            "error.identity.user.cannotDeactivateSelf",
        )
    display_name = new.get("displayName")
    if display_name is None:
        formatted = (new.get("name") or {}).get("formatted")
        display_name = formatted if isinstance(formatted, str) and formatted else user_name
    candidate = copy.copy(user)
    candidate.user_name, candidate.display_name = user_name, display_name
    candidate.email, candidate.active = _primary_email(new), active
    after = user_resource(domain, candidate)
    for key, value in new.items():
        if key != "schemas" and after.get(key) != value:
            raise ScimError(
                400,
                f"Changing User attribute {key} is not emulated by the sandbox (it emulates "
                f"{USER_EMULATED}; name follows displayName).",
                INVALID,
            )
    user.user_name, user.display_name = user_name, display_name
    user.email, user.active = candidate.email, active
    user.version, user.last_modified = hex32(), now_iso()
    return user_resource(domain, user)


def get_resource(table: dict[str, dict[str, Any]], rt: ResourceType, rid: str) -> dict[str, Any]:
    found = table.get(rid)
    if found is None:
        raise ScimError(
            404, f"Resource {rid} of type {rt.name} not found.", "error.common.resourceNotFound"
        )
    return found
