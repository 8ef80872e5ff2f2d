"""Who may sign in to the app: its ``allowAccessControl`` and its Grants (issue 20).

An identity domain can require that a user be granted an app — directly
(``ADMINISTRATOR_TO_USER``) or through a group (``ADMINISTRATOR_TO_GROUP``) — before they sign in
to it (``App.allowAccessControl``). This module plans and applies that, through the SDK only:

* the allowed set: group and user names (``init --allow-group/--allow-user``, ``access grant``),
  recorded in ``.env`` (``OCI_MCP_ALLOWED_GROUPS`` / ``OCI_MCP_ALLOWED_USERS``);
* one grant per allowed group/user that has none. The ids of the grants this project created are
  recorded (``OCI_MCP_OWNED_GRANTS``) and only those are ever deleted; a grant someone else made
  for an allowed group satisfies it ("exists, not ours") and is never touched;
* ``allowAccessControl: true`` once the grants exist (the allowed users never lose access on the
  way). ``OCI_MCP_ACCESS_CONTROL_SET=true`` records that oci-mcp switched it on; only then is it
  switched off again (the allowed set becomes empty, or teardown keeps the app).

Every write re-checks the domain first; the ``.env`` record is saved atomically right after each
write (right before it for ``allowAccessControl``), so an interrupted run leaves a record that a
re-run or ``teardown`` continues from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.provisioning import apps
from oci_mcp_cli.provisioning.plan import Action, Plan, Step, StepHook, apply_plan
from oci_mcp_cli.provisioning.scim import eq_filter, patch_op
from oci_mcp_cli.provisioning.session import DomainSession, TargetOptions, is_status, open_domain

if TYPE_CHECKING:
    from oci.identity_domains.models import App, Grant

GRANT_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:Grant"
Kind = Literal["group", "user"]
KINDS: tuple[Kind, ...] = ("group", "user")
MECHANISM = {"group": "ADMINISTRATOR_TO_GROUP", "user": "ADMINISTRATOR_TO_USER"}
SCIM_TYPE = {"group": "Group", "user": "User"}
NAME_ATTRIBUTE = {"group": "displayName", "user": "userName"}
RECORD_KEY = {"group": E.OCI_MCP_ALLOWED_GROUPS, "user": E.OCI_MCP_ALLOWED_USERS}
CONTROL_STEP = "access-control"


def is_access_step(step: Step) -> bool:
    """One of this module's steps (``grant:…``, ``access-control``)."""
    return step.name.startswith("grant:") or step.name == CONTROL_STEP
PAGE_SIZE = 1000  # the domain's largest SCIM ``count``
MAX_PAGES = 100


# -- reading the domain -----------------------------------------------------------------------
def list_all(session: DomainSession, method: Callable[..., Any], **kwargs: Any) -> list[Any]:
    """Every resource of a SCIM list call, page by page (``startIndex``/``count``; bounded)."""
    found: list[Any] = []
    for _ in range(MAX_PAGES):
        data = session.call(method, start_index=len(found) + 1, count=PAGE_SIZE, **kwargs)
        page = list(data.resources or [])
        found += page
        if not page or len(found) >= (data.total_results or 0):
            break
    return found


@dataclass(frozen=True)
class Grantee:
    """A group or user of the domain, by the domain's own spelling of its name."""

    kind: Kind
    name: str
    id: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        return MECHANISM[self.kind], self.id


def find_grantee(session: DomainSession, kind: Kind, name: str) -> Grantee | None:
    """The group (``displayName``) or user (``userName``) called ``name`` (case-insensitive, as
    the domain compares them), or None."""
    attribute = NAME_ATTRIBUTE[kind]
    method = session.client.list_groups if kind == "group" else session.client.list_users
    data = session.call(method, filter=eq_filter(attribute, name), attributes=attribute)
    wanted = name.casefold()
    for resource in data.resources or []:
        value = getattr(resource, "display_name" if kind == "group" else "user_name", None)
        if value and value.casefold() == wanted:
            return Grantee(kind, value, resource.id)
    return None


def how_to_list(session: DomainSession, kind: Kind) -> str:
    return (
        f"list them with `oci identity-domains {kind}s list --endpoint {session.domain_url} "
        f"--attributes {NAME_ATTRIBUTE[kind]}` (or in the console: Identity domain → "
        f"{kind.capitalize()}s)"
    )


