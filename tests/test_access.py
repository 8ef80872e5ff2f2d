# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Who may sign in (issue 20, the project side): `init --allow-group/--allow-user`, re-runs,
`teardown` and `oci-mcp access list|grant|revoke`, through the real CLI against the sandbox,
read back through the SDK. Grants made by someone else (created here through the SDK) are never
touched: only the ids this project recorded in ``OCI_MCP_OWNED_GRANTS`` are ever deleted."""

from __future__ import annotations

import json
from typing import Any

from provisioning_support import Env, _fast_retries, env, seeded_state, steps  # noqa: F401
from test_transparent import oci_cli  # noqa: F401  (fixture: the real oci CLI, own venv)

from oci_mcp_cli.core import envfile as E

GROUP = "mcp-users"  # seeded: alice is a member, bob is not
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
GRANT_SCHEMA = "urn:ietf:params:scim:schemas:oracle:idcs:Grant"
ACCESS_STEPS = ("grant:", "access-control", "grants-not-ours")


def run(env: Env, *args: str) -> dict[str, Any]:
    """``oci-mcp <args> --json``, asserted to succeed; its JSON object."""
    result = env.cli(*args, "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def init(env: Env, *args: str) -> dict[str, Any]:
    return run(env, "init", "--yes", *args)


def access_steps(payload: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in steps(payload).items() if k.startswith(ACCESS_STEPS)}


def app_id(env: Env) -> str:
    return env.env()[E.OCI_MCP_APP_ID]


def requires_grant(env: Env, app: str | None = None) -> bool:
    return bool(env.client().get_app(app or app_id(env)).data.allow_access_control)


def grants(env: Env, app: str | None = None) -> list[Any]:
    app = app or app_id(env)
    data = env.client().list_grants(filter=f'app.value eq "{app}"').data
    return list(data.resources or [])


def grantee_id(env: Env, kind: str, name: str) -> str:
    client = env.client()
    if kind == "group":
        found = client.list_groups(filter=f'displayName eq "{name}"').data.resources
    else:
        found = client.list_users(filter=f'userName eq "{name}"').data.resources
    (one,) = found
    return str(one.id)


def grant_of(env: Env, kind: str, name: str, app: str | None = None) -> Any:
    wanted = grantee_id(env, kind, name)
    return next((g for g in grants(env, app) if g.grantee.value == wanted), None)


def foreign_grant(env: Env, kind: str, name: str, app: str | None = None) -> Any:
    """A grant another administrator made (through the SDK, not oci-mcp)."""
    from oci.identity_domains.models import Grant, GrantApp, GrantGrantee

    mechanism = "ADMINISTRATOR_TO_GROUP" if kind == "group" else "ADMINISTRATOR_TO_USER"
    body = Grant(
        schemas=[GRANT_SCHEMA],
        grant_mechanism=mechanism,
        grantee=GrantGrantee(value=grantee_id(env, kind, name), type=kind.capitalize()),
        app=GrantApp(value=app or app_id(env)),
    )
    return env.client().create_grant(grant=body).data


def new_group(env: Env, name: str) -> Any:
    from oci.identity_domains.models import Group

    return env.client().create_group(group=Group(schemas=[GROUP_SCHEMA], display_name=name)).data


def grant_deletes(env: Env) -> list[str]:
    return [r["path"] for r in env.writes() if r["method"] == "DELETE" and "/Grants/" in r["path"]]


# -- init -----------------------------------------------------------------------------------------
def test_init_allow_group_grants_the_group_and_requires_a_grant(env: Env) -> None:
    payload = init(env, "--allow-group", GROUP)
    assert access_steps(payload) == {"grant:group:mcp-users": "created",
                                     "access-control": "updated"}
    assert requires_grant(env)
    (grant,) = grants(env)
    assert grant.grant_mechanism == "ADMINISTRATOR_TO_GROUP"
    assert (grant.grantee.type, grant.grantee.value) == ("Group", grantee_id(env, "group", GROUP))
    values = env.env()
    assert values[E.OCI_MCP_ALLOWED_GROUPS] == GROUP
    assert values[E.OCI_MCP_OWNED_GRANTS] == grant.id
    assert values[E.OCI_MCP_ACCESS_CONTROL_SET] == "true"
    assert E.OCI_MCP_ALLOWED_USERS not in values
    assert payload["allowed_groups"] == [GROUP] and payload["allowed_users"] == []


def test_without_the_flags_and_nothing_recorded_there_is_no_access_step(env: Env) -> None:
    payload = init(env)
    assert access_steps(payload) == {}
    assert not requires_grant(env) and grants(env) == []
    assert not set(E.ACCESS_KEYS) & set(env.env())


def test_dry_run_shows_the_grants_and_writes_nothing(env: Env) -> None:
    init(env)
    before = env.env_file.read_text()
    env.sb.clear_requests()
    payload = run(env, "init", "--dry-run", "--allow-group", GROUP, "--allow-user", "bob")
    assert access_steps(payload) == {"grant:group:mcp-users": "create", "grant:user:bob": "create",
                                     "access-control": "update"}
    assert steps(payload)["env"] == "update"
    assert env.writes() == [] and env.env_file.read_text() == before
    assert not requires_grant(env) and grants(env) == []


def test_a_rerun_converges_with_no_write_and_recreates_a_deleted_grant(env: Env) -> None:
    init(env, "--allow-group", GROUP)
    env.sb.clear_requests()
    again = init(env)  # no flag: the recorded set
    assert set(steps(again).values()) == {"unchanged", "skipped"}, steps(again)
    assert "grant:group:mcp-users" in steps(again)
    assert env.writes() == []

    env.client().delete_grant(grants(env)[0].id)  # drift: someone removed it
    dry = env.cli("init", "--dry-run")
    assert dry.exit_code == 0 and "drift" in dry.stdout, dry.stdout
    fixed = init(env)
    assert access_steps(fixed) == {"grant:group:mcp-users": "created",
                                   "access-control": "unchanged"}
    (grant,) = grants(env)
    assert env.env()[E.OCI_MCP_OWNED_GRANTS] == grant.id


def test_a_rerun_with_another_set_removes_only_our_grants(env: Env) -> None:
    init(env, "--allow-group", GROUP)
    ours = grant_of(env, "group", GROUP)
    theirs = foreign_grant(env, "user", "bob")
    env.sb.clear_requests()
    payload = init(env, "--allow-user", "alice")
    assert access_steps(payload) == {"grant:user:alice": "created",
                                     "grant:group:mcp-users": "deleted",
                                     "access-control": "unchanged"}
    assert grant_deletes(env) == [f"/admin/v1/Grants/{ours.id}"]
    assert grant_of(env, "group", GROUP) is None
    assert grant_of(env, "user", "bob").id == theirs.id  # someone else's: untouched
    alice = grant_of(env, "user", "alice")
    values = env.env()
    assert values[E.OCI_MCP_ALLOWED_USERS] == "alice" and E.OCI_MCP_ALLOWED_GROUPS not in values
    assert values[E.OCI_MCP_OWNED_GRANTS] == alice.id
    assert requires_grant(env)


def test_a_foreign_grant_satisfies_the_group_and_survives_rerun_revoke_and_teardown(
    env: Env,
) -> None:
    init(env)
    theirs = foreign_grant(env, "group", GROUP)
    payload = init(env, "--allow-group", GROUP)
    assert access_steps(payload) == {"grant:group:mcp-users": "unchanged",
                                     "access-control": "updated"}
    assert "not ours" in next(s["reason"] for s in payload["steps"]
                              if s["name"] == "grant:group:mcp-users")
    assert E.OCI_MCP_OWNED_GRANTS not in env.env()
    init(env)
    assert [g.id for g in grants(env)] == [theirs.id]

    refused = env.cli("access", "revoke", "--group", GROUP, "--yes", "--json")
    assert refused.exit_code == 2, refused.stdout
    error = json.loads(refused.stdout)["error"]
    assert "not created by this project" in error["message"] and theirs.id in error["message"]
    assert [g.id for g in grants(env)] == [theirs.id]

    env.sb.clear_requests()
    down = run(env, "teardown", "--yes")
    assert steps(down)["grants-not-ours"] == "skipped"
    assert any(theirs.id in k["what"] or GROUP in k["what"] for k in down["kept"]), down["kept"]
    assert grant_deletes(env) == []  # never a DELETE of their grant


# -- teardown -------------------------------------------------------------------------------------
def test_teardown_removes_our_grants_before_the_app(env: Env) -> None:
    init(env, "--allow-group", GROUP, "--allow-user", "bob")
    ours = sorted(g.id for g in grants(env))
    env.sb.clear_requests()
    down = run(env, "teardown", "--yes")
    names = [s["name"] for s in down["steps"]]
    assert names.index("grant:group:mcp-users") < names.index("app")
    assert steps(down)["grant:group:mcp-users"] == steps(down)["grant:user:bob"] == "deleted"
    assert sorted(p.rsplit("/", 1)[1] for p in grant_deletes(env)) == ours
    assert env.apps() == []
    assert not set(E.ACCESS_KEYS) & set(env.env())


def test_teardown_switches_the_requirement_off_when_the_app_stays(env: Env) -> None:
    from provisioning_support import patch

    init(env, "--allow-group", GROUP)
    app = app_id(env)
    patch(env.client(), "app", app, ("REPLACE", "tags", []))  # no longer ours: teardown keeps it
    down = run(env, "teardown", "--yes")
    assert steps(down)["app"] == "skipped"
    assert steps(down)["access-control"] == "updated"
    assert not requires_grant(env, app) and grants(env, app) == []


def test_teardown_leaves_a_requirement_we_did_not_switch_on(env: Env) -> None:
    from provisioning_support import patch

    init(env)
    app = app_id(env)
    patch(env.client(), "app", app, ("REPLACE", "allowAccessControl", True))
    payload = init(env, "--allow-group", GROUP)
    assert access_steps(payload)["access-control"] == "unchanged"
    assert E.OCI_MCP_ACCESS_CONTROL_SET not in env.env()
    patch(env.client(), "app", app, ("REPLACE", "tags", []))  # the app stays
    down = run(env, "teardown", "--yes")
    assert "access-control" not in steps(down)
    assert requires_grant(env, app) and grants(env, app) == []


# -- oci-mcp access list|grant|revoke -----------------------------------------------------------
def test_access_list_grant_and_revoke(env: Env, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # the human table stays readable at 80 columns
    init(env)
    listed = run(env, "access", "list")
    assert listed["requires_grant"] is False and listed["grants"] == []
    assert listed["who_can_sign_in"].startswith("every user")

    env.sb.clear_requests()
    dry = run(env, "access", "grant", "--group", GROUP, "--dry-run")
    assert access_steps(dry) == {"grant:group:mcp-users": "create", "access-control": "update"}
    assert env.writes() == [] and E.OCI_MCP_ALLOWED_GROUPS not in env.env()

    granted = run(env, "access", "grant", "--group", GROUP, "--yes")
    assert access_steps(granted) == {"grant:group:mcp-users": "created",
                                     "access-control": "updated"}
    assert requires_grant(env)
    theirs = foreign_grant(env, "user", "bob")
    listed = run(env, "access", "list")
    assert listed["requires_grant"] is True
    rows = {(g["grantee_type"], g["grantee_name"]): g for g in listed["grants"]}
    assert rows[("group", GROUP)]["ours"] is True
    assert rows[("group", GROUP)]["mechanism"] == "ADMINISTRATOR_TO_GROUP"
    assert rows[("user", "bob")]["ours"] is False and rows[("user", "bob")]["id"] == theirs.id
    human = env.cli("access", "list")
    assert human.exit_code == 0 and "only members of group mcp-users, user bob" in human.stdout
    assert all(g["id"] in human.stdout for g in listed["grants"]), human.stdout  # whole ids
    assert max(len(line) for line in human.stdout.splitlines()) <= 80, human.stdout

    refused = env.cli("access", "revoke", "--user", "bob", "--yes")
    assert refused.exit_code == 2
    assert "not created by this project" in " ".join(refused.stderr.split())

    revoked = run(env, "access", "revoke", "--group", GROUP, "--yes")
    assert access_steps(revoked) == {"grant:group:mcp-users": "deleted",
                                     "access-control": "updated"}
    assert not requires_grant(env)  # we switched it on, the last of ours is gone: off again
    assert [g.id for g in grants(env)] == [theirs.id]
    assert not set(E.ACCESS_KEYS) & set(env.env())


def test_access_grant_adds_to_the_recorded_set(env: Env) -> None:
    init(env, "--allow-group", GROUP)
    run(env, "access", "grant", "--user", "bob", "--yes")
    values = env.env()
    assert values[E.OCI_MCP_ALLOWED_GROUPS] == GROUP and values[E.OCI_MCP_ALLOWED_USERS] == "bob"
    assert sorted(values[E.OCI_MCP_OWNED_GRANTS].split(",")) == sorted(g.id for g in grants(env))
    env.sb.clear_requests()
    again = run(env, "access", "grant", "--user", "bob", "--yes")
    assert set(steps(again).values()) == {"unchanged"} and env.writes() == []


def test_an_unknown_group_or_user_is_named_and_nothing_is_written(env: Env) -> None:
    init(env)
    env.sb.clear_requests()
    for argv in (("init", "--yes", "--allow-group", "no-such-group"),
                 ("access", "grant", "--yes", "--group", "no-such-group"),
                 ("access", "revoke", "--yes", "--group", "no-such-group"),
                 ("access", "grant", "--yes", "--user", "no-such-user")):
        result = env.cli(*argv, "--json")
        assert result.exit_code == 2, (argv, result.stdout, result.stderr)
        error = json.loads(result.stdout)["error"]
        name = argv[-1]
        assert f"named {name!r}" in error["message"], error
        assert "identity-domains" in error["hint"] and "list" in error["hint"], error
        assert "Traceback" not in result.stderr
    assert env.writes() == []


def test_access_needs_a_name_and_an_app(env: Env) -> None:
    result = env.cli("access", "grant", "--yes")
    assert result.exit_code == 2 and "--group" in result.stderr
    result = env.cli("access", "list")
    assert result.exit_code == 2 and "oci-mcp init" in " ".join(result.stderr.split())


# -- interrupted: what was written is recorded; a plain re-run converges -------------------------
def interrupted_init(env: Env, log: Any, how: int, nth: int, *flags: str) -> int:
    """`oci-mcp init --yes <flags>` as a process, stopped with signal ``how`` while its
    ``nth`` grant create is held in flight by the sandbox; returns the exit code once that call
    has been answered (the domain's final state)."""
    import os
    import subprocess
    import sys

    from proc_support import log_file
    from test_chaos_init_interrupts import BOUND_S, HOLD_S, answered, taken

    from oci_mcp_cli.core.waiting import poll_until

    env.sb.clear_requests()
    fault = env.sb.fault("POST", "/admin/v1/Grants", 0, count=nth, delay_s=HOLD_S)
    argv = [sys.executable, "-m", "oci_mcp_cli", "init", "--yes", *flags,
            "--config-file", env.sb.config_file, "--profile", env.sb.profile,
            "--env-file", str(env.env_file)]
    with log_file(log) as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, text=True, start_new_session=True,
                                env={**os.environ, "OCI_MCP_RETRY_BASE_SECONDS": "0.01"})
        try:
            reached = poll_until(lambda: taken(env.sb, fault) or proc.poll() is not None,
                                 timeout=BOUND_S, interval=0.02)
            assert reached and proc.poll() is None, log.read_text()
            os.kill(proc.pid, how)
            code = proc.wait(timeout=BOUND_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert poll_until(lambda: answered(env.sb, "POST", "/admin/v1/Grants", nth),
                      timeout=BOUND_S, interval=0.05)
    return code


def test_ctrl_c_during_a_grant_finishes_it_records_it_and_a_plain_rerun_converges(
    env: Env, tmp_path: Any
) -> None:
    import signal

    init(env)
    log = tmp_path / "init.log"
    code = interrupted_init(env, log, signal.SIGINT, 1, "--allow-group", GROUP)
    output = log.read_text()
    assert code == 130 and "after step 'grant:group:mcp-users'" in output, output
    assert "Traceback" not in output
    (grant,) = grants(env)
    values = env.env()
    assert values[E.OCI_MCP_OWNED_GRANTS] == grant.id
    assert values[E.OCI_MCP_ALLOWED_GROUPS] == GROUP
    assert not requires_grant(env)  # the next step never ran

    again = init(env)  # plain: the recorded set
    assert access_steps(again) == {"grant:group:mcp-users": "unchanged",
                                   "access-control": "updated"}
    assert [g.id for g in grants(env)] == [grant.id] and requires_grant(env)
    down = run(env, "teardown", "--yes")
    assert steps(down)["grant:group:mcp-users"] == "deleted"


def test_kill_9_during_the_second_grant_keeps_the_first_recorded(
    env: Env, tmp_path: Any
) -> None:
    """The first grant's id is saved right after its create (not at the end of the run): a
    process killed while creating the second leaves it recorded as ours."""
    import signal

    init(env)
    interrupted_init(env, tmp_path / "init.log", signal.SIGKILL, 2,
                     "--allow-group", GROUP, "--allow-user", "alice")
    (first,) = grants(env)  # the held second create died in transit with the process
    assert first.grantee.display == GROUP
    values = env.env()
    assert values[E.OCI_MCP_OWNED_GRANTS] == first.id
    assert (values[E.OCI_MCP_ALLOWED_GROUPS], values[E.OCI_MCP_ALLOWED_USERS]) == (GROUP, "alice")

    again = init(env)
    assert access_steps(again) == {"grant:group:mcp-users": "unchanged",
                                   "grant:user:alice": "created", "access-control": "updated"}
    down = run(env, "teardown", "--yes")
    assert steps(down)["grant:group:mcp-users"] == steps(down)["grant:user:alice"] == "deleted"
    assert env.apps() == []


# -- init --for oracle-mcp: the client users sign in to is granted --------------------------------
def test_oracle_mcp_init_grants_the_sign_in_client_and_teardown_removes_it(tmp_path: Any) -> None:
    from test_oracle_mcp import CLI, under_exec

    from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth
    from oci_mcp_cli.sandbox import Sandbox

    home = tmp_path / "home"
    home.mkdir()
    with Sandbox(state_dir=tmp_path / "sb") as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")
        env_file = tmp_path / "proj" / ".env"
        env_file.parent.mkdir()
        done = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--service",
                          "object-storage", "--allow-group", GROUP, "--yes", "--json",
                          "--env-file", str(env_file), "--domain-url", domain["https_url"],
                          "--server-url", "http://127.0.0.1:18400", "--open-jwks")
        assert done.returncode == 0, done.stdout + done.stderr
        assert access_steps(json.loads(done.stdout)) == {"grant:group:mcp-users": "created",
                                                         "access-control": "updated"}
        values = E.load_env(env_file).values
        client = identity_domains_client(load_oci_auth(sb.config_file, sb.profile), domain["url"])
        signin, resource = values[E.OCI_MCP_APP_ID], values[E.OCI_MCP_RESOURCE_APP_ID]
        assert client.get_app(signin).data.display_name == "oracle-mcp-server"
        assert client.get_app(signin).data.allow_access_control is True
        assert not client.get_app(resource).data.allow_access_control
        (grant,) = client.list_grants(filter=f'app.value eq "{signin}"').data.resources
        assert grant.grantee.display == GROUP and values[E.OCI_MCP_OWNED_GRANTS] == grant.id

        down = under_exec(sb, home, *CLI, "teardown", "--yes", "--json", "--env-file",
                          str(env_file))
        assert down.returncode == 0, down.stdout + down.stderr
        assert steps(json.loads(down.stdout))["grant:group:mcp-users"] == "deleted"
        assert client.list_grants(filter=f'app.value eq "{signin}"').data.resources == []


