"""Chaos (issue 18, items 1 and 7): cold-start bursts on an OAuth store with history.

A rolling restart under load: ``oci-mcp serve`` restarts on a store that holds a few hundred
client registrations and two signed-in users, and the first thing it sees is a burst of
concurrent ``tools/call`` — the built-in tools and an ``--app`` user module whose tools import
OCI SDK packages lazily (in the call). Before the fix, the first import of ``oci`` and its
packages ran in several worker threads at once, and a few restarts in ten broke every call of
every user until the process was restarted (``cannot import name … from partially initialized
module``, ``deadlock detected by _ModuleLock``).

One sandbox, one provisioned .env and one store history for the module; only ``serve`` restarts.
Real CLI, real server, real SDK over real HTTP. Injected, because no service can make Python's
import machinery fail on demand: an import that fails half-way inside a call, an SDK module
missing from the installation, and (the guard on its own) a small package that imports itself
in circles as the SDK does.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from oauth_flow import password
from serve_support import REDIRECT, initialize_request, provisioned_sandbox, sign_in

from oci_mcp_cli.orchestration.serve_process import ServeProcess, start_serve

pytestmark = [pytest.mark.chaos, pytest.mark.e2e]

RESTARTS = 10
BURST = 32
HISTORY = 300  # client registrations in the store before the restarts (a server in production)
USERS = ("alice", "bob")
BUILT_IN = ("whoami", "get_namespace", "list_compartments", "list_regions")
APP_TOOLS = ("compute_client", "compute_model", "database_client", "database_model")
ACCEPT = "application/json, text/event-stream"
TEXT = re.compile(r'"text":"((?:[^"\\]|\\.)*)"')  # a tool result's text in the SSE answer

# The user's own tools: nothing of `oci` is imported when the module loads, every SDK package is
# imported in the call (as a tool author writing `from oci.core import ComputeClient` in the
# function does).
USER_APP = '''
"""A user's FastMCP server whose tools import OCI SDK packages lazily."""
from fastmcp import FastMCP

from oci_mcp_cli.server.clients import oci_client

mcp = FastMCP("cold-start-app")


@mcp.tool
def compute_client() -> str:
    """A compute client for the signed-in user (its package imported first)."""
    from oci.core import ComputeClient

    return type(oci_client(ComputeClient)).__name__


@mcp.tool
def compute_model() -> str:
    """A model of oci.core (its submodule imported first)."""
    from oci.core.models import Instance

    return Instance.__name__


@mcp.tool
def database_client() -> str:
    """A database client for the signed-in user (the SDK's lazy attribute imports it)."""
    import oci

    return type(oci_client(oci.database.DatabaseClient)).__name__


@mcp.tool
def database_model() -> str:
    """A model of oci.database (its submodule imported first)."""
    from oci.database.models import AutonomousDatabaseSummary

    return AutonomousDatabaseSummary.__name__
'''


# A user's tool whose first import of an SDK package fails half-way (its client module loaded, a
# later module of the package not): an import that breaks inside a call, as the concurrent first
# imports did, on demand.
FLAKY_APP = '''
"""A user's tool whose first import of oci.streaming fails half-way."""
import importlib.abc
import sys

from fastmcp import FastMCP

mcp = FastMCP("flaky-import-app")


class _FailOnce(importlib.abc.MetaPathFinder):
    target = "oci.streaming.stream_admin_client"
    failed = False

    def find_spec(self, name, path=None, target=None):
        if name == self.target and not self.failed:
            type(self).failed = True
            raise ImportError(f"injected failure importing {name}", name=name)
        return None


sys.meta_path.insert(0, _FailOnce())


@mcp.tool
def stream_client() -> str:
    """The name of oci.streaming's client class, reached through its module."""
    import oci.streaming

    return oci.streaming.stream_client.StreamClient.__name__
'''

# An installation whose SDK lacks a package the server needs (a sitecustomize on PYTHONPATH
# hides it from the serve process only).
BROKEN_SDK = '''
import importlib.abc
import sys