def resolve(
    session: DomainSession, kind: Kind, name: str, recorded_in: str | None = None
) -> Grantee:
    """:func:`find_grantee` or a UserError (exit 2) naming ``name`` and how to list the names;
    ``recorded_in``: the name came from that ``.env``, not from a flag."""
    found = find_grantee(session, kind, name)
    if found is not None:
        return found
    if recorded_in is None:
        raise UserError(
            f"no {kind} named {name!r} in the identity domain {session.domain_url}",
            hint=f"check the name; {how_to_list(session, kind)}",
        )
    raise UserError(
        f"the {kind} {name!r} recorded in {recorded_in} ({RECORD_KEY[kind]}) no longer exists "
        f"in the identity domain {session.domain_url}",
        hint=f"drop it with `oci-mcp access revoke --{kind} {name}`, or name the allowed set "
        f"again (`oci-mcp init --allow-{kind} …`); {how_to_list(session, kind)}",
    )


def app_grants(session: DomainSession, app_id: str) -> list[Grant]:
    """Every grant of the app (``app.value eq "<appId>"``)."""
    found = list_all(session, session.client.list_grants, filter=eq_filter("app.value", app_id))
    return [g for g in found if getattr(g.app, "value", None) == app_id]


def grant_key(grant: Grant) -> tuple[str, str]:
    return str(grant.grant_mechanism), str(getattr(grant.grantee, "value", ""))


def grant_kind(grant: Grant) -> Kind | None:
    kind = str(getattr(grant.grantee, "type", "")).lower()
    return next((k for k in KINDS if k == kind), None)


def grantee_name(session: DomainSession, grant: Grant) -> str:
    """The grantee's name as ``--group``/``--user`` take it: a group's ``displayName`` (the
    reference's ``display``), a user's ``userName`` (``display`` is the user's display name, so
    it is read); the id when the grantee is gone."""
    grantee = grant.grantee
    kind, value = grant_kind(grant), str(getattr(grantee, "value", ""))
    display = getattr(grantee, "display", None)
    if kind == "group" and display:
        return str(display)
    try:
        if kind == "group":
            return str(session.call(session.client.get_group, value).display_name)
        if kind == "user":
            user = session.call(session.client.get_user, value, attributes="userName")
            return str(user.user_name)
    except OciMcpError as exc:
        if not is_status(exc, 404):
            raise
    return str(display or value)


def grant_label(session: DomainSession, grant: Grant) -> str:
    """``group:mcp-users`` / ``user:alice``, as the steps are named."""
    kind = grant_kind(grant) or str(getattr(grant.grantee, "type", "?"))
    return f"{kind}:{grantee_name(session, grant)}"


def made_by(grant: Grant) -> str:
    """Who created a grant, as the domain says (``idcsCreatedBy``, then ``grantor``)."""
    for who in (grant.idcs_created_by, grant.grantor):
        name = getattr(who, "display", None) or getattr(who, "value", None)
        if name:
            return str(name)
    return "unknown"


def get_grant_or_none(session: DomainSession, grant_id: str) -> Grant | None:
    try:
        return session.call(session.client.get_grant, grant_id)
    except OciMcpError as exc:
        if is_status(exc, 404):
            return None
        raise


# -- the .env record --------------------------------------------------------------------------
def split_names(value: str | None) -> list[str]:
    """A comma-separated record as a list (blank items and case-insensitive repeats dropped)."""
    return unique(item.strip() for item in (value or "").split(","))


def unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out


def check_names(kind: Kind, names: Iterable[str]) -> list[str]:
    """Flag values: stripped, de-duplicated; a comma cannot be recorded (exit 2)."""
    cleaned = unique(n.strip() for n in names)
    for name in cleaned:
        if "," in name:
            raise UserError(
                f"--{kind} {name!r}: a name with a comma cannot be recorded in .env",
                hint="rename the group/user, or grant it in the console",
            )
    if any(not n.strip() for n in names):
        raise UserError(f"--{kind} needs a name (got an empty one)")
    return cleaned


