"""The local Node.js against what a client run through ``npx`` needs (its npm ``engines``)."""

from __future__ import annotations

import re
import shutil
import subprocess

from oci_mcp_cli.clientconfig.clients import ClientSpec

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``v22.19.0`` → ``(22, 19, 0)``; None when it is not a version."""
    match = _VERSION.match(text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def local_node() -> str | None:
    """``node --version`` of the ``node`` on PATH; None when there is none (or it does not run)."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def node_warning(spec: ClientSpec) -> str | None:
    """What to tell the user when ``spec`` needs a newer Node.js than the local one (or none)."""
    if spec.node is None:
        return None
    needs = f"{spec.title} needs Node.js ≥ {spec.node}"
    major = spec.node.split(".")[0]
    fix = f"install Node.js {spec.node} or later (e.g. `nvm install {major}`), then run the command"
    found = local_node()
    if found is None:
        return f"warning: node was not found on PATH; {needs} (npx comes with it): {fix}"
    version = parse_version(found)
    wanted = parse_version(spec.node)
    if version is None or wanted is None or version >= wanted:
        return None
    return (f"warning: {needs} and this machine has Node.js {found}: npx would run it on an "
            f"unsupported Node (an unpinned npx even picks an old Inspector without OAuth "
            f"sign-in): {fix}")
