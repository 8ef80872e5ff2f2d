# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Each init error: one clear message, the right exit code, no traceback (unless --debug)."""

from __future__ import annotations

from pathlib import Path

import pytest
from provisioning_support import Env, _fast_retries, env, seeded_state  # noqa: F401

from oci_mcp_cli.core.ports import free_port


def profile_copy(env: Env, tmp_path: Path, **overrides: str) -> Path:
    """The sandbox's OCI config with some keys of its profile replaced."""
    lines = []
    for line in Path(env.sb.config_file).read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        lines.append(f"{key}={overrides[key]}" if key in overrides else line)
    path = tmp_path / "config"
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_clean_failure(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_unknown_profile(env: Env) -> None:
    result = env.cli(
        "init", "--yes", "--config-file", env.sb.config_file, "--profile", "NOPE", creds=False
    )
    assert_clean_failure(result, 2, "profile 'NOPE' not found", "--profile")


def test_debug_shows_the_traceback(env: Env) -> None:
    from oci_mcp_cli.cli.output import state

    try:
        result = env.cli(
            "--debug",
            "init",
            "--yes",
            "--config-file",
            env.sb.config_file,
            "--profile",
            "NOPE",
            creds=False,
        )
    finally:
        state.debug = False
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_missing_config_file(env: Env, tmp_path: Path) -> None:
    result = env.cli("init", "--yes", "--config-file", str(tmp_path / "none"), creds=False)
    assert_clean_failure(result, 2, "not found", "oci setup config")


def test_bad_key_file(env: Env, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n")
    config = profile_copy(env, tmp_path, key_file=str(junk))
    result = env.cli(
        "init", "--yes", "--config-file", str(config), "--profile", env.sb.profile, creds=False
    )
    assert_clean_failure(result, 2, "not a usable private key")


def test_unreachable_endpoint(env: Env, tmp_path: Path) -> None:
    config = profile_copy(env, tmp_path, oci_mcp_endpoint=f"http://127.0.0.1:{free_port()}")
    result = env.cli(
        "init", "--yes", "--config-file", str(config), "--profile", env.sb.profile, creds=False
    )
    assert_clean_failure(result, 2, "cannot reach")


def test_unreachable_domain_url(env: Env) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = env.cli("init", "--yes", "--domain-url", url)
    # Names the mistyped URL and the cause, from the first (public, no-retry) request.
    assert_clean_failure(result, 2, "cannot reach the identity domain at " + url, "refused")


@pytest.mark.parametrize("value", ["not a url", "https://exa mple.com", "idcs-x.identity..com"])
def test_a_domain_url_that_is_no_url_is_exit_2_with_a_domain_example(env: Env, value: str) -> None:
    env.sb.clear_requests()
    result = env.cli("init", "--yes", "--domain-url", value)
    assert_clean_failure(result, 2, "--domain-url", "https://idcs-")
    assert "localhost:8000" not in result.stderr  # the example is a domain URL, not a server URL
    assert env.sb.requests() == []


@pytest.mark.parametrize(
    "args,needle",
    [
        (("--server-url", "http://mcp.example.com"), "uses http on a non-loopback host"),
        (("--server-url", "mcp.example.com"), "is not a valid http(s) URL"),
        (("--domain-url", "ftp://idcs-x.identity.oraclecloud.com"), "not a valid http(s) URL"),
        (("--domain-url", "ftp://idcs-x.identity.oraclecloud.com"), "https://idcs-"),
        (("--domain-url", "http://idcs-x.identity.oraclecloud.com"), "non-loopback"),
        (("--redirect-path", "auth/callback"), "must start with '/'"),
        (("--client-claim", "aud"), "unknown --client-claim"),
        (("--auth", "magic"), "unknown --auth"),
    ],
)
def test_bad_input_is_exit_2_before_any_call(env: Env, args: tuple[str, ...], needle: str) -> None:
    env.sb.clear_requests()
    result = env.cli("init", "--yes", *args)
    assert_clean_failure(result, 2, needle)
    assert env.writes() == []


def test_forbidden_names_the_call_the_role_and_the_request_id(env: Env) -> None:
    env.sb.fault("GET", "/admin/v1/Apps", 403)
    result = env.cli("init", "--yes")
    assert_clean_failure(
        result, 1, "list Apps", "HTTP 403", "Identity Domain Administrator", "opc-request-id"
    )
    assert env.writes() == []
