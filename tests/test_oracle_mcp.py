"""Oracle's official OCI MCP servers (PyPI ``oracle.oci-*-mcp-server``), run unchanged against the
sandbox in transparent mode (issue 12): `init --for oracle-mcp`, `serve --oracle`, `test-client`,
a plain MCP SDK OAuth client, stdio with a session-token profile.

The servers need Python ≥ 3.13: the venv comes from ``$OCI_MCP_ORACLE_VENV`` (default
``~/.cache/oci-mcp-tests/oracle-mcp-py313``, prepared by ``.ci/run``); without one the tests skip
with the reason — except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import missing
from proc_support import stop_group

from oci_mcp_cli.oracle.services import OracleService, parse_services
from oci_mcp_cli.sandbox import Sandbox

CLI = [sys.executable, "-m", "oci_mcp_cli"]
SERVICES = ("object-storage", "identity")
VENV = Path(
    os.environ.get("OCI_MCP_ORACLE_VENV")
    or Path.home() / ".cache/oci-mcp-tests/oracle-mcp-py313"
)
PY = VENV / "bin" / "python"


def _venv_problem() -> str | None:
    if not PY.exists():
        return f"no Python ≥ 3.13 venv with Oracle's servers at {VENV} (.ci/run prepares it)"
    for name in SERVICES:
        module = OracleService(name).module
        done = subprocess.run([str(PY), "-c", f"import {module}"], capture_output=True)
        if done.returncode != 0:
            return f"{OracleService(name).package} is not installed in {VENV}"
    return None


@pytest.fixture(scope="module")
def oracle_python() -> str:
    problem = _venv_problem()
    if problem:
        missing(problem)
    return str(PY)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")  # never a developer's ~/.oci/config


def under_exec(sb: Sandbox, home: Path, *command: str, timeout: float = 180) -> Any:
    env = {**os.environ, "HOME": str(home)}
    for key in ("HTTPS_PROXY", "https_proxy", "OCI_CLI_PROFILE", "OCI_CLI_CONFIG_FILE"):
        env.pop(key, None)
    return subprocess.run(
        [*CLI, "sandbox", "exec", "--state-dir", str(sb.state_dir), "--", *command],
        env=env, capture_output=True, text=True, timeout=timeout,
    )


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive free loopback ports (Oracle's servers of one project get
    consecutive ports), all BELOW the kernel's ephemeral range. Oracle's servers bind the port
    themselves (we cannot hand them a listening socket), and a test may restart one on the same
    port minutes later; an ephemeral port could meanwhile be taken by any outgoing connection
    on a busy machine (seen: EADDRINUSE in test_oracle_doctor), a port below the range cannot."""
    import random

    floor = _ephemeral_floor()
    low = max(1024, floor - 12000)
    for _ in range(200):
        port = random.randrange(low, floor - count)
        with contextlib.ExitStack() as probes:
            try:
                for offset in range(count):
                    probes.enter_context(socket.socket()).bind(("127.0.0.1", port + offset))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no {count} consecutive free loopback ports in {low}-{floor - 1}")