class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "oci.object_storage":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Missing())
'''


@dataclass
class Stage:
    """A provisioned sandbox, the serve arguments, a store with history, the users' tokens."""

    sb: Any
    url: str
    args: list[str]
    tokens: dict[str, str]
    tmp: Path
    runs: Iterator[int] = field(default_factory=itertools.count)

    def serve(self, app: str = "cold_app") -> ServeProcess:
        """``serve --app <app>`` (re)started on the stage's store; returned once /health
        answers."""
        args = [*self.args, "--app", f"{self.tmp / app}.py:mcp"]
        return start_serve(self.url, args, log_path=self.tmp / f"serve-{next(self.runs)}.log")


def register(http: httpx.Client, url: str, n: int) -> None:
    """``n`` dynamic client registrations (the history a server in production has)."""
    for i in range(n):
        answer = http.post(f"{url}/register", json={
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "client_name": f"history-{i}"})
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module", autouse=True)
def _real_key_derivation() -> Iterator[None]:
    """These servers start as users' do: the million-round key derivation on the start-up thread,
    not FastMCP's test mode (tests/conftest.py), is part of what a first call must not see."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FASTMCP_TEST_MODE", raising=False)
        yield


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    tmp = tmp_path_factory.mktemp("cold")
    (tmp / "cold_app.py").write_text(textwrap.dedent(USER_APP))
    (tmp / "flaky_app.py").write_text(textwrap.dedent(FLAKY_APP))
    with provisioned_sandbox(tmp) as (sb, env_file, url):
        args = ["--env-file", str(env_file), "--storage-dir", str(tmp / "oauth"),
                "--log-level", "WARNING", "--rate-limit", "0"]
        st = Stage(sb, url, args, {}, tmp)
        with st.serve(), httpx.Client(timeout=60) as http:
            register(http, url, HISTORY)
            for user in USERS:
                st.tokens[user] = sign_in(http, url, url, user, password(sb, user)).access_token
        yield st


async def open_session(http: httpx.AsyncClient, url: str, token: str) -> dict[str, str]:
    """An initialized MCP session; the headers of its next requests."""
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    init = await http.post(f"{url}/mcp", json=initialize_request("cold-start"), headers=headers)
    assert init.status_code == 200, init.text
    headers["mcp-session-id"] = init.headers["mcp-session-id"]
    done = await http.post(f"{url}/mcp", headers=headers,
                           json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert done.status_code == 202, done.text
    return headers


async def call(http: httpx.AsyncClient, url: str, headers: dict[str, str], tool: str) -> str:
    """``tools/call`` in an open session; "" when it succeeded, else what went wrong."""
    try:
        answer = await http.post(f"{url}/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": tool, "arguments": {}}})
    except httpx.HTTPError as exc:
        return f"{tool}: {exc.__class__.__name__}: {exc}"
    if answer.status_code == 200 and '"isError":false' in answer.text:
        return ""
    found = TEXT.search(answer.text)
    return f"{tool}: HTTP {answer.status_code}: {found.group(1) if found else answer.text[:400]}"


async def burst(url: str, tokens: dict[str, str], tools: tuple[str, ...]) -> list[str]:
    """``BURST`` clients (the users in turn) at once, each opening a session and making its
    first ``tools/call`` (the tools in turn); what failed."""
    users = itertools.islice(itertools.cycle(tokens.values()), BURST)
    limits = httpx.Limits(max_connections=BURST * 2, max_keepalive_connections=BURST * 2)

    async def first_call(http: httpx.AsyncClient, token: str, tool: str) -> str:
        try:
            session = await open_session(http, url, token)
        except (AssertionError, KeyError, httpx.HTTPError) as exc:
            return f"{tool}: the session did not open: {exc.__class__.__name__}: {exc}"
        return await call(http, url, session, tool)

    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        results = await asyncio.gather(
            *(first_call(http, token, tool) for token, tool in zip(users, itertools.cycle(tools)))
        )
    return [r for r in results if r]


def test_a_burst_of_first_calls_after_each_restart_never_fails(stage: Stage) -> None:
    """``RESTARTS`` restarts on a store with history; after each, ``BURST`` concurrent first
    calls of both users across the built-in tools and lazily importing user tools: all succeed."""
    failures: list[str] = []
    broken = 0
    for restart in range(RESTARTS):
        with stage.serve():
            failed = asyncio.run(burst(stage.url, stage.tokens, BUILT_IN + APP_TOOLS))
        failures += [f"restart {restart}: {f}" for f in failed]
        broken += bool(failed)
    assert not failures, (
        f"GUARANTEE cold-start: {len(failures)} of {RESTARTS * BURST} first calls failed, "
        f"after {broken} of {RESTARTS} restarts:\n" + "\n".join(failures[:12])
    )


def test_an_import_failure_in_a_call_fails_it_clearly_and_the_next_call_succeeds(
    stage: Stage,
) -> None:
    """An import that fails inside a call (injected: the first import of a submodule of
    ``oci.streaming``) fails that call only, with a server-fault message, and leaves no
    half-imported package behind: the next call of the same tool imports it cleanly and
    succeeds."""
    with stage.serve("flaky_app"):
        first, second = asyncio.run(
            sequential(stage.url, stage.tokens["alice"], "stream_client", 2)
        )
    broken = []
    if not ("server fault" in first and "oci.streaming" in first and "try again" in first):
        broken.append(f"import-failure-message: the failed call does not say what broke: {first}")
    if "Traceback" in first:
        broken.append(f"import-failure-message: a traceback reached the client: {first}")
    if second:
        broken.append(f"import-failure-recovers: the next call still fails: {second}")
    assert not broken, "GUARANTEE " + "\nGUARANTEE ".join(broken)


def test_a_broken_sdk_installation_stops_serve_before_it_is_ready(stage: Stage) -> None:
    """When the warm-up cannot import the SDK (injected: ``oci.object_storage`` missing, as in a
    broken installation), ``serve`` never answers /health: it exits 1 naming the module and the
    fix, without a traceback."""
    import os

    from oci_mcp_cli.core.waiting import WaitError

    hooks = stage.tmp / "broken-sdk"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(BROKEN_SDK))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(hooks), os.environ.get("PYTHONPATH", "")) if p)}
    log = stage.tmp / "broken-sdk.log"
    try:
        server = start_serve(stage.url, stage.args, log_path=log, env=env)
    except WaitError as exc:
        said = log.read_text()
        assert exc.returncode == 1 and "cannot start: importing oci" in said, (
            f"GUARANTEE broken-sdk-start: serve did not refuse to start clearly "
            f"(exit {exc.returncode}): {said[-1500:]}"
        )
        assert "object_storage" in said and "pip install" in said and "Traceback" not in said, (
            f"GUARANTEE broken-sdk-start: {said[-1500:]}"
        )
    else:
        server.stop()
        pytest.fail("GUARANTEE broken-sdk-start: serve answered /health with an SDK it cannot "
                    "import (every call would fail)")


async def sequential(url: str, token: str, tool: str, n: int) -> list[str]:
    """``n`` calls of ``tool``, one after the other, each in a new session; what failed."""
    async with httpx.AsyncClient(timeout=60) as http:
        results = []
        for _ in range(n):
            results.append(await call(http, url, await open_session(http, url, token), tool))
    return results


# --- the import guard on its own: a package that imports itself in circles, as the SDK does ---

# `oci`'s shape in miniature: the package imports its modules, they import each other and the
# package back, a service package imports the base. Each module body takes a moment (as the
# SDK's do), so that threads starting together meet inside each other's imports.
CIRCULAR = {
    "__init__.py": "from . import a\nfrom .b import B\nfrom .signer import Signer\n",
    "a.py": "from circ.signer import Signer\nA = 1\n",
    "b.py": "from circ.a import A\nB = 2\n",
    "signer.py": "import circ\nSigner = 3\n",
    "svc/__init__.py": "from circ.b import B\nfrom .client import Client\nfrom . import models\n",
    "svc/client.py": "from .models import M\nfrom circ.signer import Signer\nClient = 4\n",
    "svc/models.py": "from circ.a import A\nM = 5\n",
}
ENTRIES = ("import circ", "from circ.b import B", "from circ.svc.models import M",
           "import circ.svc", "from circ.signer import Signer", "from circ.svc import Client")
ROUNDS = 10
# Runs in a child: the guard is process-wide and the rounds drop `circ` from sys.modules.
GUARDED_ROUNDS = '''
import sys, threading
sys.path.insert(0, sys.argv[1])
from oci_mcp_cli.server.imports import install_import_guard
install_import_guard(["circ"])
entries, rounds = sys.argv[3:], int(sys.argv[2])
failures = []
for number in range(rounds):
    for name in [n for n in sys.modules if n.partition(".")[0] == "circ"]:
        del sys.modules[name]
    barrier = threading.Barrier(len(entries))
    def run(statement):
        barrier.wait()
        try:
            exec(statement, {})
            exec("import circ; circ.signer.Signer; circ.svc.models.M; circ.svc.client.Client", {})
        except Exception as exc:
            failures.append(f"round {number}: {statement}: {type(exc).__name__}: {exc}")
    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if any(thread.is_alive() for thread in threads):
        failures.append(f"round {number}: an import hung")
        break
print("\\n".join(failures))
'''


def test_concurrent_first_imports_of_a_circular_package_are_serialized(tmp_path: Path) -> None:
    """Threads that start together, each importing another part of a package that imports
    itself in circles (without the guard every one of them fails, with ``partially initialized
    module`` and the like): under the import guard all of them succeed, and none hangs."""
    import subprocess
    import sys

    for name, text in CIRCULAR.items():
        path = tmp_path / "circ" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("import time\ntime.sleep(0.02)  # a module body takes a moment\n" + text)
    child = subprocess.run(
        [sys.executable, "-c", GUARDED_ROUNDS, str(tmp_path), str(ROUNDS), *ENTRIES],
        capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == 0, child.stderr
    failures = child.stdout.strip()
    assert not failures, (
        f"GUARANTEE serialized-imports: concurrent first imports failed:\n{failures}"
    )