@dataclass
class AccessRecord:
    """The four ``.env`` keys of issue 20."""

    groups: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    owned: list[str] = field(default_factory=list)
    control_set: bool = False

    @classmethod
    def read(cls, env: E.EnvFile) -> AccessRecord:
        return cls(
            split_names(env.get(E.OCI_MCP_ALLOWED_GROUPS)),
            split_names(env.get(E.OCI_MCP_ALLOWED_USERS)),
            split_names(env.get(E.OCI_MCP_OWNED_GRANTS)),
            env.get(E.OCI_MCP_ACCESS_CONTROL_SET) == "true",
        )

    def names(self, kind: Kind) -> list[str]:
        return self.groups if kind == "group" else self.users

    def has(self, kind: Kind, name: str) -> bool:
        return name.casefold() in {n.casefold() for n in self.names(kind)}

    @property
    def managed(self) -> bool:
        return bool(self.groups or self.users or self.owned or self.control_set)

    def values(self) -> dict[str, str]:
        return {
            E.OCI_MCP_ALLOWED_GROUPS: ",".join(self.groups),
            E.OCI_MCP_ALLOWED_USERS: ",".join(self.users),
            E.OCI_MCP_OWNED_GRANTS: ",".join(self.owned),
            E.OCI_MCP_ACCESS_CONTROL_SET: "true" if self.control_set else "",
        }

    def env_changes(self) -> tuple[dict[str, str], list[str]]:
        """(keys to write, keys to remove): an empty value is removed, not written."""
        values = self.values()
        return {k: v for k, v in values.items() if v}, [k for k, v in values.items() if not v]

    def differs_from(self, env: E.EnvFile) -> bool:
        return any((env.get(k) or "") != v for k, v in self.values().items())


