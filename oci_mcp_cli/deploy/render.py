"""Fill the templates under ``templates/deploy/`` for a :class:`DeploySpec`.

Every value substituted into YAML is a JSON string (a valid YAML scalar), so no flag value can
change a manifest's structure; the optional parts (env, args, strategy, TLS annotation) are small
blocks from :func:`yaml_lines`. A template line that is only a ``${block}`` placeholder is dropped
when the block is empty.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Any

from oci_mcp_cli import __version__
from oci_mcp_cli.core.errors import OciMcpError
from oci_mcp_cli.core.templates import read_template
from oci_mcp_cli.deploy.options import (
    CADDY_IMAGE,
    CONTAINER_PORT,
    CONTAINER_UID,
    IN_CLUSTER,
    METRICS_PATH,
    METRICS_PORT,
    REDIS_IMAGE,
    STORAGE_KEY,
    DeploySpec,
)

CONTAINERFILE = "Containerfile"
NAMESPACE_FILE = "00-namespace.yaml"
REDIS_FILE = "10-redis.yaml"
DEPLOYMENT_FILE = "20-deployment.yaml"
SERVICE_FILE = "30-service.yaml"
CERTIFICATES_FILE = "31-lb-certificates.yaml"
INGRESS_FILE = "40-ingress.yaml"
PDB_FILE = "50-pdb.yaml"
SERVICE_MONITOR_FILE = "60-servicemonitor.yaml"
COMPOSE_FILE = "compose.yaml"
CADDY_FILE = "Caddyfile"
REQUIREMENTS_FILE = "requirements.txt"
DISTRIBUTION = "oci-mcp"
IMAGE_EXTRA = "otel"  # traces, once OTEL_* variables say where (docs/operations.md)
# Every file `deploy` may write: with --force, the ones a new rendering leaves out are removed
# (a stale 10-redis.yaml must not be applied with the rest).
KNOWN_FILES = (
    CONTAINERFILE,
    NAMESPACE_FILE,
    REDIS_FILE,
    DEPLOYMENT_FILE,
    SERVICE_FILE,
    CERTIFICATES_FILE,
    INGRESS_FILE,
    PDB_FILE,
    SERVICE_MONITOR_FILE,
    COMPOSE_FILE,
    CADDY_FILE,
    REQUIREMENTS_FILE,
)
_BLOCK_LINE = re.compile(r"[ \t]*\$\{(\w+)\}[ \t]*")


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def q(value: str) -> str:
    """``value`` as a YAML string scalar: bare when YAML reads it back as that same string,
    else double-quoted (JSON)."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == {} or value == []:
        return json.dumps(value)
    return q(str(value))


