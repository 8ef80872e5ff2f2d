"""Options shared by several commands, declared once as plain Typer ``Annotated`` types.

A command takes each shared option as an ordinary parameter of that type, with its default
(``env_file: EnvFileOpt = Path(".env")``), and builds the group its service needs with a plain
constructor: ``AdminFlags(env_file, config_file, profile, auth)``,
``PlanFlags(dry_run, yes, json_out)`` (named tuples: cheaper to define at start-up than
dataclasses).

Command modules do not use ``from __future__ import annotations``: Typer would then compile every
option's annotation string again at each start-up.
"""

from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from oci_mcp_cli.cli.output import json_mode

# Where the .env is and which OCI credentials administer the domain (AdminFlags).
EnvFileOpt = Annotated[
    Path, typer.Option("--env-file", help="The .env file that `oci-mcp init` writes.")
]
ConfigFileOpt = Annotated[
    str | None,
    typer.Option(
        "--config-file",
        help="OCI config file (else $OCI_CLI_CONFIG_FILE, the one .env recorded, ~/.oci/config).",
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="OCI config profile (else $OCI_CLI_PROFILE, the one .env recorded, DEFAULT). "
        "API-key and session-token (`oci session authenticate`) profiles work.",
    ),
]
AuthOpt = Annotated[
    str, typer.Option("--auth", help="config | instance_principal | resource_principal.")
]

# How a plan → confirm → apply command runs (PlanFlags).
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan; write nothing at all.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]


def json_option(help_text: str = "Print one JSON object on stdout.") -> typer.models.OptionInfo:
    """Every command's ``--json``: eager, so that even a later failure (bad input included) is
    printed as one JSON object (``cli.output.json_mode``)."""
    return typer.Option("--json", help=help_text, callback=json_mode, is_eager=True)


JsonOpt = Annotated[bool, json_option()]

DomainUrlOpt = Annotated[
    str | None, typer.Option("--domain-url", help="Identity domain URL (with or without :443).")
]


class AdminFlags(NamedTuple):
    """Where the .env is and which OCI credentials administer the domain."""

    env_file: Path = Path(".env")
    config_file: str | None = None
    profile: str | None = None
    auth: str = "config"


class PlanFlags(NamedTuple):
    """How a plan → confirm → apply command runs."""

    dry_run: bool = False
    yes: bool = False
    json_out: bool = False
