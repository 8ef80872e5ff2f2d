"""Oracle's official object-storage, identity, compute and networking MCP servers (PyPI, unchanged)
answer their read tools against the sandbox in transparent mode, for alice and for bob, each
seeing only their own resources (issue 23 §3).

Same chain as tests/test_oracle_mcp.py (`init --for oracle-mcp`, `serve --oracle`, a real OAuth
sign-in per user), with four services; the venv (Python ≥ 3.13) comes from
``$OCI_MCP_ORACLE_VENV`` (``.ci/run`` installs the four servers into it). Slow: one chain per
module, one MCP session per user and service.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import oci
import pytest
from conftest import missing
from proc_support import stop_group
from test_oracle_mcp import CLI, PY, VENV, free_port, under_exec, wait_listening

from oci_mcp_cli.oracle.services import OracleService
from oci_mcp_cli.sandbox import Sandbox

SERVICES = ("object-storage", "identity", "compute", "networking")


@pytest.fixture(scope="module")
def oracle_python() -> str:
    if not PY.exists():
        missing(f"no Python ≥ 3.13 venv with Oracle's servers at {VENV} (.ci/run prepares it)")
    for name in SERVICES:
        module = OracleService(name).module
        if subprocess.run([str(PY), "-c", f"import {module}"], capture_output=True).returncode:
            missing(f"{OracleService(name).package} is not installed in {VENV}")
    return str(PY)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, oracle_python: str) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("oracle-breadth")
    home = tmp / "home"
    home.mkdir()
    with Sandbox(state_dir=tmp / "sb") as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")
        port = free_port(len(SERVICES))  # one per service
        env_file = tmp / ".env"
        first = ["--domain-url", domain["https_url"], "--server-url",
                 f"http://127.0.0.1:{port}", "--open-jwks"]
        for i, name in enumerate(SERVICES):
            init = under_exec(sb, home, *CLI, "init", "--for", "oracle-mcp", "--service", name,
                              "--yes", "--json", "--env-file", str(env_file),
                              *(first if i == 0 else []))
            assert init.returncode == 0, init.stdout + init.stderr
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
            yield {"sb": sb, "port": port, "tmp": tmp}
        finally:
            for proc in procs:
                stop_group(proc)


@pytest.fixture(scope="module")
def seeded(chain: dict) -> dict[str, str]:
    """Compartment and instance OCIDs by name, and one object in an engineering and a finance
    bucket (put by the admin through the SDK)."""
    sb: Sandbox = chain["sb"]
    config = oci.config.from_file(sb.config_file, sb.profile)
    admin = oci.object_storage.ObjectStorageClient(config, service_endpoint=sb.url)
    admin.put_object("sandboxns", "eng-artifacts", "build.log", b"ok\n")
    admin.put_object("sandboxns", "fin-reports", "q1.csv", b"a,b\n")
    with sb.ctx.store.read() as state:
        names = {c.name: c.id for c in state.compartments.values()}
        names |= {i.display_name: i.id for i in state.instances}
        names["tenancy"] = state.tenancy_id
    return names


def session(chain: dict, user: str, service: str, calls: list[tuple[str, dict]]) -> Any:
    import anyio

    from oci_mcp_cli.client.session import ClientOptions, run_session

    sb: Sandbox = chain["sb"]
    password = next(u["password"] for u in sb.users if u["username"] == user)
    port = chain["port"] + SERVICES.index(service)
    options = ClientOptions(url=f"http://127.0.0.1:{port}/mcp", username=user, password=password,
                            calls=calls, cache_root=chain["tmp"] / f"cache-{user}-{service}")
    return anyio.run(run_session, options)


@pytest.fixture
def sandbox_env(chain: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in chain["sb"].env().items():  # the test client reaches the domain's host
        monkeypatch.setenv(key, value)


def names(value: Any, key: str) -> set[str]:
    return {item[key] for item in value}


# (user, own compartment, own bucket, own object, own instance, someone else's bucket/instance)
USERS = [
    ("alice", "engineering", "eng-artifacts", "build.log", "eng-app-1", "fin-reports", "fin-db-1"),
    ("bob", "finance", "fin-reports", "q1.csv", "fin-db-1", "eng-artifacts", "eng-app-1"),
]


@pytest.mark.usefixtures("sandbox_env")
@pytest.mark.parametrize(("user", "comp", "bucket", "obj", "inst", "other_bucket", "other_inst"),
                         USERS)
def test_read_tools_per_user(chain: dict, seeded: dict[str, str], user: str, comp: str,
                             bucket: str, obj: str, inst: str, other_bucket: str,
                             other_inst: str) -> None:
    cid, tenancy = seeded[comp], seeded["tenancy"]
    storage = session(chain, user, "object-storage", [
        ("get_bucket_details", {"bucket_name": bucket, "compartment_id": tenancy}),
        ("list_objects", {"bucket_name": bucket, "compartment_id": tenancy}),
        ("get_object", {"bucket_name": other_bucket, "compartment_id": tenancy,
                        "object_name": "q1.csv"}),
    ])
    assert storage.calls["get_bucket_details"]["name"] == bucket
    assert names(storage.calls["list_objects"]["objects"], "name") == {obj}
    assert "BucketNotFound" in storage.errors["get_object"]  # someone else's bucket
    identity = session(chain, user, "identity", [
        ("list_availability_domains", {"compartment_id": tenancy}),
        ("get_tenancy", {"tenancy_id": tenancy}),
    ])
    assert identity.ok, identity.errors
    assert len(identity.calls["list_availability_domains"]) == 3
    assert identity.calls["get_tenancy"]["name"] == "sandbox-tenancy"
    compute = session(chain, user, "compute", [
        ("list_instances", {"compartment_id": cid}),
        ("get_instance", {"instance_id": seeded[other_inst]}),
    ])
    assert names(compute.calls["list_instances"], "display_name") == {inst}
    assert "NotAuthorizedOrNotFound" in compute.errors["get_instance"]
    network = session(chain, user, "networking", [
        ("list_vcns", {"compartment_id": cid}),
        ("list_subnets", {"compartment_id": seeded["shared"]}),
    ])
    assert network.ok, network.errors
    assert len(network.calls["list_vcns"]) == 1
    assert names(network.calls["list_subnets"], "display_name") == {"shared-subnet"}
    upst = [r for r in chain["sb"].requests() if r.get("auth") == "upst"]
    assert user in {r["principal"] for r in upst}
    assert all(r["scheme"] == "https" for r in upst)
