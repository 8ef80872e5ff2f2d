"""The image `oci-mcp deploy` renders, built from the rendered Containerfile and this project's
wheel on a local Debian base (tests/image_support.py), run by podman the way the Kubernetes
manifests run it, against the sandbox on the host: alice and bob sign in through it with the
real `test-client`, its HEALTHCHECK passes, SIGTERM stops it within the grace period. Then the
rendered compose stack, up for real with podman-compose: two server replicas, Redis and a Caddy
TLS front (Debian stand-in images, tests/containers/); a client signs in through the front, its
calls reach every replica, and it stays signed in when one replica is killed.

One image per module (its dependencies' layer, installed from PyPI in about two minutes, is reused
while requirements.txt is unchanged: a new wheel costs only its own layer; the Debian base is
built once and cached). Marked ``container``: ``pytest -m container``."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_support import run_cli
from conftest import need_tool
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
            # the build's pip configuration (image_support._trust_mounts) left no content
            # behind (podman 4.3 keeps an empty mount target)
            assert podman.run("exec", name, "test", "-s", "/etc/pip.conf",
                              check=False).returncode == 1

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


REBUILT_TAG = "localhost/oci-mcp-test-server:rebuilt"


def layers_by_step(podman: Podman, image: str) -> dict[str, str]:
    """Each build step that made a layer (its ``created_by``) → that layer's digest."""
    data = podman.inspect(image)
    steps = [h["created_by"] for h in data["History"] if not h.get("empty_layer")]
    layers = data["RootFS"]["Layers"]
    assert len(steps) == len(layers), data["History"]
    return dict(zip(steps, layers, strict=True))


def test_a_new_wheel_reuses_the_dependencies_layer(built: Built, built_wheel: Path,
                                                   tmp_path: Path) -> None:
    """A rebuild with a wheel whose bytes differ (the same files under another zip comment: to
    the build, a code change) takes the dependencies' layer from podman's cache — the very
    layer the module's build made — and installs only the wheel anew."""
    import zipfile

    wheel = tmp_path / "dist" / built_wheel.name
    wheel.parent.mkdir()
    shutil.copy2(built_wheel, wheel)
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.comment = b"rebuilt by tests/test_image.py"
    assert wheel.read_bytes() != built_wheel.read_bytes()
    context = server_context(built.rendered, wheel, tmp_path / "context")
    try:
        rebuilt = layers_by_step(built.podman, build(built.podman, context, REBUILT_TAG,
                                                     built.base))
    finally:
        built.podman.run("rmi", "--force", REBUILT_TAG, check=False)
    first = layers_by_step(built.podman, built.image)
    (dependencies,) = [s for s in first if "python3 -m venv" in s and "requirements.txt" in s]
    (wheel_install,) = [s for s in first if s.startswith("/bin/sh -c ") and "/tmp/wheels" in s
                        and "pip install" in s]
    assert rebuilt[dependencies] == first[dependencies]
    assert rebuilt[wheel_install] != first[wheel_install]


# --- the compose stack, up for real with podman-compose ----------------------------------------

REPLICAS = 2
CONTAINERS = Path(__file__).parent / "containers"
# How a replica's log shows alice's whoami: its audit event (on standard output, the default),
# which stands for a call that ended well (its `tool call` line is DEBUG while the audit is on).
TOOL_CALL = re.compile(r'\{"event":"tool_call",.*"user":"alice",.*"tool":"whoami","outcome":"ok"')


def whoami_calls(log: str) -> int:
    return len(TOOL_CALL.findall(log))
CADDYFILE = """\
# The tests' TLS front (tests/test_image.py): the rendered Caddyfile asks for an ACME
# certificate for a public name; here the name is loopback, so Caddy's own CA issues it.
{{
	admin off
	skip_install_trust
	http_port {http_port}
	https_port {https_port}
	auto_https disable_redirects
}}
https://127.0.0.1:{https_port} {{
	tls internal
	reverse_proxy {upstreams} {{
		lb_policy round_robin
		lb_try_duration 10s
		health_uri /health
		health_interval 1s
		fail_duration 30s
	}}
}}
"""


@dataclass
class Ports:
    front: int
    front_http: int
    redis: int
    servers: list[int]

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), [free_port() for _ in range(REPLICAS)])