# -- plan and apply ---------------------------------------------------------------------------
@dataclass
class AccessRun:
    """The access steps of one run (init, access grant/revoke): what they read, the record they
    keep up to date in ``.env`` as they write."""

    session: DomainSession
    env_path: Path
    record: AccessRecord
    app_id: Callable[[], str]  # at apply time: init creates the app before these steps run
    backup: bool = False  # back up .env before this run's first save
    saved: bool = False

    def save(self) -> Action:
        """Write the record to ``.env`` (atomically) unless it already says so."""
        current = E.load_env(self.env_path)
        if current.exists and not self.record.differs_from(current):
            return Action.UNCHANGED
        updates, remove = self.record.env_changes()
        E.save_env(self.env_path, updates, remove=remove, backup=self.backup and current.exists)
        self.backup, self.saved = False, True
        return Action.UPDATED if current.exists else Action.CREATED

    def plan(self, app: App | None, desired: list[Grantee], before: AccessRecord) -> list[Step]:
        """The steps from ``before`` (the record as read) to ``desired`` for ``app`` (None: not
        created yet). Nothing allowed and nothing recorded: no step at all. Reads only."""
        self.record.groups = [g.name for g in desired if g.kind == "group"]
        self.record.users = [g.name for g in desired if g.kind == "user"]
        if not desired and not before.managed:
            return []
        grants = app_grants(self.session, app.id) if app is not None else []
        self._forget_stale(grants)
        by_key = {grant_key(g): g for g in grants}
        steps = [self._grant_step(d, by_key.get(d.key), before) for d in desired]
        wanted = {d.key for d in desired}
        ours_unwanted = [g for g in grants if g.id in before.owned and grant_key(g) not in wanted]
        steps += [self._revoke_step(g) for g in ours_unwanted]
        control = self._control_step(app, bool(desired), before)
        return steps + ([control] if control else [])

    def _forget_stale(self, grants: list[Grant]) -> None:
        """Recorded grant ids that no longer exist leave the record (one on another app stays:
        ours, teardown removes it)."""
        present = {g.id for g in grants}
        self.record.owned = [
            gid
            for gid in self.record.owned
            if gid in present or get_grant_or_none(self.session, gid) is not None
        ]

    def _grant_step(self, grantee: Grantee, grant: Grant | None, before: AccessRecord) -> Step:
        name = f"grant:{grantee.label}"
        who = f"{grantee.kind} {grantee.name!r}"
        if grant is not None and grant.id in self.record.owned:
            reason = f"{who} is granted the app (grant {grant.id}, ours)"
            return Step(name, Action.UNCHANGED, reason)
        if grant is not None:
            return Step(
                name,
                Action.UNCHANGED,
                f"{who} is granted the app by grant {grant.id}: exists, not ours (created by "
                f"{made_by(grant)}); oci-mcp never changes or removes it",
            )
        if before.has(grantee.kind, grantee.name):
            reason = (
                f"drift: {who} is recorded in {self.env_path} but has no grant (removed outside "
                "oci-mcp, or an earlier run stopped before it); re-create it"
            )
        else:
            members = "its members" if grantee.kind == "group" else "this user"
            reason = f"grant the app to {who} ({MECHANISM[grantee.kind]}): {members} may sign in"
        return Step(name, Action.CREATED, reason, apply=lambda: self._apply_grant(grantee))

    def _revoke_step(self, grant: Grant) -> Step:
        label = grant_label(self.session, grant)
        return Step(
            f"grant:{label}",
            Action.DELETED,
            f"revoke grant {grant.id} (ours): {label} is no longer in the allowed set",
            apply=lambda: self._apply_revoke(str(grant.id)),
        )

    def _control_step(self, app: App | None, wanted: bool, before: AccessRecord) -> Step | None:
        on = bool(app is not None and app.allow_access_control)
        if wanted and on:
            outside = "" if before.control_set else " (switched on outside oci-mcp: it stays on)"
            reason = f"the app already requires a grant to sign in{outside}"
            return Step(CONTROL_STEP, Action.UNCHANGED, reason)
        if wanted:
            return Step(
                CONTROL_STEP,
                Action.UPDATED,
                "require a grant to sign in: then only the granted groups and users can sign in "
                "(the domain refuses everyone else)",
                changes=["allowAccessControl: true"],
                apply=lambda: self._apply_control(True),
            )
        if not before.control_set:
            return None  # not ours to switch off
        if not on:
            return Step(
                CONTROL_STEP,
                Action.UNCHANGED,
                "the app does not require a grant (allowAccessControl is already off)",
                apply=lambda: self._apply_control(False),
            )
        return Step(
            CONTROL_STEP,
            Action.UPDATED,
            "nothing is granted by this project any more: switch the requirement off again "
            "(oci-mcp switched it on) — every user of the domain can then sign in",
            changes=["allowAccessControl: false"],
            apply=lambda: self._apply_control(False),
        )

    def _write_ahead(self) -> None:
        """Before this run's first write: the allowed set as it will be (a re-run continues)."""
        if not self.saved:
            self.save()

    def _find(self, app_id: str, grantee: Grantee) -> Grant | None:
        return next(
            (g for g in app_grants(self.session, app_id) if grant_key(g) == grantee.key), None
        )

    def _apply_grant(self, grantee: Grantee) -> Action:
        from oci.identity_domains.models import Grant, GrantApp, GrantGrantee

        app_id = self.app_id()
        self._write_ahead()
        if self._find(app_id, grantee) is not None:
            return Action.UNCHANGED  # granted since the plan was read: by someone else, theirs
        body = Grant(
            schemas=[GRANT_SCHEMA],
            grant_mechanism=MECHANISM[grantee.kind],
            grantee=GrantGrantee(value=grantee.id, type=SCIM_TYPE[grantee.kind]),
            app=GrantApp(value=app_id),
        )
        try:
            created = self.session.call(self.session.client.create_grant, grant=body)
        except OciMcpError as exc:
            # 409: a grant for the same app, grantee and mechanism exists. We cannot tell ours
            # (a retried POST that landed) from another admin's: the stricter reading, not ours.
            if is_status(exc, 409) and self._find(app_id, grantee) is not None:
                return Action.UNCHANGED
            raise
        self.record.owned.append(str(created.id))
        self.save()
        return Action.CREATED

    def _apply_revoke(self, grant_id: str) -> Action:
        self._write_ahead()
        action = delete_grant(self.session, grant_id)
        self.record.owned = [g for g in self.record.owned if g != grant_id]
        self.save()
        return action

    def _apply_control(self, on: bool) -> Action:
        app_id = self.app_id()
        current = bool(apps.get_app(self.session, app_id).allow_access_control)
        if current == on:
            if not on and self.record.control_set:
                self.record.control_set = False
                self.save()
            return Action.UNCHANGED
        if on:  # recorded before the write: a kill after it still leaves "we switched it on"
            self.record.control_set = True
            self.save()
        set_access_control(self.session, app_id, on)
        if not on:
            self.record.control_set = False
            self.save()
        return Action.UPDATED