def wait_listening(port: int, proc: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # readiness poll interval
    raise AssertionError(f"the server did not start: {log.read_text()[-3000:]}")


# --- unit: names ---------------------------------------------------------------------------------


def test_service_names_map_like_the_servers_derive_them() -> None:
    s = OracleService.parse("oracle.oci-object-storage-mcp-server")
    assert s == OracleService("object-storage")
    assert s.package == "oracle.oci-object-storage-mcp-server"
    assert s.module == "oracle.oci_object_storage_mcp_server.server"
    assert s.scope == "oci_mcp.object_storage.invoke"
    assert s.fqs("urn:a/") == "urn:a/oci_mcp.object_storage.invoke"
    assert [x.name for x in parse_services(["identity,object-storage", "identity"])] == [
        "identity", "object-storage"]
    from oci_mcp_cli.core.errors import UserError

    with pytest.raises(UserError):
        OracleService.parse("Object Storage!")


def test_the_scope_matches_what_the_installed_server_requires(oracle_python: str) -> None:
    # The server's own derivation (server.py main), evaluated by its own interpreter.
    for name in SERVICES:
        s = OracleService(name)
        code = (f"import {s.module} as m, inspect; src = inspect.getsource(m.main); "
                "print('removeprefix(\\'oracle.oci-\\')' in src and '.invoke' in src)")
        out = subprocess.run([oracle_python, "-c", code], capture_output=True, text=True)
        assert out.stdout.strip() == "True", out.stderr


# --- the whole chain ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, home: Path,
          oracle_python: str) -> Iterator[dict[str, Any]]:
    """A sandbox, `init --for oracle-mcp` for both services, both servers running."""
    tmp = tmp_path_factory.mktemp("oracle")
    with Sandbox(state_dir=tmp / "sb") as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")
        port = free_port()
        while True:  # two consecutive free ports: the second service gets port + 1
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port + 1)) != 0:
                    break
            port = free_port()
        env_file = tmp / ".env"
        init = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--service",
                          "object-storage", "--yes", "--json", "--env-file", str(env_file),
                          "--domain-url", domain["https_url"], "--server-url",
                          f"http://127.0.0.1:{port}", "--open-jwks")
        assert init.returncode == 0, init.stdout + init.stderr
        again = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--service",
                           "identity", "--yes", "--json", "--env-file", str(env_file))
        assert again.returncode == 0, again.stdout + again.stderr
        procs, logs = [], []
        try:
            for name in SERVICES:
                log = tmp / f"{name}.log"
                logs.append(log)
                with log.open("wb") as fh:
                    procs.append(subprocess.Popen(
                        [*CLI, "sandbox", "exec", "--state-dir", str(sb.state_dir), "--",
                         *CLI, "serve", "--oracle", name, "--env-file", str(env_file),
                         "--python", oracle_python],
                        env={**os.environ, "HOME": str(home)}, stdout=fh,
                        stderr=subprocess.STDOUT, start_new_session=True))
            for i, proc in enumerate(procs):
                wait_listening(port + i, proc, logs[i])
            yield {"sb": sb, "env_file": env_file, "port": port, "init": json.loads(init.stdout),
                   "again": json.loads(again.stdout), "home": home, "tmp": tmp}
        finally:
            for proc in procs:
                stop_group(proc)  # `sandbox exec` and the server it runs


def _client(chain: dict[str, Any], user: str, service: str, calls: list[tuple[str, dict]]) -> Any:
    import anyio

    from oci_mcp_cli.client.session import ClientOptions, run_session

    sb: Sandbox = chain["sb"]
    password = next(u["password"] for u in sb.users if u["username"] == user)
    port = chain["port"] + SERVICES.index(service)
    options = ClientOptions(url=f"http://127.0.0.1:{port}/mcp", username=user, password=password,
                            calls=calls, cache_root=chain["tmp"] / f"cache-{user}-{service}")
    return anyio.run(run_session, options)


