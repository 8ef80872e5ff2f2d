"""Readiness waits: poll a condition, or an URL until it answers, instead of sleeping blindly.

One helper for every "wait until this server answers" in the code base (``init --launch``, the
sandbox, the in-process server, the demo, the tests). No heavy imports at module level: ``httpx``
is imported when an URL is polled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from oci_mcp_cli.core.errors import OciMcpError

DEFAULT_INTERVAL_S = 0.05  # readiness poll interval
REQUEST_TIMEOUT_S = 2.0  # one probe; a server that is starting may be slow to answer


class Watched(Protocol):
    """What :func:`wait_until_url` watches while it polls: a ``subprocess.Popen`` fits."""

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...


class WaitError(OciMcpError):
    """A readiness wait failed: ``url`` did not answer in ``timeout_s`` seconds, or the watched
    process ended first (``returncode`` set) or the watched thread died (``stopped``)."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        timeout_s: float,
        returncode: int | None = None,
        stopped: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.timeout_s = timeout_s
        self.returncode = returncode
        self.stopped = stopped


def poll_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = DEFAULT_INTERVAL_S
) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it is true (→ True) or ``timeout``
    seconds pass (→ the predicate's last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def wait_until_url(
    url: str,
    *,
    timeout: float,
    process: Watched | None = None,
    alive: Callable[[], bool] | None = None,
    ready: Callable[[], bool] | None = None,
    expect_status: int = 200,
    interval: float = DEFAULT_INTERVAL_S,
    what: str = "the server",
) -> None:
    """Poll ``GET url`` until it answers ``expect_status``; else raise :class:`WaitError`.

    ``process`` (a ``Popen``) or ``alive`` (e.g. ``thread.is_alive``) is what serves the URL:
    when it ends first the wait fails at once, naming the return code. ``ready`` is a cheap
    condition checked before each request (e.g. uvicorn's ``started`` flag). ``what`` names the
    server in the error message.
    """
    import httpx

    from oci_mcp_cli.core.tlscontext import httpx_verify

    start = time.monotonic()
    deadline = start + timeout
    last = "no answer"
    with httpx.Client(timeout=REQUEST_TIMEOUT_S, verify=httpx_verify()) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise WaitError(
                    f"{what} exited with code {process.returncode} before {url} answered "
                    f"(after {time.monotonic() - start:.1f} s)",
                    url=url,
                    timeout_s=timeout,
                    returncode=process.returncode,
                )
            if alive is not None and not alive():
                raise WaitError(
                    f"{what} stopped before {url} answered "
                    f"(after {time.monotonic() - start:.1f} s)",
                    url=url,
                    timeout_s=timeout,
                    stopped=True,
                )
            if ready is None or ready():
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError as exc:
                    last = f"{exc.__class__.__name__}"
                else:
                    if status == expect_status:
                        return
                    last = f"HTTP {status}"
            if time.monotonic() >= deadline:
                raise WaitError(
                    f"{what} did not answer HTTP {expect_status} at {url} within "
                    f"{timeout:g} s (last: {last})",
                    url=url,
                    timeout_s=timeout,
                )
            time.sleep(interval)
