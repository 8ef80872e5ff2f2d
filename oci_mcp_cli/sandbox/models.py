"""Sandbox state: plain dataclasses, serialisable to JSON. No wire format and no routing here.

SCIM resources (apps, trusts, groups, grants, settings) are stored in their wire form (camelCase
dicts) because the SCIM layer reads and writes them as such; everything else is typed.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

# 2: the admin is also a user of the Default domain; 3: the seeded group (seed.migrate)
SCHEMA_VERSION = 4
DOMAIN_ADMIN_ROLE = "Identity Domain Administrator"
TO_USER = "ADMINISTRATOR_TO_USER"  # Grant.grantMechanism: a direct grant to a User
TO_GROUP = "ADMINISTRATOR_TO_GROUP"  # ... to a Group: its members are granted


@dataclass
class User:
    """A domain user (SCIM User) who is also an IAM principal with compartment visibility."""

    id: str  # SCIM id, 32 hex
    ocid: str  # ocid1.user.oc1..…
    user_name: str
    display_name: str
    password: str
    email: str
    visible_compartments: list[str] = field(default_factory=list)  # compartment OCIDs
    active: bool = True
    admin_roles: list[str] = field(default_factory=list)  # e.g. [DOMAIN_ADMIN_ROLE]
    version: str = ""  # SCIM meta.version / ETag after a PUT or PATCH ("" = never changed)
    last_modified: str = ""  # SCIM meta.lastModified after a PUT or PATCH

    def is_domain_admin(self) -> bool:
        return self.active and DOMAIN_ADMIN_ROLE in self.admin_roles


@dataclass
class Domain:
    """An identity domain: its SCIM resources, users and RS256 signing key."""

    ocid: str  # ocid1.domain.oc1..…
    guid: str  # idcs-<32 hex>; the URL path segment on the sandbox
    display_name: str
    type: str  # DEFAULT | SECONDARY
    description: str
    time_created: str
    signing_key_file: str  # PEM file name inside the state dir
    signing_cert_file: str  # self-signed X.509 (PEM) for x5c/x5t
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> SCIM App
    trusts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> SCIM trust
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> SCIM Group
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> SCIM Grant
    settings: dict[str, Any] = field(default_factory=dict)  # the singleton Settings resource
    users: dict[str, User] = field(default_factory=dict)  # id -> User


def group_ids_of(domain: Domain, user_id: str) -> set[str]:
    """The ids of the groups ``user_id`` is a member of now."""
    return {
        gid
        for gid, group in domain.groups.items()
        if any(m.get("value") == user_id for m in group.get("members") or [])
    }


def is_granted(domain: Domain, app: dict[str, Any], user: User) -> bool:
    """May ``user`` use ``app``? Always, unless the app has ``allowAccessControl`` true; then only
    with a Grant of the app to the user (ADMINISTRATOR_TO_USER) or to a group the user is a member
    of at this moment (ADMINISTRATOR_TO_GROUP). THE one check of /authorize, refresh and the UPST
    exchange (docs/sandbox.md, "Groups, grants and app access")."""
    if app.get("allowAccessControl") is not True:
        return True
    groups = group_ids_of(domain, user.id)
    for grant in domain.grants.values():
        if (grant.get("app") or {}).get("value") != app.get("id"):
            continue
        grantee = (grant.get("grantee") or {}).get("value")
        mechanism = grant.get("grantMechanism")
        if (mechanism == TO_USER and grantee == user.id) or (
            mechanism == TO_GROUP and grantee in groups
        ):
            return True
    return False


@dataclass
class Compartment:
    id: str
    name: str
    parent_id: str
    description: str
    time_created: str


@dataclass
class Bucket:
    name: str
    compartment_id: str
    namespace: str
    time_created: str
    created_by: str


@dataclass
class StoredObject:
    """An object in a bucket; ``data`` is base64 (state.json is JSON)."""

    namespace: str
    bucket: str
    name: str
    data: str
    content_type: str
    md5: str  # base64 MD5 of the content (``Content-MD5`` / ``opc-content-md5``)
    etag: str
    time_created: str
    time_modified: str


@dataclass
class Policy:
    """An IAM policy: statements in OCI's policy language (the sandbox evaluates the
    ``any-user … where request.user.name = '…'`` form the seed writes; docs/sandbox.md)."""

    id: str
    name: str
    compartment_id: str
    description: str
    statements: list[str]
    time_created: str


@dataclass
class Vcn:
    id: str
    display_name: str
    compartment_id: str
    cidr_block: str
    dns_label: str
    time_created: str


@dataclass
class Subnet:
    id: str
    display_name: str
    compartment_id: str
    vcn_id: str
    cidr_block: str
    dns_label: str
    time_created: str


@dataclass
class Instance:
    id: str
    display_name: str
    compartment_id: str
    availability_domain: str
    fault_domain: str
    shape: str
    subnet_id: str
    lifecycle_state: str
    time_created: str


def availability_domain_name(tenancy_id: str, region: str, number: int) -> str:
    """An AD's name as OCI writes it: a tenancy-specific prefix, the region, the number
    (``Abcd:US-ASHBURN-AD-1``)."""
    digest = hashlib.sha256(tenancy_id.encode()).digest()
    prefix = base64.b32encode(digest[:3]).decode()[:4].title()
    return f"{prefix}:{region.upper().rsplit('-', 1)[0]}-AD-{number}"


@dataclass
class ApiKey:
    """A registered API signing key: keyId = tenancy/user/fingerprint."""

    tenancy_id: str
    user_ocid: str
    fingerprint: str
    public_key_pem: str

    @property
    def key_id(self) -> str:
        return f"{self.tenancy_id}/{self.user_ocid}/{self.fingerprint}"


@dataclass
class Admin:
    """The IAM admin whose API key goes into the written OCI config profile. Also a user of the
    Default domain (same OCID, with the Identity Domain Administrator role), as in OCI."""

    ocid: str
    name: str
    private_key_file: str  # PEM file name inside the state dir


@dataclass
class SandboxState:
    """Everything the sandbox persists across restarts."""

    tenancy_id: str
    tenancy_name: str
    home_region: str
    regions: list[dict[str, str]]  # [{"key": "IAD", "name": "us-ashburn-1"}, …]
    namespace: str
    admin: Admin
    api_keys: list[ApiKey]
    upst_key_file: str  # PEM: the "authService" key that signs UPSTs
    domains: dict[str, Domain] = field(default_factory=dict)  # guid -> Domain
    compartments: dict[str, Compartment] = field(default_factory=dict)  # ocid -> Compartment
    buckets: list[Bucket] = field(default_factory=list)
    objects: list[StoredObject] = field(default_factory=list)
    policies: list[Policy] = field(default_factory=list)
    vcns: list[Vcn] = field(default_factory=list)
    subnets: list[Subnet] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    oauth: dict[str, Any] = field(
        default_factory=dict
    )  # OAuth runtime (refresh tokens, revocations)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxState:
        domains = {}
        for guid, raw in data.get("domains", {}).items():
            users = {uid: User(**u) for uid, u in raw.get("users", {}).items()}
            domains[guid] = Domain(**{**raw, "users": users})
        return cls(
            tenancy_id=data["tenancy_id"],
            tenancy_name=data["tenancy_name"],
            home_region=data["home_region"],
            regions=list(data["regions"]),
            namespace=data["namespace"],
            admin=Admin(**data["admin"]),
            api_keys=[ApiKey(**k) for k in data.get("api_keys", [])],
            upst_key_file=data["upst_key_file"],
            domains=domains,
            compartments={k: Compartment(**c) for k, c in data.get("compartments", {}).items()},
            buckets=[Bucket(**b) for b in data.get("buckets", [])],
            objects=[StoredObject(**o) for o in data.get("objects", [])],
            policies=[Policy(**p) for p in data.get("policies", [])],
            vcns=[Vcn(**v) for v in data.get("vcns", [])],
            subnets=[Subnet(**n) for n in data.get("subnets", [])],
            instances=[Instance(**i) for i in data.get("instances", [])],
            oauth=dict(data.get("oauth", {})),
            schema_version=int(data.get("schema_version", 1)),
        )

    # Queries shared by several layers.
    def domain_by_guid(self, guid: str) -> Domain | None:
        return self.domains.get(guid)

    def find_user_by_ocid(self, ocid: str) -> tuple[Domain, User] | None:
        for domain in self.domains.values():
            for user in domain.users.values():
                if user.ocid == ocid:
                    return domain, user
        return None

    def is_tenancy_admin(self, principal_ocid: str) -> bool:
        """The seeded admin: an IAM policy lets it manage every domain of the tenancy."""
        return principal_ocid == self.admin.ocid

    def api_key(self, key_id: str) -> ApiKey | None:
        return next((k for k in self.api_keys if k.key_id == key_id), None)

    def visible_compartments(self, principal_ocid: str) -> set[str] | None:
        """Compartment OCIDs a principal may see; None means everything (the admin)."""
        if principal_ocid == self.admin.ocid:
            return None
        found = self.find_user_by_ocid(principal_ocid)
        return set(found[1].visible_compartments) if found else set()
