"""Validated deployment settings: the ``.env``, the flags, and the rules a deployment keeps.

- The server runs behind TLS at its public URL: ``MCP_SERVER_URL`` must be ``https://host``
  (the identity domain redirects sign-ins to ``MCP_SERVER_URL + MCP_REDIRECT_PATH``).
- Replicas share OAuth state: more than one needs a Redis storage.
- Secrets (``envfile.SECRET_KEYS``, a Redis password, the OTLP exporter's headers such as an
  APM data key) reach the pods only through the Secret that ``kubectl create secret generic …
  --from-env-file`` makes from the ``.env`` (compose: its ``env_file``), never through a
  rendered file.
- Observability: the image serves metrics on ``METRICS_PORT`` on every interface (the pod IP
  is scraped); traces go where ``--otel-endpoint`` (or the ``.env``'s ``OTEL_*``) says.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from oci_mcp_cli import __version__
from oci_mcp_cli.core import envfile as ef
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.urls import is_loopback_host

# The .env key of `serve --storage` (file:///path, redis://…, rediss://…).
STORAGE_KEY: str = getattr(ef, "OCI_MCP_STORAGE", "OCI_MCP_STORAGE")
# The keys the server reads: each must reach the pods exactly as oci-mcp reads it.
SERVER_KEYS = (
    *ef.SERVER_REQUIRED_KEYS,
    ef.IAM_TOKENEXCHANGE_CLIENT_ID,
    ef.IAM_TOKENEXCHANGE_CLIENT_SECRET,
    ef.MCP_REDIRECT_PATH,
    ef.OCI_REGION,
    ef.OCI_SERVICE_ENDPOINT,
    STORAGE_KEY,
)

# The OTLP exporter's headers (credentials, e.g. an APM data key): secret, from the .env only.
OTEL_HEADER_KEYS = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")

KUBERNETES = "kubernetes"
COMPOSE = "compose"
DEFAULT_NAME = "oci-mcp"
DEFAULT_NAMESPACE = "oci-mcp"
DEFAULT_IMAGE = f"oci-mcp:{__version__}"
CONTAINER_PORT = 8000
METRICS_PORT = 9464  # serve --metrics-port's default; the image sets OCI_MCP_METRICS_*
METRICS_PATH = "/metrics"
CONTAINER_UID = 10001
REDIS_IMAGE = "redis:7.2-alpine"
CADDY_IMAGE = "caddy:2.8"
IN_CLUSTER = "in-cluster"  # storage sources
REDIS_URL = "redis-url"
ENV_FILE = "env-file"

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})*")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
_CERT_OCID = re.compile(r"ocid1\.certificate\.[A-Za-z0-9._-]+")
_KUBECTL_KEY = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


@dataclass(frozen=True)
class DeploySpec:
    """Everything the renderer needs; holds no secret value except ``secret_values`` (kept only
    to check that no rendered file contains one)."""

    target: str
    env_file: Path
    out: Path
    server_url: str
    redirect_uri: str
    host: str
    image: str
    name: str
    namespace: str
    secret_name: str
    replicas: int = 1
    storage_url: str | None = None  # rendered into the manifests (never holds a password)
    storage_source: str | None = None  # IN_CLUSTER | REDIS_URL | ENV_FILE | None (server's own)
    tls_secret: str | None = None
    certificate_ocid: str | None = None
    ingress_class: str | None = None
    image_pull_secret: str | None = None
    trusted_proxies: tuple[str, ...] = ()
    service_monitor: bool = False  # a prometheus-operator ServiceMonitor (and its Service)
    otel_endpoint: str | None = None  # OTEL_EXPORTER_OTLP_ENDPOINT for the server
    force: bool = False
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def redis_name(self) -> str:
        return f"{self.name}-redis"

    @property
    def certificate_map(self) -> str:
        return f"{self.name}-certificates"

    @property
    def shared_storage(self) -> bool:
        return self.storage_source is not None

    @property
    def metrics_name(self) -> str:
        return f"{self.name}-metrics"

    def otel_env(self) -> dict[str, str]:
        """The ``OTEL_*`` variables rendered for the server (no credential: headers come from
        the .env through the Secret / env_file)."""
        if not self.otel_endpoint:
            return {}
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.otel_endpoint, "OTEL_SERVICE_NAME": self.name}


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``****`` (safe to print)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:****@{netloc}"))


def parse_redis_url(url: str, *, what: str) -> tuple[str, str | None]:
    """Validate a ``redis://`` / ``rediss://`` URL; return ``(host, password)``."""
    shown = redact_url(url)
    fix = "e.g. rediss://<OCI Cache endpoint>:6379/0 or redis://[:password@]host:6379/0"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise UserError(f"{what} {shown!r} is not a redis:// or rediss:// URL", hint=fix)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise UserError(f"{what} {shown!r} has an invalid port (ports are 1-65535)", hint=fix)
    if parts.path not in ("", "/") and not re.fullmatch(r"/\d+", parts.path):
        raise UserError(f"{what} {shown!r}: the path must be a database number (/0)", hint=fix)
    return parts.hostname, parts.password


