# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Re-runs change nothing unless asked, and `--yes` never asks (issue 8 §2-3): the real CLI
against the sandbox."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provisioning_support import Env, _fast_retries, env, seeded_state, steps  # noqa: F401

from oci_mcp_cli.core import envfile as E

CUSTOM = (
    "--server-url", "http://localhost:9000",
    "--app-name", "team-mcp",
    "--redirect-path", "/oauth/callback",
    "--exchange-app", "team-exchange",
    "--client-claim", "iss",
    "--domain", "Secondary",
)  # fmt: skip


def test_a_plain_rerun_keeps_every_recorded_setting(env: Env) -> None:
    assert env.cli("init", "--yes", *CUSTOM).exit_code == 0
    first = env.env()
    assert first[E.MCP_SERVER_URL] == "http://localhost:9000"
    assert first[E.OCI_MCP_APP_NAME] == "team-mcp"
    env.sb.clear_requests()
    result = env.cli("init", "--yes", "--json")  # no flags at all
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(steps(payload).values()) <= {"unchanged", "skipped"}, payload["steps"]
    assert payload["domain_name"] is None or payload["domain_name"] == "Secondary"
    assert payload["domain_url"] == first[E.IAM_DOMAIN]
    assert env.writes() == []
    assert env.env() == first


def test_a_differing_flag_is_planned_as_old_to_new(env: Env) -> None:
    assert env.cli("init", "--yes", "--server-url", "http://localhost:9000").exit_code == 0
    result = env.cli("init", "--dry-run", "--json", "--server-url", "http://localhost:9100")
    assert result.exit_code == 0, result.stderr
    env_step = next(s for s in json.loads(result.stdout)["steps"] if s["name"] == "env")
    assert env_step["action"] == "update"
    assert "MCP_SERVER_URL: http://localhost:9000 → http://localhost:9100" in env_step["changes"]
    table = env.cli("init", "--dry-run", "--server-url", "http://localhost:9100")
    assert "MCP_SERVER_URL" in table.stdout and "→" in table.stdout  # the table shows it too


def test_dry_run_reports_the_ids_it_would_keep(env: Env) -> None:
    assert env.cli("init", "--yes").exit_code == 0
    values = env.env()
    payload = json.loads(env.cli("init", "--dry-run", "--json").stdout)
    assert payload["trust_id"] == values[E.OCI_MCP_TRUST_ID]
    assert payload["app_id"] == values[E.OCI_MCP_APP_ID]
    assert payload["client_id"] == values[E.IAM_CLIENT_ID]


def test_yes_never_asks_even_on_a_terminal(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, `init --yes` takes the DEFAULT domain and asks nothing (questionary would
    block; here any prompt fails the test)."""
    import questionary

    from oci_mcp_cli.cli import init_cmd, plan_view

    def no_prompt(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("--yes asked a question")

    monkeypatch.setattr(init_cmd, "is_interactive", lambda: True)
    monkeypatch.setattr(plan_view, "is_interactive", lambda: True)
    for name in ("select", "confirm", "text"):
        monkeypatch.setattr(questionary, name, no_prompt)
    result = env.cli("init", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["domain_url"] == env.domain_url  # the DEFAULT one


def test_yes_with_an_ambiguous_domain_is_exit_2_listing_them(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tenancy with several domains and none of type DEFAULT. Mocked because every tenancy,
    and so the sandbox, has exactly one DEFAULT domain; only its listing is replaced."""
    from oci_mcp_cli.provisioning import domains

    listed = [
        domains.DomainInfo(url=d["url"], display_name=d["display_name"], type="SECONDARY")
        for d in env.sb.domains
    ]
    monkeypatch.setattr(domains, "list_domains", lambda auth: listed)
    env.sb.clear_requests()
    result = env.cli("init", "--yes")
    assert result.exit_code == 2
    assert "--domain" in result.stderr and "Traceback" not in result.stderr
    for d in listed:
        assert d.display_name in result.stderr
    assert env.writes() == []
