"""Write the rendered files and say what to run next (`deploy kubernetes`, `deploy compose`)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.errors import OciMcpError, UserError
from oci_mcp_cli.core.files import ordinary_file_mode, write_atomic
from oci_mcp_cli.deploy import render
from oci_mcp_cli.deploy.options import KUBERNETES, DeploySpec, compose_spec, kubernetes_spec

# Shorter values (e.g. "true") could match harmless text; every real secret is longer.
_MIN_SECRET_LEN = 8
# The next steps the test suite runs for real (tests/test_image.py: the wheel, the image built
# from the rendered Containerfile, the compose stack up with podman-compose). The others need a
# registry, a cluster or a public DNS name: docs/deploy.md, "What the tests rehearse".
REHEARSED_STEPS = frozenset({"wheel", "image", "up"})


@dataclass
class DeployResult:
    """What was written, and the commands that take it from here."""

    target: str
    out: Path
    files: list[Path]
    removed: list[Path] = field(default_factory=list)
    secret_command: str | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    server_url: str = ""
    redirect_uri: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "out": str(self.out),
            "files": [str(path) for path in self.files],
            "removed": [str(path) for path in self.removed],
            "secret_command": self.secret_command,
            "server_url": self.server_url,
            "redirect_uri": self.redirect_uri,
            "next": [{"step": step, "command": command, "rehearsed": step in REHEARSED_STEPS}
                     for step, command in self.steps],
            "warnings": self.warnings,
        }


def check_no_secrets(files: dict[str, str], secrets: tuple[str, ...]) -> None:
    """Refuse (before writing anything) if a rendered file would hold a secret value."""
    for value in secrets:
        if len(value) < _MIN_SECRET_LEN:
            continue
        for name, text in files.items():
            if value in text:
                raise OciMcpError(
                    f"refusing to write {name}: it would contain a secret value from the "
                    "env file (nothing was written)",
                    hint="this is a bug in oci-mcp; please report it",
                )


def write_files(spec: DeploySpec, files: dict[str, str]) -> tuple[list[Path], list[Path]]:
    """Write ``files`` into ``spec.out``; any file a deployment writes that is already there
    is refused unless ``spec.force``, which also removes those this rendering leaves out."""
    present = [spec.out / name for name in render.KNOWN_FILES if (spec.out / name).exists()]
    if present and not spec.force:
        raise UserError(
            f"{spec.out} already holds {', '.join(p.name for p in present)}; nothing was written",
            hint="pass --force to replace them, or choose another --out directory",
        )
    mode = ordinary_file_mode()
    written = []
    for name, text in files.items():
        write_atomic(spec.out / name, text, mode=mode)
        written.append(spec.out / name)
    removed = [path for path in present if path.name not in files]
    for path in removed:
        path.unlink()
    return written, removed


def _checkout() -> str:
    """Where to build the wheel from: this checkout when running from one."""
    import oci_mcp_cli

    root = Path(oci_mcp_cli.__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return shlex.quote(str(root))
    return "<your oci-mcp checkout>"


def _image_steps(spec: DeploySpec, *, push: bool) -> list[tuple[str, str]]:
    out = render.display_path(spec.out)
    steps = [
        ("wheel", f"pip wheel --no-deps --wheel-dir {render.display_path(spec.out / 'dist')} "
                  f"{_checkout()}"),
        ("image", f"podman build --format docker -t {spec.image} {out}"),
    ]
    if push:  # OCIR: user <tenancy namespace>/<user name>, an auth token as the password
        registry = spec.image.partition("/")[0]
        steps.append(("push", f"podman login {registry} && podman push {spec.image}"))
    return steps


def _kubernetes_steps(spec: DeploySpec) -> list[tuple[str, str]]:
    out = render.display_path(spec.out)
    ns = spec.namespace
    steps = _image_steps(spec, push=True)
    if spec.tls_secret:
        steps.append(
            ("tls", f"kubectl -n {ns} create secret tls {spec.tls_secret} "
                    "--cert=tls.crt --key=tls.key")
        )
    namespace_file = render.display_path(spec.out / render.NAMESPACE_FILE)
    steps.append(
        ("apply", f"kubectl apply -f {namespace_file} && {render.secret_command(spec)} "
                  f"&& kubectl apply -f {out}")
    )
    kind = "ingress" if spec.ingress_class else "service"
    steps.append(("dns", f"kubectl -n {ns} get {kind} {spec.name}   # point {spec.host} at "
                         "its external address"))
    steps.append(("check", f"curl -fsS {spec.server_url}/health"))
    return steps


def _compose_steps(spec: DeploySpec) -> list[tuple[str, str]]:
    compose = render.display_path(spec.out / render.COMPOSE_FILE)
    steps = _image_steps(spec, push=False)[:1]  # compose builds the image itself
    steps.append(("copy", f"copy {render.display_path(spec.out)} and "
                          f"{render.display_path(spec.env_file)} to the VM, keeping their "
                          "relative place (the env file stays mode 0600)"))
    steps.append(("dns", f"point {spec.host} at the VM's public IP; open ports 80 and 443"))
    steps.append(("up", f"docker compose -f {compose} up -d --build"))
    steps.append(("check", f"curl -fsS {spec.server_url}/health"))
    return steps


def deploy(spec: DeploySpec) -> DeployResult:
    """Render, check that no secret leaked into a file, write, and list the next steps."""
    files = render.kubernetes_files(spec) if spec.target == KUBERNETES else render.compose_files(
        spec
    )
    check_no_secrets(files, spec.secret_values)
    written, removed = write_files(spec, files)
    kubernetes = spec.target == KUBERNETES
    return DeployResult(
        target=spec.target,
        out=spec.out,
        files=written,
        removed=removed,
        secret_command=render.secret_command(spec) if kubernetes else None,
        steps=_kubernetes_steps(spec) if kubernetes else _compose_steps(spec),
        warnings=list(spec.warnings),
        server_url=spec.server_url,
        redirect_uri=spec.redirect_uri,
    )


def deploy_kubernetes(env_file: Path, out: Path, **options: Any) -> DeployResult:
    """``oci-mcp deploy kubernetes``: see :func:`options.kubernetes_spec` for ``options``."""
    return deploy(kubernetes_spec(env_file, out, **options))


def deploy_compose(env_file: Path, out: Path, **options: Any) -> DeployResult:
    """``oci-mcp deploy compose``: see :func:`options.compose_spec` for ``options``."""
    return deploy(compose_spec(env_file, out, **options))
