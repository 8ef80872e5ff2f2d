"""Doctor's ``access`` check, the reading half: who may sign in to the app (issue 20).

Read through the admin SDK session: the app's ``allowAccessControl``, its grants
(``/admin/v1/Grants`` filtered by ``app.value``), each granted group's member count, and — when
access control is off — how many other OAuth client apps the domain holds. No writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oci_mcp_cli.provisioning.session import DomainSession

TO_GROUP = "ADMINISTRATOR_TO_GROUP"
TO_USER = "ADMINISTRATOR_TO_USER"
PAGE_SIZE = 100
MAX_PAGES = 50  # 5000 resources: a bound, not a limit anyone should meet


@dataclass(frozen=True)
class Grantee:
    """One grant of the app: a group (with its member count) or a user."""

    kind: str  # "group" | "user"
    name: str
    members: int | None = None  # groups only

    def describe(self) -> str:
        if self.kind == "group":
            count = self.members or 0
            return f"members of group {self.name} ({count} member{'' if count == 1 else 's'})"
        return f"user {self.name}"


@dataclass
class AccessState:
    """What the domain says about sign-in to the app."""

    app_name: str
    control: bool  # allowAccessControl: only granted users may sign in
    grantees: list[Grantee] = field(default_factory=list)
    other_apps: list[str] = field(default_factory=list)  # other OAuth clients (control off)
    users: int | None = None  # users of the domain (control off)

    @property
    def groups(self) -> set[str]:
        return {g.name for g in self.grantees if g.kind == "group"}

    @property
    def user_names(self) -> set[str]:
        return {g.name for g in self.grantees if g.kind == "user"}

    def who(self) -> str:
        """``members of group mcp-users (2 members), user bob`` or ``every user of the domain``."""
        if not self.control:
            count = f" ({self.users} users)" if self.users is not None else ""
            return f"every user of the domain{count}"
        return ", ".join(g.describe() for g in self.grantees) or "nobody"


def list_all(session: DomainSession, method: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every resource of a SCIM list call, page by page (bounded by :data:`MAX_PAGES`)."""
    resources: list[Any] = []
    start = 1
    for _ in range(MAX_PAGES):
        data = session.call(method, start_index=start, count=PAGE_SIZE, **kwargs)
        page = list(data.resources or [])
        resources += page
        total = data.total_results or 0
        if not page or len(resources) >= total:
            break
        start += len(page)
    return resources


def read_access(session: DomainSession, app: Any, own_client_ids: set[str]) -> AccessState:
    """The app's access state; ``own_client_ids``: this project's OAuth clients (not "other
    apps")."""
    from oci_mcp_cli.provisioning.scim import eq_filter

    client = session.client
    state = AccessState(app_name=app.display_name, control=bool(app.allow_access_control))
    if not state.control:
        apps = list_all(session, client.list_apps, filter="isOAuthClient eq true",
                        attributes="displayName,name")
        state.other_apps = sorted(
            a.display_name for a in apps if a.id != app.id and a.name not in own_client_ids
        )
        users = session.call(client.list_users, count=1, attributes="userName")
        state.users = users.total_results
        return state
    grants = list_all(session, client.list_grants, filter=eq_filter("app.value", app.id))
    for grant in grants:
        grantee = grant.grantee
        if grantee is None:
            continue
        if grant.grant_mechanism == TO_GROUP:
            group = session.call(client.get_group, grantee.value, attributes="displayName,members")
            name = group.display_name or grantee.display or grantee.value
            state.grantees.append(Grantee("group", name, len(group.members or [])))
        elif grant.grant_mechanism == TO_USER:
            user = session.call(client.get_user, grantee.value, attributes="userName")
            state.grantees.append(Grantee("user", user.user_name or grantee.value))
    state.grantees.sort(key=lambda g: (g.kind, g.name))
    return state