# -- a provisioned project lets a granted user sign in --------------------------------------------
def test_a_granted_user_signs_in_and_calls_a_tool(env: Env, tmp_path: Any) -> None:
    import anyio
    from serve_support import ServerStack, ok, signed_in

    from oci_mcp_cli.core.ports import free_port
    from oci_mcp_cli.server.config import load_settings

    server_url = f"http://127.0.0.1:{free_port()}"
    init(env, "--allow-group", GROUP, "--server-url", server_url)
    assert requires_grant(env)
    settings = load_settings(env.env_file, storage_dir=tmp_path / "oauth", log_level="WARNING")
    stack = ServerStack(env.sb, settings, tmp_path, env.env_file)

    async def whoami() -> Any:
        async with signed_in(stack, "alice") as client:
            return await ok(client, "whoami")

    stack.restart()
    try:
        me = anyio.run(whoami)
    finally:
        stack.stop()
    assert "alice" in json.dumps(me, default=str)


# -- the real oci CLI sees our grant, and the hint we print for an unknown name runs as printed ---
def test_the_oci_cli_lists_the_grant_and_the_printed_hint_runs(
    tmp_path: Any, oci_cli: str
) -> None:
    import shlex

    from test_oracle_mcp import CLI, under_exec

    from oci_mcp_cli.sandbox import Sandbox

    home = tmp_path / "home"
    home.mkdir()
    with Sandbox(state_dir=tmp_path / "sb") as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")["https_url"]
        env_file = str(tmp_path / ".env")
        done = under_exec(sb, home, *CLI, "init", "--yes", "--json", "--env-file", env_file,
                          "--domain-url", domain, "--allow-group", GROUP)
        assert done.returncode == 0, done.stdout + done.stderr
        values = E.load_env(env_file).values
        listed = under_exec(sb, home, oci_cli, "identity-domains", "grants", "list",
                            "--endpoint", domain, "--filter",
                            f'app.value eq "{values[E.OCI_MCP_APP_ID]}"')
        assert listed.returncode == 0, listed.stderr
        (grant,) = json.loads(listed.stdout)["data"]["resources"]
        assert grant["id"] == values[E.OCI_MCP_OWNED_GRANTS]
        assert grant["grantee"]["display"] == GROUP

        unknown = under_exec(sb, home, *CLI, "access", "grant", "--group", "mcp-user", "--json",
                             "--env-file", env_file)
        assert unknown.returncode == 2, unknown.stdout + unknown.stderr
        hint = json.loads(unknown.stdout)["error"]["hint"]
        command = shlex.split(hint.split("`")[1])  # the command between the backquotes
        assert command[:4] == ["oci", "identity-domains", "groups", "list"], hint
        groups = under_exec(sb, home, oci_cli, *command[1:])
        assert groups.returncode == 0, groups.stderr
        names = [g["display-name"] for g in json.loads(groups.stdout)["data"]["resources"]]
        assert GROUP in names, groups.stdout  # the oci CLI prints kebab-case keys
