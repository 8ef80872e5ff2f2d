"""`oci-mcp demo`: the README quick start passes as a real CLI run and cleans up after itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_json_proves_each_user_sees_their_own(tmp_path: Path) -> None:
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("oci-mcp-demo-*"))
    result = subprocess.run(
        [sys.executable, "-m", "oci_mcp_cli", "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["problems"] == []
    assert [s["stage"] for s in data["stages"]] == [
        "sandbox",
        "init + trust",
        "serve",
        "test-client as alice + bob",
    ]
    alice, bob = data["users"]["alice"]["calls"], data["users"]["bob"]["calls"]
    assert alice["whoami"]["user_name"] == "alice" and bob["whoami"]["user_name"] == "bob"
    assert alice["whoami"]["user_ocid"] != bob["whoami"]["user_ocid"]
    assert {c["name"] for c in alice["list_compartments"]} == {
        "engineering",
        "engineering-dev",
        "shared",
    }
    assert {c["name"] for c in bob["list_compartments"]} == {"finance", "shared"}
    for stage in ("sandbox", "init + trust", "serve", "test-client as alice + bob"):
        assert stage in result.stderr  # each stage printed with its time
    assert not re.search(r"eyJ[\w-]{4,}\.[\w-]{4,}\.", result.stdout + result.stderr)
    assert not (tmp_path / ".env").exists()  # nothing written to the working directory
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("oci-mcp-demo-*")) == before
