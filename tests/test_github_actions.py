"""GitHub Actions: the workflow passes its checkers, and act runs lint → test → train → gate."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT_VENV, require_tool, run

WORKFLOW = Path(".github/workflows/ci.yml")
STAND_INS = Path(__file__).parent / "act_stand_ins"

# The action pins of ../shared/CI_REFERENCE.md (checked there against the tags).
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "docker/setup-buildx-action": ("37fe631027851001ddb9b187196cc803df7f5f0e", "v4.3.0"),
    "docker/login-action": ("4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
    "docker/metadata-action": ("dc802804100637a589fabce1cb79ff13a1411302", "v6.2.0"),
    "docker/build-push-action": ("53b7df96c91f9c12dcc8a07bcb9ccacbed38856a", "v7.3.0"),
    "mikepenz/action-junit-report": ("d9f48fc87bc235f7e214acf696ca5abc0a986f16", "v6.4.2"),
}
# act maps each remote action the lint/test/train/gate jobs use to a folder of act_stand_ins/.
STAND_IN_DIRS = {
    "actions/setup-python": "setup-python",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "mikepenz/action-junit-report": "junit-report",
}

# The pipeline: job id -> the Makefile targets it runs, in order.
PIPELINE = {
    "lint": ["lint"],
    "test": ["test"],
    "train": ["train"],
    "gate": ["gate", "report"],
    "images": ["images", "push"],
    "staging": ["staging-up", "smoke-deps", "smoke", "report", "staging-down"],
    "promote": ["promote"],
}
DEPLOY_JOBS = ["images", "staging", "promote"]
ON_DEFAULT_BRANCH = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"

BAKES = {
    "default": {},
    "py313-wine-forest-sklearn": {
        "python_version": "3.13",
        "dataset": "wine",
        "model": "random_forest",
        "serving_runtime": "sklearn",
    },
    "quoted-name": {"project_name": 'Ann\'s "Fraud" \\ Model', "python_version": "3.12"},
}


def tool(name: str) -> str:
    """A checker from the template's venv (`make tools`), else from PATH."""
    candidate = PROJECT_VENV / "bin" / name
    return str(candidate) if candidate.is_file() else require_tool(name)


def load(project: Path) -> dict:
    return yaml.safe_load((project / WORKFLOW).read_text())


def steps_running(job: dict) -> list:
    return [step["run"] for step in job["steps"] if "run" in step]


def make_targets(job: dict) -> list:
    """`make X` calls of a job's run steps, in order."""
    return [
        t for script in steps_running(job) for t in re.findall(r"^\s*make ([\w-]+)", script, re.M)
    ]


def broken_copy(project: Path, tmp_path: Path, old: str, new: str) -> Path:
    """The workflow with one deliberate mistake, at the same relative path."""
    text = (project / WORKFLOW).read_text()
    assert old in text, f"the mutation no longer applies: {old!r} is not in the workflow"
    copy = tmp_path / "broken" / WORKFLOW
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(old, new, 1))
    return copy


@pytest.fixture(params=list(BAKES), scope="module")
def project(request, cookies_session):
    result = cookies_session.bake(extra_context=BAKES[request.param])
    assert result.exception is None, result.exception
    return Path(result.project_path)


@pytest.fixture(scope="module")
def default_project(cookies_session):
    result = cookies_session.bake(extra_context={})
    assert result.exception is None, result.exception
    return Path(result.project_path)


# --- structure -----------------------------------------------------------------------------


def test_workflow_is_left_out_when_github_actions_is_declined(cookies):
    result = cookies.bake(extra_context={"use_github_actions": False})
    assert result.exit_code == 0
    assert not (Path(result.project_path) / ".github").exists()


def test_jobs_run_the_shared_targets_in_pipeline_order(project):
    jobs = load(project)["jobs"]
    assert list(jobs) == list(PIPELINE)
    for previous, job in zip(PIPELINE, list(PIPELINE)[1:]):
        assert jobs[job]["needs"] == previous, job
    assert {job: make_targets(jobs[job]) for job in jobs} == PIPELINE


