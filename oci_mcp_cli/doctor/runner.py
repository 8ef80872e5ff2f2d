"""Run the doctor checks in order with the right credentials; no check is ever passed by default."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.errors import OciMcpError
from oci_mcp_cli.doctor.checks import CHECKS, CheckResult, DoctorContext

HTTP_TIMEOUT_S = 10.0


def _admin_credentials(
    ctx: DoctorContext, config_file: str | None, profile: str | None, auth: str
) -> None:
    """Load admin credentials like every other command: each of config file and profile from its
    flag, else OCI_CLI_*, else what ``.env`` recorded (``OCI_CONFIG_FILE``/``OCI_PROFILE``).

    A failure caused by a flag is exit 2; one caused by the environment or ``.env`` is reported
    by the admin checks. With nothing configured anywhere, ``ctx.admin`` stays None and the
    checks needing it are skipped.
    """
    from oci_mcp_cli.provisioning.session import recorded_credentials, resolve_auth

    recorded = recorded_credentials(ctx.env)
    from_flags = auth != "config" or bool(config_file or profile)
    sources = []
    if from_flags:
        sources.append("flags")
    if os.environ.get("OCI_CLI_CONFIG_FILE") or os.environ.get("OCI_CLI_PROFILE"):
        sources.append("OCI_CLI_CONFIG_FILE/OCI_CLI_PROFILE")
    if any(recorded.values()):
        sources.append(f"{E.OCI_CONFIG_FILE}/{E.OCI_PROFILE} in {ctx.env.path}")
    if not sources:
        return
    ctx.admin_source = " + ".join(sources)
    try:
        ctx.admin = resolve_auth(config_file, profile, auth, recorded)  # same precedence as init
    except OciMcpError as exc:
        if from_flags:
            raise
        ctx.admin_error = exc


def run_doctor(
    env_file: Path | str = E.DEFAULT_ENV_FILE,
    *,
    oracle: str | None = None,
    config_file: str | None = None,
    profile: str | None = None,
    auth: str = "config",
    on_check: Callable[[str], None] | None = None,
) -> list[CheckResult]:
    """Run every check in order and return their results; with ``oracle`` (`doctor --oracle
    SERVICE`), the chain of one of Oracle's official servers instead (doctor/oracle)."""
    import httpx

    checks: tuple[Any, ...] = CHECKS
    name_of: Callable[[Any], str] = _check_name
    context: Callable[..., DoctorContext] = DoctorContext
    if oracle:
        from oci_mcp_cli.doctor import oracle as O
        from oci_mcp_cli.oracle.services import OracleService

        checks, name_of = O.ORACLE_CHECKS, O.check_name
        context = functools.partial(
            O.OracleContext, service=OracleService.parse(oracle), env_path=Path(env_file)
        )
    env = E.load_env(env_file)
    with httpx.Client(timeout=HTTP_TIMEOUT_S, follow_redirects=False) as http:
        ctx = context(env=env, http=http)
        _admin_credentials(ctx, config_file, profile, auth)
        results = []
        for check in checks:
            if on_check:
                on_check(name_of(check))
            results.append(check(ctx))
    return results


def _check_name(check: Callable[..., CheckResult]) -> str:
    """The name shown while a check runs (``check_client_secret`` → ``client-secret``)."""
    return check.__name__.removeprefix("check_").replace("_", "-")


def all_passed(results: list[CheckResult]) -> bool:
    """True only when every check passed (a skipped check is not a pass)."""
    return all(result.ok is True for result in results)
