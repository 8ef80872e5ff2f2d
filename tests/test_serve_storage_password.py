"""`serve --storage redis://:password@…` typed on the command line warns, as `--password` does
(issue 18 item 6): the password shows in `ps` and shell history. The warning never repeats it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run_cli

SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    "url", [f"redis://:{SECRET}@127.0.0.1:9/0", f"rediss://default:{SECRET}@127.0.0.1:9"]
)
def test_a_password_in_storage_on_the_command_line_warns(tmp_path: Path, url: str) -> None:
    # No .env: serve stops right after parsing, which is all this needs.
    done = run_cli("serve", "--env-file", str(tmp_path / ".env"), "--storage", url)
    assert "the password in --storage is visible to other users" in done.stderr
    assert "OCI_MCP_STORAGE" in done.stderr  # how to fix: keep the URL in the 0600 .env
    assert SECRET not in done.stdout + done.stderr
    assert done.returncode == 2  # the missing .env, reported after the warning


@pytest.mark.parametrize("url", ["redis://127.0.0.1:9/0", "file:///tmp/x"])
def test_no_password_no_warning(tmp_path: Path, url: str) -> None:
    done = run_cli("serve", "--env-file", str(tmp_path / ".env"), "--storage", url)
    assert "visible to other users" not in done.stderr
    assert done.returncode == 2


def test_the_warning_is_a_json_record_with_a_json_log(tmp_path: Path) -> None:
    """``--log-format json``: the warning is a JSON record on standard error, like the log."""
    import json

    done = run_cli("serve", "--env-file", str(tmp_path / ".env"), "--log-format", "json",
                   "--storage", f"redis://:{SECRET}@127.0.0.1:9/0")
    first = done.stderr.splitlines()[0]
    record = json.loads(first)
    assert record["level"] == "WARNING" and record["logger"] == "oci_mcp.server"
    assert record["message"].startswith("the password in --storage is visible to other users")
    assert SECRET not in done.stdout + done.stderr
    assert done.returncode == 2