def set_access_control(session: DomainSession, app_id: str, on: bool) -> None:
    """PATCH the app's ``allowAccessControl``."""
    session.call(
        session.client.patch_app,
        app_id,
        patch_op=patch_op([("REPLACE", "allowAccessControl", on)]),
        what=f"set allowAccessControl={str(on).lower()} on App",
    )


def resolve_all(
    session: DomainSession, groups: list[str], users: list[str], record: AccessRecord, env: str
) -> list[Grantee]:
    """The allowed names as grantees; unknown names stop the plan (exit 2) before any write."""
    return [
        resolve(session, kind, name, env if record.has(kind, name) else None)
        for kind, names in by_kind(groups, users)
        for name in names
    ]


def by_kind(groups: list[str], users: list[str]) -> tuple[tuple[Kind, list[str]], ...]:
    return (("group", groups), ("user", users))


# -- init -------------------------------------------------------------------------------------
def plan_for_init(
    session: DomainSession,
    env: E.EnvFile,
    app: App | None,
    app_id: Callable[[], str],
    groups: list[str],
    users: list[str],
) -> tuple[AccessRun, list[Step]]:
    """``init``'s access steps: the flags' set (either flag given), else the recorded one."""
    before = AccessRecord.read(env)
    groups, users = check_names("group", groups), check_names("user", users)
    if not groups and not users:
        groups, users = list(before.groups), list(before.users)
    run = AccessRun(session, env.path, AccessRecord.read(env), app_id)
    desired = resolve_all(session, groups, users, before, str(env.path))
    return run, run.plan(app, desired, before)


# -- teardown ---------------------------------------------------------------------------------
def teardown_grant_steps(
    session: DomainSession, env: E.EnvFile, subjects: dict[str, str]
) -> list[Step]:
    """Delete every grant recorded as ours (before the app goes); the app's other grants are
    named and left in place."""
    record = AccessRecord.read(env)
    steps = []
    for grant_id in record.owned:
        grant = get_grant_or_none(session, grant_id)
        if grant is None:
            steps.append(Step(f"grant:{grant_id}", Action.UNCHANGED, f"grant {grant_id} is gone"))
            continue
        label = grant_label(session, grant)
        subjects[f"grant:{label}"] = f"grant {grant_id} ({label})"
        steps.append(
            Step(
                f"grant:{label}",
                Action.DELETED,
                f"revoke grant {grant_id} of {label}: recorded in .env as created by this project",
                apply=_deleter(session, grant_id),
            )
        )
    app_id = env.get(E.OCI_MCP_APP_ID)
    if record.managed and app_id and apps.get_app_or_none(session, app_id) is not None:
        theirs = [g for g in app_grants(session, app_id) if g.id not in record.owned]
        if theirs:
            labels = ", ".join(f"{grant_label(session, g)} by {made_by(g)}" for g in theirs)
            subjects["grants-not-ours"] = f"{len(theirs)} grant(s) of the app: {labels}"
            steps.append(
                Step(
                    "grants-not-ours",
                    Action.SKIPPED,
                    "left in place: this project did not create them",
                )
            )
    return steps


def _deleter(session: DomainSession, grant_id: str) -> Callable[[], Action]:
    return lambda: delete_grant(session, grant_id)


def delete_grant(session: DomainSession, grant_id: str) -> Action:
    """DELETE one grant; UNCHANGED when it is already gone."""
    try:
        session.call(session.client.delete_grant, grant_id)
    except OciMcpError as exc:
        if not is_status(exc, 404):
            raise
        return Action.UNCHANGED
    return Action.DELETED


