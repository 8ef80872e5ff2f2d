# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Provisioning on a shared identity domain: init and teardown never touch what this project did
not create (issue 8 §1), through the real CLI against the sandbox, read back through the SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provisioning_support import (  # noqa: F401
    Env,
    _fast_retries,
    env,
    foreign_trust,
    seeded_state,
    steps,
)

from oci_mcp_cli.core import envfile as E

APP = "oci-mcp-server"
TAG = "oci-mcp-owner"


def foreign_app(env: Env, name: str = APP, tags: list[dict[str, str]] | None = None) -> Any:
    """Another team's app: https redirect URI, no refresh grant, no oci-mcp tag."""
    from oci.identity_domains.models import App, AppBasedOnTemplate, Tags

    body = App(
        schemas=["urn:ietf:params:scim:schemas:oracle:idcs:App"],
        display_name=name,
        based_on_template=AppBasedOnTemplate(value="CustomWebAppTemplateId"),
        is_o_auth_client=True,
        client_type="confidential",
        allowed_grants=["authorization_code"],
        redirect_uris=["https://team-b.example.com/auth/callback"],
        active=True,
        tags=[Tags(**t) for t in tags] if tags else None,
    )
    return env.client().create_app(app=body).data


def full_app(env: Env, app_id: str) -> Any:
    return env.client().get_app(app_id, attribute_sets=["all"]).data


def tags(app: Any) -> dict[str, str]:
    return {t.key: t.value for t in app.tags or []}


def second_developer(env: Env, tmp_path: Path) -> Env:
    """Same sandbox (same domain), another project directory and .env."""
    return Env(sb=env.sb, env_file=tmp_path / "other-project" / ".env")


def test_a_foreign_app_with_our_name_stops_init_before_any_write(env: Env) -> None:
    theirs = foreign_app(env)
    env.sb.clear_requests()
    result = env.cli("init", "--yes", "--json")
    assert result.exit_code == 2, result.stderr
    assert APP in result.stderr and theirs.name in result.stderr  # display name and client id
    assert "--app-name" in result.stderr and "--adopt" in result.stderr
    assert "Traceback" not in result.stderr
    assert env.writes() == []
    assert not env.env_file.exists()
    after = full_app(env, theirs.id)
    assert after.redirect_uris == ["https://team-b.example.com/auth/callback"]
    assert after.allowed_grants == ["authorization_code"] and not after.all_url_schemes_allowed


def test_dry_run_refuses_the_same_way(env: Env) -> None:
    foreign_app(env)
    result = env.cli("init", "--dry-run", "--json")
    assert result.exit_code == 2 and "--adopt" in result.stderr


def test_another_app_name_leaves_theirs_alone(env: Env) -> None:
    theirs = foreign_app(env)
    result = env.cli("init", "--yes", "--json", "--app-name", "my-mcp")
    assert result.exit_code == 0, result.stderr
    (mine,) = env.apps("my-mcp")
    assert tags(full_app(env, mine.id)) == {TAG: env.env()[E.OCI_MCP_OWNER]}
    assert full_app(env, theirs.id).redirect_uris == ["https://team-b.example.com/auth/callback"]
    assert env.env()[E.OCI_MCP_APP_NAME] == "my-mcp"


def test_adopt_shows_every_change_then_takes_it_over(env: Env) -> None:
    theirs = foreign_app(env, tags=[{"key": "team", "value": "b"}])
    plan = env.cli("init", "--dry-run", "--json", "--adopt")
    assert plan.exit_code == 0, plan.stderr
    app_step = next(s for s in json.loads(plan.stdout)["steps"] if s["name"] == "app")
    assert app_step["action"] == "update" and "adopt" in app_step["reason"]
    changes = "\n".join(app_step["changes"])
    assert "add redirect URI http://localhost:8000/auth/callback" in changes
    assert "add grant refresh_token" in changes and TAG in changes
    assert full_app(env, theirs.id).redirect_uris == ["https://team-b.example.com/auth/callback"]

    assert env.steps("init", "--yes", "--json", "--adopt")["app"] == "updated"
    adopted = full_app(env, theirs.id)
    owner = env.env()[E.OCI_MCP_OWNER]
    assert tags(adopted) == {"team": "b", TAG: owner}  # their other tags are kept
    assert env.env()[E.OCI_MCP_APP_ID] == theirs.id
    # Adopted = ours from now on: a plain re-run needs no --adopt and changes nothing.
    env.sb.clear_requests()
    assert set(env.steps("init", "--yes", "--json").values()) <= {"unchanged", "skipped"}
    assert env.writes() == []


