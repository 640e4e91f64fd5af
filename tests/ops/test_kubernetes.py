"""deploy/kubernetes: every manifest validates (strictly: a typo'd field fails) against the
Kubernetes JSON schemas that the kubernetes-validate wheel ships (no network), and the pieces
agree with each other and with the image."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds_hooks.settings import Settings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
# The oldest release we support (preStop `sleep` is GA from 1.30) and the newest schemas shipped.
VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
IMAGE_ENV = {"TRACTION_WORKERS", "TRACTION_GRACEFUL_TIMEOUT_SECONDS"}


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in kustomization()["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            if doc:
                found.append((name, doc))
    return found


def one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in documents() if d["kind"] == kind]
    return doc


def test_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("version", VERSIONS)
def test_manifests_validate_strictly(version: str) -> None:
    kinds = set()
    for name, doc in documents():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {path}: {exc.message}")
        kinds.add(doc["kind"])
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
    } <= kinds


def test_a_typo_fails_validation() -> None:
    deployment = one("Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_pod_is_locked_down_and_probed() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/app/var", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"][0]["containerPort"] == 8000
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    multiproc = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert multiproc["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")


def test_graceful_shutdown_fits_the_grace_period() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(one("ConfigMap")["data"]["TRACTION_GRACEFUL_TIMEOUT_SECONDS"])
    assert pre_stop + graceful < pod["terminationGracePeriodSeconds"]


def test_config_keys_are_settings_the_service_reads() -> None:
    known = {f"TRACTION_{name.upper()}" for name in Settings.model_fields} | IMAGE_ENV
    config = one("ConfigMap")["data"]
    secret = one("Secret")["stringData"]
    assert set(config) | set(secret) <= known
    assert config["TRACTION_AUTH_MODE"] == "jwt"
    assert secret["TRACTION_DATABASE_URL"].startswith("postgresql+asyncpg://")
    pod = one("Deployment")["spec"]["template"]["spec"]
    refs = {next(iter(source.values()))["name"] for source in pod["containers"][0]["envFrom"]}
    assert refs == {one("ConfigMap")["metadata"]["name"], one("Secret")["metadata"]["name"]}


def test_secret_holds_placeholders_only() -> None:
    secret = one("Secret")["stringData"]
    assert "CHANGE-ME" in secret["TRACTION_DATABASE_URL"]
    assert all(re.search(r"example\.(org|internal)", v) or not v for v in secret.values())


def test_selectors_and_targets_agree() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        doc = one(kind)["spec"]
        chosen = (
            doc.get("selector", {}).get("matchLabels")
            or doc.get("selector")
            or (doc["podSelector"]["matchLabels"])
        )
        assert chosen.items() <= labels.items(), kind
    assert one("Service")["spec"]["ports"][0]["targetPort"] == "http"
    target = one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    hpa = one("HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] >= 2 > one("PodDisruptionBudget")["spec"]["minAvailable"]