def test_deploy_jobs_run_only_on_the_default_branch_and_production_needs_approval(project):
    jobs = load(project)["jobs"]
    for job in DEPLOY_JOBS:
        assert jobs[job]["if"] == ON_DEFAULT_BRANCH, job
    for job in PIPELINE.keys() - DEPLOY_JOBS:
        assert "if" not in jobs[job], job
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["promote"]["environment"] == "production"
    assert jobs["promote"]["concurrency"] == {"group": "production", "cancel-in-progress": False}


def test_permissions_are_least_privilege(project):
    workflow = load(project)
    assert workflow["permissions"] == {"contents": "read"}
    grants = {job: spec.get("permissions") for job, spec in workflow["jobs"].items()}
    assert grants == {
        "lint": None,
        "test": {"contents": "read", "checks": "write"},
        "train": None,
        "gate": None,
        "images": {"contents": "read", "packages": "write"},
        "staging": {"contents": "read", "packages": "read"},
        "promote": {"contents": "read", "packages": "write"},
    }


def test_every_job_has_a_timeout_and_every_action_is_pinned_by_sha(project):
    workflow = load(project)
    for name, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 30, name
    text = (project / WORKFLOW).read_text()
    uses = re.findall(r"uses: ([\w/-]+)@(\S+) # (\S+)", text)
    assert len(uses) == text.count("uses:")
    for action, sha, version in uses:
        assert (sha, version) == PINS[action], action
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            if step.get("uses", "").startswith("actions/setup-python@"):
                assert step["with"]["cache"] == "pip"


def test_python_version_is_the_answer_and_no_expression_reaches_a_script(project):
    workflow = load(project)
    pyproject = (project / "pyproject.toml").read_text()
    wanted = re.search(r'requires-python = ">=([\d.]+)"', pyproject).group(1)
    assert workflow["env"]["PYTHON_VERSION"] == wanted
    for job in workflow["jobs"].values():
        for script in steps_running(job):
            assert "${{" not in script  # no template injection: values reach scripts through env


def test_a_new_push_cancels_the_running_pipeline_except_on_the_default_branch(project):
    concurrency = load(project)["concurrency"]
    assert concurrency["group"] == "${{ github.workflow }}-${{ github.ref }}"
    assert (
        concurrency["cancel-in-progress"] == "${{ github.ref != format('refs/heads/{0}', "
        "github.event.repository.default_branch) }}"
    )


def test_secrets_reach_steps_only_through_env_and_are_never_printed(project):
    workflow = load(project)
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = step.get("run", "")
            assert "secrets." not in script and "set -x" not in script
            for name, value in (step.get("env") or {}).items():
                if "secrets." in str(value):
                    # a secret is only ever written to a file, never echoed or put on a command line
                    uses = re.findall(rf"[^\n]*\${{?{name}\b[^\n]*", script)
                    assert uses and all(re.search(r"> ~/\.ssh/", line) for line in uses), name
    staging = workflow["jobs"]["staging"]
    assert staging["env"] == {"STAGING_SSH": "${{ secrets.STAGING_SSH }}"}
    remote = [s for s in staging["steps"] if s.get("if") == "env.STAGING_SSH != ''"]
    assert len(remote) == 1 and "DOCKER_HOST=ssh://$STAGING_SSH" in remote[0]["run"]
    assert "StrictHostKeyChecking yes" in remote[0]["run"] and "ssh-keyscan" not in remote[0]["run"]


def test_report_steps_run_unless_cancelled_and_summaries_are_written(project):
    jobs = load(project)["jobs"]
    text = (project / WORKFLOW).read_text()
    for job, needle in [
        ("test", "coverage report --format=markdown"),
        ("gate", "make report REPORT=gate"),
        ("staging", "make report REPORT=smoke"),
    ]:
        reporting = [s for s in jobs[job]["steps"] if needle in s.get("run", "")]
        assert reporting and reporting[0]["if"] == "${{ !cancelled() }}", job
        assert "$GITHUB_STEP_SUMMARY" in reporting[0]["run"], job
    # always() only for stopping the ephemeral staging, which must happen even when cancelled
    assert text.count("always()") == 1 and "if: ${{ always() && env.STAGING_SSH == '' }}" in text


# --- the scripts of the deploy and report steps, run with bash as GitHub runs them --------------


def step(project: Path, job: str, name: str) -> dict:
    """The step of `job` whose name contains `name`."""
    found = [s for s in load(project)["jobs"][job]["steps"] if name in s.get("name", "")]
    assert len(found) == 1, (job, name)
    return found[0]


