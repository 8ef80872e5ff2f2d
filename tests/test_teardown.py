# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""`oci-mcp teardown` against the sandbox: reverse exactly what init recorded."""

from __future__ import annotations

from provisioning_support import Env, _fast_retries, env, foreign_trust, seeded_state  # noqa: F401

from oci_mcp_cli.core import envfile as E


def init(env: Env, *args: str) -> dict[str, str]:
    result = env.cli("init", "--yes", *args)
    assert result.exit_code == 0, result.stderr
    return env.env()


def test_teardown_reverses_init(env: Env) -> None:
    env.env_file.parent.mkdir(parents=True)
    env.env_file.write_text("MY_SETTING=keep\n")
    init(env)
    assert env.steps("teardown", "--yes", "--json") == {
        "trust": "deleted",
        "exchange-app": "skipped",
        "app": "deleted",
        "jwks": "skipped",
        "env": "updated",
    }
    assert env.apps() == [] and env.trusts() == []
    assert env.jwks_public()  # left alone without --restore-settings
    values = env.env()
    owner = values.pop(E.OCI_MCP_OWNER)  # the project's ownership id outlives a teardown
    assert owner and values == {"MY_SETTING": "keep"}
    assert "# oci-mcp teardown" in env.env_file.read_text()
    assert "IAM_CLIENT_SECRET" in env.env_file.with_name(".env.bak").read_text()

    env.sb.clear_requests()
    assert set(env.steps("teardown", "--yes", "--json").values()) == {"skipped"}
    assert env.writes() == []


def test_shared_trust_keeps_the_other_client(env: Env) -> None:
    other = foreign_trust(env)
    values = init(env)
    assert env.steps("teardown", "--yes", "--json")["trust"] == "updated"
    assert env.apps() == []
    (trust,) = env.trusts()
    assert trust.id == other.id
    assert trust.oauth_clients == ["other-exchange"]
    assert values["IAM_CLIENT_ID"] not in trust.client_claim_values


def test_restore_settings_only_when_we_opened_it(env: Env) -> None:
    init(env)
    assert env.steps("teardown", "--yes", "--restore-settings", "--json")["jwks"] == "updated"
    assert not env.jwks_public()


def test_restore_settings_leaves_a_jwks_we_did_not_open(env: Env) -> None:
    from provisioning_support import patch

    patch(env.client(), "setting", "Settings", ("REPLACE", "signingCertPublicAccess", True))
    init(env)
    assert "OCI_MCP_JWKS_OPENED" not in env.env()
    assert env.steps("teardown", "--yes", "--restore-settings", "--json")["jwks"] == "skipped"
    assert env.jwks_public()


def test_teardown_deletes_the_exchange_app_too(env: Env) -> None:
    init(env, "--exchange-app", "oci-mcp-exchange")
    assert env.steps("teardown", "--yes", "--json")["exchange-app"] == "deleted"
    assert env.apps() == [] and env.apps("oci-mcp-exchange") == []


def test_dry_run_and_no_yes_write_nothing(env: Env) -> None:
    values = init(env)
    env.sb.clear_requests()
    assert env.steps("teardown", "--dry-run", "--json")["app"] == "delete"
    refused = env.cli("teardown")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert env.writes() == []
    assert len(env.apps()) == 1 and env.env() == values


def test_teardown_without_env_is_a_clear_error(env: Env) -> None:
    result = env.cli("teardown", "--yes")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
