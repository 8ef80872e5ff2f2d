"""The OAuth client app(s): desired shape, lookup by display name, drift diff, create/reconcile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.provisioning.plan import Action
from oci_mcp_cli.provisioning.scim import Op, eq_filter, merged, patch_op
from oci_mcp_cli.provisioning.session import DomainSession, create_or_adopt, is_status

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
STATUS_CHANGER_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"
TEMPLATE_ID = "CustomWebAppTemplateId"
LOGIN_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
EXCHANGE_GRANTS = ("client_credentials",)


@dataclass(frozen=True)
class DesiredApp:
    """What a confidential OAuth client made by oci-mcp must look like."""

    display_name: str
    grants: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    allow_offline: bool = False
    description: str = "MCP server OAuth client (created by oci-mcp)"

    @classmethod
    def login(cls, display_name: str, server_url: str, redirect_path: str) -> DesiredApp:
        """The sign-in client: auth code + refresh + client credentials, one exact redirect URI."""
        return cls(
            display_name=display_name,
            grants=LOGIN_GRANTS,
            redirect_uris=(f"{server_url}{redirect_path}",),
            allow_offline=True,
        )

    @classmethod
    def exchange(cls, display_name: str) -> DesiredApp:
        """A separate client_credentials-only client for the token exchange."""
        return cls(
            display_name=display_name,
            grants=EXCHANGE_GRANTS,
            description="MCP server token-exchange client (created by oci-mcp)",
        )


def _has_http(uris: list[str]) -> bool:
    return any(urlsplit(uri).scheme == "http" for uri in uris)


@dataclass
class AppDiff:
    """The PATCH operations and activation an existing app needs, with human-readable changes."""

    ops: list[Op] = field(default_factory=list)
    activate: bool = False
    changes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.ops and not self.activate


def diff_app(app: Any, desired: DesiredApp, prune: bool = False) -> AppDiff:
    """Compare an existing App with ``desired``; never drops grants, drops URIs only with prune."""
    diff = AppDiff()
    current_uris = list(app.redirect_uris or [])
    wanted_uris = (
        list(desired.redirect_uris) if prune else merged(current_uris, list(desired.redirect_uris))
    )
    if set(wanted_uris) != set(current_uris):
        added = [u for u in wanted_uris if u not in current_uris]
        removed = [u for u in current_uris if u not in wanted_uris]
        diff.ops.append(("REPLACE", "redirectUris", wanted_uris))
        diff.changes += [f"add redirect URI {u}" for u in added]
        diff.changes += [f"remove redirect URI {u} (--prune)" for u in removed]
    current_grants = list(app.allowed_grants or [])
    wanted_grants = merged(current_grants, list(desired.grants))
    if wanted_grants != current_grants:
        diff.ops.append(("REPLACE", "allowedGrants", wanted_grants))
        diff.changes += [f"add grant {g}" for g in wanted_grants if g not in current_grants]
    http_needed = _has_http(wanted_uris)
    if bool(app.all_url_schemes_allowed) != http_needed:
        diff.ops.append(("REPLACE", "allUrlSchemesAllowed", http_needed))
        diff.changes.append(f"set allUrlSchemesAllowed={str(http_needed).lower()}")
    if desired.allow_offline and not app.allow_offline:
        diff.ops.append(("REPLACE", "allowOffline", True))
        diff.changes.append("set allowOffline=true")
    if not app.active:
        diff.activate = True
        diff.changes.append("activate the app")
    return diff


def find_app(session: DomainSession, display_name: str) -> Any | None:
    """The app with exactly this display name (full record incl. clientSecret), or None."""
    data = session.call(
        "list Apps (IdentityDomainsClient.list_apps)",
        "list_apps",
        filter=eq_filter("displayName", display_name),
    )
    matches = [a for a in (data.resources or []) if a.display_name == display_name]
    if not matches:
        return None
    if len(matches) > 1:
        ids = ", ".join(a.id for a in matches)
        raise UserError(
            f"the domain has {len(matches)} apps named {display_name!r} ({ids})",
            hint="delete the extra apps in the console or pass another --app-name",
        )
    return get_app(session, matches[0].id)


def get_app(session: DomainSession, app_id: str) -> Any:
    return session.call("get App (IdentityDomainsClient.get_app)", "get_app", app_id)


def get_app_or_none(session: DomainSession, app_id: str) -> Any | None:
    try:
        return get_app(session, app_id)
    except OciMcpError as exc:
        if is_status(exc, 404):
            return None
        raise


def set_active(session: DomainSession, app_id: str, active: bool) -> None:
    from oci.identity_domains.models import AppStatusChanger

    body = AppStatusChanger(schemas=[STATUS_CHANGER_SCHEMA], active=active)
    verb = "activate" if active else "deactivate"
    session.call(
        f"{verb} App (IdentityDomainsClient.put_app_status_changer)",
        "put_app_status_changer",
        app_id,
        app_status_changer=body,
    )


def create_app(session: DomainSession, desired: DesiredApp) -> Any:
    """POST a new active confidential app built from ``desired``."""
    from oci.identity_domains.models import App, AppBasedOnTemplate

    uris = list(desired.redirect_uris)
    body = App(
        schemas=[APP_SCHEMA],
        display_name=desired.display_name,
        description=desired.description,
        based_on_template=AppBasedOnTemplate(value=TEMPLATE_ID),
        is_o_auth_client=True,
        client_type="confidential",
        allowed_grants=list(desired.grants),
        redirect_uris=uris or None,
        all_url_schemes_allowed=_has_http(uris),
        allow_offline=desired.allow_offline,
        active=True,
    )
    return session.call("create App (IdentityDomainsClient.create_app)", "create_app", app=body)


def ensure_app(
    session: DomainSession, desired: DesiredApp, prune: bool = False
) -> tuple[Action, Any]:
    """Create or reconcile the app (lookup first: re-runs never duplicate); return the full app."""
    app = find_app(session, desired.display_name)
    action = Action.UNCHANGED
    if app is None:
        app, created = create_or_adopt(
            lambda: create_app(session, desired), lambda: find_app(session, desired.display_name)
        )
        if created:
            action = Action.CREATED
            app = get_app(session, app.id)  # the full record, incl. the client secret
    diff = diff_app(app, desired, prune)
    if diff.ops:
        session.call(
            "update App (IdentityDomainsClient.patch_app)",
            "patch_app",
            app.id,
            patch_op=patch_op(diff.ops),
        )
    if diff.activate:
        set_active(session, app.id, True)
    if not diff.empty:
        action = Action.CREATED if action == Action.CREATED else Action.UPDATED
        app = get_app(session, app.id)
    return action, app


def delete_app(session: DomainSession, app_id: str) -> Action:
    """Deactivate (an active app cannot be deleted) then delete; UNCHANGED when already gone."""
    app = get_app_or_none(session, app_id)
    if app is None:
        return Action.UNCHANGED
    if app.active:
        set_active(session, app_id, False)
    session.call(
        "delete App (IdentityDomainsClient.delete_app)", "delete_app", app_id, force_delete=True
    )
    return Action.DELETED
