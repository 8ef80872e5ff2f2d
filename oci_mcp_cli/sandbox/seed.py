"""Seed data of a fresh sandbox (see docs/architecture.md, "Sandbox contract")."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from pathlib import Path
from typing import Any, Protocol

import oci_mcp_cli.sandbox.keys as keys
from oci_mcp_cli.sandbox.models import (
    DOMAIN_ADMIN_ROLE,
    SCHEMA_VERSION,
    Admin,
    ApiKey,
    Bucket,
    Compartment,
    Domain,
    Instance,
    Policy,
    SandboxState,
    Subnet,
    User,
    Vcn,
    availability_domain_name,
)

HOME_REGION = "us-ashburn-1"
REGIONS = [{"key": "IAD", "name": "us-ashburn-1"}, {"key": "PHX", "name": "us-phoenix-1"}]
NAMESPACE = "sandboxns"
ADMIN_KEY_FILE = "admin_api_key.pem"
UPST_KEY_FILE = "upst_signing_key.pem"
SETTINGS_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:Settings"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
# display name -> member user names, in the DEFAULT domain (bob is deliberately not a member)
DEFAULT_DOMAIN_GROUPS = {"mcp-users": ["alice"]}


class SecretFiles(Protocol):
    """Where the seed writes its key files (the state store; seed does not depend on it)."""

    def write_secret_file(self, name: str, data: str | bytes) -> Path: ...


# username -> (password, compartment names they can see)
DEFAULT_DOMAIN_USERS = {
    "alice": ("alice-Sandbox-1", ["engineering", "engineering-dev", "shared"]),
    "bob": ("bob-Sandbox-1", ["finance", "shared"]),
}
SECONDARY_DOMAIN_USERS = {"carol": ("carol-Sandbox-1", ["shared"])}
COMPARTMENTS = [  # (name, parent name or None for the tenancy)
    ("engineering", None),
    ("engineering-dev", "engineering"),
    ("finance", None),
    ("shared", None),
]
BUCKETS = [
    ("eng-artifacts", "engineering"),
    ("eng-logs", "engineering"),
    ("dev-scratch", "engineering-dev"),
    ("fin-reports", "finance"),
    ("shared-docs", "shared"),
]


# (user, verb, resource-type, compartment): the seed's IAM policy statements. Reads mirror the
# users' visible compartments above (a statement covers the sub-compartments).
POLICY_GRANTS = [
    ("alice", "manage", "all-resources", "engineering"),
    ("alice", "read", "all-resources", "shared"),
    ("bob", "manage", "all-resources", "finance"),
    ("bob", "read", "all-resources", "shared"),
    ("carol", "read", "all-resources", "shared"),
]


# compartment -> (VCN and subnet name prefix, second octet, instance name); engineering-dev has
# an instance in engineering's subnet.
NETWORKS = [("engineering", "eng", 0), ("finance", "fin", 1), ("shared", "shared", 2)]
INSTANCES = [
    ("eng-app-1", "engineering", "eng"),
    ("dev-box", "engineering-dev", "eng"),
    ("fin-db-1", "finance", "fin"),
    ("shared-bastion", "shared", "shared"),
]
SHAPE = "VM.Standard.E4.Flex"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ocid(kind: str, region: str = "") -> str:
    return f"ocid1.{kind}.oc1.{region}.aaaaaaaa{secrets.token_hex(26)}"


def hex32() -> str:
    return uuid.uuid4().hex


def default_settings() -> dict:
    return {
        "schemas": [SETTINGS_SCHEMA],
        "id": "Settings",
        "csrAccess": "none",
        "signingCertPublicAccess": False,
        "issuer": "https://identity.oraclecloud.com/",
        "iamUpstSessionExpiry": 3600,
        "meta": {
            "resourceType": "Settings",
            "created": now_iso(),
            "lastModified": now_iso(),
            "version": hex32(),
        },
    }


def write_domain_signing_key(store: SecretFiles, domain: Domain) -> None:
    """A new RS256 signing key and its self-signed certificate for ``domain``, in the files its
    record names. Made on the domain's first use, not while seeding (``oauth.tokens.
    domain_material``): a domain nobody signs in to costs no RSA generation (≈ 50 ms of CPU)."""
    key = keys.new_rsa_key()
    store.write_secret_file(domain.signing_key_file, keys.private_pem(key))
    cert = keys.self_signed_cert(key, f"{domain.guid}.identity.sandbox")
    store.write_secret_file(domain.signing_cert_file, cert)  # last: both present means done


def _domain(display_name: str, type_: str, users: dict) -> Domain:
    guid = "idcs-" + hex32()
    key_file = f"domain_{guid}_signing.pem"  # written on first use: write_domain_signing_key
    cert_file = f"domain_{guid}_cert.pem"
    domain = Domain(
        ocid=ocid("domain"),
        guid=guid,
        display_name=display_name,
        type=type_,
        description=f"{display_name} identity domain (sandbox)",
        time_created=now_iso(),
        signing_key_file=key_file,
        signing_cert_file=cert_file,
        settings=default_settings(),
    )
    for user_name, (password, _) in users.items():
        user = User(
            id=hex32(),
            ocid=ocid("user"),
            user_name=user_name,
            display_name=user_name.capitalize(),
            password=password,
            email=f"{user_name}@example.com",
        )
        domain.users[user.id] = user
    return domain


def add_admin_user(state: SandboxState) -> bool:
    """Make the admin a user of the DEFAULT domain (same OCID, Identity Domain Administrator), as
    the API-key admin of a real tenancy is. Its password is random and stays in ``state.json``
    (not on the ready line). Returns False when it already is one."""
    default = next((d for d in state.domains.values() if d.type == "DEFAULT"), None)
    if default is None or any(u.ocid == state.admin.ocid for u in default.users.values()):
        return False
    user = User(
        id=hex32(),
        ocid=state.admin.ocid,
        user_name=state.admin.name,
        display_name="Sandbox Admin",
        password=secrets.token_urlsafe(18),
        email=f"{state.admin.name}@example.com",
        admin_roles=[DOMAIN_ADMIN_ROLE],
    )
    default.users[user.id] = user
    return True


def add_seed_groups(state: SandboxState) -> None:
    """The seeded SCIM Groups of the DEFAULT domain (``mcp-users`` with alice), created by the
    admin; a group of that name that already exists is left alone."""
    default = next((d for d in state.domains.values() if d.type == "DEFAULT"), None)
    if default is None:
        return
    by_name = {u.user_name: u for u in default.users.values()}
    admin = next((u for u in default.users.values() if u.ocid == state.admin.ocid), None)
    taken = {str(g.get("displayName", "")).lower() for g in default.groups.values()}
    for display_name, members in DEFAULT_DOMAIN_GROUPS.items():
        if display_name.lower() in taken:
            continue
        now = now_iso()
        group: dict[str, Any] = {
            "schemas": [GROUP_SCHEMA],
            "displayName": display_name,
            "members": [
                {"value": by_name[n].id, "type": "User", "display": by_name[n].display_name,
                 "ocid": by_name[n].ocid}
                for n in members
                if n in by_name
            ],
            "id": hex32(),
            "ocid": ocid("domaingroup"),
            "meta": {"resourceType": "Group", "created": now, "lastModified": now,
                     "version": hex32()},
            "domainOcid": default.ocid,
            "compartmentOcid": state.tenancy_id,
            "tenancyOcid": state.tenancy_id,
            "idcsCreatedBy": {
                "value": admin.id if admin else state.admin.ocid,
                "display": state.admin.name,
                "type": "User",
            },
        }
        default.groups[group["id"]] = group


def migrate(state: SandboxState) -> bool:
    """Bring a state saved by an older sandbox up to ``SCHEMA_VERSION``; True when it changed."""
    if state.schema_version >= SCHEMA_VERSION:
        return False
    add_admin_user(state)  # version 2
    add_seed_groups(state)  # version 3
    if state.schema_version < 4:  # version 4: IAM policies, VCNs, subnets and instances
        if not state.policies:
            seed_policies(state)
        names = {c.name for c in state.compartments.values()}
        needed = {c for c, _, _ in NETWORKS} | {c for _, c, _ in INSTANCES}
        if not state.instances and needed <= names:
            seed_compute(state)
    state.schema_version = SCHEMA_VERSION
    return True


def seed_state(store: SecretFiles) -> SandboxState:
    """Create keys, domains, users, compartments and buckets for a new sandbox."""
    tenancy_id = ocid("tenancy")
    admin_key = keys.new_rsa_key()
    store.write_secret_file(ADMIN_KEY_FILE, keys.api_key_file(admin_key))
    store.write_secret_file(UPST_KEY_FILE, keys.private_pem(keys.new_rsa_key()))
    admin = Admin(ocid=ocid("user"), name="sandbox-admin", private_key_file=ADMIN_KEY_FILE)
    state = SandboxState(
        tenancy_id=tenancy_id,
        tenancy_name="sandbox-tenancy",
        home_region=HOME_REGION,
        regions=list(REGIONS),
        namespace=NAMESPACE,
        admin=admin,
        api_keys=[
            ApiKey(tenancy_id, admin.ocid, keys.fingerprint(admin_key), keys.public_pem(admin_key))
        ],
        upst_key_file=UPST_KEY_FILE,
    )
    by_name: dict[str, str] = {}
    for name, parent in COMPARTMENTS:
        comp = Compartment(
            id=ocid("compartment"),
            name=name,
            parent_id=by_name[parent] if parent else tenancy_id,
            description=f"{name} (sandbox)",
            time_created=now_iso(),
        )
        state.compartments[comp.id] = comp
        by_name[name] = comp.id
    for bucket, comp_name in BUCKETS:
        state.buckets.append(Bucket(bucket, by_name[comp_name], NAMESPACE, now_iso(), admin.ocid))
    for display, type_, users in (
        ("Default", "DEFAULT", DEFAULT_DOMAIN_USERS),
        ("Secondary", "SECONDARY", SECONDARY_DOMAIN_USERS),
    ):
        domain = _domain(display, type_, users)
        for user in domain.users.values():
            user.visible_compartments = [by_name[c] for c in users[user.user_name][1]]
        state.domains[domain.guid] = domain
    add_admin_user(state)
    add_seed_groups(state)
    seed_policies(state)
    seed_compute(state)
    return state


def seed_compute(state: SandboxState) -> None:
    """One VCN and subnet per top-level compartment, and the instances of ``INSTANCES``."""
    by_name = {c.name: c.id for c in state.compartments.values()}
    subnets: dict[str, str] = {}
    for compartment, prefix, octet in NETWORKS:
        vcn = Vcn(
            ocid("vcn", "iad"),
            f"{prefix}-vcn",
            by_name[compartment],
            f"10.{octet}.0.0/16",
            f"{prefix}vcn",
            now_iso(),
        )
        subnet = Subnet(
            ocid("subnet", "iad"),
            f"{prefix}-subnet",
            by_name[compartment],
            vcn.id,
            f"10.{octet}.1.0/24",
            f"{prefix}sub",
            now_iso(),
        )
        state.vcns.append(vcn)
        state.subnets.append(subnet)
        subnets[prefix] = subnet.id
    ad = availability_domain_name(state.tenancy_id, state.home_region, 1)
    for name, compartment, network in INSTANCES:
        state.instances.append(
            Instance(
                ocid("instance", "iad"),
                name,
                by_name[compartment],
                ad,
                "FAULT-DOMAIN-1",
                SHAPE,
                subnets[network],
                "RUNNING",
                now_iso(),
            )
        )


def seed_policies(state: SandboxState) -> None:
    """The tenancy's policies: the administrators' and one per sandbox user."""
    statements = {
        "Administrators": ["Allow group Administrators to manage all-resources in tenancy"]
    }
    for user, verb, family, compartment in POLICY_GRANTS:
        statements.setdefault(f"{user}-access", []).append(
            f"Allow any-user to {verb} {family} in compartment {compartment}"
            f" where request.user.name = '{user}'"
        )
    for name, lines in statements.items():
        state.policies.append(
            Policy(
                id=ocid("policy"),
                name=name,
                compartment_id=state.tenancy_id,
                description=f"{name} (sandbox)",
                statements=lines,
                time_created=now_iso(),
            )
        )