def local_compose(rendered: dict[str, Any], *, env_file: Path, caddyfile: Path,
                  images: dict[str, str], ports: Ports) -> dict[str, Any]:
    """The rendered compose.yaml made runnable on a test machine. Each change is one the machine
    forces; the rest (env_file, user, read_only, tmpfs, cap_drop, security_opt, healthcheck,
    restart, volumes, the server's --trusted-proxy) is the rendered file's:

    - images: the module's server image (built from the same rendered Containerfile) instead of
      a build, and the Debian stand-ins for Redis and Caddy (no registry can be reached);
    - the host's network for every service, because the identity domain (the sandbox) listens on
      the host's loopback: each replica, Redis and Caddy get their own loopback port, the server
      `--host 127.0.0.1 --port P` (after the rendered arguments) and the Redis URL to match;
    - replicas as services ``server-1..N`` (podman-compose 1.0.3 has no --scale);
    - the settings from the sandbox's .env (its MCP_SERVER_URL is the front's loopback URL);
    - the Caddyfile: see CADDYFILE."""
    import copy

    services = rendered["services"]
    storage = f"redis://127.0.0.1:{ports.redis}/0"
    local: dict[str, Any] = {}
    for i, port in enumerate(ports.servers, start=1):
        server = copy.deepcopy(services["server"])
        del server["build"]
        for key in ("ports", "expose"):  # nothing is published on the host's network
            server.pop(key, None)
        server.update(
            image=images["server"], network_mode="host", env_file=[str(env_file)],
            command=[*server["command"], "--host", "127.0.0.1", "--port", str(port)],
            depends_on=["redis"],
        )
        server["environment"].update(OCI_MCP_STORAGE=storage,
                                     OCI_MCP_METRICS_PORT=str(free_port()))
        local[f"server-{i}"] = server
    redis = copy.deepcopy(services["redis"])
    redis.update(image=images["redis"], network_mode="host",
                 command=[*redis["command"], "--port", str(ports.redis), "--bind", "127.0.0.1"])
    redis["healthcheck"]["test"] = ["CMD", "redis-cli", "-p", str(ports.redis), "ping"]
    local["redis"] = redis
    caddy = copy.deepcopy(services["caddy"])
    caddy.pop("ports")
    caddy.update(image=images["caddy"], network_mode="host", depends_on=list(local)[:-1])
    caddy["volumes"] = [f"{caddyfile}:/etc/caddy/Caddyfile:ro",
                        *[v for v in caddy["volumes"] if "Caddyfile" not in v]]
    local["caddy"] = caddy
    return {"services": local, "volumes": rendered["volumes"]}


@dataclass
class Stack:
    podman: Podman
    compose: list[str]  # podman-compose -p NAME -f FILE
    project: str

    def up(self, services: list[str]) -> None:
        """``up -d``; every service's container running (podman-compose 1.0.3 exits 0 even
        when a ``podman run`` failed)."""
        result = subprocess.run([*self.compose, "up", "-d"], env=self.podman.env,
                                capture_output=True, text=True, timeout=300)
        output = result.stdout[-3000:] + result.stderr[-3000:]
        assert result.returncode == 0, output
        for service in services:
            assert self.podman.inspect(self.container(service))["State"]["Running"], output

    def down(self) -> None:
        subprocess.run([*self.compose, "down", "-v", "-t", "5"], env=self.podman.env,
                       capture_output=True, text=True, timeout=300)

    def container(self, service: str) -> str:
        labels = {"project": self.project, "service": service}
        filters = [f"--filter=label=com.docker.compose.{k}={v}" for k, v in labels.items()]
        names = self.podman.run("ps", "-a", *filters, "--format", "{{.Names}}").stdout.split()
        assert len(names) == 1, (service, names)
        return names[0]

    def logs(self, service: str) -> str:
        result = self.podman.run("logs", self.container(service), check=False)
        return result.stdout + result.stderr


def trust_bundle(stack: Stack, path: Path) -> Path | None:
    """The host's CA bundle plus the root of Caddy's internal CA, once Caddy has made it."""
    root = stack.podman.run("exec", stack.container("caddy"), "cat",
                            "/data/caddy/pki/authorities/local/root.crt", check=False)
    if root.returncode != 0 or "BEGIN CERTIFICATE" not in root.stdout:
        return None
    from image_support import HOST_CA_BUNDLE

    host = HOST_CA_BUNDLE.read_text() if HOST_CA_BUNDLE.is_file() else ""
    path.write_text(host + "\n" + root.stdout)
    return path


