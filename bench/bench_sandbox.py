"""Benchmark: the sandbox's own throughput — a signed ``get_namespace`` and a UPST token exchange.

The sandbox must never be the bottleneck of another benchmark. This starts a sandbox as a
subprocess (``python -m oci_mcp_cli sandbox --json``) from a code tree — this checkout, and
optionally a baseline tree (e.g. ``git worktree add /tmp/base HEAD``) — and drives it with the
real SDK over real HTTP from ``--threads`` client threads, each with its own cached client
(connections are reused, as a long-lived server's clients reuse them):

- **get_namespace** — ``ObjectStorageClient.get_namespace()`` signed with the admin API key;
- **token exchange** — ``POST /oauth2/v1/token`` (JWT → UPST) with a signed-in user's access
  token and client_secret_basic, what ``TokenExchangeSigner`` sends.

Run: ``python bench/bench_sandbox.py [--requests N] [--threads T] [--baseline /tmp/base]``.
Numbers depend on the machine (client and sandbox share its cores); compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT, exchange_app, flow

CB = "https://bench.example.com/auth/callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
UPST = "urn:oci:token-type:oci-upst"


@dataclass
class Running:
    """A sandbox subprocess and its ready line (duck-types what the test helpers read)."""

    proc: subprocess.Popen
    info: dict[str, Any]

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def domains(self) -> list[dict[str, Any]]:
        return self.info["domains"]

    @property
    def users(self) -> list[dict[str, Any]]:
        return self.info["users"]

    @property
    def config_file(self) -> str:
        return self.info["config_file"]

    @property
    def profile(self) -> str:
        return self.info["profile"]


def start(code: Path, state_dir: str) -> Running:
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "oci_mcp_cli", "sandbox", "--json", "--port", "0",
         "--state-dir", state_dir],
        cwd=code, env=env, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the ready line: the sandbox answers once it is printed
    if not line:
        proc.wait()
        raise SystemExit(f"the sandbox from {code} did not start (exit {proc.returncode})")
    return Running(proc, json.loads(line))


def rate(threads: int, per_thread: int, make: Any) -> float:
    """Requests/s of ``threads`` workers, each running ``make()`` (a zero-arg call) once for
    warm-up and then ``per_thread`` times; the clock runs from a common start barrier."""
    calls = [make() for _ in range(threads)]
    for call in calls:
        call()  # warm-up: connection set up, caches filled
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(call: Any) -> None:
        barrier.wait()
        try:
            for _ in range(per_thread):
                call()
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(c,)) for c in calls]
    for worker in workers:
        worker.start()
    barrier.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return threads * per_thread / elapsed


def measure(code: Path, threads: int, per_thread: int) -> dict[str, float]:
    import httpx
    import oci

    with tempfile.TemporaryDirectory() as state_dir:
        sb = start(code, state_dir)
        try:
            config = oci.config.from_file(sb.config_file, sb.profile)

            def namespace_call() -> Any:
                client = oci.object_storage.ObjectStorageClient(
                    config, service_endpoint=sb.url, retry_strategy=oci.retry.NoneRetryStrategy()
                )
                return lambda: client.get_namespace().data

            url, app, subject = exchange_app(sb, "bench-mcp", CB)
            form = {"grant_type": EXCHANGE, "requested_token_type": UPST,
                    "subject_token": subject, "subject_token_type": "jwt",
                    "public_key": flow.session_public_key()}

            def exchange_call() -> Any:
                http = httpx.Client(timeout=30, auth=(app.name, app.client_secret))

                def call() -> None:
                    response = http.post(f"{url}/oauth2/v1/token", data=form)
                    assert response.status_code == 200, response.text

                return call

            return {
                "get_namespace": rate(threads, per_thread, namespace_call),
                "token exchange": rate(threads, per_thread, exchange_call),
            }
        finally:
            sb.proc.terminate()
            sb.proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="requests per thread")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--baseline", type=Path, help="another code tree to compare with")
    args = parser.parse_args()
    runs = {"this tree": measure(ROOT, args.threads, args.requests)}
    if args.baseline:
        runs = {"baseline": measure(args.baseline, args.threads, args.requests), **runs}
    print(f"{args.threads} threads x {args.requests} requests, requests/s")
    for name, values in runs.items():
        print(f"  {name:10} " + "  ".join(f"{k}: {v:8.1f}" for k, v in values.items()))
    if args.baseline:
        for key in runs["this tree"]:
            ratio = runs["this tree"][key] / runs["baseline"][key]
            print(f"  ratio {key}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
