"""What a gateway with tenants tells a reader without the admin key: nothing of the tenants' business.

/metrics and /router/policy name tenants, their traffic, spend and budgets and the policy's path: with
tenants they need the admin key, and Prometheus scrapes a separate loopback listener
(`router serve --metrics-port`). A refused reload never shows a value read from the environment, and
concurrent scrapes are answered (rendered off the event loop, shared)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, free_port, start_gateway, two_tier_policy

ACME, ADMIN, SECRET = "sk-acme-operator-1", "admin-operator-2", "s3cr3t-value-that-must-not-show"


def tenant_policy(slm: Upstream, llm: Upstream, routes: list[str] | None = None) -> str:
    p = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    p["tenants"] = {
        "acme": {"api_keys": ["${ACME_KEY}"], "routes": routes or ["auto"], "limits": {"usd_per_day": 7.5}},
    }
    return json.dumps(p)


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def gw(slm: Upstream, llm: Upstream, metrics_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"ACME_KEY": ACME, "ROUTER_ADMIN_KEY": ADMIN, "DB_PASSWORD": SECRET}
    gateway = start_gateway(
        tenant_policy(slm, llm), tmp_path_factory.mktemp("ops"), env=env, args=["--metrics-port", str(metrics_port)]
    )
    yield gateway
    gateway.stop()


def _chat(gw: Gateway) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(f"{gw.base_url}/chat/completions", json=body, headers={"authorization": f"Bearer {ACME}"}).raise_for_status()


@pytest.mark.parametrize("path", ["/metrics", "/router/policy"])
def test_with_tenants_metrics_and_policy_need_the_admin_key(gw: Gateway, path: str) -> None:
    _chat(gw)
    for headers in ({}, {"authorization": f"Bearer {ACME}"}, {"authorization": "Bearer wrong"}):
        r = httpx.get(gw.url + path, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["type"] == "authentication_error"
        assert "acme" not in r.text and "7.5" not in r.text
    r = httpx.get(gw.url + path, headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 200
    assert "acme" in r.text


def test_prometheus_scrapes_the_metrics_port_without_a_key(gw: Gateway, metrics_port: int) -> None:
    _chat(gw)
    r = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    served = [line for line in r.text.splitlines() if line.startswith("router_requests_total{") and 'tenant="acme"' in line]
    assert served and sum(float(line.split()[-1]) for line in served) >= 1
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/router/policy").status_code == 404  # metrics only


def test_the_metrics_listener_is_on_loopback_by_default(gw: Gateway, metrics_port: int) -> None:
    """Bound to 127.0.0.1 itself: another address of the machine (127.0.0.2 is one on Linux) is refused,
    as every external address would be; a listener on 0.0.0.0 would take it."""
    assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.2:{metrics_port}/metrics", timeout=2)
    with socket.socket() as wildcard:  # the control: a listener on every address does take 127.0.0.2
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen(1)
        socket.create_connection(("127.0.0.2", wildcard.getsockname()[1]), timeout=2).close()


def test_concurrent_scrapes_are_all_answered(gw: Gateway, metrics_port: int) -> None:
    _chat(gw)
    urls = [f"http://127.0.0.1:{metrics_port}/metrics"] * 8 + [f"{gw.url}/metrics"] * 8
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda u: httpx.get(u, headers={"authorization": f"Bearer {ADMIN}"}, timeout=30), urls))
    assert all(r.status_code == 200 and "router_requests_total" in r.text for r in got)
    _chat(gw)  # a scrape after a request sees it
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    before = sum(float(x.split()[-1]) for x in got[0].text.splitlines() if x.startswith("router_requests_total{"))
    after = sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith("router_requests_total{"))
    assert after == before + 1


def test_a_refused_reload_never_shows_a_value_from_the_environment(gw: Gateway, slm: Upstream, llm: Upstream) -> None:
    good = tenant_policy(slm, llm)
    bad = tenant_policy(slm, llm, routes=["auto", "${DB_PASSWORD}", "${ACME_KEY}"])  # an env ref in the wrong place
    try:
        status = gw.rewrite_policy(bad)
        error = status["last_reload_error"]
        assert error is not None and "${DB_PASSWORD}" in error["message"] and "${ACME_KEY}" in error["message"]
        shown = httpx.get(gw.url + "/router/policy", headers=gw.admin_headers).text
        assert SECRET not in shown and ACME not in shown
        assert SECRET not in gw.logs() and ACME not in gw.logs()
    finally:
        assert gw.rewrite_policy(good)["last_reload_error"] is None


def test_without_tenants_metrics_and_policy_stay_open(gateway: Gateway) -> None:
    assert httpx.get(gateway.url + "/metrics").status_code == 200
    assert httpx.get(gateway.url + "/router/policy").status_code == 200


def test_the_cli_documents_the_metrics_listener(tmp_path: Path) -> None:
    from tests.support.procs import run_router

    done = run_router("serve", "--help")
    assert "--metrics-port" in done.stdout and "--metrics-host" in done.stdout


def test_shipped_deploys_scrape_the_metrics_listener(root: Path) -> None:
    """Prometheus (compose) and the ServiceMonitor (Kubernetes) scrape the port the gateway's metrics
    listener is configured on, not the API port."""
    import yaml

    deploy = root / "deploy"
    compose_env = yaml.safe_load((deploy / "docker-compose.yml").read_text())["services"]["router"]["environment"]
    prom = yaml.safe_load((deploy / "prometheus/prometheus.yml").read_text())
    router_job = next(job for job in prom["scrape_configs"] if job["job_name"] == "router")
    assert router_job["static_configs"][0]["targets"] == [f"router:{compose_env['ROUTER_METRICS_PORT']}"]
    k8s = deploy / "kubernetes"
    container = yaml.safe_load((k8s / "deployment.yaml").read_text())["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service = {p["name"]: p["targetPort"] for p in yaml.safe_load((k8s / "service.yaml").read_text())["spec"]["ports"]}
    monitor = yaml.safe_load((k8s / "servicemonitor.yaml").read_text())["spec"]["endpoints"][0]
    assert ports[service[monitor["port"]]] == int(env["ROUTER_METRICS_PORT"]) != ports["http"]