def header_secrets(*values: str) -> list[str]:
    """The secret parts of ``OTEL_EXPORTER_OTLP_HEADERS``-style values (``k=v,k2=v2``,
    URL-encoded): each whole value, each header value, decoded, and its last word (the key of
    ``dataKey <key>``)."""
    from urllib.parse import unquote

    found: list[str] = []
    for value in values:
        if not value:
            continue
        found.append(value)
        for pair in value.split(","):
            header = unquote(pair.partition("=")[2]).strip()
            found += [header, header.rpartition(" ")[2]] if header else []
    return found


def _name(value: str, flag: str, *, pattern: re.Pattern[str] = _LABEL, limit: int = 63) -> str:
    if not pattern.fullmatch(value) or len(value) > limit:
        raise UserError(
            f"{flag} {value!r} is not a valid Kubernetes name",
            hint=f"lower-case letters, digits and '-' (at most {limit} characters), "
            "starting and ending with a letter or digit",
        )
    return value


def _image(value: str) -> str:
    if not _IMAGE.fullmatch(value):
        raise UserError(
            f"--image {value!r} is not an image reference",
            hint="e.g. <region>.ocir.io/<tenancy namespace>/oci-mcp:" + __version__,
        )
    return value


def has_registry(image: str) -> bool:
    """True when ``image`` names its registry (``host[:port]/…`` or ``localhost/…``)."""
    first, _, rest = image.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


