"""Issue 20 set-up through the real SDK, as an administrator does it in the console: require
grants of an app (``allowAccessControl``), grant it to a group or a user, change a group's
members. Independent of `oci-mcp init --allow-group` (another helper's), so the refusal tests
stand on the identity domain alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oauth_flow import patch

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.provisioning.scim import eq_filter

GRANT_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:Grant"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TO_GROUP = "ADMINISTRATOR_TO_GROUP"
TO_USER = "ADMINISTRATOR_TO_USER"


def app_of(idc: Any, client_id: str) -> Any:
    """The app whose OAuth client id is ``client_id``."""
    apps = idc.list_apps(filter=eq_filter("name", client_id), attribute_sets=["all"])
    return next(a for a in apps.data.resources if a.name == client_id)


def group(idc: Any, name: str) -> Any:
    found = idc.list_groups(filter=eq_filter("displayName", name), attributes="members")
    return next(g for g in found.data.resources if g.display_name == name)


def user(idc: Any, name: str) -> Any:
    found = idc.list_users(filter=eq_filter("userName", name))
    return next(u for u in found.data.resources if u.user_name == name)


def require_grants(idc: Any, app_id: str, required: bool) -> None:
    """``allowAccessControl`` on the app: only granted users may sign in."""
    patch(lambda rid, patch_op: idc.patch_app(rid, patch_op=patch_op), app_id,
          "allowAccessControl", required)


def grant(idc: Any, app_id: str, mechanism: str, grantee_id: str) -> Any:
    """A Grant of the app to a group (``TO_GROUP``) or a user (``TO_USER``)."""
    from oci.identity_domains.models import Grant, GrantApp, GrantGrantee

    kind = "Group" if mechanism == TO_GROUP else "User"
    body = Grant(schemas=[GRANT_SCHEMA], grant_mechanism=mechanism,
                 grantee=GrantGrantee(value=grantee_id, type=kind), app=GrantApp(value=app_id))
    return idc.create_grant(grant=body).data


def set_member(idc: Any, group_id: str, user_id: str, member: bool) -> None:
    """Add ``user_id`` to the group's members, or remove it (SCIM PATCH, RFC 7644 §3.5.2)."""
    if member:
        op = {"op": "add", "path": "members", "value": [{"value": user_id, "type": "User"}]}
    else:
        op = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
    idc.patch_group(group_id, patch_op={"schemas": [PATCH_SCHEMA], "Operations": [op]})


def record_access(env_file: Path, groups: str, grant_ids: list[str]) -> None:
    """What `init --allow-group` records in .env (the contract's keys)."""
    E.save_env(env_file, {  # the names as written (not the constants: the contract is the file)
        "OCI_MCP_ALLOWED_GROUPS": groups,
        "OCI_MCP_OWNED_GRANTS": ",".join(grant_ids),
        "OCI_MCP_ACCESS_CONTROL_SET": "true",
    }, backup=False)


def delete_app(idc: Any, app_id: str) -> None:
    """Deactivate, then delete (the domain refuses to delete an active app)."""
    from oci.identity_domains.models import AppStatusChanger

    body = AppStatusChanger(
        schemas=["urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"], active=False
    )
    idc.put_app_status_changer(app_id, app_status_changer=body)
    idc.delete_app(app_id, force_delete=True)
