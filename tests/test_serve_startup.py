"""Start-up (issue 22): what a start does once, and what it no longer does at all.

Timing lives in bench/bench_start.py (benchmarks, not timed tests); these assert behaviour: a
server on a file store never imports the Redis client, the domain's discovery document and its
JWKS are each fetched once per start, the signing key derived off the import path is FastMCP's
own, py-key-value's run-time type checks are off unless asked for, and one API-key profile loads
its key once for all its clients. (A failed discovery still fails the start with the cause:
tests/test_serve.py.) Real server build, real SDK, real HTTP against the sandbox.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

# Builds the server exactly as `serve` does (settings from the .env, build_server) in a fresh
# interpreter, then reports which modules that start imported.
BUILD = """
import json, sys
from pathlib import Path
from oci_mcp_cli.server.app import build_server
from oci_mcp_cli.server.config import load_settings
settings = load_settings(Path(sys.argv[1]), storage_dir=Path(sys.argv[2]), audit_log="off")
build_server(settings)
print(json.dumps(sorted(sys.modules)))
"""


def build_in_subprocess(env_file: Path, storage: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(env_file), str(storage)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from serve_support import provisioned_sandbox

    with provisioned_sandbox(tmp_path_factory.mktemp("startup")) as stack:
        yield stack


def test_file_store_start_imports_no_redis_and_fetches_discovery_and_jwks_once(
    provisioned: Any, tmp_path: Path
) -> None:
    sb, env_file, _ = provisioned
    sb.clear_requests()
    modules = build_in_subprocess(env_file, tmp_path / "oauth")
    assert not [m for m in modules if m == "redis" or m.startswith("redis.")]
    assert "oci.identity" in modules and "oci.object_storage" in modules  # warmed, as before
    gets = [r["path"] for r in sb.requests() if r["method"] == "GET"]
    assert sum(p.endswith("/.well-known/openid-configuration") for p in gets) == 1, gets
    assert sum(p.endswith("/admin/v1/SigningCert/jwk") for p in gets) == 1, gets


def test_signing_key_is_fastmcps_own_derivation() -> None:
    """The key derived at start (off the import path) is what FastMCP derives from the same
    string, whatever the string."""
    from fastmcp.server.auth.jwt_issuer import derive_jwt_key

    from oci_mcp_cli.server.auth import signing_key_bytes

    for material in ("a-short-key", "kTYTBAPqIVuo09RZhqJNPJlE8g6eZTJyqqRfZ9ujTu4Y3P-viR", "é✓"):
        expected = derive_jwt_key(low_entropy_material=material, salt="fastmcp-jwt-signing-key")
        assert signing_key_bytes(material) == expected


def test_signing_key_outside_test_mode_is_fastmcps_million_round_derivation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The suite runs FastMCP in its test mode (tests/conftest.py: 10 rounds, FastMCP's own
    derivation); a real server derives the key itself, with FastMCP's 10⁶ rounds and salt."""
    import fastmcp
    from fastmcp.server.auth import jwt_issuer

    from oci_mcp_cli.server import startup
    from oci_mcp_cli.server.auth import signing_key_bytes

    monkeypatch.setattr(fastmcp.settings, "test_mode", False)
    assert startup.KDF_ITERATIONS == jwt_issuer.KDF_ITERATIONS == 1_000_000
    material = "kTYTBAPqIVuo09RZhqJNPJlE8g6eZTJyqqRfZ9ujTu4Y3P-viR"
    expected = jwt_issuer.derive_jwt_key(low_entropy_material=material,
                                         salt="fastmcp-jwt-signing-key")
    assert signing_key_bytes(material) == expected == startup.derive_signing_key(material)


@pytest.mark.parametrize("value", ["true", "1", "yes", "on", "t", "y", "TRUE", "True", "false",
                                   "0", "no", "off", "f", "n", "FALSE", None])
def test_prefetch_reads_fastmcps_test_mode_as_fastmcp_does(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """The prefetch skips its million-round derivation exactly when FastMCP's settings are in
    test mode (then auth.signing_key_bytes uses FastMCP's own derivation)."""
    from fastmcp.settings import Settings

    from oci_mcp_cli.server.startup import fastmcp_test_mode

    monkeypatch.delenv("FASTMCP_TEST_MODE", raising=False)
    if value is not None:
        monkeypatch.setenv("FASTMCP_TEST_MODE", value)
    assert fastmcp_test_mode() is Settings().test_mode


def test_prefetch_in_test_mode_skips_the_derivation_and_still_gives_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prefetch that skipped the derivation (test mode) still answers ``signing_key()`` with
    the million-round key, derived then, should anyone ask."""
    from oci_mcp_cli.server import startup

    derived: list[str] = []
    real = startup.derive_signing_key
    monkeypatch.setattr(startup, "derive_signing_key",
                        lambda material: derived.append(material) or real(material, 10))
    settings = type("S", (), {"domain_url": "http://127.0.0.1:9", "jwt_signing_key": "k" * 20})()
    monkeypatch.setenv("FASTMCP_TEST_MODE", "true")
    prefetch = startup.Prefetch(settings).start()  # type: ignore[arg-type]
    prefetch._thread.join(30)
    assert derived == []  # skipped on the start-up thread
    assert prefetch.signing_key() == real("k" * 20, 10)
    assert derived == ["k" * 20]
    monkeypatch.setenv("FASTMCP_TEST_MODE", "false")
    prefetch = startup.Prefetch(settings).start()  # type: ignore[arg-type]
    assert prefetch.signing_key() == real("k" * 20, 10)
    assert derived == ["k" * 20, "k" * 20]  # derived once, on the start-up thread


@pytest.mark.parametrize(("setting", "strategy"), [(None, "O0"), ("false", "O1")])
def test_server_turns_off_key_value_runtime_type_checks_unless_told(
    setting: str | None, strategy: str
) -> None:
    """py-key-value's beartype checks (warnings only) cost every start ~0.1 s: off in the server
    unless ``PY_KEY_VALUE_DISABLE_BEARTYPE`` says otherwise."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PY_KEY_VALUE_DISABLE_BEARTYPE"}
    if setting is not None:
        env["PY_KEY_VALUE_DISABLE_BEARTYPE"] = setting
    code = "import oci_mcp_cli.server.storage, key_value.aio as kv; print(kv.strategy.name)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == strategy


