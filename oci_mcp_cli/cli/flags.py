"""Flag groups shared by several commands, declared once.

A command asks for a group by a parameter annotated with its dataclass (``admin: AdminFlags``,
``plan: PlanFlags``); :func:`with_flags` replaces that parameter with the group's options in the
signature Typer reads, and rebuilds the dataclass for the call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

DomainUrlOpt = Annotated[
    str | None, typer.Option("--domain-url", help="Identity domain URL (with or without :443).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


@dataclass(frozen=True)
class AdminFlags:
    """Where the .env is and which OCI credentials administer the domain."""

    env_file: Annotated[
        Path, typer.Option("--env-file", help="The .env file that `oci-mcp init` writes.")
    ] = Path(".env")
    config_file: Annotated[
        str | None,
        typer.Option(
            "--config-file",
            help="OCI config file (else $OCI_CLI_CONFIG_FILE, the one .env recorded, "
            "~/.oci/config).",
        ),
    ] = None
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="OCI config profile (else $OCI_CLI_PROFILE, the one .env recorded, DEFAULT). "
            "API-key and session-token (`oci session authenticate`) profiles work.",
        ),
    ] = None
    auth: Annotated[
        str,
        typer.Option("--auth", help="config | instance_principal | resource_principal."),
    ] = "config"


@dataclass(frozen=True)
class PlanFlags:
    """How a plan → confirm → apply command runs."""

    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; write nothing at all.")
    ] = False
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False
    json_out: JsonOpt = False


GROUPS: tuple[type, ...] = (AdminFlags, PlanFlags)


def _group_params(group: type) -> list[inspect.Parameter]:
    hints = inspect.get_annotations(group, eval_str=True)
    return [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, annotation=hints[f.name], default=f.default
        )
        for f in fields(group)
    ]


def with_flags(fn: F) -> F:
    """Expand ``AdminFlags``/``PlanFlags`` parameters of a command into their options."""
    signature = inspect.signature(fn, eval_str=True)
    own: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for param in signature.parameters.values():
        if param.annotation in GROUPS:
            groups[param.name] = param.annotation
        else:
            own.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    expanded = own + [p for group in groups.values() for p in _group_params(group)]

    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Any:
        for name, group in groups.items():
            kwargs[name] = group(**{f.name: kwargs.pop(f.name) for f in fields(group)})
        return fn(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=expanded)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in expanded}
    del wrapper.__wrapped__  # Typer must read the expanded signature, not fn's
    return wrapper  # type: ignore[return-value]