def teardown_control_step(
    session: DomainSession, env: E.EnvFile, app_deleted: bool, subjects: dict[str, str]
) -> Step | None:
    """Switch ``allowAccessControl`` off again when oci-mcp switched it on and the app stays."""
    if env.get(E.OCI_MCP_ACCESS_CONTROL_SET) != "true":
        return None
    app_id = env.get(E.OCI_MCP_APP_ID)
    if app_deleted or not app_id:
        return Step(CONTROL_STEP, Action.SKIPPED, "the app itself is deleted")
    app = apps.get_app_or_none(session, app_id)
    if app is None:
        return Step(CONTROL_STEP, Action.UNCHANGED, f"app {app_id} no longer exists")
    subjects[CONTROL_STEP] = f"allowAccessControl of app {app.display_name!r}"
    if not app.allow_access_control:
        return Step(CONTROL_STEP, Action.UNCHANGED, "allowAccessControl is already off")
    return Step(
        CONTROL_STEP,
        Action.UPDATED,
        "switch allowAccessControl off again (oci-mcp switched it on; the app stays): every "
        "user of the domain can then sign in to it",
        changes=["allowAccessControl: false"],
        apply=lambda: _switch_off(session, app_id),
    )


def _switch_off(session: DomainSession, app_id: str) -> Action:
    set_access_control(session, app_id, False)
    return Action.UPDATED


# -- `oci-mcp access list|grant|revoke` -------------------------------------------------------
@dataclass
class AccessOptions(TargetOptions):
    """Inputs of the access subcommands."""

    groups: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)


def open_app(options: TargetOptions) -> tuple[E.EnvFile, DomainSession, App]:
    """The ``.env``, a session on its domain and the sign-in app it records."""
    env, session = open_domain(options)
    app_id = env.get(E.OCI_MCP_APP_ID)
    if not app_id:
        raise UserError(
            f"{options.env_file} records no app ({E.OCI_MCP_APP_ID})",
            hint="run `oci-mcp init` first (it creates the app users sign in to)",
        )
    app = apps.get_app_or_none(session, app_id)
    if app is None:
        raise UserError(
            f"the app recorded in {options.env_file} ({app_id}) no longer exists in "
            f"{session.domain_url}",
            hint="run `oci-mcp init` to create it again",
        )
    return env, session, app


@dataclass
class AccessChange:
    """A planned ``access grant`` / ``access revoke`` and, after apply, its outcome."""

    options: AccessOptions
    env: E.EnvFile
    session: DomainSession
    app: App
    run: AccessRun
    plan: Plan

    def apply(self, around_step: StepHook | None = None) -> Plan:
        """Apply; Ctrl-C/SIGTERM finish the step in flight (its record is saved), then stop."""
        from oci_mcp_cli.core.interrupts import deferred_interrupts
        from oci_mcp_cli.provisioning.plan import stop_between_steps

        hint = "run the same command again: it continues where this stopped"
        with deferred_interrupts() as guard:
            hook = stop_between_steps(around_step, guard, str(self.options.env_file), hint)
            return apply_plan(self.plan, hook)

    def summary(self) -> dict[str, Any]:
        return {
            "domain_url": self.session.domain_url,
            "app_id": self.app.id,
            "app_name": self.app.display_name,
            "allowed_groups": list(self.run.record.groups),
            "allowed_users": list(self.run.record.users),
            "owned_grants": list(self.run.record.owned),
            "env_file": str(self.options.env_file),
            "steps": [s.to_dict() for s in self.plan.steps],
        }


def _need_names(options: AccessOptions, verb: str) -> tuple[list[str], list[str]]:
    groups, users = check_names("group", options.groups), check_names("user", options.users)
    if not groups and not users:
        raise UserError(
            f"name what to {verb}: --group NAME and/or --user NAME (repeatable)",
            hint="`oci-mcp access list` shows the current grants",
        )
    return groups, users


def _change(options: AccessOptions, title: str, groups: list[str], users: list[str], *,
            before: AccessRecord, env: E.EnvFile, session: DomainSession, app: App,
            extra: list[Step] | None = None) -> AccessChange:
    run = AccessRun(session, env.path, AccessRecord.read(env), lambda: str(app.id), backup=True)
    desired = resolve_all(session, groups, users, before, str(env.path))
    plan = Plan(title)
    for step in [*(extra or []), *run.plan(app, desired, before)]:
        plan.add(step)
    changing = plan.has_changes or run.record.differs_from(env)
    plan.add(
        Step(
            "env",
            Action.UPDATED if changing else Action.UNCHANGED,
            f"record the allowed set and the grants this project owns in {options.env_file}",
            apply=run.save,
        )
    )
    return AccessChange(options, env, session, app, run, plan)


