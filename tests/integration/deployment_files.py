"""Read the deployment files (compose, rendered k8s overlays, Dockerfiles) into plain Python values."""

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

OVERLAYS = ("cpu", "gpu")
DOCKERFILES = sorted(REPO_ROOT.glob("services/*/Dockerfile*"))
URL_PATH = re.compile(r"https?://[^/'\"\s]+(/[A-Za-z0-9_/]*)")
URL_PORT = re.compile(r"https?://[^:/'\"\s]+:(\d+)")


@dataclass(frozen=True)
class Container:
    """One service's container as some deployment file declares it."""

    origin: str
    service: str  # gateway, retriever or generator
    env: dict[str, str]
    ports: list[int]
    probe_paths: list[str]
    mounts: dict[str, str]  # volume name -> mount path


def render_overlay(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not installed"
    output = subprocess.run(
        [kubectl, "kustomize", str(REPO_ROOT / "k8s/overlays" / overlay)],  # kustomize's defaults, as users run it
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def load_compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return compose


def compose_service_name(name: str) -> str | None:
    base = name.split("-")[0]
    return base if base in {"gateway", "retriever", "generator"} else None


def compose_containers(compose: dict[str, Any]) -> list[Container]:
    containers = []
    for name, service in compose["services"].items():
        kind = compose_service_name(name)
        if kind is None:
            continue
        env = {key: str(value) for key, value in (service.get("environment") or {}).items()}
        health = " ".join(service.get("healthcheck", {}).get("test", []))
        mounts = {}
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            mounts[source] = target
        containers.append(
            Container(
                origin=f"docker-compose.yml:{name}",
                service=kind,
                env=env,
                ports=[int(port.split(":")[-1]) for port in service.get("ports", [])],
                probe_paths=URL_PATH.findall(health),
                mounts=mounts,
            )
        )
    return containers


def k8s_containers(overlay: str, documents: list[dict[str, Any]]) -> list[Container]:
    containers = []
    for document in documents:
        if document["kind"] != "Deployment":
            continue
        pod = document["spec"]["template"]["spec"]
        claims = {
            volume["name"]: volume.get("persistentVolumeClaim", {}).get("claimName", volume["name"])
            for volume in pod.get("volumes", [])
        }
        for container in pod["containers"]:
            probes = [container.get(kind, {}) for kind in ("readinessProbe", "livenessProbe", "startupProbe")]
            containers.append(
                Container(
                    origin=f"k8s/overlays/{overlay}:{document['metadata']['name']}",
                    service=document["metadata"]["name"],
                    env={item["name"]: str(item.get("value", "<secret>")) for item in container.get("env", [])},
                    ports=[port["containerPort"] for port in container.get("ports", [])],
                    probe_paths=[probe["httpGet"]["path"] for probe in probes if "httpGet" in probe],
                    mounts={claims[mount["name"]]: mount["mountPath"] for mount in container.get("volumeMounts", [])},
                )
            )
    return containers


def dockerfile_containers() -> list[Container]:
    containers = []
    for path in DOCKERFILES:
        text = path.read_text().replace("\\\n", " ")
        env: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("ENV "):
                env.update(dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line)))
        health = "\n".join(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
        containers.append(
            Container(
                origin=str(path.relative_to(REPO_ROOT)),
                service=path.parent.name,
                env=env,
                ports=[int(port) for port in re.findall(r"^EXPOSE (\d+)", text, re.MULTILINE)],
                probe_paths=URL_PATH.findall(health),
                mounts={},
            )
        )
    return containers
