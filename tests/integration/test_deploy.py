"""Deployment files: the compose file parsed and checked (and `docker compose config` where docker compose
runs), the kustomization rendered with `kubectl kustomize` and validated against the Kubernetes schemas
(kubernetes-validate) where those tools exist, the policies they ship validated, the Grafana provisioning,
and each deploy (docker, compose, Kubernetes) run with its own command, environment and policy until ready.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.procs import Upstream, child_env, free_port, stop
from tests.support.redis_server import REDIS_SERVER, RedisServer

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
                [*command, "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"],
                capture_output=True,
                text=True,
                env={**os.environ, **SECRETS},  # compose refuses to start without ROUTER_API_KEY
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
        [sys.executable, "-m", "router", "policy", "validate", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=child_env(SECRETS),
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


# --- Each shipped deploy starts as shipped -------------------------------------------------------------
# The container's command and environment are read from the deploy files themselves (the Dockerfile's ENV,
# ENTRYPOINT and CMD; the compose service's environment, command and volumes; the Kubernetes container's
# env, command/args and ConfigMap volume) and run here as a process. Only what cannot exist outside a
# container is translated: in-container paths to the repository files they hold, service host names to
# real local servers (Redis, an upstream model), the port to a free one, and secrets to test values.
# The host stays what the deploy sets (0.0.0.0): that is what the open-gateway guard judges.

API_KEY = "sk-deploy-test-key"
SECRETS = {"ROUTER_API_KEY": API_KEY, "OPENAI_API_KEY": "sk-test-openai"}  # what an operator provides


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    return lines


def dockerfile() -> tuple[dict[str, str], list[str], list[str], dict[str, Path]]:
    """ENV, ENTRYPOINT, CMD and the files COPY'd from the build context, of the final stage."""
    env: dict[str, str] = {}
    entrypoint: list[str] = []
    cmd: list[str] = []
    files: dict[str, Path] = {}
    for line in _logical_lines((DEPLOY / "Dockerfile").read_text()):
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            env, entrypoint, cmd, files = {}, [], [], {}
        elif word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "COPY" and not rest.startswith("--from"):
            *sources, dest = shlex.split(rest)
            for source in sources:
                files[dest] = ROOT / source
    return env, entrypoint, cmd, files


def _interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from the operator's environment."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if shell.get(name):
            return shell[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def _host_path(path: str, mounts: list[tuple[str, Path]]) -> Path:
    """Where a path inside the container is in the repository: the first mount (in precedence order) holding it."""
    for inside, outside in mounts:
        if path == inside or path.startswith(inside.rstrip("/") + "/"):
            return outside / Path(path).relative_to(inside) if path != inside else outside
    raise AssertionError(f"{path} is not in the image or any mount")


@dataclass
class Deploy:
    command: list[str]
    env: dict[str, str]
    mounts: list[tuple[str, Path]]  # (path in the container, path here), first wins


def docker_deploy() -> Deploy:
    env, entrypoint, cmd, files = dockerfile()
    return Deploy(entrypoint + cmd, {**env, **SECRETS}, list(files.items()))


def compose_deploy() -> Deploy:
    image_env, entrypoint, cmd, files = dockerfile()
    service = compose()["services"]["router"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    env = {k: _interpolate(str(v), SECRETS) for k, v in service.get("environment", {}).items()}
    if "entrypoint" in service:
        entrypoint = list(service["entrypoint"])
    if "command" in service:
        cmd = list(service["command"])
    mounts = []
    for volume in service.get("volumes", []):
        source, inside = volume.split(":")[:2]
        if source.startswith("."):
            mounts.append((inside, (DEPLOY / source).resolve()))
    return Deploy(entrypoint + cmd, {**image_env, **env}, mounts + list(files.items()))


def kubernetes_deploy(rendered: dict[str, dict[str, Any]], tmp: Path) -> Deploy:
    image_env, entrypoint, cmd, files = dockerfile()
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    secret_values = {"redis-url": "redis://redis.example:6379/0", "api-key": API_KEY, "openai-api-key": SECRETS["OPENAI_API_KEY"]}
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "router-secrets", ref
        if ref["key"] in secret_values:
            env[item["name"]] = secret_values[ref["key"]]
        else:
            assert ref.get("optional"), f"the pod needs secret key {ref['key']!r}, which the docs do not ask for"
    if "command" in container:  # Kubernetes: command replaces ENTRYPOINT, args replaces CMD
        entrypoint, cmd = list(container["command"]), []
    if "args" in container:
        cmd = list(container["args"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            config_map = rendered["ConfigMap"]
            assert config_map["metadata"]["name"] == volume["configMap"]["name"]
            where = tmp / mount["name"]
            where.mkdir()
            for name, text in config_map["data"].items():
                (where / name).write_text(text)
            mounts.append((mount["mountPath"], where))
    return Deploy(entrypoint + cmd, {**image_env, **env}, mounts + list(files.items()))


def start_deploy(deploy: Deploy, tmp: Path, redis_url: str, slm_url: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    env = dict(deploy.env)
    port = free_port()
    hosts = {"redis://redis:6379/0": redis_url, "redis://redis.example:6379/0": redis_url}
    for key, value in env.items():
        for name, local in hosts.items():
            value = value.replace(name, local)
        value = re.sub(r"^http://(slm|llama-server):8080/v1$", slm_url, value)
        env[key] = value
    env["ROUTER_PORT"] = str(port)
    if "ROUTER_POLICY" in env:
        env["ROUTER_POLICY"] = str(_host_path(env["ROUTER_POLICY"], deploy.mounts))
    if "PROMETHEUS_MULTIPROC_DIR" in env:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "multiproc")  # the entrypoint empties it: never a shared path
    env["ROUTER_DRAIN_SECONDS"] = "0.5"  # a quick stop for the test; not a deploy setting
    full = child_env(env)
    full["PATH"] = os.path.dirname(sys.executable) + os.pathsep + full.get("PATH", "")  # `router` of this Python
    log = tmp / "deploy.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(deploy.command, cwd=tmp, env=full, stdout=out, stderr=subprocess.STDOUT)
    return proc, port, log


def assert_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    ready = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the deploy's gateway exited with {proc.returncode}:\n{log.read_text(errors='replace')}"
        try:
            ready = httpx.get(url + "/readyz", timeout=2)
            if ready.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    assert ready is not None and ready.status_code == 200, log.read_text(errors="replace")
    assert httpx.get(url + "/v1/models", timeout=10).status_code == 401  # listening on all interfaces: keys required
    models = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert models.status_code == 200 and "auto" in {m["id"] for m in models.json()["data"]}


@pytest.fixture
def local_redis(tmp_path: Path) -> Iterator[str]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis").start()
    yield server.url
    server.stop()


@pytest.mark.parametrize("kind", ["docker", "compose", "kubernetes"])
def test_each_shipped_deploy_starts_and_gets_ready(
    kind: str, request: pytest.FixtureRequest, local_redis: str, slm: Upstream, tmp_path: Path
) -> None:
    if kind == "docker":
        deploy = docker_deploy()
    elif kind == "compose":
        deploy = compose_deploy()
    else:
        deploy = kubernetes_deploy(request.getfixturevalue("rendered"), tmp_path)
    assert deploy.env["ROUTER_HOST"] == "0.0.0.0"  # what the guard judges, as shipped
    proc, port, log = start_deploy(deploy, tmp_path, local_redis, slm.base_url)
    try:
        assert_ready(proc, port, log)
    finally:
        stop(proc, timeout=30)
