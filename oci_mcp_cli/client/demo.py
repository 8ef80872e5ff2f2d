"""`oci-mcp demo`: sandbox → init (+ trust) → serve → test client as two users, side by side.

Everything runs in this process on free loopback ports with a temporary state directory, and is
stopped and removed at the end (or, with ``keep``, when the caller's ``wait`` returns).
"""

from __future__ import annotations

import contextlib
import socket
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


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _stage(result: DemoResult, name: str, on_stage: StageHook | None) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    result.stages.append((name, seconds))
    if on_stage:
        on_stage(name, seconds)


def provision(sb: Any, env_file: Path, server_url: str) -> None:
    """Run init (login app, JWKS access, identity propagation trust, .env) non-interactively."""
    from oci_mcp_cli.provisioning.init import InitOptions, plan_init
    from oci_mcp_cli.provisioning.plan import apply_plan

    default = next(d for d in sb.domains if d["type"] == "DEFAULT")
    options = InitOptions(
        env_file=env_file,
        config_file=str(sb.config_file),
        profile=sb.profile,
        domain_url=default["url"],
        server_url=server_url,
        open_jwks=True,
    )
    apply_plan(plan_init(options).plan)


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


def run_demo(
    *,
    on_stage: StageHook | None = None,
    keep: bool = False,
    wait: Callable[[DemoResult], None] | None = None,
    users: tuple[str, ...] = DEMO_USERS,
) -> DemoResult:
    """Run the whole demo; with ``keep`` call ``wait(result)`` before stopping everything."""
    import anyio

    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.server.app import ServerThread
    from oci_mcp_cli.server.config import load_settings
    from oci_mcp_cli.server.logs import configure_logging

    result = DemoResult()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oci-mcp-demo-")))
        with _stage(result, "sandbox", on_stage):
            sb = stack.enter_context(Sandbox(state_dir=tmp / "sandbox"))
        result.sandbox_url = sb.url
        known = {u["username"]: u["password"] for u in sb.users}
        result.passwords = {u: known[u] for u in users}
        server_url = f"http://127.0.0.1:{free_port()}"
        env_file = tmp / ".env"
        result.env_file = str(env_file)
        with _stage(result, "init + trust", on_stage):
            provision(sb, env_file, server_url)
        with _stage(result, "serve", on_stage):
            settings = load_settings(env_file, storage_dir=tmp / "oauth", log_level="ERROR")
            configure_logging(settings.log_level, settings.secrets)
            stack.enter_context(ServerThread(settings))
            _check_health(server_url)
        result.mcp_url = server_url + "/mcp"
        with _stage(result, "test-client as " + " + ".join(users), on_stage):
            result.reports = anyio.run(
                _sign_in_all, result.mcp_url, result.passwords, tmp / "client"
            )
        if keep and wait is not None:
            wait(result)
    return result


def _check_health(server_url: str) -> None:
    import httpx

    response = httpx.get(server_url + "/health", timeout=10)
    if response.status_code != 200:
        raise RemoteError(f"{server_url}/health answered HTTP {response.status_code}")
