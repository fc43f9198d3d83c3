"""Deployment files: the compose file parsed and checked (and `docker compose config` where docker compose
runs), the kustomization rendered with `kubectl kustomize` and validated against the Kubernetes schemas
(kubernetes-validate) where those tools exist, the policies they ship validated, the Grafana provisioning.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KINDS = {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"}
GATEWAY_GRACE_S = 30  # uvicorn's timeout_graceful_shutdown in `router serve`


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_stack() -> None:
    services = compose()["services"]
    assert {"router", "redis", "slm", "prometheus", "grafana"} <= set(services)
    router = services["router"]
    assert (DEPLOY / router["build"]["context"] / router["build"]["dockerfile"]).is_file()
    assert router["environment"]["ROUTER_REDIS_URL"].startswith("redis://redis:")
    assert router["environment"]["SLM_BASE_URL"] == "http://slm:8080/v1"
    assert router["depends_on"]["redis"]["condition"] == "service_healthy"
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"  # AOF
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert services["slm"]["image"].startswith("ghcr.io/ggml-org/llama.cpp:server")
    mounts = {v.split(":")[1]: v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if v.startswith(".")}
    for source in mounts.values():  # every bind mount exists in the repository
        assert (DEPLOY / source).exists(), source
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == "../dashboards"
    assert mounts["/etc/prometheus/alerts.yml"] == "./prometheus/alerts.yml"
    assert (DEPLOY / mounts["/etc/router"] / "policy.yaml").is_file()


def test_compose_config_when_docker_compose_runs() -> None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) and subprocess.run([*command, "version"], capture_output=True).returncode == 0:
            done = subprocess.run(
                [*command, "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            return
    pytest.skip("docker compose is not available")


def test_grafana_provisioning_points_at_dashboards_and_prometheus() -> None:
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())["datasources"][0]
    assert (ds["type"], ds["url"]) == ("prometheus", "http://prometheus:9090")
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/router.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert len(list((ROOT / "dashboards").glob("*.json"))) >= 3
    for path in (ROOT / "dashboards").glob("*.json"):
        assert "${DS_PROMETHEUS}" not in path.read_text() and json.loads(path.read_text())["uid"]


def test_shipped_policies_are_valid() -> None:
    paths = [str(DEPLOY / "policy/policy.yaml"), str(DEPLOY / "kubernetes/policy.yaml")]
    done = subprocess.run(
        [sys.executable, "-m", "router", "policy", "validate", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_dockerfile_runs_router_serve_with_a_clean_multiproc_dir() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "PROMETHEUS_MULTIPROC_DIR" in text and "rm -rf" in text and "router serve" in text and "EXPOSE 8400" in text


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run([kubectl, "kustomize", str(DEPLOY / "kubernetes")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(done.stdout) if doc}


def test_kustomization_renders_the_workload(rendered: dict[str, dict[str, Any]]) -> None:
    assert set(rendered) >= KINDS
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    drain = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > drain + GATEWAY_GRACE_S
    config_map = rendered["ConfigMap"]["metadata"]["name"]
    assert config_map.startswith("router-policy-") and len(config_map) > len("router-policy-")  # hash suffix: edits roll pods
    assert [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v] == [config_map]
    env = {e["name"]: e for e in container["env"]}
    assert env["ROUTER_REDIS_URL"]["valueFrom"]["secretKeyRef"]["key"] == "redis-url"
    assert env["ROUTER_POLICY"]["value"] == "/etc/router/policy.yaml"
    assert "PROMETHEUS_MULTIPROC_DIR" in env
    pod_labels = rendered["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        spec = rendered[kind]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= pod_labels.items(), kind
    monitor = rendered["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"].items() <= rendered["Service"]["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] in {p["name"] for p in rendered["Service"]["spec"]["ports"]}
    assert rendered["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == rendered["Deployment"]["metadata"]["name"]


def test_kustomization_matches_kubernetes_schemas(rendered: dict[str, dict[str, Any]]) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    for kind, doc in rendered.items():
        if kind == "ServiceMonitor":
            continue  # a CRD: not in the Kubernetes schemas
        kv.validate(doc, "1.30.0", strict=True)  # raises on a schema violation
