"""Shared fixtures: a fresh sandbox per test, one per module (``sb``), a session guard against
leaked sandboxes, UPSTs, the wheel built once per session, and ``need_tool`` (skip locally, fail
under ``CI=true``)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

SANDBOX_THREAD = "oci-mcp-sandbox"
ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# `oci-mcp serve` listens for Prometheus on 9464 by default: the suite's many `serve` children
# would race for it (and warn when it is taken). Tests of metrics pass --metrics-port (or drop
# this variable: tests/test_metrics.py).
os.environ.setdefault("OCI_MCP_METRICS_PORT", "off")

# FastMCP's test mode (its own switch, read at import): the JWT signing key is derived with 10
# PBKDF2 rounds instead of 10⁶, ~0.2 s of CPU less for every server the suite starts, in
# process or as a child (which inherits this). The derivation is still FastMCP's; the real one
# is checked in tests/test_serve_startup.py, and tests of a start itself run without this
# (tests/test_chaos_cold_start.py, bench/).
os.environ.setdefault("FASTMCP_TEST_MODE", "true")

# rich fixes a console's width when it is built with COLUMNS set, and pytest-xdist's workers run
# with COLUMNS=80 in their environment: the CLI's consoles (cli/output.py, built at import) are
# built here without it, so that they follow COLUMNS at each use as in a serial run (tests set it
# to render wide and narrow: tests/test_narrow_output.py).
_columns = os.environ.pop("COLUMNS", None)
import oci_mcp_cli.cli.output  # noqa: E402,F401

if _columns is not None:
    os.environ["COLUMNS"] = _columns

# A run started in the background by a non-interactive shell (`cmd &`, some CI runners) inherits
# SIGINT ignored, and every child would too (Python keeps an inherited SIG_IGN): tests that stop
# `oci-mcp sandbox`/`demo` with Ctrl-C would hang until their timeout. A handler here gives each
# child the default disposition again (handlers are reset to default on exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist. Most of the suite's time is spent waiting on its children (servers, sandboxes,
# the CLI, podman), not on a core: `-n auto` starts two workers per core (CONTRIBUTING.md has the
# runs). `--dist loadfile` hands whole files to the workers in collection order, so the files
# that take longest start first (seconds of one 4-worker run, 2026-12-06, longest first) and none
# of them is left to run alone at the end.
WORKERS_PER_CORE = 2
LONGEST_FILES = (
    "test_chaos_cold_start.py", "test_chaos_init_interrupts.py", "test_transparent.py",
    "test_image.py", "test_access.py", "test_replicas.py", "test_perf_properties.py",
    "test_oracle_doctor.py", "test_metrics.py", "test_testing_plugin.py", "test_storage_bounds.py",
    "test_deadlines.py", "test_oracle_mcp.py", "test_audit.py", "test_oracle_mcp_breadth.py",
    "test_oracle_teardown.py", "test_traces.py", "test_doctor_fixes.py", "test_chaos_relogin.py",
)


@pytest.hookimpl(optionalhook=True)  # a run without xdist (`-p no:xdist`) has no such hook
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per core this process may run on."""
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


def pytest_configure(config: pytest.Config) -> None:
    # xdist would otherwise reorder files by their number of tests, a poor proxy for time.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, the rest in their usual order (a stable sort)."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))


def missing(reason: str) -> NoReturn:
    """Something the suite needs is absent: skip with ``reason`` locally; under ``CI=true`` fail,
    because `.ci/run` provides everything the suite needs and a silent skip would hide it."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true: .ci/run provides it)", pytrace=False)
    pytest.skip(reason)


def need_tool(name: str, why: str) -> str:
    """The path of the executable ``name`` (on PATH, next to this Python, or in /usr/sbin);
    :func:`missing` when it is not installed. ``why`` says what the suite needs it for."""
    found = (
        shutil.which(name)
        or shutil.which(name, path=str(Path(sys.executable).parent))
        or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)),
                None)
    )
    if found:
        return found
    missing(f"{name} is not installed ({why})")


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session with hatchling (a dev dependency: a missing
    one is an error, not a skip)."""
    import hatchling  # noqa: F401  dev dependency: fail, do not skip, when it is missing

    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
                   cwd=ROOT, check=True, capture_output=True)
    (wheel,) = dist.glob("*.whl")
    return wheel


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """A running sandbox with fresh state in a temp dir (function scope)."""
    from oci_mcp_cli.sandbox import Sandbox

    with Sandbox(state_dir=tmp_path / "sandbox-state") as sb:
        yield sb


@pytest.fixture(scope="module", name="sb")
def module_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``sb``: one running sandbox shared by a module's tests (for tests that don't interfere).

    Modules that need more around it (an HTTP client, provisioned apps) define their own.
    """
    from oci_mcp_cli.sandbox import Sandbox

    with Sandbox(state_dir=tmp_path_factory.mktemp("sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def shared_sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One running sandbox for the whole session (a start costs seconds: keys, two listeners).

    Only for modules whose tests read the seed state, or add objects under names of their own
    that no other test counts. A module opts in by overriding ``sb``::

        @pytest.fixture(scope="module")
        def sb(shared_sb: Sandbox) -> Sandbox:
            return shared_sb
    """
    from oci_mcp_cli.sandbox import Sandbox

    with Sandbox(state_dir=tmp_path_factory.mktemp("shared-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def config(sb: Any) -> dict[str, Any]:
    """The admin API-key profile the module's sandbox wrote, as an SDK config dict."""
    import oci

    return oci.config.from_file(sb.config_file, sb.profile)


@pytest.fixture(autouse=True, scope="session")
def _no_leaked_sandboxes() -> Iterator[None]:
    """Fail the session if a test left a sandbox server thread running."""
    yield
    leaked = [t.name for t in threading.enumerate() if t.name == SANDBOX_THREAD and t.is_alive()]
    assert not leaked, f"{len(leaked)} sandbox server thread(s) still running after the session"


def mint_upst(sb: Any, username: str, *, ttl_s: int = 3600) -> tuple[str, Any]:
    """A UPST for ``username`` minted by the sandbox, plus the session private key.

    Tests of the ``ST$`` signature path use this so they do not depend on the OAuth token
    exchange (tested separately through the real TokenExchangeSigner); the token comes from the
    exchange's own minting code (``sandbox.hooks.mint_session_token``), so the claim set is the
    one the exchange mints (docs/sandbox.md). ``ttl_s <= 0`` gives an expired token.
    """
    from oci_mcp_cli.sandbox import keys
    from oci_mcp_cli.sandbox.hooks import mint_session_token

    session_key = keys.new_rsa_key()
    return mint_session_token(sb.ctx, username, session_key.public_key(), ttl_s), session_key


@pytest.fixture
def user_client() -> Callable[..., Any]:
    """``user_client(sb, "alice", oci.identity.IdentityClient)``: a regional client as a user."""

    def build(sb: Any, username: str, client_cls: Any, *, ttl_s: int = 3600) -> Any:
        import oci

        token, session_key = mint_upst(sb, username, ttl_s=ttl_s)
        signer = oci.auth.signers.SecurityTokenSigner(token, session_key)
        return client_cls(
            {"region": "us-ashburn-1"},
            signer=signer,
            service_endpoint=sb.url,
            retry_strategy=oci.retry.NoneRetryStrategy(),
        )

    return build
