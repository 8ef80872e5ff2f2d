"""The flag groups every provisioning command shares (cli/flags.py), declared once."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from oci_mcp_cli.cli.app import app
from oci_mcp_cli.cli.flags import (
    AdminFlags,
    AuthOpt,
    ConfigFileOpt,
    DryRunOpt,
    EnvFileOpt,
    JsonOpt,
    PlanFlags,
    ProfileOpt,
    YesOpt,
)

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


def test_shared_option_types_build_the_groups(tmp_path) -> None:
    """A command declares the shared option types as plain parameters and builds the groups
    its service takes with their constructors (plain Typer: no signature rewriting)."""
    seen: list[object] = []
    probe = typer.Typer()

    @probe.command()
    def cmd(
        name: str = "x",
        env_file: EnvFileOpt = Path(".env"),
        config_file: ConfigFileOpt = None,
        profile: ProfileOpt = None,
        auth: AuthOpt = "config",
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        seen.extend([AdminFlags(env_file, config_file, profile, auth),
                     PlanFlags(dry_run, yes, json_out), name])

    env_file = tmp_path / "a.env"
    args = ["--env-file", str(env_file), "--profile", "P", "--dry-run", "--json", "--name", "n"]
    result = CliRunner().invoke(probe, args)
    assert result.exit_code == 0, result.output
    assert seen == [
        AdminFlags(env_file=env_file, profile="P"),
        PlanFlags(dry_run=True, json_out=True),
        "n",
    ]
    assert CliRunner().invoke(probe, ["-y"]).exit_code == 0 and seen[-2] == PlanFlags(yes=True)
