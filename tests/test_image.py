"""The image `oci-mcp deploy` renders, built from the rendered Containerfile and this project's
wheel on a local Debian base (tests/image_support.py), run by podman the way the Kubernetes
manifests run it, against the sandbox on the host: alice and bob sign in through it with the
real `test-client`, its HEALTHCHECK passes, SIGTERM stops it within the grace period.

One image per module (a build installs the wheel's dependencies from PyPI: about a minute; the
Debian base is built once and cached). Marked ``container``: ``pytest -m container``."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_support import run_cli
from image_support import Podman, base_image, build, need_container_tools, server_context
from oauth_flow import password
from proc_support import log_file
from test_deploy import deploy, write_env, yaml_docs

from oci_mcp_cli.core.ports import free_port
from oci_mcp_cli.core.waiting import wait_until_url
from oci_mcp_cli.deploy.render import DEPLOYMENT_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.container]

SERVER_TAG = "localhost/oci-mcp-test-server:latest"
K8S_DEFAULT_GRACE_S = 30  # terminationGracePeriodSeconds when a pod spec leaves it out
READY_TIMEOUT_S = 120


@dataclass
class Built:
    podman: Podman
    base: str
    image: str
    rendered: Path  # `deploy kubernetes` output: the Containerfile and the manifests

    def pod_spec(self) -> dict[str, Any]:
        (deployment,) = yaml_docs(self.rendered / DEPLOYMENT_FILE)
        return deployment["spec"]["template"]["spec"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Iterator[Built]:
    tools = need_container_tools()
    podman = Podman.create(tools["podman"])
    base = base_image(podman, tools["debootstrap"])
    tmp = tmp_path_factory.mktemp("image")
    rendered = tmp / "k8s"
    deploy("kubernetes", "--env-file", str(write_env(tmp / ".env")), "--out", str(rendered))
    context = server_context(rendered, built_wheel, tmp / "context")
    image = build(podman, context, SERVER_TAG, base)
    podman.run("image", "prune", "--force", check=False)  # the previous build's layers
    yield Built(podman, base, image, rendered)


@dataclass
class Running:
    name: str
    url: str
    proc: subprocess.Popen[str]
    log: Path


def manifest_run_options(pod: dict[str, Any]) -> list[str]:
    """``podman run`` options for what the Deployment's pod spec asks: its user, a read-only
    root filesystem whose only writable place is a private ``/tmp``, no capability, no privilege
    escalation. ``/tmp`` is world-writable with the sticky bit, like an emptyDir (podman 4.3
    knows no uid= tmpfs option)."""
    (container,) = pod["containers"]
    security = container["securityContext"]
    uid, gid = pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    return ["--user", f"{uid}:{gid}", "--read-only", "--read-only-tmpfs=false",
            "--tmpfs", "/tmp:rw,size=64m,mode=1777",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


def who(url: str, sb: Any, user: str, data_dir: Path) -> dict[str, Any]:
    """``test-client --call whoami --json`` as ``user`` (the real CLI, on the host)."""
    result = run_cli("test-client", "--url", url, "--username", user, "--call", "whoami",
                     "--json", env={"OCI_MCP_DATA_DIR": str(data_dir),
                                    "OCI_MCP_PASSWORD": password(sb, user)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["calls"]["whoami"]  # type: ignore[no-any-return]


def test_the_image_serves_alice_and_bob_as_the_manifests_run_it(built: Built,
                                                                 tmp_path: Path) -> None:
    from serve_support import provisioned_sandbox

    podman, pod = built.podman, built.pod_spec()
    grace = pod.get("terminationGracePeriodSeconds", K8S_DEFAULT_GRACE_S)
    name = f"oci-mcp-test-{os.getpid()}"
    with provisioned_sandbox(tmp_path) as (sb, env_file, server_url), \
            log_file(tmp_path / "container.log") as log:
        # The host's network: the sandbox listens on the host's loopback. The settings come
        # only from the environment, as the Secret's envFrom gives them (kubectl reads the
        # .env the same way: KEY=VALUE lines, nothing interpolated); the arguments are the
        # pod's `args` (a loopback URL must be served on loopback, and on its own port).
        port = str(urlsplit(server_url).port)
        proc = subprocess.Popen(
            [podman.exe, "run", "--name", name, "--network", "host", *manifest_run_options(pod),
             "--env-file", str(env_file), "-e", f"OCI_MCP_METRICS_PORT={free_port()}",
             built.image, "--host", "127.0.0.1", "--port", port],
            env=podman.env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            wait_until_url(server_url + "/health", timeout=READY_TIMEOUT_S, process=proc,
                           what="the container")
            # the image's own HEALTHCHECK, run by the runtime, follows the --port argument
            health = podman.run("healthcheck", "run", name, check=False)
            assert health.returncode == 0, health.stdout + health.stderr
            # as the manifest says: its user, and nothing writable but /tmp
            assert podman.run("exec", name, "id", "-u").stdout.strip() == str(
                pod["securityContext"]["runAsUser"])
            write = podman.run("exec", name, "python", "-c", "open('/opt/oci-mcp/x', 'w')",
                               check=False)
            assert write.returncode != 0 and "Read-only file system" in write.stderr

            url = server_url + "/mcp"
            alice = who(url, sb, "alice", tmp_path / "alice")
            bob = who(url, sb, "bob", tmp_path / "bob")
            assert alice["user_name"] == "alice" and bob["user_name"] == "bob"
            assert alice["user_ocid"] != bob["user_ocid"]

            # SIGTERM, then SIGKILL after the pod's grace period, as the kubelet does
            started = time.monotonic()
            podman.run("stop", "--time", str(grace), name, timeout=grace + 60)
            stopped_in = time.monotonic() - started
            proc.wait(timeout=60)
            state = podman.inspect(name)["State"]
            # serve's own SIGTERM handling ends it cleanly (SIGKILL after the grace would be 137)
            assert state["ExitCode"] == 0 and not state["OOMKilled"], state
            assert stopped_in < grace
        finally:
            podman.remove(name)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=60)
    output = (tmp_path / "container.log").read_text(errors="replace")
    assert "Traceback" not in output