def test_two_developers_in_one_domain_never_interfere(env: Env, tmp_path: Path) -> None:
    a = env
    b = second_developer(env, tmp_path)
    assert a.cli("init", "--yes").exit_code == 0
    a_app = a.env()[E.OCI_MCP_APP_ID]
    # B's default app name is A's app: B is stopped, A's app untouched.
    refused = b.cli("init", "--yes")
    assert refused.exit_code == 2 and "another oci-mcp project" in refused.stderr
    joined = b.cli("init", "--yes", "--json", "--app-name", "b-mcp", "--server-url",
                   "http://localhost:8100")
    assert joined.exit_code == 0, joined.stderr
    assert steps(json.loads(joined.stdout))["trust"] == "updated"  # joins A's trust
    assert b.env()[E.OCI_MCP_OWNER] != a.env()[E.OCI_MCP_OWNER]

    # A tears down with --restore-settings: only A's app and A's client go.
    result = a.cli("teardown", "--yes", "--json", "--restore-settings")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert steps(payload)["trust"] == "updated"  # created by A, but B's client remains
    assert steps(payload)["jwks"] == "skipped"  # B still needs the public JWKS
    assert a.apps() == [] and len(b.apps("b-mcp")) == 1
    (trust,) = a.trusts()
    assert trust.oauth_clients == [b.env()[E.IAM_CLIENT_ID]]
    assert trust.client_claim_values == [b.env()[E.IAM_CLIENT_ID]]
    assert trust.active and a.jwks_public()
    assert a_app not in json.dumps(payload["kept"])

    # B's whole chain still checks out (app, secret, JWKS, trust), per doctor.
    doctor = b.cli("doctor", "--json", creds=False)
    checks = {c["name"]: c["ok"] for c in json.loads(doctor.stdout)["checks"]}
    assert all(checks[n] is True for n in ("env", "discovery", "jwks", "app", "client-secret",
                                          "trust")), checks


def test_teardown_keeps_a_recorded_app_without_our_marker(env: Env) -> None:
    assert env.cli("init", "--yes").exit_code == 0
    ours = env.env()[E.OCI_MCP_APP_ID]
    theirs = foreign_app(env, name="team-b-app")
    # The .env now points at an app this project did not create (hand-edited, or recorded by an
    # oci-mcp before ownership tags): teardown must not delete it.
    E.save_env(env.env_file, {E.OCI_MCP_APP_ID: theirs.id, E.IAM_CLIENT_ID: theirs.name})
    env.sb.clear_requests()
    result = env.cli("teardown", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert steps(payload)["app"] == "skipped"
    assert steps(payload)["trust"] == "skipped"
    kept = {k["step"]: k["why"] for k in payload["kept"]}
    assert "no oci-mcp-owner tag" in kept["app"]
    assert full_app(env, theirs.id).active is True
    assert not [w for w in env.writes() if theirs.id in w["path"] or "Trust" in w["path"]]
    assert full_app(env, ours).id == ours  # our own app is not recorded any more: untouched too


def test_teardown_never_empties_a_trust_it_did_not_create(env: Env) -> None:
    theirs = foreign_trust(env, client="x")
    from provisioning_support import patch

    assert env.cli("init", "--yes").exit_code == 0
    client_id = env.env()[E.IAM_CLIENT_ID]
    # The other team's client leaves their trust; ours is now the only one on it.
    patch(env.client(), "identity_propagation_trust", theirs.id,
          ("REPLACE", "oauthClients", [client_id]))
    result = env.cli("teardown", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert steps(payload)["trust"] == "skipped"
    assert "left in place" in next(k["why"] for k in payload["kept"] if k["step"] == "trust")
    (trust,) = env.trusts()
    assert trust.id == theirs.id and trust.oauth_clients == [client_id]


def test_teardown_dry_run_says_would_never_deleted(env: Env) -> None:
    assert env.cli("init", "--yes").exit_code == 0
    foreign = foreign_app(env, name="team-b-app")
    env.sb.clear_requests()
    result = env.cli("teardown", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert "deleted" not in result.stdout
    assert {w["step"] for w in payload["would_delete"]} == {"trust", "app"}
    assert {k["step"] for k in payload["would_keep"]} == {"jwks"}
    assert "deleted" not in payload and "kept" not in payload
    assert env.writes() == [] and full_app(env, foreign.id)


def test_teardown_leaves_a_note_or_purges(env: Env, tmp_path: Path) -> None:
    assert env.cli("init", "--yes").exit_code == 0
    client_id = env.env()[E.IAM_CLIENT_ID]
    assert env.cli("teardown", "--yes").exit_code == 0
    text = env.env_file.read_text()
    assert "# oci-mcp teardown" in text and f"deleted: app '{APP}' ({client_id})" in text
    assert E.IAM_CLIENT_SECRET not in text

    other = second_developer(env, tmp_path)
    assert other.cli("init", "--yes", "--app-name", "purge-me").exit_code == 0
    result = other.cli("teardown", "--yes", "--json", "--purge")
    assert result.exit_code == 0, result.stderr
    assert steps(json.loads(result.stdout))["env"] == "deleted"
    assert not other.env_file.exists()
