# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Doctor's fixes fix: break one link on the sandbox, run `oci-mcp doctor --json`, apply the fix it
prints *verbatim* (adding only --env-file, the sandbox credentials where .env has none, and --yes),
and the check turns green.

Each test gets a fresh sandbox (copied seed state) and a fresh `oci-mcp init`, so a failing test
cannot leave drift behind for the next one.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from provisioning_support import (  # noqa: F401
    Env,
    _fast_retries,
    env,
    patch,
    seeded_state,
)

from oci_mcp_cli.core import envfile as E

# Commands a fix may name (inside backticks); anything else is prose for a human.
RUNNABLE = ("oci-mcp ", "chmod ")
NEEDS_YES = ("init", "trust", "teardown")


@pytest.fixture
def ready(env: Env) -> Env:
    result = env.cli("init", "--yes")
    assert result.exit_code == 0, result.stderr
    return env


def doctor(env: Env, env_file: Path | None = None) -> dict[str, dict[str, Any]]:
    """`oci-mcp doctor --json` with nothing but --env-file (credentials come from .env)."""
    result = env.cli(
        "doctor", "--json", "--env-file", str(env_file or env.env_file), creds=False, env_file=False
    )
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def fix_command(check: dict[str, Any]) -> list[str]:
    """The first command in the check's fix, as argv, exactly as printed."""
    assert check["ok"] is False, check
    commands = [c for c in re.findall(r"`([^`]+)`", check["fix"] or "") if c.startswith(RUNNABLE)]
    assert commands, f"fix names no command: {check['fix']!r}"
    return shlex.split(commands[0])


def apply_fix(env: Env, check: dict[str, Any], *, creds: bool = False) -> list[str]:
    """Run the printed fix; return its argv (for asserting which fix it was)."""
    argv = fix_command(check)
    if argv[0] == "chmod":
        subprocess.run(argv, check=True)
        return argv
    assert argv[0] == "oci-mcp"
    extra = ["--yes"] if argv[1] in NEEDS_YES else []
    result = env.cli(*argv[1:], *extra, creds=creds)
    assert result.exit_code == 0, (argv, result.stdout, result.stderr)
    return argv


def fixed_by_its_fix(env: Env, name: str, *, creds: bool = False) -> list[str]:
    """Doctor names ``name`` as failing; its fix, applied, makes it pass (and breaks nothing)."""
    before = doctor(env)
    assert before[name]["ok"] is False, before[name]
    passing = {n for n, c in before.items() if c["ok"] is True}
    argv = apply_fix(env, before[name], creds=creds)
    after = doctor(env)
    assert after[name]["ok"] is True, (argv, after[name])
    assert passing <= {n for n, c in after.items() if c["ok"] is True}, after
    return argv


def admin_checks_ran(checks: dict[str, dict[str, Any]]) -> None:
    assert checks["app"]["ok"] is True and checks["trust"]["ok"] is True, checks


# ── 1. .env ──────────────────────────────────────────────────────────────────────────────────
def test_env_mode(ready: Env) -> None:
    ready.env_file.chmod(0o644)
    assert fixed_by_its_fix(ready, "env")[0] == "chmod"


def test_env_mode_path_with_a_space(env: Env) -> None:
    env.env_file = env.env_file.parent / "my project" / ".env"
    assert env.cli("init", "--yes").exit_code == 0
    env.env_file.chmod(0o640)
    assert fixed_by_its_fix(env, "env")[:2] == ["chmod", "600"]


def test_env_missing_secret(ready: Env) -> None:
    E.save_env(ready.env_file, {}, remove=[E.IAM_CLIENT_SECRET])
    assert fixed_by_its_fix(ready, "env")[:2] == ["oci-mcp", "init"]
    admin_checks_ran(doctor(ready))


def test_env_absent(env: Env) -> None:
    checks = doctor(env)
    assert checks["env"]["ok"] is False
    # No .env, so nothing recorded the credentials yet: the harness passes the sandbox's.
    assert apply_fix(env, checks["env"], creds=True)[:2] == ["oci-mcp", "init"]
    after = doctor(env)
    assert after["env"]["ok"] is True
    admin_checks_ran(after)


def test_env_bad_redirect_path(ready: Env) -> None:
    E.save_env(ready.env_file, {E.MCP_REDIRECT_PATH: "auth/callback"})
    assert fixed_by_its_fix(ready, "env")[:2] == ["oci-mcp", "init"]


def test_env_public_http_server_url(ready: Env) -> None:
    E.save_env(ready.env_file, {E.MCP_SERVER_URL: "http://mcp.example.com"})
    check = doctor(ready)["env"]
    assert "use https for MCP_SERVER_URL" in check["fix"]
    E.save_env(ready.env_file, {E.MCP_SERVER_URL: "https://mcp.example.com"})  # the edit it asks
    assert apply_fix(ready, check)[:2] == ["oci-mcp", "init"]  # ...then the command it names
    after = doctor(ready)
    assert after["env"]["ok"] is True
    admin_checks_ran(after)  # the app now registers the https redirect URI


