"""Chaos (issue 18, item 4): the `test-client` relogin sequence. A `--relogin` swaps a freshly
signed-in token cache into place; every run after it must still read that cache (the store's
``*-info.json`` metadata used to keep pointing at the renamed ``….relogin-<pid>`` directory, so
each later run failed with ``PathSecurityError``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_cli

from oci_mcp_cli.testing import McpStack

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpStack]:
    with McpStack(state_dir=tmp_path_factory.mktemp("chaos-relogin")) as st:
        yield st


def whoami(st: McpStack, data_dir: Path, *extra: str, password: str | None) -> Any:
    env = {"OCI_MCP_DATA_DIR": str(data_dir), "OCI_MCP_PASSWORD": password,
           "OCI_MCP_USERNAME": None}
    return run_cli("test-client", "--url", st.server_url + "/mcp", "--username", "alice",
                   *extra, "--call", "whoami", "--json", env=env)


def test_every_run_after_a_relogin_uses_the_new_cache(stack: McpStack, tmp_path: Path) -> None:
    pw = next(u["password"] for u in stack.sandbox.users if u["username"] == "alice")
    sequence = [("sign in", (), pw), ("cached", (), None), ("relogin", ("--relogin",), pw),
                ("cached after relogin", (), None), ("relogin again", ("--relogin",), pw),
                ("cached after the second relogin", (), None)]
    failures = []
    for label, extra, password in sequence:
        stack.sandbox.clear_requests()
        result = whoami(stack, tmp_path, *extra, password=password)
        if result.returncode != 0 or '"user_name": "alice"' not in result.stdout:
            failures.append(f"{label}: exit {result.returncode}: {result.stderr.strip()[-300:]}")
            continue
        signed_in = [r for r in stack.sandbox.requests() if r["path"].endswith("/authorize")]
        if password is None and signed_in:
            failures.append(f"{label}: signed in again instead of using the cache")
    assert not failures, "GUARANTEE relogin-sequence: " + "; ".join(failures)
    tokens = tmp_path / "client" / "tokens"
    leftovers = [p.name for p in tokens.iterdir() if "." in p.name]
    assert not leftovers, f"GUARANTEE relogin-sequence: staging directories left: {leftovers}"
    for info in tokens.glob("*/*-info.json"):
        recorded = Path(json.loads(info.read_text())["directory"])
        assert recorded.parent == info.parent.resolve(), (
            f"GUARANTEE relogin-sequence: {info} points outside its cache: {recorded}")
