"""`oci-mcp init` in a real terminal (tmux): prompts, answers, spinners that never overwrite them.

Needs tmux (Debian package; `.ci/run` installs it). The prompts are questionary's, driven by
send-keys exactly as a person would type; the screen is read back with capture-pane.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import need_tool

from oci_mcp_cli.core.envfile import load_env
from oci_mcp_cli.core.files import file_mode


@pytest.fixture(autouse=True)
def _tmux() -> None:
    """Every test here needs tmux: skipped without it locally, a failure under CI=true."""
    need_tool("tmux", "drives `init` in a real terminal; Debian: apt-get install tmux")


class Terminal:
    """One tmux session running one command, 120x40."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.name = f"ocimcp-{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "TMUX")}
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "120", "-y", "40", "-c",
             str(cwd), f"unset CI; {command}; echo EXIT=$?; sleep 600"],
            check=True, env=env,
        )

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-t", self.name, "-p"], capture_output=True, text=True,
            check=True,
        ).stdout

    def wait_for(self, text: str, timeout: float = 60) -> str:
        """Poll the screen (a readiness check, not a sleep) until ``text`` shows up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def test_interactive_init_picks_the_domain_and_asks_before_writing(
    sandbox: object, tmp_path: Path, terminal: list[Terminal]
) -> None:
    sb = sandbox
    cli = f"{shlex.quote(sys.executable)} -m oci_mcp_cli"
    command = (
        f"OCI_MCP_RETRY_BASE_SECONDS=0.01 {cli} init --config-file {shlex.quote(sb.config_file)} "
        f"--profile {sb.profile} --server-url http://127.0.0.1:8765"
    )
    term = Terminal(command, tmp_path)
    terminal.append(term)

    screen = term.wait_for("Which identity domain?")
    assert "reading the identity domain" not in screen  # the spinner is paused for the prompt
    term.keys("Down", "Enter")  # the second domain: Secondary
    screen = term.wait_for("Turn it on?")
    assert "Which identity domain? Secondary" in screen
    term.keys("Enter")  # default yes
    screen = term.wait_for("Apply these changes?")
    assert "init Secondary — plan" in screen
    assert not (tmp_path / ".env").exists()  # nothing written before the confirmation
    term.keys("Enter")
    screen = term.wait_for("Launch `oci-mcp serve`")
    assert "✓ app" in screen and "✓ trust" in screen
    term.keys("Enter")  # default no
    term.wait_for("EXIT=0")

    env = load_env(tmp_path / ".env")
    secondary = next(d["url"] for d in sb.domains if d["display_name"] == "Secondary")
    assert env.domain_url == secondary
    assert file_mode(tmp_path / ".env") == 0o600
    assert env.get("IAM_CLIENT_SECRET") not in term.screen()


def test_declining_the_confirmation_changes_nothing(
    sandbox: object, tmp_path: Path, terminal: list[Terminal]
) -> None:
    sb = sandbox
    cli = f"{shlex.quote(sys.executable)} -m oci_mcp_cli"
    default = next(d["url"] for d in sb.domains if d["type"] == "DEFAULT")
    term = Terminal(
        f"{cli} init --config-file {shlex.quote(sb.config_file)} --profile {sb.profile} "
        f"--domain-url {default} --no-open-jwks",
        tmp_path,
    )
    terminal.append(term)
    term.wait_for("Apply these changes?")
    sb.clear_requests()
    term.keys("n", "Enter")
    screen = term.wait_for("EXIT=")
    assert "aborted: nothing was changed" in screen
    assert "EXIT=1" in screen
    writes = [r for r in sb.requests() if r["method"] in {"POST", "PUT", "PATCH", "DELETE"}]
    assert writes == []
    assert not (tmp_path / ".env").exists()