def yaml_lines(value: Any, indent: int) -> list[str]:
    """Block-style YAML for dicts, lists and scalars, ``indent`` spaces in (strings quoted)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{key}:")
                lines += yaml_lines(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list) and value:
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines += nested[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def block(value: Any, indent: int) -> str:
    """:func:`yaml_lines` joined; empty for an empty value."""
    return "\n".join(yaml_lines(value, indent)) if value else ""


def render_template(name: str, values: Mapping[str, str]) -> str:
    """``templates/deploy/<name>`` with ``values`` substituted."""
    lines = [
        line
        for line in read_template(f"deploy/{name}").splitlines(keepends=True)
        if not ((m := _BLOCK_LINE.fullmatch(line.rstrip("\n"))) and values.get(m.group(1)) == "")
    ]
    return Template("".join(lines)).substitute(values)


def display_path(path: Path) -> str:
    """``path`` as the user gave it, quoted for a shell."""
    return shlex.quote(str(path))


def secret_command(spec: DeploySpec) -> str:
    """The command that creates the Secret the pods read (from the .env, never printed)."""
    return (
        f"kubectl -n {spec.namespace} create secret generic {spec.secret_name} "
        f"--from-env-file={display_path(spec.env_file)}"
    )


def _common(spec: DeploySpec) -> dict[str, str]:
    return {
        "version": __version__,
        "name": spec.name,
        "namespace": spec.namespace,
        "host": spec.host,
        "image": spec.image,
        "uid": str(CONTAINER_UID),
        "port": str(CONTAINER_PORT),
        "metrics_port": str(METRICS_PORT),
        "metrics_path": METRICS_PATH,
        "out_dir": str(spec.out),
        "redis_name": spec.redis_name,
        "redis_image": REDIS_IMAGE,
        "caddy_image": CADDY_IMAGE,
    }


def containerfile(spec: DeploySpec) -> str:
    """The image definition (not YAML: plain substitution)."""
    return render_template(CONTAINERFILE, {**_common(spec), "extra": IMAGE_EXTRA})


def requirements(distribution: str = DISTRIBUTION, extra: str = IMAGE_EXTRA) -> list[str]:
    """The installed ``distribution``'s runtime requirements and its ``extra``'s, each as its
    metadata states it (specifiers untouched, nothing pinned).

    A requirement without a marker, or whose marker holds here without the extra, is kept as
    it is (pip evaluates the marker again in the image); one marked only ``extra == "<extra>"``
    loses that marker. Any other (an extra's requirement with an environment condition, or one
    that does not hold here) is left to the wheel's own install, which adds what the image's
    Python needs of it: this list never holds what the image does not need."""
    from importlib import metadata

    from packaging.markers import Marker
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        raise OciMcpError(
            f"cannot write {REQUIREMENTS_FILE}: the package metadata of {distribution} is not "
            "installed (running from a source tree?), so its dependencies are unknown; "
            "nothing was written",
            hint="install it (pip install -e <your oci-mcp checkout>, or pip install oci-mcp), "
                 "then run deploy again",
        ) from None
    only_extra = str(Marker(f'extra == "{extra}"'))
    lines = []
    for text in declared:
        marker = Requirement(text).marker
        if marker is None or marker.evaluate({"extra": ""}):
            lines.append(text)
        elif str(marker) == only_extra:
            lines.append(text.partition(";")[0].strip())
    return lines


def requirements_txt() -> str:
    """requirements.txt: what the image installs in a layer of its own, before the wheel."""
    header = (
        f"# The dependencies of {DISTRIBUTION} {__version__} with its {IMAGE_EXTRA} extra, as its "
        "package metadata states\n"
        "# them (rendered by `oci-mcp deploy`). The Containerfile installs them in a layer of "
        "their own,\n"
        "# reused by every rebuild with a new wheel as long as this list is unchanged.\n"
    )
    return header + "".join(f"{line}\n" for line in requirements())


def _quoted(values: Mapping[str, str]) -> dict[str, str]:
    """``values`` quoted for YAML, plus each unquoted as ``<key>_text`` (for comments)."""
    quoted = {key: q(value) for key, value in values.items()}
    quoted.update({f"{key}_text": value for key, value in values.items()})
    return quoted


def _yaml_values(spec: DeploySpec) -> dict[str, str]:
    """The common values for a YAML template (numbers and the version unquoted)."""
    values = _quoted(_common(spec))
    values.update(uid=str(CONTAINER_UID), port=str(CONTAINER_PORT), version=__version__,
                  metrics_port=str(METRICS_PORT))
    return values


def _deployment(spec: DeploySpec, values: dict[str, str]) -> str:
    selector = {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/component": "server"}
    if spec.shared_storage:
        strategy: dict[str, Any] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
    else:  # OAuth state in each pod's own emptyDir: never two pods at once
        strategy = {"type": "Recreate"}
    pod: dict[str, Any] = {}
    if spec.image_pull_secret:
        pod["imagePullSecrets"] = [{"name": spec.image_pull_secret}]
    if spec.replicas > 1:
        pod["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ]
    args: list[str] = []
    for proxy in spec.trusted_proxies:
        args += ["--trusted-proxy", proxy]
    env = [{"name": STORAGE_KEY, "value": spec.storage_url}] if spec.storage_url else []
    env += [{"name": key, "value": value} for key, value in spec.otel_env().items()]
    values.update(
        replicas=str(spec.replicas),
        **_quoted({"secret_name": spec.secret_name}),
        secret_command=secret_command(spec),
        strategy=block(strategy, 4),
        pod_extras=block(pod, 6),
        container_args=block({"args": args}, 10) if args else "",
        container_env=block({"env": env}, 10) if env else "",
    )
    return render_template("kubernetes/deployment.yaml", values)


def kubernetes_files(spec: DeploySpec) -> dict[str, str]:
    """File name → content for ``deploy kubernetes``."""
    values = _yaml_values(spec)
    files = {
        CONTAINERFILE: containerfile(spec),
        REQUIREMENTS_FILE: requirements_txt(),
        NAMESPACE_FILE: render_template("kubernetes/namespace.yaml", values),
    }
    if spec.storage_source == IN_CLUSTER:
        files[REDIS_FILE] = render_template("kubernetes/redis.yaml", values)
    files[DEPLOYMENT_FILE] = _deployment(spec, dict(values))
    if spec.ingress_class:
        files[SERVICE_FILE] = render_template("kubernetes/service.yaml", values)
        files[INGRESS_FILE] = render_template(
            "kubernetes/ingress.yaml",
            {**values, **_quoted({"ingress_class": spec.ingress_class,
                                  "tls_secret": spec.tls_secret or ""})},
        )
    else:
        if spec.certificate_ocid:
            annotation = {"oci-load-balancer.oraclecloud.com/tls-certificate-map":
                          spec.certificate_map}
            files[CERTIFICATES_FILE] = render_template(
                "kubernetes/lb-certificates.yaml",
                {
                    **values,
                    "certificate_map": q(spec.certificate_map),
                    # the value is a JSON list of OCIDs, as a YAML string
                    "certificate_ids": "'" + json.dumps([spec.certificate_ocid]) + "'",
                },
            )
        else:
            annotation = {"service.beta.kubernetes.io/oci-load-balancer-tls-secret":
                          spec.tls_secret or ""}
        files[SERVICE_FILE] = render_template(
            "kubernetes/service-lb.yaml", {**values, "tls_annotation": block(annotation, 4)}
        )
    files[PDB_FILE] = render_template("kubernetes/pdb.yaml", values)
    if spec.service_monitor:
        files[SERVICE_MONITOR_FILE] = render_template(
            "kubernetes/servicemonitor.yaml", {**values, **_quoted({"metrics_name":
                                                                    spec.metrics_name})}
        )
    return dict(sorted(files.items()))


def compose_files(spec: DeploySpec) -> dict[str, str]:
    """File name → content for ``deploy compose``."""
    values = _yaml_values(spec)
    env_file = os.path.relpath(Path(spec.env_file).resolve(), Path(spec.out).resolve())
    env_file = env_file.replace("$", "$$")  # compose interpolates $VAR in the file
    values.update(_quoted({"env_file": env_file, "storage_url": spec.storage_url or ""}))
    values["otel_environment"] = block(spec.otel_env(), 6)
    return {
        CONTAINERFILE: containerfile(spec),
        REQUIREMENTS_FILE: requirements_txt(),
        COMPOSE_FILE: render_template("compose/compose.yaml", values),
        CADDY_FILE: render_template("compose/Caddyfile", {**_common(spec)}),
    }