@pytest.fixture
def sandbox_env(chain: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # The test client is a browser stand-in: it reaches the domain on its real https host too.
    for key, value in chain["sb"].env().items():
        monkeypatch.setenv(key, value)


def test_init_provisions_the_resource_app_scopes_and_env_files(chain: dict[str, Any]) -> None:
    from oci_mcp_cli.core.envfile import load_env

    first, second = chain["init"], chain["again"]
    audience = first["audience"]
    assert {s["name"]: s["action"] for s in first["steps"]}["resource-app"] == "created"
    steps = {s["name"]: s for s in second["steps"]}
    assert steps["resource-app"]["changes"] == ["add scope oci_mcp.identity.invoke"]
    assert f"allow scope {audience}oci_mcp.identity.invoke" in steps["app"]["changes"]
    assert [s["service"] for s in second["services"]] == list(SERVICES)  # kept object-storage
    env = load_env(chain["env_file"])
    assert env.get("OCI_MCP_ORACLE_SERVICES") == "object-storage,identity"
    assert env.get("IDCS_AUDIENCE") == audience
    port = chain["port"]
    for i, name in enumerate(SERVICES):
        path = chain["env_file"].with_name(f".env.oracle-{name}")
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        values = dict(line.split("=", 1) for line in path.read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
        assert values["ORACLE_MCP_PORT"] == str(port + i)
        assert values["ORACLE_MCP_BASE_URL"] == f"http://127.0.0.1:{port + i}"
        assert values["IDCS_DOMAIN"].endswith(".identity.oraclecloud.com")
        assert values["IDCS_AUDIENCE"] == audience and values["OCI_REGION"] == "us-ashburn-1"
        assert values["TENANCY_ID_OVERRIDE"] == chain["sb"].tenancy_id


def test_rerun_changes_nothing(chain: dict[str, Any]) -> None:
    sb, home = chain["sb"], chain["home"]
    rerun = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--yes", "--json",
                       "--env-file", str(chain["env_file"]))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    actions = {s["name"]: s["action"] for s in json.loads(rerun.stdout)["steps"]}
    assert set(actions.values()) <= {"unchanged", "skipped"}, actions


def _compartments(chain: dict[str, Any], user: str) -> dict[str, str]:
    tenancy = chain["sb"].tenancy_id
    report = _client(chain, user, "identity",
                     [("list_compartments", {"compartment_id": tenancy,
                                             "compartment_id_in_subtree": True,
                                             "include_root": False})])
    assert report.ok, report.errors
    return {c["name"]: c["id"] for c in report.calls["list_compartments"]}


@pytest.mark.usefixtures("sandbox_env")
def test_each_user_sees_only_their_compartments_and_buckets(chain: dict[str, Any]) -> None:
    expected = {
        "alice": ({"engineering", "engineering-dev", "shared"},
                  {"eng-artifacts", "eng-logs", "dev-scratch", "shared-docs"}),
        "bob": ({"finance", "shared"}, {"fin-reports", "shared-docs"}),
    }
    for user, (compartments, buckets) in expected.items():
        found = _compartments(chain, user)
        assert set(found) == compartments
        calls = [("list_buckets", {"compartment_id": cid}) for cid in found.values()]
        report = _client(chain, user, "object-storage", calls[:1])
        assert report.ok, report.errors
        seen: set[str] = set()
        for _name, args in calls:
            r = _client(chain, user, "object-storage", [("list_buckets", args)])
            assert r.ok, r.errors
            seen |= {b["name"] for b in r.calls["list_buckets"]}
        assert seen == buckets
    # Every OCI call was made as the signed-in user (UPST), over the real hostnames.
    log = chain["sb"].requests()
    upst = [r for r in log if r.get("auth") == "upst"]
    assert upst and {r["principal"] for r in upst} >= {"alice", "bob"}
    assert all(r["scheme"] == "https" for r in upst)


def test_stdio_with_a_session_token_profile(chain: dict[str, Any], oracle_python: str) -> None:
    """Stdio mode, as published: the server signs with the ``[alice]`` session-token profile."""
    import anyio
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    from oci_mcp_cli.client.session import result_value

    sb: Sandbox = chain["sb"]
    service = OracleService("object-storage")
    env = {**sb.env(), "HOME": str(chain["home"]), "PATH": os.environ.get("PATH", ""),
           "OCI_CONFIG_FILE": str(sb.config_file), "OCI_CONFIG_PROFILE": "alice"}
    transport = StdioTransport(command=oracle_python,
                               args=["-c", f"import {service.module} as m; m.main()"], env=env)

    async def run() -> Any:
        async with Client(transport, timeout=120) as client:
            result = await client.call_tool("get_namespace", {"compartment_id": sb.tenancy_id})
            return result_value(result)

    sb.clear_requests()
    assert anyio.run(run) == "sandboxns"
    assert {r["principal"] for r in sb.requests() if r.get("auth") == "upst"} == {"alice"}
