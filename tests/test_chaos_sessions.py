"""Chaos: concurrent MCP session opens against the per-user session cap (real server, real HTTP,
sandbox sign-in). docs/security.md "Session cap and rate-limit keys under concurrency".

A tool that holds its call until the test releases it (a ``threading.Event``, no sleeps) makes
"a call in flight" deterministic; it is served through ``serve --app``'s path (a user's own
FastMCP server), which is product behaviour, not a mock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest
from guard_support import base, initialize, ping, redeem, sign_in
from oauth_flow import password
from serve_support import provisioned_sandbox

from oci_mcp_cli.core.waiting import poll_until
from oci_mcp_cli.server.app import ServerThread
from oci_mcp_cli.server.config import ServerSettings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]
OPENS = 300  # concurrent initialize requests of one user (the reproduction)
HOLD_TIMEOUT_S = 60  # a held call gives up after this (bounds the test if a release is missed)
PROTOCOL = "2025-06-18"


class Held:
    """A FastMCP app whose ``hold`` tool stays in flight until :meth:`release`."""

    def __init__(self) -> None:
        from fastmcp import FastMCP
        from fastmcp.server.middleware import Middleware

        self.entered = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.app = FastMCP("held")
        outer = self

        class HoldSlowInitialize(Middleware):
            """An ``initialize`` from a client named ``slow`` is answered once released (its
            SSE response has already started: the session ID is out)."""

            async def on_initialize(self, context: Any, call_next: Any) -> Any:
                if context.message.params.client_info.name == "slow":
                    await outer._hold()
                return await call_next(context)

        self.app.add_middleware(HoldSlowInitialize())

        @self.app.tool
        async def hold() -> str:
            """Stay in flight until the test releases it."""
            return "released" if await self._hold() else "timed out"

    async def _hold(self) -> bool:
        with self._lock:
            self.entered += 1
        return bool(await anyio.to_thread.run_sync(self._release.wait, HOLD_TIMEOUT_S))

    def wait_entered(self, count: int) -> None:
        assert poll_until(lambda: self.entered >= count, timeout=30, interval=0.02), (
            f"only {self.entered} of {count} held calls reached the tool"
        )

    def release(self) -> None:
        self._release.set()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ServerSettings]]:
    tmp = tmp_path_factory.mktemp("chaos-sessions")
    with provisioned_sandbox(tmp) as (sb, env_file, _):
        yield sb, load_settings(env_file, storage_dir=tmp / "oauth", log_level="WARNING")


def _headers(token: str, session_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}",
               "Accept": "application/json, text/event-stream",
               "Mcp-Protocol-Version": PROTOCOL}
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return headers


def _start_hold(server: ServerThread, token: str, session_id: str) -> tuple[threading.Thread,
                                                                            list[httpx.Response]]:
    """``tools/call hold`` on ``session_id`` in a thread; its response lands in the list."""
    answers: list[httpx.Response] = []
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "hold", "arguments": {}}}

    def call() -> None:
        answers.append(httpx.post(base(server) + "/mcp", json=body, timeout=HOLD_TIMEOUT_S + 30,
                                  headers=_headers(token, session_id)))

    thread = threading.Thread(target=call, name="held-call", daemon=True)
    thread.start()
    return thread, answers


def _initialize_body(client: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": client, "version": "1"}}}


async def _open_concurrently(server: ServerThread, token: str, count: int) -> list[httpx.Response]:
    """``count`` MCP ``initialize`` requests of one user, all in flight at once."""
    body = _initialize_body("chaos")
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    headers = _headers(token)
    headers.pop("Mcp-Protocol-Version")
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        return list(await asyncio.gather(*(
            http.post(base(server) + "/mcp", json=body, headers=headers) for _ in range(count)
        )))


def _refusals_problems(answers: list[httpx.Response]) -> list[str]:
    """Every answer is a whole session (200 with the initialize result: a session ended while
    its opening request was still being answered is a problem) or a 429 with Retry-After."""
    problems = []
    for answer in answers:
        if (answer.status_code == 200 and answer.headers.get("mcp-session-id")
                and '"protocolVersion"' in answer.text):
            continue
        if answer.status_code == 429 and answer.headers.get("retry-after", "").isdigit():
            continue
        problems.append(f"{answer.status_code} {answer.headers.get('retry-after')!r} "
                        f"{answer.text[:120]}")
    return problems


def _live(server: ServerThread, token: str, session_ids: list[str]) -> list[str]:
    return [sid for sid in session_ids if ping(server, token, sid).status_code == 200]


def _token(server: ServerThread, sb: Any, user: str) -> str:
    return str(redeem(server, sign_in(server, user, password(sb, user))).json()["access_token"])


def test_concurrent_opens_never_exceed_the_per_user_cap(env: Any) -> None:
    sb, settings = env
    with ServerThread(replace(settings, max_sessions_per_user=16)) as server:
        token = _token(server, sb, "alice")
        answers = anyio.run(_open_concurrently, server, token, OPENS)
        opened = [a.headers["mcp-session-id"] for a in answers if a.status_code == 200]
        live = _live(server, token, opened)
        problems = _refusals_problems(answers)
        assert not problems, f"GUARANTEE session-cap-answers: {problems[:5]}"
        assert len(live) <= 16, (
            f"GUARANTEE session-cap-atomic: {OPENS} concurrent opens by one user left "
            f"{len(live)} live sessions (cap 16)"
        )
        assert live, "GUARANTEE session-cap-atomic: no session at all was opened"
        # another user is not affected by alice's full quota
        bob = _token(server, sb, "bob")
        assert initialize(server, bob).status_code == 200, "GUARANTEE session-cap-per-user"


def test_busy_sessions_are_never_evicted_under_concurrent_opens(env: Any) -> None:
    sb, settings = env
    held = Held()
    cap = 4
    with ServerThread(replace(settings, max_sessions_per_user=cap), held.app) as server:
        token = _token(server, sb, "alice")
        sessions = [initialize(server, token).headers["mcp-session-id"] for _ in range(cap)]
        busy = sessions[:2]  # the two least recently used: eviction would pick them first
        calls = [_start_hold(server, token, sid) for sid in busy]
        held.wait_entered(len(busy))
        try:
            answers = anyio.run(_open_concurrently, server, token, 50)
            alive_busy = _live(server, token, busy)
            opened = [a.headers["mcp-session-id"] for a in answers if a.status_code == 200]
            live = _live(server, token, sessions + opened)
        finally:
            held.release()
            for thread, _ in calls:
                thread.join(HOLD_TIMEOUT_S + 40)
        failures = [f"{sid[:8]}: {answers_[0].status_code if answers_ else 'no answer'} "
                    f"{answers_[0].text[:160] if answers_ else ''}"
                    for sid, (_, answers_) in zip(busy, calls, strict=True)
                    if not answers_ or '"released"' not in answers_[0].text]
        assert alive_busy == busy and not failures, (
            f"GUARANTEE session-cap-busy-kept: a session with a call in flight was evicted "
            f"(alive {len(alive_busy)}/{len(busy)}; calls: {failures})"
        )
        problems = _refusals_problems(answers)
        assert not problems, f"GUARANTEE session-cap-answers: {problems[:5]}"
        assert len(live) <= cap, (
            f"GUARANTEE session-cap-atomic: {len(live)} live sessions (cap {cap})"
        )
        # each idle session (also one just opened here) makes room for one more
        assert len(opened) >= cap - len(busy), (
            f"GUARANTEE session-cap-idle-evicted: {len(opened)} opened, at least "
            f"{cap - len(busy)} expected"
        )


def test_when_every_session_is_busy_a_new_one_gets_429(env: Any) -> None:
    sb, settings = env
    held = Held()
    cap = 2
    with ServerThread(replace(settings, max_sessions_per_user=cap), held.app) as server:
        token = _token(server, sb, "alice")
        sessions = [initialize(server, token).headers["mcp-session-id"] for _ in range(cap)]
        calls = [_start_hold(server, token, sid) for sid in sessions]
        held.wait_entered(cap)
        try:
            refused = initialize(server, token)
            alive = _live(server, token, sessions)
        finally:
            held.release()
            for thread, _ in calls:
                thread.join(HOLD_TIMEOUT_S + 40)
        assert refused.status_code == 429 and refused.headers.get("retry-after", "").isdigit(), (
            f"GUARANTEE session-cap-429: {refused.status_code} {refused.headers} {refused.text}"
        )
        assert "too many open MCP sessions" in refused.text
        assert alive == sessions, "GUARANTEE session-cap-busy-kept: a busy session was evicted"
        # once the calls are done the sessions are idle again: a new one evicts the oldest
        assert initialize(server, token).status_code == 200, "GUARANTEE session-cap-idle-evicted"


def test_a_session_still_opening_is_not_evicted(env: Any) -> None:
    """The opening ``initialize`` is a request in flight too: its SSE answer starts (with the
    session ID) before the server has answered it."""
    sb, settings = env
    held = Held()
    with ServerThread(replace(settings, max_sessions_per_user=1), held.app) as server:
        token = _token(server, sb, "alice")
        headers = _headers(token)
        headers.pop("Mcp-Protocol-Version")
        answers: list[httpx.Response] = []
        opening = threading.Thread(target=lambda: answers.append(httpx.post(
            base(server) + "/mcp", json=_initialize_body("slow"), headers=headers,
            timeout=HOLD_TIMEOUT_S + 30)), daemon=True)
        opening.start()
        held.wait_entered(1)
        try:
            refused = initialize(server, token)
        finally:
            held.release()
            opening.join(HOLD_TIMEOUT_S + 40)
        slow = answers[0] if answers else None
        assert slow is not None and not _refusals_problems([slow]), (
            f"GUARANTEE session-cap-busy-kept: a session was ended while its initialize was in "
            f"flight: {slow.status_code if slow else 'no answer'} {slow.text[:200] if slow else ''}"
        )
        assert refused.status_code == 429, (
            f"GUARANTEE session-cap-429: {refused.status_code} {refused.text[:200]}"
        )
        assert _live(server, token, [slow.headers["mcp-session-id"]]), (
            "GUARANTEE session-cap-busy-kept: the opened session is gone"
        )


def test_session_less_calls_are_never_counted_as_sessions(env: Any) -> None:
    """Clients of protocol revision 2026-07-28 send ``tools/call`` without a session (the method
    in an ``Mcp-Method`` header): many such calls in flight at once are never refused by the
    per-user session cap (the storm in tests/test_deadlines.py found it)."""
    sb, settings = env
    held = Held()
    cap, calls_in_flight = 2, 6
    with ServerThread(replace(settings, max_sessions_per_user=cap), held.app) as server:
        token = _token(server, sb, "alice")
        headers = {"Authorization": f"Bearer {token}",
                   "Accept": "application/json, text/event-stream",
                   "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                   "Mcp-Name": "hold"}
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
        body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "hold", "arguments": {}, "_meta": meta}}
        answers: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: answers.append(httpx.post(
            base(server) + "/mcp", json=body, headers=headers, timeout=HOLD_TIMEOUT_S + 30)),
            daemon=True) for _ in range(calls_in_flight)]
        for thread in threads:
            thread.start()
        try:
            held.wait_entered(calls_in_flight)
        finally:
            held.release()
            for thread in threads:
                thread.join(HOLD_TIMEOUT_S + 40)
        refused = [f"{a.status_code} {a.text[:160]}" for a in answers if '"released"' not in a.text]
        assert len(answers) == calls_in_flight and not refused, (
            f"GUARANTEE session-cap-stateless: session-less calls were refused or lost: {refused}"
        )