@pytest.fixture(scope="module")
def stand_ins(built: Built) -> dict[str, str]:
    """Redis and Caddy images from Debian's packages on the same base (built once, cached;
    the tag names the Containerfile's and the base's content, so an edit builds anew)."""
    import hashlib

    tags = {}
    for name in ("redis", "caddy"):
        recipe = (CONTAINERS / f"{name}.Containerfile").read_text() + built.base
        tag = f"localhost/oci-mcp-test-{name}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
        if not built.podman.image_exists(tag):
            build(built.podman, CONTAINERS, tag, built.base, containerfile=f"{name}.Containerfile")
        tags[name] = tag
    return tags


def test_the_compose_stack_serves_through_the_tls_front_and_survives_a_replica(
    built: Built, stand_ins: dict[str, str], tmp_path: Path
) -> None:
    import httpx

    from oci_mcp_cli.core.waiting import poll_until
    from oci_mcp_cli.sandbox import Sandbox
    from oci_mcp_cli.testing.provision import provision

    compose_exe = need_tool("podman-compose", "the compose test brings the rendered stack up; "
                            "Debian: apt-get install podman-compose")
    ports = Ports.free()
    front = f"https://127.0.0.1:{ports.front}"
    rendered = tmp_path / "vm"
    deploy("compose", "--env-file", str(write_env(tmp_path / "render.env")), "--out",
           str(rendered))
    (compose,) = yaml_docs(rendered / "compose.yaml")
    caddyfile = tmp_path / "Caddyfile"
    upstreams = " ".join(f"127.0.0.1:{p}" for p in ports.servers)
    caddyfile.write_text(CADDYFILE.format(http_port=ports.front_http, https_port=ports.front,
                                          upstreams=upstreams))
    project = f"ocimcptest{os.getpid()}"
    with Sandbox(state_dir=tmp_path / "sandbox") as sb:
        env_file = tmp_path / ".env"
        provision(sb, env_file, front)  # the redirect URI is the front's
        local = local_compose(compose, env_file=env_file, caddyfile=caddyfile,
                              images={"server": built.image, **stand_ins}, ports=ports)
        import yaml

        local_file = rendered / "compose.local.yaml"
        local_file.write_text(yaml.safe_dump(local, sort_keys=False))
        wrapper = str(CONTAINERS / "podman-host-network")  # see that file
        stack = Stack(built.podman, [compose_exe, "--podman-path", wrapper, "-p", project,
                                     "-f", str(local_file)], project)
        try:
            stack.up(list(local["services"]))
            bundle_path = tmp_path / "ca-bundle.pem"

            def front_healthy() -> bool:
                bundle = trust_bundle(stack, bundle_path)
                if bundle is None:
                    return False
                try:
                    trust = ssl.create_default_context(cafile=str(bundle))
                    answer = httpx.get(front + "/health", verify=trust, timeout=5)
                    return answer.status_code == 200
                except httpx.HTTPError:
                    return False

            assert poll_until(front_healthy, timeout=READY_TIMEOUT_S, interval=0.5), (
                "the front never answered: " + stack.logs("caddy")[-2000:])
            env = {"SSL_CERT_FILE": str(bundle_path), "OCI_MCP_DATA_DIR": str(tmp_path / "alice")}
            servers = [f"server-{i}" for i in range(1, REPLICAS + 1)]

            def call(password_given: bool) -> None:
                result = run_cli("test-client", "--url", front + "/mcp", "--username", "alice",
                                 "--call", "whoami", "--json",
                                 env={**env, "OCI_MCP_PASSWORD": password(sb, "alice")
                                      if password_given else None})
                assert result.returncode == 0, result.stderr
                assert json.loads(result.stdout)["calls"]["whoami"]["user_name"] == "alice"

            call(True)  # sign in through the front
            # round robin: a bounded number of cached-token calls reaches every replica
            for _ in range(8):
                if all(whoami_calls(stack.logs(s)) for s in servers):
                    break
                call(False)
            assert all(whoami_calls(stack.logs(s)) for s in servers), "a replica got no tool call"
            for service in servers:  # compose's healthcheck, run by podman
                check = stack.podman.run("healthcheck", "run", stack.container(service),
                                         check=False)
                assert check.returncode == 0, (service, check.stdout, check.stderr)
            # one replica dies: the client stays signed in (the state is in Redis). Once the
            # front routes around it (every /health through it answers: readiness, not a
            # sleep), cached-token calls go on without a new sign-in.
            stack.podman.run("kill", stack.container(servers[0]))
            survivor = whoami_calls(stack.logs(servers[1]))
            assert poll_until(lambda: all(front_healthy() for _ in range(2 * REPLICAS)),
                              timeout=READY_TIMEOUT_S, interval=0.5)
            for _ in range(3):
                call(False)
            assert whoami_calls(stack.logs(servers[1])) > survivor
        finally:
            stack.down()
