"""The OAuth client app(s): desired shape, lookup by display name, drift diff, create/reconcile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.provisioning.plan import Action
from oci_mcp_cli.provisioning.scim import Op, eq_filter, merged, patch_op
from oci_mcp_cli.provisioning.session import DomainSession, create_or_adopt, is_status

if TYPE_CHECKING:
    from oci.identity_domains.models import App, IdentityPropagationTrust, Tags

APP_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:App"
STATUS_CHANGER_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"
TEMPLATE_ID = "CustomWebAppTemplateId"
LOGIN_GRANTS = ("authorization_code", "refresh_token", "client_credentials")
EXCHANGE_GRANTS = ("client_credentials",)
OWNER_TAG = "oci-mcp-owner"
"""App tag (key) marking an app oci-mcp created; its value is the project's owner id (``.env``
``OCI_MCP_OWNER``). ``tags`` is ``returned: request``: reads ask for ``attributeSets=all``."""


@dataclass(frozen=True)
class DesiredApp:
    """What a confidential OAuth client made by oci-mcp must look like."""

    display_name: str
    grants: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    allow_offline: bool = False
    description: str = "MCP server OAuth client (created by oci-mcp)"
    owner: str = ""
    # Fully qualified resource scopes (audience + scope) the client must be allowed, exactly;
    # empty: allowedScopes is left as it is (our own server needs none).
    allowed_scopes: tuple[str, ...] = ()

    @classmethod
    def login(
        cls, display_name: str, server_url: str, redirect_path: str, owner: str = ""
    ) -> DesiredApp:
        """The sign-in client: auth code + refresh + client credentials, one exact redirect URI."""
        return cls(
            display_name=display_name,
            grants=LOGIN_GRANTS,
            redirect_uris=(f"{server_url}{redirect_path}",),
            allow_offline=True,
            owner=owner,
        )

    @classmethod
    def exchange(cls, display_name: str, owner: str = "") -> DesiredApp:
        """A separate client_credentials-only client for the token exchange."""
        return cls(
            display_name=display_name,
            grants=EXCHANGE_GRANTS,
            description="MCP server token-exchange client (created by oci-mcp)",
            owner=owner,
        )


def owner_of(resource: App | IdentityPropagationTrust) -> str | None:
    """The value of an app's (or trust's) ``oci-mcp-owner`` tag (None: not created by oci-mcp)."""
    for tag in getattr(resource, "tags", None) or []:
        if str(getattr(tag, "key", "")).lower() == OWNER_TAG:
            return str(tag.value)
    return None


def is_owned(app: App, owner: str | None) -> bool:
    """Did the oci-mcp project identified by ``owner`` create (or explicitly adopt) ``app``?"""
    return bool(owner) and owner_of(app) == owner


class NotOwnedError(UserError):
    """An app with the wanted display name exists and carries no (or another) ownership tag."""

    def __init__(self, app: App, env_path: str = ".env"):
        other = owner_of(app)
        whose = (
            "another oci-mcp project's (different OCI_MCP_OWNER)"
            if other
            else "not created by oci-mcp"
        )
        super().__init__(
            f"an app named {app.display_name!r} (client id {app.name}) already exists in the "
            f"domain and is {whose}; nothing was changed",
            hint="pass --app-name OTHER to create your own app, or --adopt to take this one "
            f"over (the plan shows every change first; {env_path} then records it)",
        )
        self.app = app


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


def diff_app(app: App, desired: DesiredApp, prune: bool = False) -> AppDiff:
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
    if desired.allowed_scopes:
        current_fqs = [s.fqs for s in (app.allowed_scopes or []) if getattr(s, "fqs", None)]
        if set(current_fqs) != set(desired.allowed_scopes):
            wanted = [{"fqs": fqs} for fqs in desired.allowed_scopes]
            diff.ops.append(("REPLACE", "allowedScopes", wanted))
            diff.changes += [
                f"allow scope {f}" for f in desired.allowed_scopes if f not in current_fqs
            ]
            diff.changes += [
                f"remove allowed scope {f}" for f in current_fqs if f not in desired.allowed_scopes
            ]
    if not app.active:
        diff.activate = True
        diff.changes.append("activate the app")
    if desired.owner and owner_of(app) != desired.owner:
        tags = [t for t in (app.tags or []) if str(t.key).lower() != OWNER_TAG]
        diff.ops.append(("REPLACE", "tags", [*_tag_dicts(tags), _owner_tag(desired.owner)]))
        diff.changes.append(f"tag {OWNER_TAG}={desired.owner} (ownership marker)")
    return diff


def _owner_tag(owner: str) -> dict[str, str]:
    return {"key": OWNER_TAG, "value": owner}


def _tag_dicts(tags: list[Tags]) -> list[dict[str, str]]:
    return [{"key": str(t.key), "value": str(t.value)} for t in tags]


def find_app(session: DomainSession, display_name: str) -> App | None:
    """The app with this display name (full record incl. clientSecret), or None.

    Compared case-insensitively, as the domain does: ``displayName`` is unique regardless of case
    (a create of ``OCI-MCP-Server`` next to ``oci-mcp-server`` is 409), so an app that differs
    only in case is the one that would collide — the plan must see it, not plan a create."""
    data = session.call(session.client.list_apps, filter=eq_filter("displayName", display_name))
    wanted = display_name.casefold()
    matches = [a for a in (data.resources or []) if (a.display_name or "").casefold() == wanted]
    if not matches:
        return None
    if len(matches) > 1:
        ids = ", ".join(a.id for a in matches)
        raise UserError(
            f"the domain has {len(matches)} apps named {display_name!r} ({ids})",
            hint="delete the extra apps in the console or pass another --app-name",
        )
    return get_app(session, matches[0].id)


def client_exists(session: DomainSession, client_id: str) -> bool:
    """Whether an app with this client id (the App ``name``) exists in the domain."""
    data = session.call(
        session.client.list_apps, filter=eq_filter("name", client_id), attributes="name"
    )
    return any(a.name == client_id for a in data.resources or [])


def get_app(session: DomainSession, app_id: str) -> App:
    """The full app, incl. the ``returned: request`` tags (ownership) and the client secret."""
    return session.call(session.client.get_app, app_id, attribute_sets=["all"])


def get_app_or_none(session: DomainSession, app_id: str) -> App | None:
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
        session.client.put_app_status_changer, app_id, app_status_changer=body, what=f"{verb} App"
    )


def create_app(session: DomainSession, desired: DesiredApp) -> App:
    """POST a new active confidential app built from ``desired``."""
    from oci.identity_domains.models import App, AppAllowedScopes, AppBasedOnTemplate, Tags

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
        tags=[Tags(**_owner_tag(desired.owner))] if desired.owner else None,
        allowed_scopes=[AppAllowedScopes(fqs=f) for f in desired.allowed_scopes] or None,
    )
    return session.call(session.client.create_app, app=body)


def ensure_app(
    session: DomainSession,
    desired: DesiredApp,
    prune: bool = False,
    *,
    adopt: bool = False,
    env_path: str = ".env",
) -> tuple[Action, App]:
    """Create or reconcile the app (lookup first: re-runs never duplicate); return the full app.

    An existing app must carry ``desired.owner``'s ownership tag, else :class:`NotOwnedError`
    (checked again here, at apply time) unless ``adopt``, which tags it ours."""
    found = find_app(session, desired.display_name)
    action = Action.UNCHANGED
    if found is not None:
        app = found
    else:
        app, created = create_or_adopt(
            lambda: create_app(session, desired), lambda: find_app(session, desired.display_name)
        )
        if created:
            action = Action.CREATED
            app = get_app(session, app.id)  # the full record, incl. the client secret
    if action != Action.CREATED and not adopt and not is_owned(app, desired.owner):
        raise NotOwnedError(app, env_path)
    diff = diff_app(app, desired, prune)
    if diff.ops:
        session.call(session.client.patch_app, app.id, patch_op=patch_op(diff.ops))
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
    session.call(session.client.delete_app, app_id, force_delete=True)
    return Action.DELETED
