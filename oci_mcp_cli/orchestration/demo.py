"""`oci-mcp demo`: sandbox → init (+ trust) → serve → test client as two users, side by side.

Everything runs in this process on free loopback ports with a temporary state directory, and is
stopped and removed at the end (or, with ``keep``, when the caller's ``wait`` returns).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oci_mcp_cli.client.session import ClientOptions, ClientReport
from oci_mcp_cli.core.errors import RemoteError

DEMO_USERS = ("alice", "bob")
StageHook = Callable[[str, float], None]


@dataclass
class DemoResult:
    """Per-stage timings, each user's test-client report, and how to reach the server."""

    stages: list[tuple[str, float]] = field(default_factory=list)
    reports: dict[str, ClientReport] = field(default_factory=dict)
    mcp_url: str = ""
    sandbox_url: str = ""
    env_file: str = ""
    passwords: dict[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """Why the demo did not prove per-user identity (empty when it did)."""
        out: list[str] = []
        for user, report in self.reports.items():
            out += [f"{user}: {tool}: {msg}" for tool, msg in report.errors.items()]
            who = report.calls.get("whoami") or {}
            if who.get("user_name") != user:
                out.append(f"{user}: whoami says {who.get('user_name')!r}")
        seen = [
            frozenset(c["name"] for c in r.calls.get("list_compartments") or [])
            for r in self.reports.values()
        ]
        if len(seen) == 2 and seen[0] == seen[1]:
            out.append("both users see the same compartments")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems(),
            "stages": [{"stage": s, "seconds": round(t, 3)} for s, t in self.stages],
            "users": {u: r.as_json() for u, r in self.reports.items()},
            "problems": self.problems(),
        }


@contextlib.contextmanager
def _stage(result: DemoResult, name: str, on_stage: StageHook | None) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    result.stages.append((name, seconds))
    if on_stage:
        on_stage(name, seconds)


async def _sign_in_all(url: str, passwords: dict[str, str], cache_root: Path) -> dict[str, Any]:
    import anyio

    from oci_mcp_cli.client.session import run_session

    reports: dict[str, ClientReport] = {}
    failures: dict[str, Exception] = {}

    async def one(user: str) -> None:
        options = ClientOptions(
            url=url, username=user, password=passwords[user], cache_root=cache_root
        )
        try:
            reports[user] = await run_session(options)
        except Exception as exc:  # reported below, one clear error instead of an exception group
            failures[user] = exc

    async with anyio.create_task_group() as group:
        for user in passwords:
            group.start_soon(one, user)
    if failures:
        user, exc = next(iter(failures.items()))
        message = getattr(exc, "message", str(exc))
        raise RemoteError(
            f"test client as {user} failed: {message}", hint=getattr(exc, "hint", None)
        )
    return {u: reports[u] for u in passwords}


def _request_stop(*running: Any) -> None:
    """Tell every server to stop, without waiting (each one's ``stop()`` waits later)."""
    for each in running:
        each.request_stop()


def run_demo(
    *,
    on_stage: StageHook | None = None,
    keep: bool = False,
    wait: Callable[[DemoResult], None] | None = None,
    users: tuple[str, ...] = DEMO_USERS,
) -> DemoResult:
    """Run the whole demo; with ``keep`` call ``wait(result)`` before stopping everything."""
    import anyio

    from oci_mcp_cli.core.waiting import wait_until_url
    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.server.app import ServerThread
    from oci_mcp_cli.server.config import load_settings
    from oci_mcp_cli.server.logs import configure_logging
    from oci_mcp_cli.testing.provision import provision_local_server

    result = DemoResult()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oci-mcp-demo-")))
        with _stage(result, "sandbox", on_stage):
            sb = stack.enter_context(Sandbox(state_dir=tmp / "sandbox"))
        result.sandbox_url = sb.url
        known = {u["username"]: u["password"] for u in sb.users}
        result.passwords = {u: known[u] for u in users}
        env_file = tmp / ".env"
        result.env_file = str(env_file)
        with _stage(result, "init + trust", on_stage):
            sock, server_url = provision_local_server(sb, env_file)  # the port is ours already
            stack.callback(sock.close)
        with _stage(result, "serve", on_stage):
            settings = load_settings(env_file, storage_dir=tmp / "oauth", log_level="ERROR")
            configure_logging(settings.log_level, settings.secrets)
            server = stack.enter_context(ServerThread(settings, sock=sock))
            # on the way out both are told to stop first, then each is waited for: their
            # shutdowns (uvicorn's tick and drain, ~0.1-0.2 s each) overlap
            stack.callback(_request_stop, server, sb)
            wait_until_url(server_url + "/health", timeout=10, what="the MCP server")
        result.mcp_url = server_url + "/mcp"
        with _stage(result, "test-client as " + " + ".join(users), on_stage):
            result.reports = anyio.run(
                _sign_in_all, result.mcp_url, result.passwords, tmp / "client"
            )
        if keep and wait is not None:
            wait(result)
    return result
