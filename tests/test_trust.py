# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""`oci-mcp trust create|list|delete` against the sandbox."""

from __future__ import annotations

import json

import pytest
from provisioning_support import (  # noqa: F401
    ISSUER,
    Env,
    _fast_retries,
    env,
    foreign_trust,
    seeded_state,
)


def init_without_trust(env: Env) -> str:
    result = env.cli("init", "--yes", "--no-trust")
    assert result.exit_code == 0, result.stderr
    return env.env()["IAM_CLIENT_ID"]


def test_create_then_create_again_is_a_no_op(env: Env) -> None:
    client_id = init_without_trust(env)
    assert env.trusts() == []
    result = env.cli("trust", "create", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["action"] == "created"
    (trust,) = env.trusts()
    assert payload["trust_id"] == trust.id
    assert trust.active is True and trust.issuer == ISSUER
    assert trust.public_key_endpoint.endswith("/admin/v1/SigningCert/jwk")
    assert trust.oauth_clients == [client_id]
    assert (trust.client_claim_name, trust.client_claim_values) == ("client_id", [client_id])
    values = env.env()
    assert (values["OCI_MCP_TRUST_ID"], values["OCI_MCP_TRUST_CREATED"]) == (trust.id, "true")

    env.sb.clear_requests()
    again = env.cli("trust", "create", "--yes", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["action"] == "unchanged"
    assert env.writes() == []
    assert len(env.trusts()) == 1


def test_client_claim_iss_reproduces_the_seed_form(env: Env) -> None:
    init_without_trust(env)
    result = env.cli("trust", "create", "--yes", "--client-claim", "iss")
    assert result.exit_code == 0, result.stderr
    (trust,) = env.trusts()
    assert (trust.client_claim_name, trust.client_claim_values) == ("iss", [ISSUER])
    assert trust.active is True and trust.public_key_endpoint


def test_dry_run_makes_no_write(env: Env) -> None:
    init_without_trust(env)
    before = env.env_file.read_text()
    env.sb.clear_requests()
    result = env.cli("trust", "create", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["action"] == "create"
    assert env.writes() == [] and env.trusts() == []
    assert env.env_file.read_text() == before


def test_an_existing_trust_is_joined_then_left(env: Env) -> None:
    other = foreign_trust(env)
    result = env.cli("init", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    client_id = env.env()["IAM_CLIENT_ID"]
    (trust,) = env.trusts()  # never a second trust for the issuer
    assert trust.id == other.id
    assert trust.oauth_clients == ["other-exchange", client_id]
    assert trust.client_claim_values == ["other-login", client_id]
    assert trust.active is True and trust.public_key_endpoint.endswith("/SigningCert/jwk")
    assert env.env()["OCI_MCP_TRUST_CREATED"] == "false"

    listed = env.cli("trust", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["trusts"]
    assert row["id"] == trust.id and row["ours"] is True

    deleted = env.cli("trust", "delete", "--yes", "--json")
    assert deleted.exit_code == 0, deleted.stderr
    assert json.loads(deleted.stdout)["action"] == "updated"
    (kept,) = env.trusts()
    assert kept.oauth_clients == ["other-exchange"]
    assert kept.client_claim_values == ["other-login"]
    assert "OCI_MCP_TRUST_ID" not in env.env()


def test_delete_removes_the_trust_we_created(env: Env) -> None:
    assert env.cli("init", "--yes").exit_code == 0
    result = env.cli("trust", "delete", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["action"] == "deleted"
    assert env.trusts() == []
    env.sb.clear_requests()
    again = env.cli("trust", "delete", "--yes", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["action"] == "skipped"
    assert env.writes() == []


def test_list_table(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    result = env.cli("trust", "list", "--domain-url", env.domain_url)
    assert result.exit_code == 0, result.stderr
    assert "no identity propagation trusts" in result.stdout
    other = foreign_trust(env)
    table = env.cli("trust", "list", "--domain-url", env.domain_url)
    (row,) = [line for line in table.stdout.splitlines() if other.id in line]
    assert "For Token Exchange" in row and "other-exchange" in row and ISSUER in row


def test_create_without_env_says_run_init(env: Env) -> None:
    result = env.cli("trust", "create", "--yes")
    assert result.exit_code == 2
    assert "oci-mcp init" in result.stderr and "Traceback" not in result.stderr
