# ruff: noqa: F811  (pytest fixtures imported from provisioning_support)
"""Chaos (issue 18, item 4): `oci-mcp init` interrupted at every apply step that writes — Ctrl-C
(SIGINT), SIGTERM, kill -9 — strands nothing: a plain re-run in the same folder converges (exit 0,
exactly one app with our owner tag, `.env` written) without `--adopt`, and a teardown afterwards
leaves no app, no trust and the JWKS closed again.

A real `oci-mcp init` subprocess runs against the sandbox. A fault with a held delay (status 0:
the request is answered normally, only later) keeps the step's write call in flight; the signal
is sent once the sandbox has taken that fault (the readiness signal), so every run stops inside
the same step, deterministically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from proc_support import log_file
from provisioning_support import Env, _fast_retries, env, seeded_state  # noqa: F401

from oci_mcp_cli.core import envfile as E
from oci_mcp_cli.core.waiting import poll_until

pytestmark = pytest.mark.chaos

EXCHANGE = ("--exchange-app", "mcp-exchange", "--server-url", "http://localhost:9000")


@dataclass(frozen=True)
class Stop:
    """Where a run is stopped: inside ``step``, while the ``nth`` ``method path`` call (the one
    held in flight) is in progress; ``flags``: the interrupted run's own flags."""

    step: str
    method: str
    path: str
    nth: int = 1
    flags: tuple[str, ...] = ()


# A held write is read by the sandbox only after the hold, so a kill -9 there loses it in
# transit; "*-created" holds the read right after a create instead: the app exists, and nothing
# has recorded it yet.
STOPS = {
    "app": Stop("app", "POST", "/admin/v1/Apps"),
    "app-created": Stop("app", "GET", "/admin/v1/Apps/*"),
    "exchange-app-created": Stop("exchange-app", "GET", "/admin/v1/Apps/*", 2, EXCHANGE),
    "jwks": Stop("jwks", "PATCH", "/admin/v1/Settings/Settings"),
    "trust": Stop("trust", "POST", "/admin/v1/IdentityPropagationTrusts"),
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "kill-9": signal.SIGKILL}
HOLD_S = 2.0  # how long the sandbox holds the write; SIGINT/SIGTERM wait for it (finish the step)
BOUND_S = 60  # generous bound for a loaded 2-core machine; not a timing assertion


def taken(sb: Any, fault: dict[str, Any]) -> bool:
    """The sandbox took the fault: the held request is in flight. (Read in-process: the hooks
    API lists requests only once answered, and a held one is not answered yet.)"""
    with sb.ctx.lock:
        return not any(f.method == fault["method"] and f.path == fault["path"]
                       for f in sb.ctx.faults)


def answered(sb: Any, method: str, path: str, nth: int) -> bool:
    def matches(seen: str) -> bool:
        return seen.startswith(path[:-1]) if path.endswith("*") else seen == path

    return sum(r["method"] == method and matches(r["path"]) for r in sb.requests()) >= nth


def interrupted_init(env: Env, stop: str, how: str, log: Path) -> subprocess.CompletedProcess[str]:
    """Run `oci-mcp init --yes` as a process, stop it with ``how`` inside the call ``stop``
    holds, and wait until that call has been answered (the domain's final state)."""
    where = STOPS[stop]
    method, path = where.method, where.path
    env.sb.clear_requests()  # answered() below must see this run's calls only
    fault = env.sb.fault(method, path, 0, count=where.nth, delay_s=HOLD_S)
    argv = [sys.executable, "-m", "oci_mcp_cli", "init", "--yes", *where.flags, "--config-file",
            env.sb.config_file, "--profile", env.sb.profile, "--env-file", str(env.env_file)]
    environ = {**os.environ, "OCI_MCP_RETRY_BASE_SECONDS": "0.01"}
    with log_file(log) as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=sink, text=True, env=environ,
                                start_new_session=True)
        try:
            reached = poll_until(lambda: taken(env.sb, fault) or proc.poll() is not None,
                                 timeout=BOUND_S, interval=0.02)
            assert reached and proc.poll() is None, f"init never reached {stop}"
            os.kill(proc.pid, SIGNALS[how])
            code = proc.wait(timeout=BOUND_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert poll_until(lambda: answered(env.sb, method, path, where.nth), timeout=BOUND_S,
                      interval=0.05)
    return subprocess.CompletedProcess(argv, code, "", log.read_text())


@pytest.mark.parametrize("how", list(SIGNALS))
@pytest.mark.parametrize("stop", list(STOPS))
def test_an_interrupted_init_converges_on_a_plain_rerun(env: Env, stop: str, how: str,
                                                        tmp_path: Path) -> None:
    guarantee = f"GUARANTEE init-interrupt[{stop}, {how}]"
    step, flags = STOPS[stop].step, STOPS[stop].flags
    stopped = interrupted_init(env, stop, how, tmp_path / "init.log")
    if how != "kill-9":  # finish the current step, record what was done, exit 128 + signal
        assert stopped.returncode == 128 + SIGNALS[how], f"{guarantee}: {stopped.stderr}"
        assert "Traceback" not in stopped.stderr, f"{guarantee}: {stopped.stderr}"
        assert f"after step {step!r}" in stopped.stderr, f"{guarantee}: {stopped.stderr}"
        recorded = env.env()
        assert recorded.get(E.OCI_MCP_APP_ID), f"{guarantee}: the app is not recorded"

    rerun = env.cli("init", "--yes", "--json")  # plain: no --adopt, no other flag
    assert rerun.exit_code == 0, f"{guarantee}: re-run failed: {rerun.stderr}"
    values = env.env()
    recorded = {"oci-mcp-server": (E.OCI_MCP_APP_ID, E.IAM_CLIENT_ID)}
    if flags:  # the interrupted run's settings are the re-run's defaults
        recorded["mcp-exchange"] = (E.OCI_MCP_EXCHANGE_APP_ID, E.IAM_TOKENEXCHANGE_CLIENT_ID)
        assert values.get(E.MCP_SERVER_URL) == "http://localhost:9000", guarantee
    for name, (id_key, client_key) in recorded.items():
        apps = env.apps(name)
        assert len(apps) == 1, f"{guarantee}: {len(apps)} apps named {name}"
        full = env.client().get_app(apps[0].id, attribute_sets=["all"]).data
        owners = [t.value for t in full.tags or [] if t.key == "oci-mcp-owner"]
        assert owners == [values[E.OCI_MCP_OWNER]], f"{guarantee}: {name} owner tags {owners}"
        assert (values.get(id_key), values.get(client_key)) == (full.id, full.name), (
            f"{guarantee}: {name} is not recorded in .env")
    (trust,) = env.trusts()
    exchange = values[E.IAM_TOKENEXCHANGE_CLIENT_ID]
    assert trust.oauth_clients == [exchange], f"{guarantee}: trust lists {trust.oauth_clients}"
    assert json.loads(rerun.stdout)["trust_id"] == trust.id, guarantee

    # Nothing stranded: the teardown finds and removes everything this project made.
    down = env.cli("teardown", "--yes", "--restore-settings")
    assert down.exit_code == 0, f"{guarantee}: teardown failed: {down.stderr}"
    for name in recorded:
        assert env.apps(name) == [], f"{guarantee}: app {name} outlived the teardown"
    assert env.trusts() == [], f"{guarantee}: the trust outlived the teardown"
    assert not env.jwks_public(), f"{guarantee}: JWKS left public after --restore-settings"
