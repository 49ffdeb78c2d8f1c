"""Executed tier of the CI configs.

gitlab-ci-local runs the generated .gitlab-ci.yml lint -> test -> train -> gate with the shell
executor and shell isolation: each job runs in its own copy of the git work tree and gets the model
only through the artifacts of `train` (model/ is untracked, so it cannot come from the source
copy). The prebuilt venv is passed as the CI variable VENV, so nothing is installed. Jobs that need
docker:dind cannot run under gitlab-ci-local; the docker tier (test_containers.py) covers `make
images` and the compose staging, and the last test here runs the delivery targets the deploy jobs
call (`make push`, `make promote`) against a real engine and a registry on loopback.
"""

import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import IN_CI, PROJECT_VENV, make, require_tool

pytestmark = pytest.mark.slow

NODE_BIN = PROJECT_VENV / "node" / "node_modules" / ".bin"  # node 22 first (gitlab-ci-local 4.74+)
JOBS = ["lint", "test", "train", "gate"]


@pytest.fixture(scope="module")
def gitlab_ci_local(tmp_path_factory):
    """run(*jobs, variables) in a baked default project that is a git work tree."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{NODE_BIN}{os.pathsep}{os.environ['PATH']}")
        tool = require_tool("gitlab-ci-local")
        require_tool("rsync")  # --shell-isolation copies the work tree with rsync
        env = dict(os.environ)
    from cookiecutter.main import cookiecutter

    root = tmp_path_factory.mktemp("gitlab-run")
    project = Path(cookiecutter(str(Path(__file__).parents[1]), no_input=True, output_dir=root))
    home = root / "home"
    home.mkdir()
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"]):
        subprocess.run(cmd, cwd=project, check=True)

    def run(*jobs, **variables):
        variables = {"VENV": str(PROJECT_VENV), **variables}
        cmd = [tool, "--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source"]
        cmd += ["--home", str(home)]
        for name, value in variables.items():
            cmd += ["--variable", f"{name}={value}"]
        started = time.monotonic()
        result = subprocess.run(
            [*cmd, *jobs], cwd=project, env=env, capture_output=True, text=True, timeout=900
        )
        result.seconds = time.monotonic() - started
        result.log = result.stdout + result.stderr
        return result

    run.project = project
    return run


def artifact(project: Path, job: str, path: str) -> Path:
    return project / ".gitlab-ci-local" / "artifacts" / job / path


def show(log: str, last: int = 60) -> str:
    return "\n".join(log.splitlines()[-last:])


@pytest.mark.ci_run
def test_lint_test_train_gate_pass_and_the_gate_fails_at_f1_0_999(gitlab_ci_local, capsys):
    project = gitlab_ci_local.project

    green = gitlab_ci_local(*JOBS)
    assert green.returncode == 0, show(green.log)
    for job in JOBS:
        assert f"PASS  {job}" in green.log, job
    # Reports and the model really left their jobs as artifacts ...
    assert artifact(project, "test", "reports/junit.xml").is_file()
    assert artifact(project, "test", "reports/coverage.xml").is_file()
    metrics = json.loads(artifact(project, "train", "model/metrics.json").read_text())
    assert artifact(project, "train", "mlflow.db").is_file()
    # ... and the gate, in its own copy of the tree, judged that model and says so.
    verdict = json.loads(artifact(project, "gate", "reports/gate.json").read_text())
    assert verdict["passed"] is True
    assert verdict["f1"] == metrics["f1"]
    assert "gate: passed: F1" in green.log

    # The same pipeline's gate job, rerun with the threshold raised: it must fail, and say why.
    red = gitlab_ci_local("gate", ML_MIN_F1="0.999")
    assert red.returncode != 0, show(red.log)
    assert "FAIL  gate" in red.log
    assert "gate: FAILED: F1" in red.log and "0.999" in red.log
    verdict = json.loads(artifact(project, "gate", "reports/gate.json").read_text())
    assert verdict["passed"] is False and verdict["min_f1"] == 0.999

    with capsys.disabled():
        print(
            f"\ngitlab-ci-local: {'+'.join(JOBS)} green in {green.seconds:.0f} s "
            f"(F1 {metrics['f1']:.4f}); gate at ML_MIN_F1=0.999 red in {red.seconds:.0f} s"
        )


def listed(gitlab_ci_local, *args) -> dict:
    """gitlab-ci-local's own rule evaluation: job name -> `when`, for the pipeline it would run."""
    result = gitlab_ci_local("--list-csv", *args)
    assert result.returncode == 0, show(result.log)
    rows = [line.split(";") for line in result.stdout.splitlines() if line.count(";") >= 5]
    return {row[0]: row[2] for row in rows[1:]}


