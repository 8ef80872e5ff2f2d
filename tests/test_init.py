# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""`oci-mcp init` against the sandbox, through the real CLI and read back through the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from provisioning_support import Env, _fast_retries, env, patch, seeded_state, steps  # noqa: F401

from oci_mcp_cli.core.files import file_mode

INIT = ("init", "--yes", "--json")
# What init does (and --dry-run plans) against a fresh sandbox.
FRESH_STEPS = {
    "app": "created",
    "exchange-app": "skipped",
    "jwks": "updated",
    "trust": "created",
    "env": "created",
}


def test_fresh_init_provisions_everything(env: Env) -> None:
    result = env.cli(*INIT)
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert steps(payload) == FRESH_STEPS
    assert payload["domain_url"] == env.domain_url
    assert payload["env_file"] == str(env.env_file)
    assert "client_secret" not in payload

    (app,) = env.apps()
    assert app.active is True
    assert app.client_type == "confidential"
    assert app.redirect_uris == ["http://localhost:8000/auth/callback"]
    assert set(app.allowed_grants) == {"authorization_code", "refresh_token", "client_credentials"}
    assert app.all_url_schemes_allowed is True  # the redirect URI is http (loopback)
    assert app.allow_offline is True
    assert payload["client_id"] == app.name

    assert env.jwks_public()
    (trust,) = env.trusts()
    assert trust.active is True
    assert trust.issuer == "https://identity.oraclecloud.com/"
    assert trust.public_key_endpoint.endswith("/admin/v1/SigningCert/jwk")
    assert trust.oauth_clients == [app.name]
    assert (trust.client_claim_name, trust.client_claim_values) == ("client_id", [app.name])
    assert (trust.subject_claim_name, trust.subject_type) == ("sub", "User")
    assert trust.allow_impersonation is False

    assert file_mode(env.env_file) == 0o600
    values = env.env()
    assert values["IAM_CLIENT_ID"] == values["IAM_TOKENEXCHANGE_CLIENT_ID"] == app.name
    assert values["IAM_CLIENT_SECRET"] == app.client_secret
    assert values["IAM_DOMAIN"] == env.domain_url
    assert values["MCP_REDIRECT_PATH"] == "/auth/callback"
    assert values["OCI_REGION"] == "us-ashburn-1"
    assert values["OCI_SERVICE_ENDPOINT"] == env.sb.url
    assert values["OCI_PROFILE"] == env.sb.profile
    assert (values["OCI_MCP_APP_ID"], values["OCI_MCP_TRUST_ID"]) == (app.id, trust.id)
    assert values["OCI_MCP_TRUST_CREATED"] == values["OCI_MCP_JWKS_OPENED"] == "true"
    assert len(values["MCP_JWT_SIGNING_KEY"]) >= 48
    # The secret went to .env only.
    assert app.client_secret not in result.stdout + result.stderr


def test_second_init_makes_no_writes_and_keeps_the_signing_key(env: Env) -> None:
    assert env.cli(*INIT).exit_code == 0
    first = env.env()
    env.sb.clear_requests()
    result = env.cli(*INIT)
    assert result.exit_code == 0, result.stderr
    assert env.writes() == []
    assert set(steps(json.loads(result.stdout)).values()) <= {"unchanged", "skipped"}
    assert env.env() == first
    assert len(env.apps()) == 1 and len(env.trusts()) == 1


def test_drift_is_detected_and_repaired(env: Env) -> None:
    assert env.cli(*INIT).exit_code == 0
    (app,) = env.apps()
    trust_id = env.env()["OCI_MCP_TRUST_ID"]
    client = env.client()
    patch(
        client,
        "app",
        app.id,
        ("REPLACE", "redirectUris", ["http://localhost:9999/other"]),
        ("REPLACE", "allowedGrants", ["authorization_code"]),
    )
    client.put_app_status_changer(
        app.id,
        app_status_changer={
            "schemas": ["urn:ietf:params:scim:schemas:oracle:idcs:AppStatusChanger"],
            "active": False,
        },
    )
    patch(client, "setting", "Settings", ("REPLACE", "signingCertPublicAccess", False))
    patch(
        client,
        "identity_propagation_trust",
        trust_id,
        ("REPLACE", "oauthClients", ["other"]),
        ("REPLACE", "active", False),
    )

    assert env.steps(*INIT) == {
        "app": "updated",
        "exchange-app": "skipped",
        "jwks": "updated",
        "trust": "updated",
        "env": "unchanged",
    }
    (fixed,) = env.apps()
    assert fixed.id == app.id and fixed.active is True
    # Without --prune the foreign redirect URI stays; ours is back.
    assert set(fixed.redirect_uris) == {
        "http://localhost:9999/other",
        "http://localhost:8000/auth/callback",
    }
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        fixed.allowed_grants
    )
    assert env.jwks_public()
    (trust,) = env.trusts()
    assert trust.active is True and set(trust.oauth_clients) == {"other", app.name}


