"""Benchmark: the server image's size and its start-to-healthy time (issue 21).

The image tests/test_image.py builds (the rendered Containerfile on the local Debian base, with
this project's wheel; run that test first, or pass ``--image``) is started ``--runs`` times the
way the test runs it — the manifest's user, read-only root, ``/tmp`` tmpfs, settings from an env
file, the host's network against a sandbox — and timed from ``podman run`` to the first 200 of
``/health`` (polled every 20 ms) and to the first passing ``podman healthcheck run`` (the image's
own HEALTHCHECK). Each container is then stopped with SIGTERM (the time is reported too).

Run: ``python bench/bench_image.py [--runs 5] [--image localhost/oci-mcp-test-server:latest]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from image_support import Podman  # noqa: E402  (test helper: podman with the tests' storage)

IMAGE = "localhost/oci-mcp-test-server:latest"
POLL_S = 0.02
TIMEOUT_S = 120


def _until(predicate: object, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < TIMEOUT_S:
        if predicate():  # type: ignore[operator]
            return time.monotonic()
        time.sleep(POLL_S)
    raise SystemExit(f"timed out waiting for {what}")


def one_run(podman: Podman, image: str, env_file: Path, server_url: str) -> tuple[float, ...]:
    import httpx

    from oci_mcp_cli.core.ports import free_port

    name = f"oci-mcp-bench-{free_port()}"
    port = str(urlsplit(server_url).port)
    started = time.monotonic()
    podman.run("run", "-d", "--name", name, "--network", "host", "--user", "10001:10001",
               "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777",
               "--cap-drop", "ALL", "--env-file", str(env_file),
               "-e", f"OCI_MCP_METRICS_PORT={free_port()}", image,
               "--host", "127.0.0.1", "--port", port)
    try:
        def answers() -> bool:
            try:
                return httpx.get(server_url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        http_ok = _until(answers, "/health")
        check_ok = _until(lambda: podman.run("healthcheck", "run", name, check=False).returncode
                          == 0, "the HEALTHCHECK")
        stop_start = time.monotonic()
        podman.run("stop", "--time", "30", name)
        stopped = time.monotonic() - stop_start
    finally:
        podman.remove(name)
    return http_ok - started, check_ok - started, stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default=IMAGE)
    args = parser.parse_args()
    from oci_mcp_cli.core.ports import free_port
    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.testing.provision import provision

    podman = Podman.create("podman")
    size = int(podman.inspect(args.image)["Size"])
    history = podman.run("history", "--format", "{{.Size}}\t{{.CreatedBy}}", args.image).stdout
    print(f"image {args.image}: {size / 1e6:.0f} MB")
    print(history)
    with tempfile.TemporaryDirectory() as tmp, Sandbox(state_dir=Path(tmp) / "sb") as sb:
        env_file = Path(tmp) / ".env"
        server_url = f"http://127.0.0.1:{free_port()}"
        provision(sb, env_file, server_url)
        runs = [one_run(podman, args.image, env_file, server_url) for _ in range(args.runs)]
    for label, index in (("run → /health 200", 0), ("run → HEALTHCHECK passes", 1),
                         ("SIGTERM → stopped", 2)):
        values = [r[index] for r in runs]
        print(f"{label}: median {statistics.median(values):.2f} s, "
              f"min {min(values):.2f}, max {max(values):.2f} ({len(values)} runs)")


if __name__ == "__main__":
    main()
