"""What a `serve` start imports and does before `/health` (issue 22, stop 20).

The real `oci-mcp serve` (the CLI, its defaults, metrics on) on a provisioned sandbox, started in
a child that reports its ``sys.modules`` on SIGUSR1; asked once `/health` answers 200. What a
start does not need, it must not import: httpx (the server's own HTTP — discovery, JWKS check,
userinfo — goes through httpx2, the library FastMCP already uses, with one TLS context) and
griffe (FastMCP's docstring parser: the built-in tools' descriptions are given, not parsed). The
SDK stays imported before `/health` (reliability: tests/test_chaos_cold_start.py). Numbers:
docs/benchmarks.md, "Serve start (stop 20)". Real CLI, real server, real SDK, real HTTP against
the sandbox.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.core.waiting import poll_until
from oci_mcp_cli.orchestration.serve_process import ServeProcess

pytestmark = pytest.mark.e2e

# `python -m oci_mcp_cli <args>` (as cli_command runs it) that writes its sys.modules to a file
# on SIGUSR1 (written whole, then renamed: the test never reads half a list).
REPORTER = """
import json, os, runpy, signal, sys
out = sys.argv[1]
def report(*_):
    with open(out + ".tmp", "w") as f:
        json.dump(sorted(name for name, module in sys.modules.items() if module is not None), f)
    os.replace(out + ".tmp", out)
signal.signal(signal.SIGUSR1, report)
sys.argv = ["oci-mcp", *sys.argv[2:]]
runpy.run_module("oci_mcp_cli", run_name="__main__", alter_sys=True)
"""
REPORT_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from serve_support import provisioned_sandbox

    with provisioned_sandbox(tmp_path_factory.mktemp("start-imports")) as stack:
        yield stack


@pytest.fixture(scope="module")
def started_modules(provisioned: Any, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The modules of a `serve` that started and answered `/health` (nothing else asked)."""
    from serve_support import wait_healthy

    _sb, env_file, _url = provisioned
    tmp = tmp_path_factory.mktemp("serve")
    out, port = tmp / "modules.json", free_port()
    argv = [sys.executable, "-c", REPORTER, str(out), "serve", "--env-file", str(env_file),
            "--storage-dir", str(tmp / "oauth"), "--port", str(port),
            "--metrics-port", str(free_port())]
    with (tmp / "serve.log").open("w") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        with ServeProcess(proc, f"http://127.0.0.1:{port}", stop_grace=15):
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            proc.send_signal(signal.SIGUSR1)
            assert poll_until(out.exists, timeout=REPORT_TIMEOUT_S), (tmp / "serve.log").read_text()
    return set(json.loads(out.read_text()))


def under(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if m in roots or m.startswith(tuple(r + "." for r in roots)))


def test_serve_start_keeps_the_sdk_ready(started_modules: set[str]) -> None:
    """The guard against a vacuous pass: the report is of a started server, SDK warmed."""
    assert {"oci", "oci.identity", "oci.object_storage", "fastmcp", "uvicorn"} <= started_modules


def test_serve_start_imports_no_httpx(started_modules: set[str]) -> None:
    assert under(started_modules, "httpx", "httpcore") == []
    assert "httpx2" in started_modules  # FastMCP's HTTP library, which the server uses too


def test_serve_start_parses_no_docstrings_with_griffe(started_modules: set[str]) -> None:
    assert under(started_modules, "griffe") == []


def test_serve_start_skips_caios_linux_aio_probe(started_modules: set[str]) -> None:
    """caio's Linux AIO backend (its import probes io_setup/io_destroy: ≈ 40 ms in the kernel
    with the GIL held) is not loaded; the file store runs on caio's thread implementation."""
    assert "caio.thread_aio" in started_modules and "aiofile" in started_modules
    assert under(started_modules, "caio.linux_aio", "caio.linux_aio_asyncio") == []


CAIO_CHOICE = """
import sys
import oci_mcp_cli.server.storage as storage
print(storage.no_busy_polling_file_io(), sys.modules.get("caio.linux_aio") is not None)
"""


@pytest.mark.parametrize(("caio_impl", "expected"),
                         [(None, "thread False"), ("thread", "thread False"),
                          ("linux", "linux True")])
def test_caio_linux_aio_loads_when_asked_for(caio_impl: str | None, expected: str) -> None:
    """Only the server's own choice (thread) skips the Linux AIO backend: ``CAIO_IMPL=linux``
    still gets it."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "CAIO_IMPL"}
    if caio_impl:
        env["CAIO_IMPL"] = caio_impl
    result = subprocess.run([sys.executable, "-c", CAIO_CHOICE], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == expected


def test_builtin_tools_describe_themselves_with_their_docstrings(provisioned: Any,
                                                                 tmp_path: Path) -> None:
    """What griffe would have parsed out of the docstrings is what the tools say: the whole
    docstring (none has an Args/Returns section) and the parameters' Field descriptions."""
    from oci_mcp_cli.server import tools
    from oci_mcp_cli.server.app import build_server
    from oci_mcp_cli.server.config import load_settings

    _sb, env_file, _url = provisioned
    settings = load_settings(env_file, storage_dir=tmp_path / "oauth", audit_log="off")
    mcp = build_server(settings)
    listed = {tool.name: tool for tool in asyncio.run(mcp.list_tools())}
    assert set(listed) == {"whoami", "list_regions", "get_namespace", "list_compartments",
                           "list_buckets"}
    for name, tool in listed.items():
        assert tool.description == inspect.getdoc(getattr(tools, name)), name
    params = listed["list_buckets"].parameters["properties"]
    assert params["compartment_id"]["description"] == (
        "OCID of the compartment (from list_compartments).")
    assert params["region"]["description"].startswith("OCI region identifier")


def test_start_up_fetches_verify_tls_with_httpx2_trust(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery and the JWKS check, now through httpx2, still verify the domain's certificate:
    over HTTPS on the domain's real hostname (the transparent sandbox, through its proxy) they
    succeed with the sandbox CA trusted (``SSL_CERT_FILE``, as `oci-mcp sandbox env` sets it) and
    fail with a certificate error when it is not — the trust FastMCP's own upstream calls use."""
    import httpx2

    from oci_mcp_cli.core import tlscontext
    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.server.config import ServerSettings
    from oci_mcp_cli.server.startup import Prefetch

    with Sandbox(state_dir=tmp_path_factory.mktemp("tls")) as sb:
        domain = next(d for d in sb.domains if d["type"] == "DEFAULT")["https_url"]
        settings = ServerSettings(
            domain_url=domain, client_id="c", client_secret="s", exchange_client_id="e",
            exchange_client_secret="s", server_url="http://127.0.0.1:8000", redirect_path="/cb",
            jwt_signing_key="not-a-secret-of-any-server")
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                     "no_proxy", "SSL_CERT_DIR"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTPS_PROXY", sb.proxy_url)
        monkeypatch.setenv("SSL_CERT_FILE", sb.ca_file)
        tlscontext.clear()
        trusted = Prefetch(settings).start()
        assert trusted.discovery()["jwks_uri"].startswith(domain)
        # answered over verified TLS (a domain nobody provisioned keeps its JWKS private)
        assert trusted.jwks_response().status_code == 401

        monkeypatch.delenv("SSL_CERT_FILE")
        untrusted = Prefetch(settings).start()
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.discovery()
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.jwks_response()
    tlscontext.clear()
