"""The resource application (``isOAuthResource``): a primary audience and one scope per
service; fully qualified scopes are ``audience + value`` (reference §2.2). Same ownership rules
as :mod:`.apps` (``oci-mcp-owner`` tag; a foreign app stops the plan unless ``--adopt``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oci_mcp_cli.provisioning import apps
from oci_mcp_cli.provisioning.plan import Action
from oci_mcp_cli.provisioning.scim import patch_op
from oci_mcp_cli.provisioning.session import DomainSession, create_or_adopt

if TYPE_CHECKING:
    from oci.identity_domains.models import App


@dataclass(frozen=True)
class DesiredResource:
    display_name: str
    audience: str
    scopes: tuple[str, ...]
    owner: str = ""
    description: str = "Resource app of Oracle's OCI MCP servers (created by oci-mcp)"


def scope_values(app: App) -> list[str]:
    return [s.value for s in (getattr(app, "scopes", None) or []) if getattr(s, "value", None)]


def diff_resource(app: App, desired: DesiredResource) -> apps.AppDiff:
    """Scopes are only ever added (re-runs add a service without disturbing others)."""
    diff = apps.AppDiff()
    if not app.is_o_auth_resource:
        diff.ops.append(("REPLACE", "isOAuthResource", True))
        diff.changes.append("make it a resource app (isOAuthResource=true)")
    if app.audience != desired.audience:
        diff.ops.append(("REPLACE", "audience", desired.audience))
        diff.changes.append(f"audience: {app.audience} → {desired.audience}")
    current = scope_values(app)
    missing = [s for s in desired.scopes if s not in current]
    if missing:
        kept = [
            {"value": s.value, "description": s.description or s.value}
            for s in app.scopes or []
            if s.value
        ]
        diff.ops.append(("REPLACE", "scopes", kept + [_scope(s) for s in missing]))
        diff.changes += [f"add scope {s}" for s in missing]
    if not app.active:
        diff.activate = True
        diff.changes.append("activate the app")
    if desired.owner and apps.owner_of(app) != desired.owner:
        tags = [t for t in (app.tags or []) if str(t.key).lower() != apps.OWNER_TAG]
        value = [*apps._tag_dicts(tags), apps._owner_tag(desired.owner)]
        diff.ops.append(("REPLACE", "tags", value))
        diff.changes.append(f"tag {apps.OWNER_TAG}={desired.owner} (ownership marker)")
    return diff


def _scope(value: str) -> dict[str, Any]:
    return {"value": value, "description": f"Invoke the tools of Oracle's {value} MCP server"}


def create_resource(session: DomainSession, desired: DesiredResource) -> App:
    from oci.identity_domains.models import App, AppBasedOnTemplate, AppScopes, Tags

    body = App(
        schemas=[apps.APP_SCHEMA],
        display_name=desired.display_name,
        description=desired.description,
        based_on_template=AppBasedOnTemplate(value=apps.TEMPLATE_ID),
        is_o_auth_resource=True,
        audience=desired.audience,
        scopes=[AppScopes(**_scope(s)) for s in desired.scopes],
        active=True,
        tags=[Tags(**apps._owner_tag(desired.owner))] if desired.owner else None,
    )
    return session.call(session.client.create_app, app=body, what="create resource App")


def ensure_resource(
    session: DomainSession, desired: DesiredResource, *, adopt: bool = False, env_path: str = ".env"
) -> tuple[Action, App]:
    """Create or reconcile (lookup first); an existing app must be ours unless ``adopt``."""
    found = apps.find_app(session, desired.display_name)
    action = Action.UNCHANGED
    if found is not None:
        app = found
    else:
        app, created = create_or_adopt(
            lambda: create_resource(session, desired),
            lambda: apps.find_app(session, desired.display_name),
        )
        if created:
            action = Action.CREATED
            app = apps.get_app(session, app.id)
    if action != Action.CREATED and not adopt and not apps.is_owned(app, desired.owner):
        raise apps.NotOwnedError(app, env_path)
    diff = diff_resource(app, desired)
    if diff.ops:
        session.call(
            session.client.patch_app,
            app.id,
            patch_op=patch_op(diff.ops),
            what="update resource App",
        )
    if diff.activate:
        apps.set_active(session, app.id, True)
    if not diff.empty:
        action = Action.CREATED if action == Action.CREATED else Action.UPDATED
        app = apps.get_app(session, app.id)
    return action, app
