"""`oci-mcp doctor` on the sandbox: all green on a good setup; each link, broken alone, is named.

One sandbox + one `oci-mcp init` per module. Tests that break domain state (through the admin SDK,
as a user clicking in the console would) restore it in ``finally``; tests that break the .env work
on a copy.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth
from oci_mcp_cli.core.ports import free_port

NAMES = ["env", "discovery", "jwks", "app", "client-secret", "trust", "server", "storage",
         "access"]
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


class Setup:
    """A provisioned sandbox domain and its good .env."""

    def __init__(self, sandbox: Any, env: Path, tmp: Path) -> None:
        self.sb, self.env, self.tmp = sandbox, env, tmp
        self.values = E.load_env(env)
        self.domain_url = self.values.domain_url
        auth = load_oci_auth(sandbox.config_file, sandbox.profile)
        self.idc = identity_domains_client(auth, self.domain_url)

    def env_copy(self, name: str, updates: dict[str, str] | None = None,
                 remove: tuple[str, ...] = ()) -> Path:
        path = self.tmp / name
        path.write_text(E.render_env(self.env.read_text(), updates or {}, remove))
        path.chmod(0o600)
        return path

    def app(self) -> Any:
        client_id = self.values.get(E.IAM_CLIENT_ID)
        apps = self.idc.list_apps(filter=f'name eq "{client_id}"', attribute_sets=["all"])
        return apps.data.resources[0]

    def trust(self) -> Any:
        return self.idc.list_identity_propagation_trusts().data.resources[0]

    def patch(self, kind: str, resource_id: str, path: str, value: Any) -> None:
        body = {"schemas": [PATCH_SCHEMA],
                "Operations": [{"op": "REPLACE", "path": path, "value": value}]}
        if kind == "app":
            self.idc.patch_app(resource_id, patch_op=body)
        elif kind == "trust":
            self.idc.patch_identity_propagation_trust(resource_id, patch_op=body)
        else:
            self.idc.patch_setting("Settings", patch_op=body)

    @contextlib.contextmanager
    def changed(
        self, kind: str, resource_id: str, path: str, value: Any, old: Any
    ) -> Iterator[None]:
        self.patch(kind, resource_id, path, value)
        try:
            yield
        finally:
            self.patch(kind, resource_id, path, old)

    @contextlib.contextmanager
    def server(self, env: Path | None = None) -> Iterator[None]:
        """The real oci-mcp server (in-process thread) for ``env``."""
        from oci_mcp_cli.server.app import ServerThread
        from oci_mcp_cli.server.config import load_settings

        settings = load_settings(env or self.env, storage_dir=self.tmp / "store")
        with ServerThread(settings):
            yield


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from oci_mcp_cli.sandbox import Sandbox

    tmp = tmp_path_factory.mktemp("doctor")
    with Sandbox(state_dir=tmp / "sandbox") as sb:
        env = tmp / ".env"
        code, out, err = cli(
            "init", "--config-file", sb.config_file, "--profile", sb.profile,
            "--server-url", f"http://127.0.0.1:{free_port()}", "--env-file", str(env),
            "--yes", "--json",
        )
        assert code == 0, out + err
        yield Setup(sb, env, tmp)


def doctor(env: Path, *extra: str) -> tuple[int, dict[str, dict[str, Any]]]:
    code, out, err = cli("doctor", "--env-file", str(env), "--json", *extra)
    checks = json.loads(out)["checks"]
    assert [c["name"] for c in checks] == NAMES, err
    return code, {c["name"]: c for c in checks}


def failing(checks: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, c in checks.items() if c["ok"] is False]


def assert_only_failure(checks: dict[str, dict[str, Any]], name: str, *words: str) -> None:
    assert failing(checks) == [name], checks
    check = checks[name]
    for word in words:
        assert word in check["detail"] + " " + (check["fix"] or ""), check
    assert check["fix"], check


# ── all green, and what "skipped" means ──────────────────────────────────────────────────────
def test_all_green_on_a_good_setup(setup: Setup) -> None:
    with setup.server():
        code, checks = doctor(setup.env)
    assert {name: c["ok"] for name, c in checks.items()} == dict.fromkeys(NAMES, True)
    assert code == 0


def test_without_a_running_server_the_server_check_is_skipped_not_passed(setup: Setup) -> None:
    code, checks = doctor(setup.env)
    assert checks["server"]["ok"] is None
    assert "oci-mcp serve" in checks["server"]["fix"]
    assert failing(checks) == []
    assert code == 1  # skipped is not passed


def test_without_admin_credentials_admin_checks_are_skipped(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCI_CLI_CONFIG_FILE", raising=False)
    monkeypatch.delenv("OCI_CLI_PROFILE", raising=False)
    env = setup.env_copy("noadmin.env", remove=(E.OCI_CONFIG_FILE, E.OCI_PROFILE))
    code, checks = doctor(env)
    assert checks["app"]["ok"] is None and checks["trust"]["ok"] is None
    assert "--config-file" in checks["app"]["fix"]
    # The checks that need no admin still ran and passed.
    for name in ("env", "discovery", "jwks", "client-secret"):
        assert checks[name]["ok"] is True, checks[name]
    assert code == 1


def test_admin_credentials_from_flags(setup: Setup) -> None:
    env = setup.env_copy("flags.env", remove=(E.OCI_CONFIG_FILE, E.OCI_PROFILE))
    _, checks = doctor(env, "--config-file", setup.sb.config_file, "--profile", setup.sb.profile)
    assert checks["app"]["ok"] is True and checks["trust"]["ok"] is True


def test_a_bad_profile_flag_is_exit_2(setup: Setup) -> None:
    code, _, err = cli("doctor", "--env-file", str(setup.env), "--config-file",
                       setup.sb.config_file, "--profile", "NOPE")
    assert code == 2
    assert "NOPE" in err and "Traceback" not in err


# ── 1. .env ───────────────────────────────────────────────────────────────────────────────────
def test_env_readable_by_others(setup: Setup) -> None:
    env = setup.env_copy("mode.env")
    env.chmod(0o644)
    _, checks = doctor(env)
    assert_only_failure(checks, "env", "0644", f"chmod 600 {env}")


def test_env_missing_key(setup: Setup) -> None:
    env = setup.env_copy("missing.env", remove=(E.IAM_CLIENT_SECRET,))
    _, checks = doctor(env)
    assert_only_failure(checks, "env", "missing IAM_CLIENT_SECRET", "oci-mcp init")
    assert checks["client-secret"]["ok"] is None


def test_env_public_http_server_url(setup: Setup) -> None:
    env = setup.env_copy("http.env", {E.MCP_SERVER_URL: "http://mcp.example.com"})
    _, checks = doctor(env)
    assert checks["env"]["ok"] is False
    assert "https" in checks["env"]["fix"]
    assert checks["server"]["ok"] is None


def test_env_unparseable_line(setup: Setup) -> None:
    env = setup.env_copy("garbage.env")
    env.write_text(env.read_text() + "this is not a key value line\n")
    _, checks = doctor(env)
    assert_only_failure(checks, "env", "unparseable line")


def test_env_absent(setup: Setup) -> None:
    code, checks = doctor(setup.tmp / "nope.env")
    assert checks["env"]["ok"] is False and "oci-mcp init" in checks["env"]["fix"]
    assert all(c["ok"] is None for name, c in checks.items() if name != "env")
    assert code == 1


# ── 2. discovery ─────────────────────────────────────────────────────────────────────────────
def test_discovery_unreachable(setup: Setup) -> None:
    path = urlsplit(setup.domain_url).path + "/.well-known/openid-configuration"
    setup.sb.fault("GET", path, 503)
    try:
        _, checks = doctor(setup.env)
    finally:
        setup.sb.clear_faults()
    assert_only_failure(checks, "discovery", "HTTP 503", "IAM_DOMAIN")
    assert checks["trust"]["ok"] is None  # needs the issuer; never reported as passed


# ── 3. JWKS ──────────────────────────────────────────────────────────────────────────────────
def test_jwks_not_public(setup: Setup) -> None:
    with setup.changed("setting", "Settings", "signingCertPublicAccess", False, True):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "jwks", "401", "invalid_token", "oci-mcp init")


# ── 4. the app ───────────────────────────────────────────────────────────────────────────────
def test_app_redirect_uri_drift(setup: Setup) -> None:
    app_ = setup.app()
    expected = setup.values.server_url + setup.values.redirect_path
    with setup.changed("app", app_.id, "redirectUris", ["http://127.0.0.1:1/oauth/callback"],
                       app_.redirect_uris):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "app", f"redirect URI {expected}", "oci-mcp init")


# Without client_credentials the secret itself is still right (the client authenticates): only
# the app is named.
@pytest.mark.parametrize("grant", ["refresh_token", "client_credentials"])
def test_app_missing_grant(setup: Setup, grant: str) -> None:
    app_ = setup.app()
    grants = [g for g in app_.allowed_grants if g != grant]
    with setup.changed("app", app_.id, "allowedGrants", grants, app_.allowed_grants):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "app", grant, "oci-mcp init")


def test_app_http_redirect_without_all_url_schemes() -> None:
    # The sandbox (like the real domain) refuses to store this state, so the rule is checked on an
    # SDK App model directly.
    from oci.identity_domains.models import App

    from oci_mcp_cli.doctor.checks import app_problems

    app_ = App(display_name="x", active=True, is_o_auth_client=True, client_type="confidential",
               allowed_grants=["authorization_code", "refresh_token", "client_credentials"],
               redirect_uris=["http://localhost:8000/auth/callback"],
               all_url_schemes_allowed=False)
    problems = app_problems(app_, redirect_uri="http://localhost:8000/auth/callback", login=True)
    assert problems == ["app 'x' has allUrlSchemesAllowed off but the redirect URI is http"]
    app_.all_url_schemes_allowed = True
    assert app_problems(app_, redirect_uri="http://localhost:8000/auth/callback", login=True) == []


def test_app_inactive(setup: Setup) -> None:
    app_ = setup.app()
    with setup.changed("app", app_.id, "active", False, True):
        _, checks = doctor(setup.env)
    assert checks["app"]["ok"] is False
    assert "inactive" in checks["app"]["detail"] and "oci-mcp init" in checks["app"]["fix"]
    # An inactive client cannot get tokens either; doctor names the app first.
    assert failing(checks)[0] == "app"


# ── 5. the client secret ─────────────────────────────────────────────────────────────────────
def test_wrong_client_secret(setup: Setup) -> None:
    env = setup.env_copy("secret.env", {E.IAM_CLIENT_SECRET: "idcscs-wrong-secret-value"})
    code, out, err = cli("doctor", "--env-file", str(env), "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert_only_failure(checks, "client-secret", "invalid_client", "IAM_CLIENT_SECRET")
    assert "idcscs-wrong-secret-value" not in out + err  # secrets are never printed


# ── 6. the trust ─────────────────────────────────────────────────────────────────────────────
def test_trust_inactive(setup: Setup) -> None:
    trust = setup.trust()
    with setup.changed("trust", trust.id, "active", False, True):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "trust", "inactive", "oci-mcp trust create")


def test_trust_without_our_exchange_client(setup: Setup) -> None:
    trust = setup.trust()
    with setup.changed("trust", trust.id, "oauthClients", ["someone-else"], trust.oauth_clients):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "trust", "oauthClients", "oci-mcp trust create")


def test_trust_wrong_public_key_endpoint(setup: Setup) -> None:
    trust = setup.trust()
    with setup.changed("trust", trust.id, "publicKeyEndpoint", "https://example.com/jwk",
                       trust.public_key_endpoint):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "trust", "publicKeyEndpoint", "oci-mcp trust create")


def test_trust_client_claim_for_another_client(setup: Setup) -> None:
    trust = setup.trust()
    assert trust.client_claim_name == "client_id"
    with setup.changed("trust", trust.id, "clientClaimValues", ["another-client"],
                       trust.client_claim_values):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "trust", "login client", "oci-mcp trust create")


# ── 7. the server ────────────────────────────────────────────────────────────────────────────
def test_server_started_for_another_url(setup: Setup) -> None:
    port = urlsplit(setup.values.server_url).port
    other = setup.env_copy("other.env", {E.MCP_SERVER_URL: f"http://localhost:{port}"})
    with setup.server(other):
        _, checks = doctor(setup.env)
    assert_only_failure(checks, "server", f"http://localhost:{port}/mcp", "oci-mcp serve")


def test_table_output_names_the_broken_link_and_fix(setup: Setup) -> None:
    env = setup.env_copy("table.env", {E.IAM_CLIENT_SECRET: "idcscs-wrong-secret-value"})
    code, out, _ = cli("doctor", "--env-file", str(env))
    assert code == 1
    assert "client-secret" in out and "FAIL" in out
    assert "skipped" in out  # the server is not running


# ── admin credentials recorded in .env ───────────────────────────────────────────────────────
@pytest.fixture
def no_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OCI_CLI_CONFIG_FILE", "OCI_CLI_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.oci/config to fall back on


@pytest.mark.usefixtures("no_cli_env")
def test_recorded_config_file_and_profile_are_used_without_flags(setup: Setup) -> None:
    env = setup.env_copy("recorded.env", {E.OCI_CONFIG_FILE: setup.sb.config_file,
                                          E.OCI_PROFILE: setup.sb.profile})
    _, checks = doctor(env)
    assert checks["app"]["ok"] is True, checks["app"]  # ran (not skipped) and passed
    assert checks["trust"]["ok"] is True, checks["trust"]


@pytest.mark.usefixtures("no_cli_env")
def test_recorded_config_file_is_used_with_only_a_profile_flag(setup: Setup) -> None:
    env = setup.env_copy("recorded-profile.env", {E.OCI_CONFIG_FILE: setup.sb.config_file,
                                                  E.OCI_PROFILE: "SOMETHING-ELSE"})
    code, checks = doctor(env, "--profile", setup.sb.profile)
    assert checks["app"]["ok"] is True, checks["app"]
    assert checks["trust"]["ok"] is True, checks["trust"]


@pytest.mark.usefixtures("no_cli_env")
def test_an_unusable_recorded_config_file_fails_the_admin_checks(setup: Setup) -> None:
    env = setup.env_copy("recorded-missing.env", {E.OCI_CONFIG_FILE: str(setup.tmp / "nope"),
                                                  E.OCI_PROFILE: setup.sb.profile})
    code, checks = doctor(env)
    assert checks["app"]["ok"] is False and "OCI_CONFIG_FILE" in checks["app"]["detail"]
    assert code == 1


# ── --json always means JSON ─────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("kind", ["directory", "not-utf8"])
def test_json_error_object_when_env_is_unreadable(setup: Setup, kind: str) -> None:
    path = setup.tmp / f"unreadable-{kind}.env"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"IAM_CLIENT_ID=caf\xe9\n")
    code, out, err = cli("doctor", "--env-file", str(path), "--json")
    error = json.loads(out)["error"]
    assert code == 2 and error["exit_code"] == 2
    assert str(path) in error["message"] and error["hint"]
    assert "Traceback" not in out + err


def test_json_error_object_for_a_bad_flag(setup: Setup) -> None:
    code, out, _ = cli("doctor", "--env-file", str(setup.env), "--json", "--config-file",
                       setup.sb.config_file, "--profile", "NOPE")
    error = json.loads(out)["error"]
    assert code == 2 and "NOPE" in error["message"]
