"""Executed tier: gitlab-ci-local runs the generated .gitlab-ci.yml lint -> test -> train -> gate.

Shell executor with shell isolation: each job runs in its own copy of the git work tree and gets
the model only through the artifacts of `train` (model/ is untracked, so it cannot come from the
source copy). Jobs that need Docker (images, staging, production) are not run here: the docker tier
covers the images and the compose staging. The prebuilt venv is passed as the CI variable VENV, so
nothing is installed.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PROJECT_VENV, require_tool

pytestmark = [pytest.mark.ci_run, pytest.mark.slow]

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