def _proxies(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise UserError(
                f"--trusted-proxy {value!r} is not an IP address or CIDR",
                hint="give the address range the load balancer's requests come from, e.g. "
                "the worker node subnet 10.0.10.0/24",
            ) from None
    return tuple(values)


def kubectl_mismatches(text: str, values: dict[str, str], keys: tuple[str, ...]) -> list[str]:
    """The ``keys`` whose value ``kubectl create secret generic --from-env-file`` would read
    differently from oci-mcp (kubectl keeps quotes, ``export`` and comments verbatim), plus
    ``line N`` for each line kubectl would refuse outright."""
    read: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = (raw.removeprefix("\ufeff") if number == 1 else raw).lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not _KUBECTL_KEY.fullmatch(key):
            problems.append(f"line {number}")
            continue
        if sep:
            read[key] = value
    problems += [k for k in keys if values.get(k) and read.get(k) != values[k]]
    return problems


def _domain_warnings(env: ef.EnvFile) -> list[str]:
    warnings = []
    domain_host = urlsplit(env.domain_url).hostname
    if is_loopback_host(domain_host) or env.get(ef.OCI_SERVICE_ENDPOINT):
        warnings.append(
            f"{env.path} was written for the sandbox (IAM_DOMAIN {env.domain_url}"
            + (", OCI_SERVICE_ENDPOINT" if env.get(ef.OCI_SERVICE_ENDPOINT) else "")
            + "): pods cannot reach it; run `oci-mcp init` against your tenancy for a real "
            "deployment"
        )
    return warnings


@dataclass
class _Env:
    env: ef.EnvFile
    server_url: str
    host: str
    redirect_uri: str
    secrets: tuple[str, ...]
    storage: str | None  # the .env's own storage URL, if any


def load_deploy_env(env_file: Path) -> _Env:
    """Read the ``.env`` and check what a deployment needs from it (UserError, exit 2)."""
    env = ef.load_env(_printable_path(env_file, "--env-file"))
    raw_url = (env.get(ef.MCP_SERVER_URL) or "").strip()
    if env.exists and raw_url.lower().startswith("http://"):
        raise UserError(
            f"MCP_SERVER_URL in {env_file} is {raw_url}: a deployed server needs its public "
            "https URL",
            hint="re-run `oci-mcp init --server-url https://<public host>` (it registers "
            f"https://<public host>{env.redirect_path} as the sign-in redirect URI), then "
            "deploy again",
        )
    env.require()
    server_url = env.server_url
    parts = urlsplit(server_url)
    if parts.path not in ("", "/") or parts.port not in (None, 443):
        raise UserError(
            f"MCP_SERVER_URL in {env_file} is {server_url}: a deployment serves "
            "https://<host> on port 443, without a path",
            hint="re-run `oci-mcp init --server-url https://<public host>`, then deploy again",
        )
    text = env.path.read_bytes().decode("utf-8")
    mismatched = kubectl_mismatches(text, env.values, (*SERVER_KEYS, *OTEL_HEADER_KEYS))
    if mismatched:
        raise UserError(
            f"{env_file}: `kubectl create secret generic --from-env-file` would not read "
            f"{', '.join(mismatched)} as oci-mcp does (kubectl keeps quotes, `export` and "
            "trailing comments as part of the value)",
            hint="write those lines as plain KEY=value (no quotes, `export` or comment)",
        )
    secrets = [env.get(key) for key in sorted(ef.SECRET_KEYS)]
    secrets += header_secrets(*(env.get(key) or "" for key in OTEL_HEADER_KEYS))
    storage = env.get(STORAGE_KEY)
    if storage and storage.startswith(("redis://", "rediss://")):
        _, password = parse_redis_url(storage, what=f"{STORAGE_KEY} in {env_file}")
        secrets.append(password)
    return _Env(
        env=env,
        server_url=server_url,
        host=(parts.hostname or "").lower(),
        redirect_uri=server_url + env.redirect_path,
        secrets=tuple(s for s in secrets if s),
        storage=storage,
    )


def _host(loaded: _Env, host: str | None) -> str:
    if host is None:
        return loaded.host
    wanted = host.strip().lower().rstrip(".")
    if not _HOSTNAME.fullmatch(wanted):
        raise UserError(f"--host {host!r} is not a DNS name", hint="e.g. --host mcp.example.com")
    if wanted != loaded.host:
        raise UserError(
            f"--host {host} is not the host of MCP_SERVER_URL ({loaded.server_url}), where the "
            "identity domain sends sign-ins",
            hint=f"re-run `oci-mcp init --server-url https://{wanted}`, then deploy again (or "
            "leave --host out)",
        )
    return wanted


def _storage(
    loaded: _Env, redis_url: str | None, in_cluster_redis: bool, name: str
) -> tuple[str | None, str | None, list[str]]:
    """(storage URL to render, source, warnings)."""
    if redis_url and in_cluster_redis:
        raise UserError(
            "--redis-url and --in-cluster-redis exclude each other",
            hint="--redis-url for OCI Cache, or --in-cluster-redis for one Redis pod (trials)",
        )
    warnings: list[str] = []
    env_redis = bool(loaded.storage and loaded.storage.startswith(("redis://", "rediss://")))
    if (redis_url or in_cluster_redis) and loaded.storage:
        warnings.append(
            f"{STORAGE_KEY} from {loaded.env.path} is overridden in the pods by "
            + ("--redis-url" if redis_url else "--in-cluster-redis")
        )
    if redis_url:
        host, password = parse_redis_url(redis_url, what="--redis-url")
        if password is not None:
            raise UserError(
                "--redis-url carries a password, which would be written into the manifests",
                hint=f"put the URL in the env file instead ({STORAGE_KEY}=rediss://:<password>@"
                "host:6379/0): it reaches the pods through the Secret; then leave --redis-url out",
            )
        if is_loopback_host(host):
            raise UserError(
                f"--redis-url {redis_url!r} is a loopback address, which no pod can share",
                hint="give the OCI Cache cluster's endpoint (rediss://<endpoint>:6379)",
            )
        return redis_url.strip(), REDIS_URL, warnings
    if in_cluster_redis:
        return f"redis://{name}-redis:6379/0", IN_CLUSTER, warnings
    if env_redis:
        host, _ = parse_redis_url(loaded.storage or "", what=STORAGE_KEY)
        if is_loopback_host(host):
            warnings.append(f"{STORAGE_KEY} in {loaded.env.path} is a loopback Redis: pods "
                            "cannot share it (use --redis-url or --in-cluster-redis)")
        return None, ENV_FILE, warnings
    return None, None, warnings


def _otel_endpoint(value: str | None, loaded: _Env) -> tuple[str | None, list[str]]:
    """Validate ``--otel-endpoint``: an http(s) URL without credentials (they belong in the env
    file's ``OTEL_EXPORTER_OTLP_HEADERS``, which reaches the server through the Secret)."""
    if value is None:
        return None, []
    url = value.strip()
    parts = urlsplit(url)
    fix = ("e.g. --otel-endpoint https://<APM data upload endpoint>/20200101/opentelemetry/"
           "private or http://otel-collector.monitoring:4318")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = redact_url(url).partition("?")[0]  # a query may carry a token
        raise UserError(f"--otel-endpoint {shown!r} is not an http(s) URL", hint=fix)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UserError(
            "--otel-endpoint carries credentials or a query, which would be written into the "
            "rendered files",
            hint="give the endpoint alone and put credentials in the env file as "
            "OTEL_EXPORTER_OTLP_HEADERS=Authorization=dataKey%20<key> (it reaches the server "
            "through the Secret / env_file)",
        )
    warnings = []
    if ("apm-agt" in parts.hostname or "/opentelemetry/" in parts.path) and not any(
        loaded.env.get(key) for key in OTEL_HEADER_KEYS
    ):
        warnings.append(
            f"--otel-endpoint {url} looks like OCI APM, which needs a data key: add "
            f"OTEL_EXPORTER_OTLP_HEADERS=Authorization=dataKey%20<private data key> to "
            f"{loaded.env.path} (it reaches the server through the Secret / env_file)"
        )
    return url, warnings


def _printable_path(path: Path, flag: str) -> Path:
    """``path``, refused when it holds a control character (it is written into comments)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in str(path)):
        raise UserError(f"{flag} {str(path)!r} contains a control character")
    return Path(path)


def _prepare_out(out: Path) -> Path:
    out = _printable_path(out, "--out")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    return out


def kubernetes_spec(
    env_file: Path,
    out: Path,
    *,
    image: str = DEFAULT_IMAGE,
    name: str = DEFAULT_NAME,
    namespace: str = DEFAULT_NAMESPACE,
    secret_name: str | None = None,
    host: str | None = None,
    replicas: int = 1,
    redis_url: str | None = None,
    in_cluster_redis: bool = False,
    tls_secret: str | None = None,
    certificate_ocid: str | None = None,
    ingress_class: str | None = None,
    image_pull_secret: str | None = None,
    trusted_proxies: tuple[str, ...] | list[str] = (),
    service_monitor: bool = False,
    otel_endpoint: str | None = None,
    force: bool = False,
) -> DeploySpec:
    """Validate the flags of ``deploy kubernetes`` against the ``.env``."""
    _name(name, "--name", limit=57)  # room for the "-redis" suffix
    _name(namespace, "--namespace")
    secret_name = _name(
        secret_name or f"{name}-env", "--secret-name", pattern=_SUBDOMAIN, limit=253
    )
    if replicas < 1:
        raise UserError(f"--replicas must be at least 1 (got {replicas})")
    if tls_secret and certificate_ocid:
        raise UserError(
            "--tls-secret and --certificate-ocid exclude each other",
            hint="a Kubernetes TLS Secret, or an OCI Certificates service certificate",
        )
    if certificate_ocid and ingress_class:
        raise UserError(
            "--certificate-ocid works with the OCI Load Balancer Service, not with an Ingress",
            hint="leave --ingress-class out, or give the Ingress a --tls-secret",
        )
    if certificate_ocid is not None and not _CERT_OCID.fullmatch(certificate_ocid):
        raise UserError(
            f"--certificate-ocid {certificate_ocid!r} is not a certificate OCID",
            hint="the OCID of a certificate in the OCI Certificates service "
            "(ocid1.certificate.oc1.…), in the load balancer's region",
        )
    if not certificate_ocid:
        tls_secret = _name(tls_secret or f"{name}-tls", "--tls-secret", pattern=_SUBDOMAIN,
                           limit=253)
    if ingress_class is not None:
        _name(ingress_class, "--ingress-class", pattern=_SUBDOMAIN, limit=253)
    if image_pull_secret is not None:
        _name(image_pull_secret, "--image-pull-secret", pattern=_SUBDOMAIN, limit=253)
    _image(image)
    proxies = _proxies(trusted_proxies)
    loaded = load_deploy_env(env_file)
    public_host = _host(loaded, host)
    storage_url, source, warnings = _storage(loaded, redis_url, in_cluster_redis, name)
    otel, otel_warnings = _otel_endpoint(otel_endpoint, loaded)
    if replicas > 1 and source is None:
        raise UserError(
            f"--replicas {replicas} needs a shared Redis storage, --redis-url or "
            "--in-cluster-redis: every replica must see the same OAuth state",
            hint="add --redis-url rediss://<OCI Cache endpoint>:6379 (OCI Cache) or "
            "--in-cluster-redis (one Redis pod, for trials)",
        )
    if not has_registry(image):
        warnings.append(
            f"--image {image} names no registry: push the image to one the cluster can pull "
            f"from, e.g. --image <region>.ocir.io/<tenancy namespace>/oci-mcp:{__version__}"
        )
    return _spec(
        KUBERNETES, loaded, env_file, out, public_host, image, name,
        namespace=namespace,
        secret_name=secret_name,
        replicas=replicas,
        storage_url=storage_url,
        storage_source=source,
        tls_secret=tls_secret if not certificate_ocid else None,
        certificate_ocid=certificate_ocid,
        ingress_class=ingress_class,
        image_pull_secret=image_pull_secret,
        trusted_proxies=proxies,
        service_monitor=service_monitor,
        otel_endpoint=otel,
        force=force,
        warnings=tuple(_domain_warnings(loaded.env) + warnings + otel_warnings),
    )


def compose_spec(
    env_file: Path,
    out: Path,
    *,
    image: str = DEFAULT_IMAGE,
    name: str = DEFAULT_NAME,
    host: str | None = None,
    otel_endpoint: str | None = None,
    force: bool = False,
) -> DeploySpec:
    """Validate the flags of ``deploy compose`` (one VM: server + Redis + Caddy)."""
    _name(name, "--name")
    _image(image)
    loaded = load_deploy_env(env_file)
    public_host = _host(loaded, host)
    otel, otel_warnings = _otel_endpoint(otel_endpoint, loaded)
    warnings = _domain_warnings(loaded.env) + otel_warnings
    if loaded.storage:
        warnings.append(
            f"{STORAGE_KEY} from {loaded.env.path} is overridden by the compose file's Redis"
        )
    return _spec(
        COMPOSE, loaded, env_file, out, public_host, image, name,
        namespace="",
        secret_name="",
        storage_url="redis://redis:6379/0",
        storage_source=IN_CLUSTER,
        trusted_proxies=("*",),
        otel_endpoint=otel,
        force=force,
        warnings=tuple(warnings),
    )


def _spec(
    target: str,
    loaded: _Env,
    env_file: Path,
    out: Path,
    host: str,
    image: str,
    name: str,
    **fields: Any,
) -> DeploySpec:
    """The spec of a validated rendering: what every target takes from the .env, ``out``
    prepared last (after every flag passed its check), then the target's own ``fields``."""
    return DeploySpec(
        target=target,
        env_file=Path(env_file),
        out=_prepare_out(out),
        server_url=loaded.server_url,
        redirect_uri=loaded.redirect_uri,
        host=host,
        image=image,
        name=name,
        secret_values=loaded.secrets,
        **fields,
    )
