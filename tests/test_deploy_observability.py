"""`oci-mcp deploy` and observability (issue 19 §4), through the real CLI: every pod's metrics
port is exposed and annotated for scraping (never on the public load balancer), an optional
ServiceMonitor selects exactly the server pods' metrics port, ``--otel-endpoint`` passes the
standard ``OTEL_*`` variables through, and the exporter's credentials (an APM data key in the
env file's ``OTEL_EXPORTER_OTLP_HEADERS``) reach no rendered file and no output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_deploy import by_kind, cli, deploy, write_env, yaml_docs

K8S_VERSION = "1.33.0"
DATA_KEY = "APMDATAKEY7Q4W9E2R5T8Y1U3I6O0P"  # stands in for an APM private data key
HEADERS = f"Authorization=dataKey%20{DATA_KEY}"
APM = "https://aaaabbbbccccdddd.apm-agt.us-ashburn-1.oci.oraclecloud.com/20200101/opentelemetry/private"


def server_container(out: Path) -> dict[str, Any]:
    (deployment,) = [d for d in by_kind(out)["Deployment"] if d["metadata"]["name"] == "oci-mcp"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_every_pod_exposes_its_metrics_port_for_scraping(tmp_path: Path) -> None:
    """The server container has a ``metrics`` port 9464, the pod template the
    ``prometheus.io/scrape|port|path`` annotations, the image listens for metrics on every
    interface; the public load balancer Service does not carry the metrics port, and without
    ``--service-monitor`` no ServiceMonitor is rendered."""
    out = tmp_path / "k8s"
    result = deploy("kubernetes", "--env-file", str(write_env(tmp_path / ".env")), "--out",
                    str(out))
    kinds = by_kind(out)
    container = server_container(out)
    assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
    (deployment,) = kinds["Deployment"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "9464",
                           "prometheus.io/path": "/metrics"}
    (service,) = kinds["Service"]
    assert [p["port"] for p in service["spec"]["ports"]] == [443]
    assert "ServiceMonitor" not in kinds
    assert not any(Path(f).name.startswith("60-") for f in result["files"])
    containerfile = (out / "Containerfile").read_text()
    assert "OCI_MCP_METRICS_HOST=0.0.0.0" in containerfile
    assert "OCI_MCP_METRICS_PORT=9464" in containerfile
    assert "EXPOSE 8000 9464" in containerfile
    assert "[otel]" in containerfile  # the image can send traces once OTEL_* say where


def test_service_monitor_selects_exactly_the_server_pods_metrics_port(tmp_path: Path) -> None:
    """``--service-monitor``: a headless metrics Service selecting the server pods (port
    ``metrics`` → the container's ``metrics`` port) and a ``monitoring.coreos.com/v1``
    ServiceMonitor selecting only that Service, in the same namespace. Every other document
    validates against the Kubernetes schemas (the ServiceMonitor CRD is not among them, so its
    shape is checked here)."""
    import kubernetes_validate

    out = tmp_path / "k8s"
    deploy("kubernetes", "--env-file", str(write_env(tmp_path / ".env")), "--out", str(out),
           "--service-monitor", "--namespace", "mcp", "--replicas", "2", "--in-cluster-redis")
    docs = yaml_docs(out / "60-servicemonitor.yaml")
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    (metrics,) = [d for d in docs if d["kind"] == "Service"]
    for path in sorted(out.glob("*.yaml")):
        for doc in yaml_docs(path):
            if doc["kind"] != "ServiceMonitor":
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["metadata"]["namespace"] == metrics["metadata"]["namespace"] == "mcp"
    spec = monitor["spec"]
    assert set(spec) == {"selector", "namespaceSelector", "endpoints"}
    assert spec["namespaceSelector"] == {"matchNames": ["mcp"]}
    assert spec["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    (endpoint,) = spec["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "30s"}
    (port,) = metrics["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("metrics", 9464, "metrics")
    # The metrics Service selects the server pods, and only the metrics Service is selected.
    kinds = by_kind(out)
    server = next(d for d in kinds["Deployment"] if d["metadata"]["name"] == "oci-mcp")
    pod_labels = server["spec"]["template"]["metadata"]["labels"]
    assert metrics["spec"]["selector"].items() <= pod_labels.items()
    selected = [s["metadata"]["name"] for s in kinds["Service"]
                if spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert selected == ["oci-mcp-metrics"]
    assert "metrics" in {p["name"] for p in server_container(out)["ports"]}


def test_otel_endpoint_passes_the_standard_variables_through(tmp_path: Path) -> None:
    """``--otel-endpoint``: the server gets ``OTEL_EXPORTER_OTLP_ENDPOINT`` and
    ``OTEL_SERVICE_NAME`` (Kubernetes env, compose environment); the headers stay in the env
    file (the Secret / env_file)."""
    env_file = write_env(tmp_path / ".env", OTEL_EXPORTER_OTLP_HEADERS=HEADERS)
    k8s, vm = tmp_path / "k8s", tmp_path / "vm"
    deploy("kubernetes", "--env-file", str(env_file), "--out", str(k8s), "--otel-endpoint", APM,
           "--name", "mcp-prod")
    env = {e["name"]: e["value"] for e in server_container_named(k8s, "mcp-prod")["env"]}
    assert env == {"OTEL_EXPORTER_OTLP_ENDPOINT": APM, "OTEL_SERVICE_NAME": "mcp-prod"}
    deploy("compose", "--env-file", str(env_file), "--out", str(vm), "--otel-endpoint", APM)
    (compose,) = yaml_docs(vm / "compose.yaml")
    assert compose["services"]["server"]["environment"] == {
        "OCI_MCP_STORAGE": "redis://redis:6379/0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": APM,
        "OTEL_SERVICE_NAME": "oci-mcp",
    }


def server_container_named(out: Path, name: str) -> dict[str, Any]:
    (deployment,) = [d for d in by_kind(out)["Deployment"] if d["metadata"]["name"] == name]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_the_exporters_credentials_reach_no_rendered_file_or_output(tmp_path: Path) -> None:
    """A data key in the env file's ``OTEL_EXPORTER_OTLP_HEADERS`` is in no rendered file and
    no output, for every target and option; and the secret scan knows it: a data key typed into
    ``--otel-endpoint`` itself is refused before anything is written."""
    env_file = write_env(tmp_path / ".env", OTEL_EXPORTER_OTLP_HEADERS=HEADERS)
    for index, (target, args) in enumerate((
        ("kubernetes", ["--otel-endpoint", APM, "--service-monitor"]),
        ("kubernetes", ["--otel-endpoint", APM, "--ingress-class", "nginx", "--replicas", "2",
                        "--in-cluster-redis"]),
        ("compose", ["--otel-endpoint", APM]),
    )):
        out = tmp_path / f"out-{index}"
        result = cli("deploy", target, "--env-file", str(env_file), "--out", str(out), *args)
        assert result.returncode == 0, result.stderr
        assert DATA_KEY not in result.stdout + result.stderr
        for path in (p for p in out.rglob("*") if p.is_file()):
            assert DATA_KEY not in path.read_text(), path
    out = tmp_path / "leak"
    leak = cli("deploy", "kubernetes", "--env-file", str(env_file), "--out", str(out),
               "--otel-endpoint", f"https://collector.example.com/{DATA_KEY}")
    assert leak.returncode == 1, leak.stdout + leak.stderr
    assert "would contain a secret value" in leak.stderr and "Traceback" not in leak.stderr
    assert DATA_KEY not in leak.stdout + leak.stderr
    assert not out.exists() or not any(out.iterdir())


def test_header_secrets_are_each_value_and_key() -> None:
    from oci_mcp_cli.deploy.options import header_secrets

    assert header_secrets(HEADERS, "") == [HEADERS, f"dataKey {DATA_KEY}", DATA_KEY]
    assert header_secrets("a=1,x-api-key=k%3Dv") == ["a=1,x-api-key=k%3Dv", "1", "1", "k=v", "k=v"]


def test_apm_without_a_data_key_is_a_warning(tmp_path: Path) -> None:
    result = cli("deploy", "compose", "--env-file", str(write_env(tmp_path / ".env")), "--out",
                 str(tmp_path / "vm"), "--otel-endpoint", APM)
    assert result.returncode == 0, result.stderr
    assert "needs a data key" in result.stderr
    assert "OTEL_EXPORTER_OTLP_HEADERS=Authorization=dataKey%20" in result.stderr


BAD_OTEL = {
    "not-http": ("ftp://collector.example.com/?key=pa55word-xyz", "is not an http(s) URL"),
    "no-host": ("https://", "is not an http(s) URL"),
    "userinfo": ("https://user:pa55word-xyz@collector.example.com", "carries credentials"),
    "query": ("https://collector.example.com/v1?key=pa55word-xyz", "carries credentials"),
}


@pytest.mark.parametrize("case", sorted(BAD_OTEL))
@pytest.mark.parametrize("target", ["kubernetes", "compose"])
def test_a_bad_otel_endpoint_is_exit_2_with_one_clear_line(
    tmp_path: Path, case: str, target: str
) -> None:
    value, expected = BAD_OTEL[case]
    out = tmp_path / "out"
    result = cli("deploy", target, "--env-file", str(write_env(tmp_path / ".env")), "--out",
                 str(out), "--otel-endpoint", value)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], result.stderr
    assert "pa55word-xyz" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and not out.exists()



def test_a_quoted_otel_header_that_kubectl_would_misread_is_refused(tmp_path: Path) -> None:
    """``kubectl create secret generic --from-env-file`` keeps quotes: a quoted
    ``OTEL_EXPORTER_OTLP_HEADERS`` would reach the server as a broken header. Exit 2, naming the
    key, not its value."""
    env_file = write_env(tmp_path / ".env")
    with env_file.open("a") as f:
        f.write(f'OTEL_EXPORTER_OTLP_HEADERS="{HEADERS}"\n')
    result = cli("deploy", "kubernetes", "--env-file", str(env_file), "--out",
                 str(tmp_path / "k8s"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "OTEL_EXPORTER_OTLP_HEADERS" in result.stderr and "kubectl" in result.stderr
    assert DATA_KEY not in result.stdout + result.stderr