def test_an_api_key_profile_loads_its_key_once_for_all_its_clients(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init, doctor and the demo build several SDK clients from one profile: the key file is
    read and checked once (~60 ms of CPU each time), and every client signs with that signer.
    The SDK's loader is wrapped to count calls (it still does the work)."""
    import oci

    from oci_mcp_cli.core.ociconfig import identity_domains_client, load_oci_auth, oci_client

    real = oci.signer.load_private_key_from_file
    loads: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        loads.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(oci.signer, "load_private_key_from_file", counted)
    auth = load_oci_auth(sandbox.config_file, sandbox.profile)
    identity = oci_client(oci.identity.IdentityClient, auth)
    domain = next(d for d in sandbox.domains if d["type"] == "DEFAULT")
    domains = identity_domains_client(auth, domain["url"])
    assert len(loads) == 1, loads
    assert identity.get_tenancy(auth.tenancy_id).data.id == auth.tenancy_id  # it signs
    assert domains.list_users(filter='userName eq "alice"').data.resources


def test_a_process_loads_each_api_key_once_until_the_key_file_changes(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands run one after another in one process (the demo, a test run) share the profile's
    signer: the key is loaded and checked once. A key file that changed (another key, or a broken
    one) is loaded again, and a broken one is still refused."""
    import os

    import oci

    from oci_mcp_cli.core.errors import UserError
    from oci_mcp_cli.core.ociconfig import load_oci_auth

    real = oci.signer.load_private_key_from_file
    loads: list[str] = []
    monkeypatch.setattr(oci.signer, "load_private_key_from_file",
                        lambda *a, **k: loads.append(str(a[0])) or real(*a, **k))
    first = load_oci_auth(sandbox.config_file, sandbox.profile)
    again = load_oci_auth(sandbox.config_file, sandbox.profile)
    assert len(loads) == 1 and again.signer is first.signer

    key_file = Path(first.config["key_file"]).expanduser()
    data = key_file.read_bytes()
    key_file.write_bytes(data)
    os.utime(key_file, ns=(1, 1))  # same bytes, another version of the file: loaded again
    assert load_oci_auth(sandbox.config_file, sandbox.profile).signer is not first.signer
    assert len(loads) == 2

    key_file.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    with pytest.raises(UserError, match="not a usable private key"):
        load_oci_auth(sandbox.config_file, sandbox.profile)


def test_the_api_key_signers_a_process_keeps_are_bounded(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One signer per profile and key file, least recently used dropped first."""
    from oci_mcp_cli.core import ociconfig

    monkeypatch.setattr(ociconfig, "API_KEY_SIGNERS_KEPT", 2)
    monkeypatch.setattr(ociconfig, "_api_key_signers", type(ociconfig._api_key_signers)())
    profile = ociconfig.load_oci_auth(sandbox.config_file, sandbox.profile).config
    key_file = Path(profile["key_file"]).expanduser()
    for n in range(3):
        copy = key_file.with_name(f"copy{n}.pem")
        copy.write_bytes(key_file.read_bytes())
        config = {**profile, "key_file": str(copy)}
        ociconfig._api_key_signer(config, str(sandbox.config_file), sandbox.profile)
    kept = [identity[3][1] for identity in ociconfig._api_key_signers]
    assert kept == [str(key_file.with_name("copy1.pem").resolve()),
                    str(key_file.with_name("copy2.pem").resolve())]


def test_a_key_file_gone_between_the_check_and_the_load_is_reported_not_kept(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key file removed after the profile was checked: nothing is kept for it, and the SDK's
    loader says what is wrong (a UserError, not a traceback)."""
    from oci_mcp_cli.core import ociconfig
    from oci_mcp_cli.core.errors import UserError

    assert ociconfig._api_key_identity({"key_file": str(Path(sandbox.state_dir) / "gone")}) == ()
    config = dict(ociconfig.load_oci_auth(sandbox.config_file, sandbox.profile).config)
    monkeypatch.setattr(ociconfig, "_api_key_signers", type(ociconfig._api_key_signers)())
    real_identity = ociconfig._api_key_identity

    def removed_meanwhile(cfg: dict[str, Any]) -> tuple[Any, ...]:
        Path(cfg["key_file"]).expanduser().unlink()
        return real_identity(cfg)

    monkeypatch.setattr(ociconfig, "_api_key_identity", removed_meanwhile)
    with pytest.raises(UserError, match="not a usable private key"):
        ociconfig._api_key_signer(config, str(sandbox.config_file), sandbox.profile)
    assert not ociconfig._api_key_signers