def run_script(script: str, cwd: Path, env: dict, fake_bin: Path | None = None):
    """A `run:` script under GitHub's default shell (bash -eo pipefail), fake commands first."""
    path = cwd / "step.sh"
    path.write_text(script)
    if fake_bin:
        env = {**env, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    return run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)], cwd=cwd, env=env)


def recording(tmp_path: Path, *commands: str) -> Path:
    """A bin folder where each command only appends its arguments, one per line, to <name>.args."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for command in commands:
        fake = fake_bin / command
        fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{tmp_path}/{command}.args"\n')
        fake.chmod(0o755)
    return fake_bin


def test_registry_path_is_the_repository_in_lowercase(default_project, tmp_path):
    github_env = tmp_path / "github_env"
    script = step(default_project, "images", "Registry path")["run"]
    run_script(
        script, tmp_path, {"GITHUB_REPOSITORY": "Jane-Doe/My.Repo", "GITHUB_ENV": str(github_env)}
    )
    assert github_env.read_text() == "REGISTRY=ghcr.io/jane-doe/my.repo\n"


@pytest.mark.parametrize(
    "previous, cached_tags",
    [
        (
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            ["4b825dc642cb6eb9a060e54bf8d69288fbee4904", "production"],
        ),
        ("0" * 40, ["production"]),
        ("", ["production"]),
    ],
    ids=["after-a-push", "first-push", "manual-run"],
)
def test_images_reuse_the_layers_of_the_previous_commit_and_of_production(
    default_project, tmp_path, previous, cached_tags
):
    fake_bin = recording(tmp_path, "make")
    script = step(default_project, "images", "Build the api")["run"]
    run_script(script, tmp_path, {"REGISTRY": "ghcr.io/o/r", "PREVIOUS_SHA": previous}, fake_bin)
    args = (tmp_path / "make.args").read_text().splitlines()
    assert args == ["images", f"CACHE_TAGS={previous} production"]
    # What the Makefile builds with them (REGISTRY comes from $GITHUB_ENV, i.e. the environment):
    # every build may reuse the layers of all three images at each tag kept.
    dry = run(
        ["make", "-n", *args, "IMAGE_TAG=t"], cwd=default_project, env={"REGISTRY": "ghcr.io/o/r"}
    )
    lines = re.sub(r"\s*\\\n\s*", " ", dry.stdout).splitlines()  # continuation lines joined
    builds = [line for line in lines if " build " in line]
    expected = {
        f"--cache-from ghcr.io/o/r/{image}:{tag}"
        for image in ["api", "ui", "mlflow"]
        for tag in cached_tags
    }
    for image, build in zip(["api", "ui", "mlflow"], builds, strict=True):
        assert f"-t ghcr.io/o/r/{image}:t" in build  # the cache refs are the images built
        assert "--build-arg BUILDKIT_INLINE_CACHE=1" in build
        assert set(re.findall(r"--cache-from \S+", build)) == expected


def test_remote_staging_step_keeps_the_key_in_a_file_and_tunnels_the_ports(
    default_project, tmp_path
):
    home = tmp_path / "home"
    home.mkdir()
    fake_bin = recording(tmp_path, "ssh")
    github_env = tmp_path / "github_env"
    # as pasted from Windows: CRLF line ends
    key = "\r\n".join(["-----BEGIN KEY-----", "c2VjcmV0LWtleS1tYXRlcmlhbA", "-----END KEY-----"])
    env = {
        "HOME": str(home),
        "GITHUB_ENV": str(github_env),
        "STAGING_SSH": "deploy@staging.example.com",
        "SSH_KEY": key,
        "KNOWN_HOSTS": "staging.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample",
    }
    result = run_script(
        step(default_project, "staging", "remote staging")["run"], tmp_path, env, fake_bin
    )
    assert "c2VjcmV0" not in result.stdout + result.stderr
    written = home / ".ssh" / "staging_key"
    assert written.read_text() == key.replace("\r", "") + "\n"
    assert written.stat().st_mode & 0o777 == 0o600
    assert (home / ".ssh" / "known_hosts").read_text() == env["KNOWN_HOSTS"] + "\n"
    config = (home / ".ssh" / "config").read_text()
    assert "StrictHostKeyChecking yes" in config and "ControlMaster auto" in config
    assert (tmp_path / "ssh.args").read_text().split() == [
        "-fN", "-L", "127.0.0.1:8000:127.0.0.1:8000", "-L", "127.0.0.1:8501:127.0.0.1:8501",
        "deploy@staging.example.com",
    ]  # fmt: skip
    assert github_env.read_text() == "DOCKER_HOST=ssh://deploy@staging.example.com\n"


GATE = {
    "f1": 0.98611,
    "f1_average": "binary",
    "min_f1": 0.999,
    "parity_max_diff": 1.2e-07,
    "runtime": "onnx",
    "passed": False,
    "failures": ["F1 0.9861 is not above the threshold 0.999 (ML_MIN_F1)"],
}
SMOKE = {
    "requests": 200,
    "p50_ms": 2.1,
    "p95_ms": 3.4,
    "max_ms": 9.0,
    "max_latency_ms": 200.0,
    "ui_health": "ok",
    "passed": True,
}


@pytest.mark.parametrize(
    "job, name, report, expected",
    [
        (
            "gate",
            "gate verdict to",
            GATE,
            [
                "### Gate: FAILED",
                "| 0.9861 | 0.999 | 1.2e-07 | onnx |",
                "- F1 0.9861 is not above the threshold 0.999 (ML_MIN_F1)",
            ],
        ),
        ("gate", "gate verdict to", None, ["no reports/gate.json: the gate did not run"]),
        (
            "staging",
            "Latency",
            SMOKE,
            ["### Smoke: passed", "| 200 | 2.1 | 3.4 | 9.0 | 200.0 | ok |"],
        ),
        ("staging", "Latency", None, ["no reports/smoke.json: the smoke test did not finish"]),
    ],
    ids=["gate-failed", "gate-missing", "smoke-passed", "smoke-missing"],
)
def test_job_summary_shows_the_figures(default_project, tmp_path, job, name, report, expected):
    summary = tmp_path / "summary.md"
    project = tmp_path / "project"  # `make report` runs in the checked-out project
    shutil.copytree(default_project, project)
    shutil.rmtree(project / "reports", ignore_errors=True)
    if report:
        (project / "reports").mkdir()
        file = "gate.json" if job == "gate" else "smoke.json"
        (project / "reports" / file).write_text(json.dumps(report))
    python_bin = PROJECT_VENV / "bin"  # `python`, as setup-python provides it
    run_script(
        step(default_project, job, name)["run"],
        project,
        {"GITHUB_STEP_SUMMARY": str(summary)},
        python_bin,
    )
    lines = summary.read_text().splitlines()
    for line in expected:
        assert line in lines


# --- the checkers, and one deliberately broken copy each ---------------------------------------


SCHEMAS = ["vendor.github-workflows", "custom.github-workflows-require-timeout"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_workflow_passes_the_json_schema(project, schema):
    run([tool("check-jsonschema"), "--builtin-schema", schema, str(WORKFLOW)], cwd=project)


@pytest.mark.parametrize(
    "schema, old, new",
    [
        (
            "vendor.github-workflows",
            "permissions:\n  contents: read",
            "permissions:\n  contents: reed",
        ),
        ("custom.github-workflows-require-timeout", "    timeout-minutes: 10\n", ""),
    ],
    ids=["bad-permission-value", "job-without-timeout"],
)
def test_json_schema_catches_a_broken_copy(default_project, tmp_path, schema, old, new):
    copy = broken_copy(default_project, tmp_path, old, new)
    if schema != SCHEMAS[0]:  # the mistake is invisible to the vendor schema, caught only here
        run([tool("check-jsonschema"), "--builtin-schema", SCHEMAS[0], str(copy)], cwd=tmp_path)
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(copy)], cwd=tmp_path, check=False
    )
    assert result.returncode == 1, result.stdout
    assert "Schema validation errors" in result.stdout + result.stderr


def actionlint(path: Path, cwd: Path):
    command = [tool("actionlint"), "-oneline", "-shellcheck", require_tool("shellcheck"), str(path)]
    return run(command, cwd=cwd, check=False)


def test_actionlint_with_shellcheck_is_clean(project):
    result = actionlint(WORKFLOW, project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_runs_shellcheck_on_the_scripts(default_project, tmp_path):
    copy = broken_copy(
        default_project, tmp_path, '} >> "$GITHUB_STEP_SUMMARY"', "} >> $GITHUB_STEP_SUMMARY"
    )
    result = actionlint(copy, tmp_path)
    assert result.returncode == 1
    assert "shellcheck reported issue" in result.stdout and "SC2086" in result.stdout


def zizmor(path: Path, cwd: Path):
    command = [tool("zizmor"), "--offline", "--no-progress", "--color", "never", str(path)]
    return run(command, cwd=cwd, check=False)


def test_zizmor_offline_reports_zero_findings(project):
    result = zizmor(WORKFLOW.parent, project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_catches_template_injection(default_project, tmp_path):
    copy = broken_copy(
        default_project,
        tmp_path,
        "        run: make lint",
        '        run: echo "${{ github.event.head_commit.message }}" && make lint',
    )
    result = zizmor(copy.parent, tmp_path)
    assert result.returncode != 0
    assert "template-injection" in result.stdout


# --- act: the workflow executed on this host ------------------------------------------------

PREVIOUS_COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
FAKE_TOKEN = "act-stand-in-token-5e1f"


def act_command(artifacts: Path, event: Path, *extra: str) -> list:
    """act on the host runner, remote actions replaced by act_stand_ins/ (see its README)."""
    mappings = [
        f"--local-repository={action}@{PINS[action][0]}={STAND_INS / folder}"
        for action, folder in STAND_IN_DIRS.items()
    ]
    return [
        tool("act"), "push", "-W", str(WORKFLOW), "-e", str(event),
        "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
        "--env", f"VENV={PROJECT_VENV}", "--env", f"ACT_STAND_IN_ARTIFACTS={artifacts}",
        *mappings, *extra,
    ]  # fmt: skip


def run_acts(project: Path, runs: dict, workdir: Path, timeout: float = 1200) -> dict:
    """Start every act run at once (they share nothing); name -> (exit code, output, seconds).

    runs: name -> (command, extra PATH folders).
    """
    procs = {}
    for name, (command, path_first) in runs.items():
        folder = workdir / f"act-{name}"
        folder.mkdir()
        # The prebuilt venv on PATH: `python` is what the setup-python stand-in checks, and
        # nothing gets pip-installed into the system Python.
        path = [*map(str, path_first), str(PROJECT_VENV / "bin"), os.environ["PATH"]]
        env = {
            **os.environ,
            "PATH": os.pathsep.join(path),
            # act's work-tree copies and action clones go here, not into ~/.cache/act.
            "XDG_CACHE_HOME": str(folder / "cache"),
        }
        log = open(folder / "output.log", "w")
        proc = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs[name] = (proc, log, folder / "output.log", time.monotonic())
    results, deadline = {}, time.monotonic() + timeout
    while len(results) < len(procs):
        for name, (proc, log, path, started) in procs.items():
            if name not in results and proc.poll() is not None:
                log.close()
                results[name] = (proc.returncode, path.read_text(), time.monotonic() - started)
        if time.monotonic() > deadline:
            for proc, *_ in procs.values():
                proc.kill()
            pytest.fail(f"act did not finish within {timeout} s")
        time.sleep(0.5)
    return results


def job_results(output: str) -> dict:
    """job id prefix of each finished job (lint, test, ..., images) -> 'succeeded' | 'failed'."""
    found = re.findall(r"^\[CI/(\w+)[^\]]*\]\s+🏁\s+Job (succeeded|failed)", output, re.M)
    return dict(found)


def push_event(path: Path, ref: str) -> Path:
    event = {"ref": ref, "before": PREVIOUS_COMMIT, "repository": {"default_branch": "main"}}
    path.write_text(json.dumps(event))
    return path


@pytest.mark.ci_run
def test_act_runs_the_workflow_green_red_at_f1_0_999_and_deploys_only_from_main(bake, tmp_path):
    """act runs the generated workflow on this host: three runs at once, on one baked project.

    - feature branch: lint → test → train → gate pass, and images, staging and production are
      skipped by their default-branch condition;
    - main with ML_MIN_F1=0.999: the gate fails, so nothing is built or deployed;
    - main, up to the images job (`-j images`): the images job runs, logs in and calls
      `make images` / `make push` for ghcr.io/<owner>/<repo in lowercase>, tagged with the commit,
      with the previous commit's and the production images as layer cache.

    Offline, every remote action is a local composite action (tests/act_stand_ins/, mapped with
    --local-repository to its pinned SHA): actions/setup-python only checks that `python` on PATH
    (the prebuilt venv) is the version the workflow asks for, as nothing can be downloaded;
    actions/upload-artifact and download-artifact copy through a shared folder, so the model and
    the MLflow store really move from the train job to the gate and images jobs (act gives each
    job its own copy of the work tree); mikepenz/action-junit-report checks that reports/junit.xml
    exists and parses, as publishing a check run needs the GitHub API; docker/login-action checks
    that a registry, user and password are given, as there is no registry here; and `docker`
    itself is a recording stand-in on PATH (no daemon for act; real builds are the docker tier's).
    actions/checkout is skipped by act itself (it copies the work tree).
    """
    project = bake()
    for command in (
        "git init -q -b main",
        "git add -A",
        "git -c user.name=ci -c user.email=ci@example.com commit -q -m baked",
        "git remote add origin https://github.com/Jane-Doe/My-Repo.git",
    ):
        run(command, cwd=project)
    commit = run("git rev-parse HEAD", cwd=project).stdout.strip()
    feature = push_event(tmp_path / "feature.json", "refs/heads/feature/act")
    main = push_event(tmp_path / "main.json", "refs/heads/main")
    docker_log = tmp_path / "docker.log"
    login = f"docker/login-action@{PINS['docker/login-action'][0]}={STAND_INS / 'login-action'}"
    images = [
        "-j", "images", f"--local-repository={login}", "-s", f"GITHUB_TOKEN={FAKE_TOKEN}",
        "--env", f"ACT_STAND_IN_DOCKER_LOG={docker_log}",
    ]  # fmt: skip
    red = ["--env", "ML_MIN_F1=0.999"]
    results = run_acts(
        project,
        {
            "feature": (act_command(tmp_path / "artifacts-feature", feature), []),
            "main-red": (act_command(tmp_path / "artifacts-red", main, *red), []),
            "main-images": (
                act_command(tmp_path / "artifacts-images", main, *images),
                [STAND_INS / "bin"],
            ),
        },
        tmp_path,
    )
    timings = {name: round(seconds, 1) for name, (_, _, seconds) in results.items()}
    print(f"\nact runs (concurrent), seconds: {timings}")
    four = ["lint", "test", "train", "gate"]

    code, output, _ = results["feature"]
    assert code == 0, output[-6000:]
    assert job_results(output) == dict.fromkeys(four, "succeeded")
    assert re.search(r"download-artifact stand-in: model: \d+ files", output)
    stored = tmp_path / "artifacts-feature" / "model"
    assert (stored / "model" / "metrics.json").is_file() and (stored / "mlflow.db").is_file()
    assert "gate: passed" in output and "### Gate: passed" in output
    assert "### Coverage" in output and "### pytest (JUnit)" in output
    for job in ["images", "staging", "production"]:
        assert f"[CI/{job}" not in output, f"{job} ran on a feature branch"

    code, output, _ = results["main-red"]
    assert code != 0
    verdicts = {**dict.fromkeys(four[:3], "succeeded"), "gate": "failed"}
    assert job_results(output) == verdicts, output[-6000:]
    assert "gate: FAILED: F1" in output and "### Gate: FAILED" in output

    code, output, _ = results["main-images"]
    assert code == 0, output[-6000:]
    assert job_results(output) == dict.fromkeys([*four, "images"], "succeeded")
    assert FAKE_TOKEN not in output
    registry = "ghcr.io/jane-doe/my-repo"
    calls = docker_log.read_text().splitlines()
    builds = [c for c in calls if c.startswith("docker build ")]
    pushes = [c for c in calls if c.startswith("docker push ")]
    for image, build in zip(["api", "ui", "mlflow"], builds, strict=True):
        assert f"--target {image} -t {registry}/{image}:{commit} ." in build
        for cached in ["api", "ui", "mlflow"]:
            for tag in [PREVIOUS_COMMIT, "production"]:
                assert f"--cache-from {registry}/{cached}:{tag}" in build
    assert pushes == [
        f"docker push --quiet {registry}/{i}:{commit}" for i in ("api", "ui", "mlflow")
    ]