# ── 2. discovery ─────────────────────────────────────────────────────────────────────────────
def test_discovery_wrong_domain_url_by_editing_it(ready: Env) -> None:
    E.save_env(ready.env_file, {E.IAM_DOMAIN: ready.sb.url + "/idcs-" + "0" * 32})
    checks = doctor(ready)
    assert checks["discovery"]["ok"] is False and "set IAM_DOMAIN" in checks["discovery"]["fix"]
    E.save_env(ready.env_file, {E.IAM_DOMAIN: ready.domain_url})  # the documented edit
    assert doctor(ready)["discovery"]["ok"] is True


def test_discovery_wrong_domain_url_by_init_with_the_domain_name(ready: Env) -> None:
    E.save_env(ready.env_file, {E.IAM_DOMAIN: ready.sb.url + "/idcs-" + "0" * 32})
    check = doctor(ready)["discovery"]
    argv = fix_command(check)
    assert argv[:4] == ["oci-mcp", "init", "--domain", "NAME"]
    argv[3] = "Default"  # the placeholder: the domain's name
    result = ready.cli(*argv[1:], "--yes", creds=False)
    assert result.exit_code == 0, result.stderr
    after = doctor(ready)
    assert after["discovery"]["ok"] is True
    admin_checks_ran(after)


# ── 3. JWKS ──────────────────────────────────────────────────────────────────────────────────
def test_jwks_not_public(ready: Env) -> None:
    patch(ready.client(), "setting", "Settings", ("REPLACE", "signingCertPublicAccess", False))
    assert fixed_by_its_fix(ready, "jwks")[:2] == ["oci-mcp", "init"]
    assert ready.jwks_public()


# ── 4. the app ───────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "path, value",
    [
        ("redirectUris", ["http://127.0.0.1:1/oauth/callback"]),
        ("allowedGrants", ["authorization_code", "client_credentials"]),
        ("active", False),
    ],
)
def test_app_drift(ready: Env, path: str, value: Any) -> None:
    (app,) = ready.apps()
    patch(ready.client(), "app", app.id, ("REPLACE", path, value))
    assert fixed_by_its_fix(ready, "app")[:2] == ["oci-mcp", "init"]


def test_app_deleted(ready: Env) -> None:
    from oci.identity_domains.models import AppStatusChanger

    from oci_mcp_cli.provisioning.apps import STATUS_CHANGER_SCHEMA

    (app,) = ready.apps()
    inactive = AppStatusChanger(schemas=[STATUS_CHANGER_SCHEMA], active=False)
    ready.client().put_app_status_changer(app.id, app_status_changer=inactive)
    ready.client().delete_app(app.id, force_delete=True)
    assert fixed_by_its_fix(ready, "app")[:2] == ["oci-mcp", "init"]
    admin_checks_ran(doctor(ready))


# ── 5. the client secret ─────────────────────────────────────────────────────────────────────
def test_wrong_client_secret(ready: Env) -> None:
    E.save_env(ready.env_file, {E.IAM_CLIENT_SECRET: "idcscs-wrong-secret-value"})
    assert fixed_by_its_fix(ready, "client-secret")[:2] == ["oci-mcp", "init"]


# ── 6. the trust ─────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    "path, value",
    [
        ("active", False),
        ("oauthClients", ["someone-else"]),
        ("publicKeyEndpoint", "https://example.com/jwk"),
        ("clientClaimValues", ["another-client"]),
    ],
)
def test_trust_drift(ready: Env, path: str, value: Any) -> None:
    (trust,) = ready.trusts()
    patch(ready.client(), "identity_propagation_trust", trust.id, ("REPLACE", path, value))
    assert fixed_by_its_fix(ready, "trust")[:3] == ["oci-mcp", "trust", "create"]


def test_trust_deleted(ready: Env) -> None:
    (trust,) = ready.trusts()
    ready.client().delete_identity_propagation_trust(trust.id, force_delete=True)
    assert fixed_by_its_fix(ready, "trust")[:3] == ["oci-mcp", "trust", "create"]


def test_trust_create_replaces_a_wrong_jwks_url_and_says_so(ready: Env) -> None:
    (trust,) = ready.trusts()
    right = trust.public_key_endpoint
    patch(ready.client(), "identity_propagation_trust", trust.id,
          ("REPLACE", "publicKeyEndpoint", "https://example.com/jwk"))
    plan = json.loads(ready.cli("trust", "create", "--dry-run", "--json", creds=False).stdout)
    (step,) = [s for s in plan["steps"] if s["name"] == "trust"]
    assert f"publicKeyEndpoint https://example.com/jwk → {right}" in step["changes"], step
    assert ready.cli("init", "--yes", creds=False).exit_code == 0  # init repairs it too
    (trust,) = ready.trusts()
    assert trust.public_key_endpoint == right