def plan_grant(options: AccessOptions) -> AccessChange:
    """Add groups/users to the allowed set: their grants, then the requirement. Reads only."""
    new_groups, new_users = _need_names(options, "grant")
    env, session, app = open_app(options)
    before = AccessRecord.read(env)
    groups = unique([*before.groups, *new_groups])
    users = unique([*before.users, *new_users])
    return _change(options, "access grant", groups, users, before=before, env=env,
                   session=session, app=app)


def plan_revoke(options: AccessOptions) -> AccessChange:
    """Remove groups/users from the allowed set: delete our grants for them (a grant this project
    did not create is refused, exit 2); the last one switches the requirement off again if
    oci-mcp switched it on. Reads only."""
    gone_groups, gone_users = _need_names(options, "revoke")
    env, session, app = open_app(options)
    before = AccessRecord.read(env)
    grants = app_grants(session, app.id)
    extra: list[Step] = []
    for kind, names in by_kind(gone_groups, gone_users):
        for name in names:
            recorded = before.has(kind, name)
            grantee = find_grantee(session, kind, name)
            if grantee is None and not recorded:
                resolve(session, kind, name)  # raises: no such group/user
            held = [g for g in grants if grantee and grant_key(g) == grantee.key]
            theirs = [g for g in held if g.id not in before.owned]
            if theirs:
                raise UserError(
                    f"the grant of {kind} {name!r} to app {app.display_name!r} ({theirs[0].id}) "
                    f"was not created by this project (created by {made_by(theirs[0])}); "
                    "oci-mcp never removes it",
                    hint="whoever made it can remove it (console, or `oci identity-domains grant "
                    f"delete --grant-id {theirs[0].id} --endpoint {session.domain_url}`)",
                )
            if not held and not recorded:
                label = f"{kind}:{grantee.name if grantee else name}"
                why = f"{kind} {name!r} is not granted the app: nothing to revoke"
                extra.append(Step(f"grant:{label}", Action.UNCHANGED, why))
    groups = [n for n in before.groups if n.casefold() not in {g.casefold() for g in gone_groups}]
    users = [n for n in before.users if n.casefold() not in {u.casefold() for u in gone_users}]
    return _change(options, "access revoke", groups, users, before=before, env=env,
                   session=session, app=app, extra=extra)


@dataclass(frozen=True)
class GrantRow:
    """One grant of the app as ``access list`` shows it."""

    id: str
    grantee_type: str
    grantee_name: str
    grantee_id: str
    mechanism: str
    ours: bool
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AccessListing:
    """Whether the app requires a grant, and every grant of it."""

    domain_url: str
    app_id: str
    app_name: str
    requires_grant: bool
    control_set_by_us: bool
    allowed_groups: list[str]
    allowed_users: list[str]
    grants: list[GrantRow]

    @property
    def who(self) -> str:
        """Who can sign in, in one line."""
        if not self.requires_grant:
            return "every user of the identity domain (the app does not require a grant)"
        if not self.grants:
            return "nobody: the app requires a grant and has none"
        return "only " + ", ".join(
            f"members of group {g.grantee_name}" if g.grantee_type == "group"
            else f"user {g.grantee_name}"
            for g in self.grants
        )

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["grants"] = [g.to_dict() for g in self.grants]
        data["who_can_sign_in"] = self.who
        return data


def list_access(options: TargetOptions) -> AccessListing:
    """Read the app's requirement and grants (and which of them this project created)."""
    env, session, app = open_app(options)
    record = AccessRecord.read(env)
    rows = [
        GrantRow(
            id=str(g.id),
            grantee_type=grant_kind(g) or str(getattr(g.grantee, "type", "")),
            grantee_name=grantee_name(session, g),
            grantee_id=str(getattr(g.grantee, "value", "")),
            mechanism=str(g.grant_mechanism),
            ours=g.id in record.owned,
            created_by=made_by(g),
        )
        for g in app_grants(session, str(app.id))
    ]
    return AccessListing(
        domain_url=session.domain_url,
        app_id=str(app.id),
        app_name=str(app.display_name),
        requires_grant=bool(app.allow_access_control),
        control_set_by_us=record.control_set,
        allowed_groups=record.groups,
        allowed_users=record.users,
        grants=rows,
    )
