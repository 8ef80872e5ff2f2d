"""`client-config --for inspector` (issue 18 item 6): the printed command pins an MCP Inspector
that signs in with OAuth, and says so on stderr when the local Node.js is older than that
Inspector's ``engines``. On Node 20, an unpinned ``npx`` resolves to Inspector 0.15.0, whose CLI
has no OAuth (401 → "Failed to connect"); the pinned 2.12.0 runs there only unsupported (npm's
EBADENGINE warnings). Checked by hand against `oci-mcp demo`: the printed command signs alice in
and lists the tools on Node 22.23.3 (the npm ``node`` package) — no test depends on npm here."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from cli_support import run_cli

URL = "https://mcp.example.com"
# @modelcontextprotocol/inspector 2.12.0: `npm view @modelcontextprotocol/inspector@2.12.0
# engines` → node >=22.19.0; its CLI signs in with OAuth (2.x); 1.x's --cli mode cannot.
PINNED = "@modelcontextprotocol/inspector@2.12.0"
NEEDS = "Node.js ≥ 22.19.0"


def fake_node(tmp_path: Path, version: str) -> Path:
    """A directory whose ``node`` answers ``--version`` with ``version``. A fake because only one
    Node can be installed here (20.x); the check only runs ``node --version``."""
    folder = tmp_path / f"node-{version}"
    folder.mkdir()
    script = folder / "node"
    script.write_text(f"#!/bin/sh\necho {version}\n")
    script.chmod(0o755)
    return folder


def inspector(path: Path | str, *extra: str):  # noqa: ANN201
    return run_cli("client-config", "--for", "inspector", "--url", URL, *extra,
                   env={"PATH": str(path)})


def test_the_command_pins_an_inspector_with_oauth(tmp_path: Path) -> None:
    done = inspector(fake_node(tmp_path, "v22.19.0"))
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    assert argv[:4] == ["npx", "-y", PINNED, "--cli"]
    assert argv[4] == URL + "/mcp"


@pytest.mark.parametrize("version", ["v22.19.0", "v22.20.1", "v24.1.0"])
def test_a_new_enough_node_gets_no_warning(tmp_path: Path, version: str) -> None:
    done = inspector(fake_node(tmp_path, version))
    assert done.returncode == 0
    assert "Node.js" not in done.stderr


@pytest.mark.parametrize("version", ["v20.20.2", "v22.7.5", "v18.0.0"])
def test_an_old_node_is_named_with_the_requirement(tmp_path: Path, version: str) -> None:
    done = inspector(fake_node(tmp_path, version))
    assert done.returncode == 0  # the command is still printed (to stdout, as before)
    assert shlex.split(done.stdout)[:3] == ["npx", "-y", PINNED]
    assert NEEDS in done.stderr and version in done.stderr
    assert "nvm install 22" in done.stderr  # how to fix
    payload = json.loads(inspector(tmp_path / f"node-{version}", "--json").stdout)
    assert payload["requires_node"] == ">=22.19.0"


def test_no_node_on_path_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = inspector(empty)
    assert done.returncode == 0
    assert "node was not found on PATH" in done.stderr and NEEDS in done.stderr


def test_other_clients_do_not_look_for_node(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_cli("client-config", "--for", "vscode", "--url", URL, env={"PATH": str(empty)})
    assert done.returncode == 0 and done.stderr == ""
