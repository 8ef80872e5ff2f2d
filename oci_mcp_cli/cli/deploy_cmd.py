"""`oci-mcp deploy kubernetes|compose`: render the files a platform team applies (thin: parse →
deploy service → render). No secret value is written; the Secret is made from the .env."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oci_mcp_cli.cli.flags import json_option
from oci_mcp_cli.cli.output import emit_json, err, out, run

if TYPE_CHECKING:
    from oci_mcp_cli.deploy.service import DeployResult

deploy_app = typer.Typer(
    name="deploy",
    help="Render a deployment (Containerfile + Kubernetes manifests or a compose file) from .env.",
    no_args_is_help=True,
)

EnvFileOpt = Annotated[
    Path, typer.Option("--env-file", help="The .env written by `oci-mcp init` (read only).")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Directory to write the files into.")]
ImageOpt = Annotated[
    str | None,
    typer.Option(
        "--image",
        help="Image reference the server runs, e.g. <region>.ocir.io/<namespace>/oci-mcp:TAG "
        "(default: oci-mcp:<version>).",
    ),
]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host", help="Public host name (default: MCP_SERVER_URL's; must be the same)."
    ),
]
NameOpt = Annotated[str, typer.Option("--name", help="Name of the app's resources.")]
OtelEndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--otel-endpoint",
        help="Send traces to this OTLP/HTTP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT; "
        "OTEL_SERVICE_NAME=<name>). Credentials (an APM data key) go into the env file as "
        "OTEL_EXPORTER_OTLP_HEADERS, never into the rendered files.",
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace files of an earlier rendering.")]
JsonOpt = Annotated[
    bool, json_option("Print one JSON object: the files written, next steps.")
]


def _show(result: "DeployResult", as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    for warning in result.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    for path in result.files:
        out.print(f"wrote {path}", markup=False)
    for path in result.removed:
        out.print(f"removed {path} (not part of this rendering)", markup=False)
    out.print(f"public URL {result.server_url}, sign-in redirect URI {result.redirect_uri}",
              markup=False)
    if result.secret_command:
        out.print("the settings and secrets go into a Secret, never into these files:",
                  markup=False)
        out.print(f"  {result.secret_command}", markup=False)
    out.print("next:", markup=False)
    for step, command in result.steps:
        out.print(f"  {step + ':':7} {command}", markup=False)


def _opt(flag: str, text: str) -> typer.models.OptionInfo:
    return typer.Option(flag, help=text)


NamespaceOpt = Annotated[str, _opt("--namespace", "Kubernetes namespace.")]
ReplicasOpt = Annotated[
    int, _opt("--replicas", "Server pods (more than 1 needs --redis-url or --in-cluster-redis).")
]
RedisUrlOpt = Annotated[
    str | None,
    _opt(
        "--redis-url",
        "Shared storage in OCI Cache: rediss://<endpoint>:6379 (a password belongs in the env "
        "file's OCI_MCP_STORAGE, which reaches the pods through the Secret).",
    ),
]
InClusterRedisOpt = Annotated[
    bool, _opt("--in-cluster-redis", "Run one Redis pod as the shared storage (for trials).")
]
TlsSecretOpt = Annotated[
    str | None,
    _opt("--tls-secret", "Kubernetes TLS Secret for the load balancer or Ingress "
                         "(default: <name>-tls)."),
]
CertificateOpt = Annotated[
    str | None,
    _opt("--certificate-ocid", "Terminate TLS on the OCI Load Balancer with this OCI "
                               "Certificates service certificate instead."),
]
IngressClassOpt = Annotated[
    str | None,
    _opt("--ingress-class", "Expose through an Ingress of this class instead of an OCI Load "
                            "Balancer Service."),
]
SecretNameOpt = Annotated[
    str | None, _opt("--secret-name", "Secret made from the .env (default: <name>-env).")
]
PullSecretOpt = Annotated[
    str | None, _opt("--image-pull-secret", "Secret to pull the image with (private OCIR).")
]
ServiceMonitorOpt = Annotated[
    bool, _opt("--service-monitor", "Also render a ServiceMonitor (Prometheus Operator) and the "
                                    "metrics Service it selects.")
]
TrustedProxyOpt = Annotated[
    list[str] | None,
    _opt("--trusted-proxy", "Address or CIDR whose X-Forwarded-For names the client, e.g. the "
                            "worker node subnet behind the load balancer (repeatable)."),
]


@deploy_app.command("kubernetes")
def kubernetes(
    env_file: EnvFileOpt = Path(".env"),
    out_dir: OutOpt = Path("deploy/kubernetes"),
    image: ImageOpt = None,
    namespace: NamespaceOpt = "oci-mcp",
    host: HostOpt = None,
    replicas: ReplicasOpt = 1,
    redis_url: RedisUrlOpt = None,
    in_cluster_redis: InClusterRedisOpt = False,
    tls_secret: TlsSecretOpt = None,
    certificate_ocid: CertificateOpt = None,
    ingress_class: IngressClassOpt = None,
    secret_name: SecretNameOpt = None,
    image_pull_secret: PullSecretOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    service_monitor: ServiceMonitorOpt = False,
    otel_endpoint: OtelEndpointOpt = None,
    name: NameOpt = "oci-mcp",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Containerfile + Deployment, Service (OCI Load Balancer) or Ingress, PodDisruptionBudget
    (+ a ServiceMonitor with --service-monitor)."""
    from oci_mcp_cli.deploy.options import DEFAULT_IMAGE
    from oci_mcp_cli.deploy.service import deploy_kubernetes

    result = run(
        deploy_kubernetes,
        env_file,
        out_dir,
        image=image or DEFAULT_IMAGE,
        name=name,
        namespace=namespace,
        secret_name=secret_name,
        host=host,
        replicas=replicas,
        redis_url=redis_url,
        in_cluster_redis=in_cluster_redis,
        tls_secret=tls_secret,
        certificate_ocid=certificate_ocid,
        ingress_class=ingress_class,
        image_pull_secret=image_pull_secret,
        trusted_proxies=trusted_proxy or [],
        service_monitor=service_monitor,
        otel_endpoint=otel_endpoint,
        force=force,
    )
    _show(result, as_json)


@deploy_app.command("compose")
def compose(
    env_file: EnvFileOpt = Path(".env"),
    out_dir: OutOpt = Path("deploy/compose"),
    image: ImageOpt = None,
    host: HostOpt = None,
    otel_endpoint: OtelEndpointOpt = None,
    name: NameOpt = "oci-mcp",
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Containerfile + compose file for one VM: the server, Redis and Caddy (TLS)."""
    from oci_mcp_cli.deploy.options import DEFAULT_IMAGE
    from oci_mcp_cli.deploy.service import deploy_compose

    result = run(
        deploy_compose, env_file, out_dir, image=image or DEFAULT_IMAGE, name=name, host=host,
        otel_endpoint=otel_endpoint, force=force,
    )
    _show(result, as_json)
