"""The container image `oci-mcp deploy` renders, built and run for real with Debian's podman.

No base image can be pulled on the test machines, so the base is made locally: ``debootstrap
--variant=minbase --include=python3,python3-venv bookworm`` (about a minute, ~275 MB), packed
into a tar under the cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``, then
``oci-mcp-tests/images/``, keyed by the suite and the package list) and imported once into
podman's storage. Later runs find the image (``podman image exists``) or re-import the tar.

Podman runs with its own configuration and storage, never the machine's (``Podman.env``):
``CONTAINERS_CONF`` (runc: crun refuses these machines' hybrid cgroups; cgroupfs; no default
ulimits, which are not permitted here; file event log) and ``CONTAINERS_STORAGE_CONF`` (overlay
storage under ``oci-mcp-tests/podman/``, run state under ``/tmp``). Every podman call, and
podman-compose's, goes through that environment.

Needs root, podman, runc and debootstrap (``.ci/run`` installs them): a missing one skips the
test with the reason, and fails it under ``CI=true`` (``conftest.need_tool``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import missing, need_tool

SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv")
BUILD_TIMEOUT_S = 900  # the server image installs the wheel's dependencies from PyPI
RUN_TIMEOUT_S = 120
CONTAINERS_CONF = """\
# Written by the oci-mcp tests (tests/image_support.py).
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
"""


def cache_root() -> Path:
    """``oci-mcp-tests`` under the user's cache folder (CI caches it between runs)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oci-mcp-tests"


def need_container_tools() -> dict[str, str]:
    """podman, runc and debootstrap (skip, or fail under CI=true, when absent or not root)."""
    why = "the container image tests build and run the image; Debian: apt-get install {}"
    tools = {name: need_tool(name, why.format(name)) for name in ("podman", "runc", "debootstrap")}
    if os.geteuid() != 0:
        missing("the container image tests need root (debootstrap, rootful podman)")
    return tools


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` atomically unless ``path`` holds it already (sessions side by side read
    these files)."""
    if path.is_file() and path.read_text() == text:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


@dataclass(frozen=True)
class Podman:
    """podman with the tests' own configuration and storage."""

    exe: str
    env: dict[str, str]

    @classmethod
    def create(cls, exe: str) -> Podman:
        root = cache_root() / "podman"
        root.mkdir(parents=True, exist_ok=True)
        conf = root / "containers.conf"
        _write_if_changed(conf, CONTAINERS_CONF)
        storage = root / "storage.conf"
        # one run state per storage (a cache folder of its own gets its own)
        tag = hashlib.sha256(str(root).encode()).hexdigest()[:8]
        run_root = Path(tempfile.gettempdir()) / f"oci-mcp-tests-podman-{os.geteuid()}-{tag}"
        _write_if_changed(storage, (
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{root / "storage"}"\n'
            f'runroot = "{run_root}"\n'
        ))
        env = {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}
        return cls(exe, env)

    def run(self, *args: str, check: bool = True, timeout: float = RUN_TIMEOUT_S,
            stdin: Any = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.exe, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout, stdin=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args[:2])} failed ({result.returncode}): "
                                 f"{result.stderr[-3000:]}")
        return result

    def image_exists(self, name: str) -> bool:
        return self.run("image", "exists", name, check=False).returncode == 0

    def inspect(self, name: str) -> dict[str, Any]:
        (data,) = json.loads(self.run("inspect", name).stdout)
        return data  # type: ignore[no-any-return]

    def remove(self, name: str) -> None:
        self.run("rm", "--force", "--time", "0", name, check=False)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time for ``path`` (sessions running side by side)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def base_key(suite: str = SUITE, packages: Sequence[str] = BASE_PACKAGES) -> str:
    return hashlib.sha256(f"{suite} {' '.join(sorted(packages))}".encode()).hexdigest()[:12]


def base_image(podman: Podman, debootstrap: str) -> str:
    """The local Debian base (``localhost/oci-mcp-test-base:<suite>-<key>``): in podman's
    storage already, else imported from the cached tar, else debootstrapped (then cached)."""
    key = base_key()
    name = f"localhost/oci-mcp-test-base:{SUITE}-{key}"
    images = cache_root() / "images"
    tar = images / f"debian-{SUITE}-minbase-{key}.tar"
    with _locked(images / ".lock"):
        if podman.image_exists(name):
            return name
        if not tar.is_file():
            with tempfile.TemporaryDirectory(dir=images) as work:
                rootfs = Path(work) / "rootfs"
                result = subprocess.run(
                    [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                     SUITE, str(rootfs)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
                if result.returncode != 0:
                    raise AssertionError(f"debootstrap failed: {result.stdout[-2000:]}"
                                         f"{result.stderr[-2000:]}")
                partial = tar.with_suffix(".partial")
                subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True,
                               timeout=BUILD_TIMEOUT_S)
                partial.rename(tar)
        with tar.open("rb") as stream:
            podman.run("import", "-", name, stdin=stream, timeout=BUILD_TIMEOUT_S)
    return name


HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _trust_mounts(work: Path) -> list[str]:
    """``--volume`` options that let the build's ``pip`` trust what the host trusts (these
    machines reach PyPI through a TLS-inspecting proxy whose CA only the host's bundle holds).
    Mounted for the RUN steps only: no content of them stays in the image (podman 4.3 leaves
    an empty ``/etc/pip.conf`` as the mount target; the CA bundle is mounted over the base's
    own, which stays as it was)."""
    if not HOST_CA_BUNDLE.is_file():
        return []
    pip_conf = work / "pip.conf"
    pip_conf.write_text(f"[global]\ncert = {HOST_CA_BUNDLE}\n")
    return ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
            "--volume", f"{pip_conf}:/etc/pip.conf:ro"]


def build(podman: Podman, context: Path, tag: str, base: str,
          containerfile: str = "Containerfile") -> str:
    """``podman build`` of ``context`` on ``base`` (``--build-arg BASE``), docker format (it
    keeps HEALTHCHECK), the host's network (PyPI and Debian's mirror, nothing else)."""
    with tempfile.TemporaryDirectory() as work:
        podman.run("build", "--format", "docker", "--network", "host",
                   *_trust_mounts(Path(work)), "--build-arg", f"BASE={base}", "-t", tag,
                   "-f", str(context / containerfile), str(context), timeout=BUILD_TIMEOUT_S)
    return tag


def server_context(rendered: Path, wheel: Path, context: Path) -> Path:
    """The build folder the deploy docs describe: the rendered files plus ``dist/<wheel>``."""
    shutil.copytree(rendered, context)
    (context / "dist").mkdir()
    shutil.copy2(wheel, context / "dist" / wheel.name)
    return context
