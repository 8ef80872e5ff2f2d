"""The flag groups every provisioning command shares (cli/flags.py), declared once."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.cli.flags import AdminFlags, PlanFlags

ADMIN = ("--env-file", "--config-file", "--profile", "--auth")
PLAN = ("--dry-run", "--yes", "--json")


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["init"], ADMIN + PLAN + ("--domain-url", "--show-secrets")),
        (["trust", "create"], ADMIN + PLAN + ("--domain-url", "--client-claim")),
        (["trust", "delete"], ADMIN + PLAN + ("--domain-url",)),
        (["trust", "list"], ADMIN + ("--json", "--domain-url")),
        (["teardown"], ADMIN + PLAN + ("--domain-url", "--restore-settings")),
        (["doctor"], ADMIN + ("--json",)),
    ],
)
def test_each_command_offers_its_shared_flags(command: list[str], flags: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for flag in flags:
        assert flag in result.output, (command, flag)
    assert "--admin" not in result.output and "--plan" not in result.output


def test_groups_reach_the_command_as_dataclasses(tmp_path) -> None:
    import typer

    from oci_mcp_cli.cli.flags import with_flags

    seen: list[object] = []
    probe = typer.Typer()

    @probe.command()
    @with_flags
    def cmd(admin: AdminFlags, plan: PlanFlags, name: str = "x") -> None:
        seen.extend([admin, plan, name])

    env_file = tmp_path / "a.env"
    args = ["--env-file", str(env_file), "--profile", "P", "--dry-run", "--json", "--name", "n"]
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 0, result.output
    assert seen == [
        AdminFlags(env_file=env_file, profile="P"),
        PlanFlags(dry_run=True, json_out=True),
        "n",
    ]