def test_prune_removes_foreign_redirect_uris(env: Env) -> None:
    assert env.cli(*INIT).exit_code == 0
    (app,) = env.apps()
    patch(
        env.client(),
        "app",
        app.id,
        ("REPLACE", "redirectUris", [*app.redirect_uris, "https://stale.example.com/cb"]),
    )
    assert env.steps(*INIT, "--prune")["app"] == "updated"
    assert env.apps()[0].redirect_uris == ["http://localhost:8000/auth/callback"]


def test_https_server_url_turns_off_all_url_schemes(env: Env) -> None:
    result = env.cli(*INIT, "--server-url", "https://mcp.example.com/", "--prune")
    assert result.exit_code == 0, result.stderr
    (app,) = env.apps()
    assert app.redirect_uris == ["https://mcp.example.com/auth/callback"]
    assert app.all_url_schemes_allowed is False
    assert env.env()["MCP_SERVER_URL"] == "https://mcp.example.com"


def test_dry_run_writes_nothing(env: Env) -> None:
    env.sb.clear_requests()
    result = env.cli("init", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["dry_run"] is True
    # A plan is in the future tense: what init would do.
    assert steps(payload) == {
        "app": "create",
        "exchange-app": "skip",
        "jwks": "update",
        "trust": "create",
        "env": "create",
    }
    assert env.writes() == []
    assert not env.env_file.exists()
    assert env.apps() == [] and not env.jwks_public()


def test_without_yes_and_no_terminal_exits_2_before_writing(env: Env) -> None:
    env.sb.clear_requests()
    result = env.cli("init")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert env.writes() == [] and not env.env_file.exists()


def test_secret_is_shown_only_with_show_secrets(env: Env) -> None:
    plain = env.cli("init", "--yes")
    assert plain.exit_code == 0, plain.stderr
    secret = env.env()["IAM_CLIENT_SECRET"]
    signing_key = env.env()["MCP_JWT_SIGNING_KEY"]
    assert secret not in plain.stdout + plain.stderr
    assert signing_key not in plain.stdout + plain.stderr
    assert "oci-mcp serve" in plain.stdout and "oci-mcp test-client" in plain.stdout
    shown = env.cli(*INIT, "--show-secrets")
    assert json.loads(shown.stdout)["client_secret"] == secret
    assert signing_key not in shown.stdout + shown.stderr


def test_faults_on_app_creation_are_retried_to_one_app(env: Env) -> None:
    env.sb.fault("POST", "/admin/v1/Apps", 500)
    env.sb.fault("POST", "/admin/v1/Apps", 429)
    result = env.cli(*INIT)
    assert result.exit_code == 0, result.stderr
    statuses = [r["status"] for r in env.writes() if r["path"] == "/admin/v1/Apps"]
    assert statuses == [500, 429, 201]
    assert len(env.apps()) == 1


def test_a_run_failing_midway_converges_on_rerun(env: Env) -> None:
    # A non-retryable failure on the trust step, after the app was created and JWKS opened.
    env.sb.fault("POST", "/admin/v1/IdentityPropagationTrusts", 400)
    failed = env.cli(*INIT)
    assert failed.exit_code == 1
    assert "create IdentityPropagationTrust" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert len(env.apps()) == 1 and env.trusts() == []
    # What the failed run provisioned is recorded, so a re-run or teardown knows about it.
    partial = env.env()
    assert partial["OCI_MCP_JWKS_OPENED"] == "true"
    assert partial["OCI_MCP_APP_ID"] == env.apps()[0].id and "OCI_MCP_TRUST_ID" not in partial

    assert env.steps(*INIT) == {
        "app": "unchanged",
        "exchange-app": "skipped",
        "jwks": "unchanged",
        "trust": "created",
        "env": "updated",
    }
    assert len(env.apps()) == 1 and len(env.trusts()) == 1
    assert env.env()["OCI_MCP_TRUST_ID"] == env.trusts()[0].id
    assert env.env()["OCI_MCP_JWKS_OPENED"] == "true"  # opened by the failed run, still recorded


def test_separate_exchange_app(env: Env) -> None:
    actions = env.steps(*INIT, "--exchange-app", "oci-mcp-exchange", "--client-claim", "client_id")
    assert actions["exchange-app"] == "created"
    (login,) = env.apps()
    (exchange,) = env.apps("oci-mcp-exchange")
    assert exchange.allowed_grants == ["client_credentials"] and not exchange.redirect_uris
    values = env.env()
    assert values["IAM_TOKENEXCHANGE_CLIENT_ID"] == exchange.name != values["IAM_CLIENT_ID"]
    assert values["IAM_TOKENEXCHANGE_CLIENT_SECRET"] == exchange.client_secret
    (trust,) = env.trusts()
    assert trust.oauth_clients == [exchange.name]
    assert trust.client_claim_values == [login.name]


def test_domain_by_name_and_unknown_name(env: Env) -> None:
    result = env.cli(*INIT, "--domain", "Secondary", "--no-trust")
    assert result.exit_code == 0, result.stderr
    secondary = next(d["url"] for d in env.sb.domains if d["type"] == "SECONDARY")
    assert json.loads(result.stdout)["domain_url"] == secondary
    assert steps(json.loads(result.stdout))["trust"] == "skipped"
    assert env.apps() == []  # nothing in Default
    bad = env.cli(*INIT, "--domain", "Nope")
    assert bad.exit_code == 2
    assert "no identity domain named 'Nope'" in bad.stderr and "Default" in bad.stderr


def test_existing_env_keys_are_kept_and_backed_up(env: Env) -> None:
    env.env_file.parent.mkdir(parents=True)
    env.env_file.write_text("# mine\nMY_SETTING=42\nIDCS_CLIENT_ID=legacy\n")
    result = env.cli(*INIT)
    assert result.exit_code == 0, result.stderr
    text = env.env_file.read_text()
    assert "# mine" in text and "MY_SETTING=42" in text
    backup = env.env_file.with_name(".env.bak")
    assert backup.read_text() == "# mine\nMY_SETTING=42\nIDCS_CLIENT_ID=legacy\n"
    assert file_mode(backup) == 0o600


def test_real_subprocess_init(env: Env) -> None:
    """The installed entry point, as a user runs it (no CliRunner)."""
    command = [
        sys.executable,
        "-m",
        "oci_mcp_cli",
        "init",
        "--yes",
        "--json",
        "--env-file",
        str(env.env_file),
    ]
    environ = {
        **os.environ,
        "OCI_CLI_CONFIG_FILE": env.sb.config_file,
        "OCI_CLI_PROFILE": env.sb.profile,
        "OCI_MCP_RETRY_BASE_SECONDS": "0.01",
    }
    done = subprocess.run(
        command, capture_output=True, text=True, env=environ, timeout=120, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert steps(payload)["app"] == "created"
    assert env.env()["IAM_CLIENT_SECRET"] not in done.stdout + done.stderr
    assert file_mode(env.env_file) == 0o600


def test_interactive_callbacks_pick_the_domain_and_can_decline_jwks(env: Env) -> None:
    """The prompts' service side: the CLI passes questionary-backed callbacks on a terminal."""
    from oci_mcp_cli.provisioning.init import InitOptions, plan_init
    from oci_mcp_cli.provisioning.plan import Action

    offered: list[str] = []

    def choose(domains: list) -> object:
        offered.extend(d.display_name for d in domains)
        return next(d for d in domains if d.type == "SECONDARY")

    options = InitOptions(
        env_file=env.env_file, config_file=env.sb.config_file, profile=env.sb.profile
    )
    env.sb.clear_requests()
    run = plan_init(options, choose_domain=choose, confirm_jwks=lambda: False)
    assert offered == ["Default", "Secondary"]
    assert run.domain.display_name == "Secondary"
    assert run.plan.step("jwks").action == Action.SKIPPED
    assert env.writes() == []


def test_no_open_jwks_leaves_it_closed(env: Env) -> None:
    assert env.steps(*INIT, "--no-open-jwks")["jwks"] == "skipped"
    assert not env.jwks_public()
    assert "OCI_MCP_JWKS_OPENED" not in env.env()


def test_plan_says_why_and_a_rerun_says_nothing_to_change(env: Env) -> None:
    plan = json.loads(env.cli("init", "--dry-run", "--json").stdout)
    reasons = {s["name"]: s["reason"] for s in plan["steps"]}
    assert "users sign in to the MCP server through it" in reasons["app"]
    assert "as the signed-in user" in reasons["trust"]
    assert "`oci-mcp serve`" in reasons["env"]
    assert env.cli(*INIT).exit_code == 0
    again = env.cli("init", "--yes")
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stdout
    assert "— result" not in again.stdout  # no second, identical table