@pytest.mark.ci_run
def test_rules_run_only_lint_to_gate_off_the_default_branch_and_production_is_manual(
    gitlab_ci_local,
):
    feature = ["--variable", "CI_COMMIT_BRANCH=feature/x", "--ignore-predefined-vars"]
    assert listed(gitlab_ci_local, *feature, "CI_COMMIT_BRANCH") == dict.fromkeys(
        JOBS, "on_success"
    )
    merge_request = ["--variable", "CI_PIPELINE_SOURCE=merge_request_event", "--variable"]
    merge_request += ["CI_COMMIT_BRANCH=", "--ignore-predefined-vars", "CI_COMMIT_BRANCH"]
    assert list(listed(gitlab_ci_local, *merge_request)) == JOBS
    main = listed(gitlab_ci_local)  # the work tree's branch is main, the default one
    assert list(main) == [*JOBS, "images", "staging", "production", "production:model"]
    assert main["production"] == "manual" and main["images"] == main["staging"] == "on_success"


# --- delivery: push and promote against a real engine and a registry on loopback ------------

REGISTRY_CONFIG = """version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: 127.0.0.1:{port}
log:
  level: warn
"""


def skip_or_fail(reason: str):
    pytest.fail(f"{reason}; in CI no test may skip") if IN_CI else pytest.skip(reason)


@pytest.fixture
def engine_and_registry(tmp_path):
    """Our own dockerd (tests/docker/docker_engine.py) and Debian's docker-registry on 127.0.0.1."""
    if os.geteuid() != 0:
        skip_or_fail("the delivery test starts its own dockerd and needs root")
    require_tool("dockerd")
    registry_binary = require_tool("docker-registry")
    sys.path.insert(0, str(Path(__file__).parent / "docker"))
    from docker_engine import DOCKER_CLI, Engine, EngineError

    if not DOCKER_CLI.is_file():
        skip_or_fail(f"{DOCKER_CLI} (Debian's docker.io CLI) is missing: `make tools` installs it")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "registry.yml"
    config.write_text(REGISTRY_CONFIG.format(root=tmp_path / "registry", port=port))
    registry = subprocess.Popen(
        [registry_binary, "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # A data root of its own: a few tiny layers, no lock shared with the docker tier's cache.
        engine = Engine(cache=tmp_path / "engine").start()
    except EngineError as exc:
        registry.terminate()
        skip_or_fail(str(exc))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/v2/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or registry.poll() is not None:
                    raise AssertionError("docker-registry did not answer on loopback in 30 s")
                time.sleep(0.2)
        yield engine, DOCKER_CLI, f"127.0.0.1:{port}"
    finally:
        engine.stop()
        registry.terminate()
        registry.wait(30)


def digest(registry: str, repository: str, tag: str) -> str:
    """The manifest digest the registry serves for repository:tag."""
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": accept},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


@pytest.mark.docker
def test_push_then_promote_moves_the_tested_images_and_the_mlflow_alias(
    engine_and_registry, tmp_path, capsys
):
    engine, docker_cli, registry = engine_and_registry
    from cookiecutter.main import cookiecutter

    project = Path(cookiecutter(str(Path(__file__).parents[1]), no_input=True, output_dir=tmp_path))
    make(project, "train")
    # Stand-ins for the three images `make images` builds (the docker tier builds the real ones):
    # one tiny image, imported from an empty tarball, tagged with each name.
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    engine.docker("import", str(empty), "delivery-stand-in:1")
    prefix, sha = f"{registry}/team/app", "0123456789abcdef0123456789abcdef01234567"
    names = ("api", "ui", "mlflow")
    for name in names:
        engine.docker("tag", "delivery-stand-in:1", f"{prefix}/{name}:{sha}")
    variables = [f"DOCKER={docker_cli}", f"REGISTRY={prefix}", f"IMAGE_TAG={sha}"]
    env = {**engine.env, "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}

    started = time.monotonic()
    make(project, "push", *variables, env=env)
    pushed = {name: digest(registry, f"team/app/{name}", sha) for name in names}
    # promote pulls what CI tested: nothing of it is left on this engine.
    for name in names:
        engine.docker("rmi", f"{prefix}/{name}:{sha}")
    engine.docker("rmi", "delivery-stand-in:1")
    promoted = make(project, "promote", *variables, env=env)
    seconds = time.monotonic() - started

    for name in names:
        assert digest(registry, f"team/app/{name}", "production") == pushed[name], name
    contract = json.loads((project / "model" / "contract.json").read_text())
    expected = f"alias 'production' -> version {contract['model_version']}"
    assert expected in promoted.stdout, promoted.stdout
    with capsys.disabled():
        print(f"\ndelivery: push + promote (3 images, MLflow alias) in {seconds:.1f} s")
