"""Kubernetes: both overlays render offline (kubectl kustomize) and pass kubernetes-validate --strict;
the rendered objects carry the probes, limits, non-root, HPA and the blue/green switch; `make k8s-deploy`
and `make k8s-rollback` move the switch only when they should (a stand-in kubectl: no cluster here).
"""

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import broken_copy, free_port, make, require_tool

OVERLAYS = ("staging", "production")
COLOURS = ("blue", "green")
NAMESPACE = {"staging": "my-ml-service-staging", "production": "my-ml-service"}
HPA_RANGE = {"staging": (1, 3), "production": (2, 10)}
FAKE_KUBECTL = Path(__file__).parent / "k8s" / "fake_kubectl.py"
REGISTRY = "ghcr.io/owner/repo"
KUBECONFIG_DATA = "apiVersion: v1\nkind: Config\nclusters: []"


@pytest.fixture(scope="module")
def rendered(bake_session):
    """Both overlays rendered by `make k8s-validate` (which also validates them), by kind/name."""
    require_tool("kubectl"), require_tool("kubernetes-validate")
    project = bake_session()
    result = make(project, "k8s-validate", f"REGISTRY={REGISTRY}", "IMAGE_TAG=0123abc")
    assert "k8s-validate: staging production valid" in result.stdout
    return {
        overlay: {
            f"{doc['kind']}/{doc['metadata']['name']}": doc
            for doc in yaml.safe_load_all((project / f"reports/k8s/{overlay}.yaml").read_text())
        }
        for overlay in OVERLAYS
    }


