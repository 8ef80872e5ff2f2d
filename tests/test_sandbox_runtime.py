"""Running the sandbox: persistence, the CLI, the written OCI config, faults, the request log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import oci
import pytest
from oci.identity_domains import IdentityDomainsClient
from proc_support import STOP_TIMEOUT_S, Drain

from oci_mcp_cli.core.files import file_mode
from oci_mcp_cli.core.urls import is_loopback_host
from oci_mcp_cli.sandbox import Sandbox

NO_RETRY = oci.retry.NoneRetryStrategy()
APP = "urn:ietf:params:scim:schemas:oracle:idcs:App"


def clients(sb: Sandbox) -> tuple[Any, Any]:
    config = oci.config.from_file(sb.config_file, "SANDBOX")
    identity = oci.identity.IdentityClient(config, service_endpoint=sb.url, retry_strategy=NO_RETRY)
    domains = identity.list_domains(compartment_id=config["tenancy"]).data
    scim = IdentityDomainsClient(config, domains[0].url, retry_strategy=NO_RETRY)
    return identity, scim


def test_state_survives_a_restart(tmp_path: Path) -> None:
    with Sandbox(state_dir=tmp_path) as sb:
        _, scim = clients(sb)
        app = scim.create_app(
            app={
                "schemas": [APP],
                "displayName": "kept",
                "basedOnTemplate": {"value": "CustomWebAppTemplateId"},
                "clientType": "confidential",
            }
        ).data
        first = (sb.tenancy_id, sb.domains, sb.users)
    with Sandbox(state_dir=tmp_path) as sb:
        _, scim = clients(sb)  # the rewritten profile (new ports) still signs with the same key
        again = scim.get_app(app.id).data
        assert (again.name, again.client_secret) == (app.name, app.client_secret)
        assert sb.tenancy_id == first[0]
        assert [d["guid"] for d in sb.domains] == [d["guid"] for d in first[1]]
        assert sb.users == first[2]
    with Sandbox(state_dir=tmp_path, reset=True) as sb:
        assert sb.tenancy_id != first[0]


def test_written_files_are_private_and_profile_names_the_endpoint(sandbox: Sandbox) -> None:
    state_dir = Path(sandbox.config_file).parent
    for path in [Path(sandbox.config_file), *state_dir.glob("*.pem"), state_dir / "state.json"]:
        assert file_mode(path) == 0o600, path
    config = oci.config.from_file(sandbox.config_file, "SANDBOX")
    assert config["oci_mcp_endpoint"] == sandbox.url
    assert Path(config["key_file"]).is_absolute()
    assert config["region"] == "us-ashburn-1"


def test_non_loopback_host_is_refused() -> None:
    from oci_mcp_cli.core.errors import UserError

    with pytest.raises(UserError, match="non-loopback"):
        Sandbox(host="0.0.0.0")


def test_faults_fail_then_succeed_and_429_has_retry_after(sandbox: Sandbox) -> None:
    identity, scim = clients(sandbox)
    sandbox.fault("GET", "/20160918/regions", 500)
    with pytest.raises(oci.exceptions.ServiceError) as info:
        identity.list_regions()
    assert (info.value.status, info.value.code) == (500, "InternalServerError")
    assert identity.list_regions().data  # count=1: the next call succeeds
    sandbox.fault("*", "/admin/v1/*", 429, count=2)
    for _ in range(2):
        with pytest.raises(oci.exceptions.ServiceError) as info:
            scim.list_apps()
        assert info.value.status == 429
        assert info.value.headers["Retry-After"]
        assert "429" in info.value.args[0]["detail"]  # SCIM error body for a SCIM path
    assert scim.list_apps().data.total_results == 0
    sandbox.fault("GET", "/20160918/regions", 0, delay_s=0.05)  # delay only, then served
    assert identity.list_regions().data


def test_sdk_retry_strategy_rides_over_a_fault(sandbox: Sandbox, monkeypatch: Any) -> None:
    from oci_mcp_cli.core.ociconfig import load_oci_auth, oci_client

    monkeypatch.setenv("OCI_MCP_RETRY_BASE_SECONDS", "0.01")
    client = oci_client(oci.identity.IdentityClient, load_oci_auth(sandbox.config_file, "SANDBOX"))
    sandbox.fault("GET", "/20160918/regions", 503, count=2)
    assert client.list_regions().data
    statuses = [r["status"] for r in sandbox.requests() if r["path"] == "/20160918/regions"]
    assert statuses == [503, 503, 200]


def test_bad_fault_and_config_requests_are_400(sandbox: Sandbox) -> None:
    assert httpx.post(f"{sandbox.url}/_sandbox/faults", json={"status": 500}).status_code == 400
    assert (
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"path": "/x", "status": 200}).status_code
        == 400
    )
    assert httpx.post(f"{sandbox.url}/_sandbox/config", json={"nope": 1}).status_code == 400
    assert sandbox.set_config(access_token_ttl_s=5)["access_token_ttl_s"] == 5


def test_clock_skew_is_configurable(sandbox: Sandbox) -> None:
    identity, _ = clients(sandbox)
    sandbox.set_config(clock_skew_s=1)
    assert identity.list_regions().data  # a fresh signature is well within 1 s


def test_request_log(sandbox: Sandbox) -> None:
    identity, scim = clients(sandbox)
    sandbox.clear_requests()
    identity.list_regions()
    scim.list_apps()
    httpx.get(f"{sandbox.url}/20160918/regions")
    log = sandbox.requests()
    assert [(r["method"], r["path"], r["status"], r["principal"]) for r in log] == [
        ("GET", "/20160918/regions", 200, "sandbox-admin"),
        ("GET", "/admin/v1/Apps", 200, "sandbox-admin"),
        ("GET", "/20160918/regions", 401, None),
    ]
    assert log[1]["domain"] == sandbox.domains[0]["guid"]
    assert all("grant_type" in r for r in log)
    sandbox.clear_requests()
    assert sandbox.requests() == []


def test_unknown_route_is_oci_json_404(sandbox: Sandbox) -> None:
    response = httpx.get(f"{sandbox.url}/20160918/nothing")
    assert response.status_code == 404
    assert response.json()["code"] == "NotAuthorizedOrNotFound"


def test_domain_is_also_reachable_under_its_guid_on_the_main_port(sandbox: Sandbox) -> None:
    guid = sandbox.domains[0]["guid"]
    response = httpx.get(f"{sandbox.url}/{guid}/admin/v1/Apps")
    assert response.status_code == 401  # routed to the SCIM API, which wants a signature


def test_cli_prints_one_json_line_and_exits_0_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oci_mcp_cli",
            "sandbox",
            "--json",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    errors = Drain(proc.stderr)  # read all along: an unread pipe can block the sandbox
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, errors.text()
        info = json.loads(line)
        assert {"url", "config_file", "profile", "tenancy_id", "domains", "users"} <= set(info)
        assert info["profile"] == "SANDBOX"
        assert [d["type"] for d in info["domains"]] == ["DEFAULT", "SECONDARY"]
        assert all(u["username"] and u["password"] for u in info["users"])
        assert is_loopback_host(httpx.URL(info["url"]).host)
        config = oci.config.from_file(info["config_file"], info["profile"])
        client = oci.identity.IdentityClient(
            config, service_endpoint=info["url"], retry_strategy=NO_RETRY
        )
        assert client.get_tenancy(info["tenancy_id"]).data.name == "sandbox-tenancy"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=STOP_TIMEOUT_S)  # not communicate(): Drain reads stderr
        out = proc.stdout.read()
        assert proc.returncode == 0
        assert out.strip() == ""  # exactly one line in total
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_a_remote_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "sandbox", "--host", "0.0.0.0", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "non-loopback" in result.stderr and "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr
