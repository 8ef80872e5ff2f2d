# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""A trust shared by several projects (issue 18, item 4): after the last project that used a
trust oci-mcp created tears down, no such trust remains, in either teardown order; no trust keeps
listing a client that no longer exists; a trust oci-mcp did not create is never deleted. The real
CLI against the sandbox, read back through the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from provisioning_support import (  # noqa: F401
    Env,
    _fast_retries,
    env,
    foreign_trust,
    patch,
    seeded_state,
)

from oci_mcp_cli.core import envfile as E


def project(env: Env, tmp_path: Path, name: str, port: int) -> Env:
    """Another project directory (its own .env and owner) in the same domain, initialised."""
    other = Env(sb=env.sb, env_file=tmp_path / name / ".env")
    result = other.cli("init", "--yes", "--app-name", f"{name}-mcp", "--server-url",
                       f"http://localhost:{port}")
    assert result.exit_code == 0, result.stderr
    return other


def teardown(p: Env) -> None:
    result = p.cli("teardown", "--yes")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("order", ["creator-first", "joiner-first"])
def test_the_last_teardown_removes_the_trust_oci_mcp_created(env: Env, tmp_path: Path,
                                                             order: str) -> None:
    a = project(env, tmp_path, "a", 8100)  # creates the trust
    b = project(env, tmp_path, "b", 8200)  # joins it
    assert a.env()[E.OCI_MCP_TRUST_CREATED] == "true"
    assert b.env()[E.OCI_MCP_TRUST_CREATED] == "false"
    first, last = (a, b) if order == "creator-first" else (b, a)
    teardown(first)
    (trust,) = env.trusts()
    assert trust.oauth_clients == [last.env()[E.IAM_CLIENT_ID]]
    teardown(last)
    assert env.trusts() == [], "GUARANTEE shared-trust: a trust oci-mcp created outlived its users"


def test_a_trust_created_by_a_run_that_never_recorded_it_is_still_removed(env: Env,
                                                                          tmp_path: Path) -> None:
    """kill -9 after the trust was created and before .env said so: the re-run records
    OCI_MCP_TRUST_CREATED=false. The trust itself says that oci-mcp created it."""
    a = project(env, tmp_path, "a", 8100)
    E.save_env(a.env_file, {E.OCI_MCP_TRUST_CREATED: "false"})
    teardown(a)
    assert env.trusts() == [], "GUARANTEE shared-trust: an unrecorded oci-mcp trust was stranded"


def test_a_client_that_no_longer_exists_is_not_kept_on_the_trust(env: Env,
                                                                 tmp_path: Path) -> None:
    a = project(env, tmp_path, "a", 8100)
    b = project(env, tmp_path, "b", 8200)
    c = project(env, tmp_path, "c", 8300)
    # B's app is deleted behind oci-mcp's back (console, or an interrupted teardown).
    client = b.client()
    app_id = b.env()[E.OCI_MCP_APP_ID]
    patch(client, "app", app_id, ("REPLACE", "active", False))
    client.delete_app(app_id, force_delete=True)
    teardown(a)
    (trust,) = env.trusts()
    assert trust.oauth_clients == [c.env()[E.IAM_CLIENT_ID]], (
        "GUARANTEE shared-trust: the trust lists a client that no longer exists")
    assert trust.client_claim_values == [c.env()[E.IAM_CLIENT_ID]]
    teardown(c)
    assert env.trusts() == []


def test_a_trust_oci_mcp_did_not_create_is_never_deleted(env: Env, tmp_path: Path) -> None:
    theirs = foreign_trust(env, client="team-exchange")
    a = project(env, tmp_path, "a", 8100)
    b = project(env, tmp_path, "b", 8200)
    teardown(a)
    teardown(b)
    (trust,) = env.trusts()
    assert trust.id == theirs.id, "GUARANTEE shared-trust: a foreign trust was deleted"
    assert trust.oauth_clients == ["team-exchange"]


def test_an_untagged_trust_this_project_created_is_tagged_for_the_last_teardown(
        env: Env, tmp_path: Path) -> None:
    """A trust created before trusts were tagged: only the creator's .env knows. When the creator
    leaves first, it tags the trust so the joiner's teardown removes it."""
    a = project(env, tmp_path, "a", 8100)
    b = project(env, tmp_path, "b", 8200)
    (trust,) = env.trusts()
    patch(env.client(), "identity_propagation_trust", trust.id, ("REPLACE", "tags", []))
    teardown(a)
    teardown(b)
    assert env.trusts() == [], "GUARANTEE shared-trust: an untagged oci-mcp trust was stranded"