def pod(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_probes_limits_and_runs_non_root_read_only_without_a_token(
    rendered, overlay
):
    objects = rendered[overlay]
    deployments = {k: v for k, v in objects.items() if k.startswith("Deployment/")}
    assert set(deployments) == {f"Deployment/{app}-{c}" for app in ("api", "ui") for c in COLOURS}
    probes = {"api": ("/ready", "/health"), "ui": ("/_stcore/health", "/_stcore/health")}
    for name, deployment in deployments.items():
        assert deployment["metadata"]["namespace"] == NAMESPACE[overlay]
        app, colour = name.split("/")[1].split("-")
        spec = pod(deployment)
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        (container,) = spec["containers"]
        assert container["image"] == f"{REGISTRY}/{app}:0123abc", name
        readiness, liveness = probes[app]
        assert container["readinessProbe"]["httpGet"]["path"] == readiness, name
        assert container["livenessProbe"]["httpGet"]["path"] == liveness, name
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (name, kind)
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        # What must write gets an emptyDir: /tmp everywhere, Streamlit's home in the UI.
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert mounts == ({"/tmp", "/home/app"} if app == "ui" else {"/tmp"}), name
        assert all("emptyDir" in volume for volume in spec["volumes"]), name
        labels = deployment["spec"]["selector"]["matchLabels"]
        assert labels == {"app.kubernetes.io/name": app, "colour": colour}, name
        assert deployment["spec"]["template"]["metadata"]["labels"]["colour"] == colour


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_of_each_colour_autoscales_and_both_apps_keep_a_disruption_budget(
    rendered, overlay
):
    objects = rendered[overlay]
    for colour in COLOURS:
        hpa = objects[f"HorizontalPodAutoscaler/api-{colour}"]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"api-{colour}",
        }
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == HPA_RANGE[overlay]
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"
        # The autoscaler owns the API's count: an apply must not reset it.
        assert "replicas" not in objects[f"Deployment/api-{colour}"]["spec"]
        for app in ("api", "ui"):
            budget = objects[f"PodDisruptionBudget/{app}-{colour}"]["spec"]
            assert budget["selector"]["matchLabels"] == {
                "app.kubernetes.io/name": app,
                "colour": colour,
            }
    ui_replicas = objects["Deployment/ui-blue"]["spec"]["replicas"]
    assert ui_replicas == HPA_RANGE[overlay][0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_switch_services_select_one_colour_and_each_colour_talks_to_its_own_api(
    rendered, overlay
):
    objects = rendered[overlay]
    for app, port in (("api", 8000), ("ui", 8501)):
        switch = objects[f"Service/{app}"]
        assert switch["metadata"]["labels"]["app.kubernetes.io/component"] == "switch"
        assert "colour" not in switch["metadata"]["labels"]  # never applied with a colour
        assert switch["spec"]["selector"] == {"app.kubernetes.io/name": app, "colour": "blue"}
        assert switch["spec"]["ports"][0]["port"] == port
    for colour in COLOURS:
        own = objects[f"Service/api-{colour}"]["spec"]["selector"]
        assert own == {"app.kubernetes.io/name": "api", "colour": colour}
        (env,) = pod(objects[f"Deployment/ui-{colour}"])["containers"][0]["env"]
        assert env == {"name": "ML_API_URL", "value": f"http://api-{colour}:8000"}


def test_kubernetes_validate_rejects_an_unknown_field(bake_session, tmp_path):
    require_tool("kubernetes-validate")
    broken = broken_copy(
        bake_session(),
        tmp_path,
        "deploy/k8s/base/app/api-deployment.yaml",
        "readinessProbe:",
        "readinesProbe:",
    )
    result = make(broken, "k8s-validate", check=False)
    assert result.returncode != 0
    assert "readinesProbe" in result.stdout + result.stderr


def test_an_unknown_overlay_is_refused_in_one_line(bake_session):
    result = make(bake_session(), "k8s-render", "K8S_ENV=prod", check=False)
    assert result.returncode != 0
    assert "no overlay deploy/k8s/overlays/prod: K8S_ENV is one of staging production" in (
        result.stdout
    )


class Cluster:
    """A project wired to the stand-in kubectl, and the cluster state it keeps."""

    def __init__(self, project: Path, tmp_path: Path):
        self.project, self.state = project, tmp_path / "cluster.json"
        kubectl = tmp_path / "kubectl"  # renders with the real kubectl, "talks" to the stand-in
        kubectl.write_text(
            f'#!/bin/sh\n[ "$1" = kustomize ] && exec {require_tool("kubectl")} "$@"\n'
            f'exec {sys.executable} {FAKE_KUBECTL} "$@"\n'
        )
        kubectl.chmod(0o755)
        self.kubectl = kubectl

    def make(self, target: str, tag: str, smoke: str = "true", unready: str = ""):
        ports = [f"K8S_SMOKE_API_PORT={free_port()}", f"K8S_SMOKE_UI_PORT={free_port()}"]
        return make(
            self.project,
            target,
            f"KUBECTL={self.kubectl}",
            f"IMAGE_TAG={tag}",
            f"K8S_SMOKE={smoke}",
            *ports,
            check=False,
            env={
                "FAKE_KUBE_STATE": str(self.state),
                "FAKE_KUBE_UNREADY": unready,
                "KUBECONFIG_DATA": KUBECONFIG_DATA,  # as GitHub and CircleCI hand a secret over
            },
        )

    @property
    def objects(self) -> dict:
        return json.loads(self.state.read_text())["objects"]

    def live(self) -> tuple[str, str]:
        return tuple(self.objects[f"Service/{app}"]["selector"]["colour"] for app in ("api", "ui"))

    def image(self, deployment: str) -> str:
        return self.objects[f"Deployment/{deployment}"]["image"]


def test_deploy_switches_only_after_the_new_colour_is_ready_and_smoked_and_rollback_switches_back(
    bake_session, tmp_path
):
    cluster = Cluster(bake_session(), tmp_path)
    first = cluster.make("k8s-deploy", "v1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert cluster.live() == ("blue", "blue")
    assert cluster.image("api-blue") == "my-ml-service-api:v1"
    assert "traffic switched from nothing to blue" in first.stdout
    # The secret's content became a file of its own, readable by this user only, that kubectl read.
    kubeconfig = cluster.project / ".tools" / "kubeconfig"
    assert kubeconfig.read_text() == KUBECONFIG_DATA + "\n"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert json.loads(cluster.state.read_text())["kubeconfig"] == str(kubeconfig)

    second = cluster.make("k8s-deploy", "v2")
    assert second.returncode == 0, second.stdout + second.stderr
    assert cluster.live() == ("green", "green")
    assert cluster.image("api-green") == "my-ml-service-api:v2"
    assert cluster.image("ui-green") == "my-ml-service-ui:v2"
    assert cluster.image("api-blue") == "my-ml-service-api:v1"  # the old colour is left alone
    assert "traffic switched from blue to green; blue stays ready" in second.stdout

    # A version 3 that fails its smoke, or never becomes ready, takes no traffic.
    failed = cluster.make("k8s-deploy", "v3", smoke="false")
    assert failed.returncode != 0
    assert "k8s-deploy: FAILED: blue did not pass the smoke gate; traffic stays on green" in (
        failed.stdout
    )
    assert cluster.live() == ("green", "green")
    stuck = cluster.make("k8s-deploy", "v3", unready="ui-blue")
    assert stuck.returncode != 0
    assert (
        "k8s-deploy: FAILED: ui-blue did not become ready; traffic stays on green" in stuck.stdout
    )
    assert cluster.live() == ("green", "green")

    back = cluster.make("k8s-rollback", "v2")
    assert back.returncode == 0, back.stdout + back.stderr
    assert cluster.live() == ("blue", "blue")
    assert "k8s-rollback: traffic switched from green back to blue" in back.stdout


def test_rollback_refuses_when_nothing_is_deployed_or_the_other_colour_is_not_ready(
    bake_session, tmp_path
):
    cluster = Cluster(bake_session(), tmp_path)
    nothing = cluster.make("k8s-rollback", "v1")
    assert nothing.returncode != 0
    assert "k8s-rollback: FAILED: nothing deployed in namespace my-ml-service-staging" in (
        nothing.stdout
    )
    assert cluster.make("k8s-deploy", "v1").returncode == 0
    assert cluster.make("k8s-deploy", "v2").returncode == 0
    down = cluster.make("k8s-rollback", "v2", unready="api-blue")
    assert down.returncode != 0
    assert "k8s-rollback: FAILED: blue is not available; traffic stays on green" in down.stdout
    assert cluster.live() == ("green", "green")


def test_deploy_refuses_without_a_cluster_in_one_line(bake_session, tmp_path):
    result = make(
        bake_session(),
        "k8s-deploy",
        check=False,
        env={"KUBECONFIG": "", "KUBECONFIG_DATA": "", "HOME": str(tmp_path)},
    )
    assert result.returncode != 0
    assert "k8s-connect: no cluster: set KUBECONFIG (a file) or KUBECONFIG_DATA (its content)" in (
        result.stdout
    )
