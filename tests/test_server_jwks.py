"""JWKS closed (signingCertPublicAccess off) end to end: sign-in works but every MCP call is a
``401 invalid_token``. The test client explains that and points at `oci-mcp doctor`, the server
logs a WARNING naming the cause and keeps serving, and calls succeed once the JWKS is public again.

The real CLI test client (subprocess) against a real in-process server and the sandbox; the JWKS is
closed through the SDK (patch_setting) before the server first fetches keys.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from oauth_flow import admin_domains_client, password, set_public_jwks
from serve_support import provisioned_sandbox

from oci_mcp_cli.server.app import ServerThread
from oci_mcp_cli.server.config import load_settings

pytestmark = pytest.mark.e2e


def test_closed_jwks_is_explained_server_keeps_serving_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with provisioned_sandbox(tmp_path) as (sb, env_file, _):
        settings = dataclasses.replace(
            load_settings(env_file, storage_dir=tmp_path / "oauth"), jwks_retry_s=0.5
        )
        idc = admin_domains_client(sb, settings.domain_url)
        set_public_jwks(idc, False)
        alice_password = password(sb, "alice")

        def client() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "oci_mcp_cli", "test-client", "--url"]
                + [settings.server_url + "/mcp", "--username", "alice", "--call", "whoami"]
                + ["--json"],
                capture_output=True,
                text=True,
                timeout=120,
                env={
                    **os.environ,
                    "OCI_MCP_PASSWORD": alice_password,
                    "OCI_MCP_DATA_DIR": str(tmp_path / "data"),
                },
            )

        with caplog.at_level("WARNING", logger="oci_mcp.server"), ServerThread(settings):
            failed = client()
            assert failed.returncode == 1, failed.stderr
            assert "signed in, but" in failed.stderr and "401 invalid_token" in failed.stderr
            assert "oci-mcp doctor" in failed.stderr and "JWKS" in failed.stderr
            assert "Traceback" not in failed.stderr
            warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
            assert any("not publicly readable" in w and "401 invalid_token" in w for w in warnings)
            health = httpx.get(settings.server_url + "/health", timeout=10)
            assert health.status_code == 200  # still serving

            set_public_jwks(idc, True)
            # FastMCP retries a failed key fetch after jwks_retry_s: poll until a call succeeds.
            deadline = time.monotonic() + 60
            again = client()
            while again.returncode != 0 and time.monotonic() < deadline:
                again = client()
            assert again.returncode == 0, again.stderr
            assert json.loads(again.stdout)["calls"]["whoami"]["user_name"] == "alice"
            messages = [r.getMessage() for r in caplog.records]
            assert any("readable again" in m for m in messages)
