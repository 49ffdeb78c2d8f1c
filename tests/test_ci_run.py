"""Executed tier: the generated pipelines really run on this host, every job installing for real
(`make install`: uv, from a warm cache, into the job's own .venv).

gitlab-ci-local runs .gitlab-ci.yml lint → test → validate → train → gate with the shell executor
and shell isolation (each job in its own copy of the work tree, the model passed only as the
artifact of `train`) and evaluates its rules; act runs the GitHub workflow with the remote actions
replaced by tests/act_stand_ins/ (see its README). Jobs that need a Docker daemon cannot run here:
the docker tier builds the images, and the last test runs the delivery targets (`make push`,
`make promote`) against a real engine and a registry on loopback.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import NODE_BIN, PROJECT_VENV, free_port, make, require_tool, run, skip_or_fail

pytestmark = pytest.mark.slow

OWNERS = ["train", "api", "ui"]
# lint → test (one job per owner) → (validate →) train → gate; GitHub validates in the train job.
JOBS = ["lint", *[f"test: [{owner}]" for owner in OWNERS], "validate", "train", "gate"]
GITHUB_JOBS = ["lint", "test", "train", "gate"]
STAND_INS = Path(__file__).parent / "act_stand_ins"


def host_env() -> dict:
    """For a CI runner: the venv's tools and node 22 first, a warm uv cache, and no make variables
    of ours (a VENV leaking into `make install` would replace the template's own virtualenv)."""
    drop = {"VENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "CI"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("GITHUB_")}
    cache = run([require_tool("uv"), "cache", "dir"], cwd=Path.cwd()).stdout.strip()
    path = os.pathsep.join([str(PROJECT_VENV / "bin"), str(NODE_BIN), env["PATH"]])
    return {**env, "PATH": path, "UV_CACHE_DIR": cache}


def git_work_tree(source: Path, into: Path, commit: bool = False) -> Path:
    project = Path(shutil.copytree(source, into / source.name))
    run("git init -q -b main && git add -A", cwd=project)
    if commit:
        run("git -c user.name=ci -c user.email=ci@example.com commit -q -m baked", cwd=project)
        run("git remote add origin https://github.com/Jane-Doe/My-Repo.git", cwd=project)
    return project


def show(log: str, last: int = 60) -> str:
    return "\n".join(log.splitlines()[-last:])


# --- GitLab: gitlab-ci-local ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gitlab_ci_local(pristine_bake, tmp_path_factory):
    """run(*args, **variables) in a baked default project that is a git work tree."""
    tool, _ = require_tool("gitlab-ci-local"), require_tool("rsync")  # rsync: --shell-isolation
    root = tmp_path_factory.mktemp("gitlab-run")
    project = git_work_tree(pristine_bake({}), root)
    env = host_env()

    def gitlab_ci_local(*args, **variables):
        cmd = [tool, "--force-shell-executor", "--shell-isolation", "--no-artifacts-to-source"]
        cmd += ["--home", str(root / "home"), "--variable", f"UV_CACHE_DIR={env['UV_CACHE_DIR']}"]
        # The gate job's smoke-local serves on ports of its own (other tests run alongside).
        cmd += [f"--variable=API_PORT={free_port()}", f"--variable=UI_PORT={free_port()}"]
        cmd += [f"--variable={name}={value}" for name, value in variables.items()]
        started = time.monotonic()
        result = run([*cmd, *args], cwd=project, env=env, check=False)
        result.seconds, result.log = time.monotonic() - started, result.stdout + result.stderr
        return result

    def artifact(job: str, path: str) -> Path:
        """A job's artifact; a matrix leg's folder is an encoded name (`test: [api]`: test…api…)."""
        folders = (project / ".gitlab-ci-local/artifacts").glob(
            "*".join(re.findall(r"\w+", job)) + "*"
        )
        return next(folders, project / "missing") / path

    gitlab_ci_local.artifact = artifact
    return gitlab_ci_local


@pytest.mark.ci_run
def test_gitlab_runs_lint_to_gate_green_and_the_gate_red_at_f1_0_999(gitlab_ci_local, capsys):
    green = gitlab_ci_local(*JOBS)
    assert green.returncode == 0, show(green.log)
    for job in JOBS:
        assert f"PASS  {job}" in green.log, job
    # Reports and the model really left their jobs as artifacts ...
    for job, path in [(JOBS[1], "reports/junit.xml"), (JOBS[2], "reports/coverage.xml")]:
        assert gitlab_ci_local.artifact(job, path).is_file(), (job, path)
    metrics = json.loads(gitlab_ci_local.artifact("train", "model/metrics.json").read_text())
    assert gitlab_ci_local.artifact("train", "mlflow.db").is_file()
    # ... and the gate, in its own copy of the tree, judged that model. (Its reports/gate.json is
    # not read back: gitlab-ci-local 4.75 runs after_script in a fresh copy of the job's folder,
    # so a shell-isolated job's files are gone by the time it collects artifacts; GitLab keeps them.)
    assert f"gate: passed: F1 (binary) {metrics['f1']:.4f} > 0.9" in green.log

    red = gitlab_ci_local("gate", ML_MIN_F1="0.999")
    assert red.returncode != 0, show(red.log)
    assert "FAIL  gate" in red.log and "gate: FAILED: F1" in red.log and "0.999" in red.log
    with capsys.disabled():
        print(
            f"\ngitlab-ci-local: {' → '.join(JOBS)} green in {green.seconds:.0f} s "
            f"(F1 {metrics['f1']:.4f}); gate at ML_MIN_F1=0.999 red in {red.seconds:.0f} s"
        )


def listed(gitlab_ci_local, *args) -> dict:
    """gitlab-ci-local's own rule evaluation: job name -> `when`, for the pipeline it would run."""
    result = gitlab_ci_local("--list-csv", *args)
    assert result.returncode == 0, show(result.log)
    rows = [line.split(";") for line in result.stdout.splitlines() if line.count(";") >= 5]
    return {row[0]: row[2] for row in rows[1:]}


@pytest.mark.ci_run
def test_gitlab_rules_run_lint_to_gate_off_the_default_branch_and_production_is_manual(
    gitlab_ci_local,
):
    branch = ["--variable", "CI_COMMIT_BRANCH=feature/x", "--ignore-predefined-vars"]
    every_branch = ["lint", "audit", *JOBS[1:]]
    assert listed(gitlab_ci_local, *branch, "CI_COMMIT_BRANCH") == dict.fromkeys(
        every_branch, "on_success"
    )
    merge_request = ["--variable", "CI_PIPELINE_SOURCE=merge_request_event", "--variable"]
    merge_request += ["CI_COMMIT_BRANCH=", "--ignore-predefined-vars", "CI_COMMIT_BRANCH"]
    assert list(listed(gitlab_ci_local, *merge_request)) == [*every_branch, "review"]
    main = listed(gitlab_ci_local)  # the work tree's branch is main, the default one
    assert list(main) == [
        "lint",
        "audit",
        *JOBS[1:],
        "review",
        "images",
        "staging",
        "production",
        "rollback",
    ]
    assert main["production"] == main["rollback"] == "manual"
    assert main["images"] == main["staging"] == main["review"] == "on_success"


# --- GitHub: act ----------------------------------------------------------------------------

PINNED = {  # remote action -> (the SHA the generated files pin, its stand-in folder)
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "setup-python"),
    "astral-sh/setup-uv": ("20cfd1bf945f4377ade1205e4dbc17946fc9a30d", "setup-uv"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "upload-artifact"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "download-artifact"),
    "mikepenz/action-junit-report": ("d9f48fc87bc235f7e214acf696ca5abc0a986f16", "junit-report"),
}
PREVIOUS_COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
FAKE_TOKEN = "act-stand-in-token-5e1f"


def act(folder: Path, ref: str, *extra: str) -> list:
    """act on the host runner for a push to `ref`, remote actions replaced by their stand-ins."""
    folder.mkdir()
    event = {"ref": ref, "before": PREVIOUS_COMMIT, "repository": {"default_branch": "main"}}
    (folder / "event.json").write_text(json.dumps(event))
    return [
        require_tool("act"), "push", "-e", str(folder / "event.json"),
        "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
        "--env", f"ACT_STAND_IN_ARTIFACTS={folder / 'artifacts'}",
        # pip-audit's database is online: its stand-in; smoke-local on ports of the run's own.
        "--env", f"PIP_AUDIT={STAND_INS / 'bin' / 'pip-audit'}",
        "--env", f"API_PORT={free_port()}", "--env", f"UI_PORT={free_port()}",
        *[f"--local-repository={a}@{sha}={STAND_INS / d}" for a, (sha, d) in PINNED.items()],
        *extra,
    ]  # fmt: skip


def run_at_once(project: Path, commands: dict, env: dict, timeout: float = 1500) -> dict:
    """Start every command at once (they share nothing); name -> (exit code, output, seconds)."""
    procs = {}
    for name, command in commands.items():
        folder = Path(command[command.index("-e") + 1]).parent  # the run's own, with its event
        log = (folder / "output.log").open("w")
        # act's work-tree copies and action clones go into the run's own XDG_CACHE_HOME.
        own = {**env, "XDG_CACHE_HOME": str(folder / "cache")}
        proc = subprocess.Popen(command, cwd=project, env=own, stdout=log, stderr=subprocess.STDOUT)
        procs[name] = (proc, log, time.monotonic())
    results = {}
    for name, (proc, log, started) in procs.items():
        try:
            proc.wait(max(1, started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other, *_ in procs.values():
                other.kill()
            pytest.fail(f"act did not finish within {timeout} s")
        log.close()
        output = Path(log.name).read_text()
        results[name] = (proc.returncode, output, time.monotonic() - started)
    return results


def job_results(output: str) -> dict:
    """job id of each finished job -> 'succeeded' | 'failed'."""
    return dict(re.findall(r"^\[CI/(\w+)[^\]]*\]\s+🏁\s+Job (succeeded|failed)", output, re.M))


@pytest.mark.ci_run
def test_act_runs_the_workflow_green_red_at_f1_0_999_and_deploys_only_from_main(
    pristine_bake, tmp_path, capsys
):
    """Three act runs at once on one baked project (a git repository with a GitHub remote):

    - feature branch: lint → gate pass, the model moves between jobs as an artifact, the job
      summaries are written, and images, staging and production are skipped by their condition;
    - main with ML_MIN_F1=0.999: the gate fails, so nothing is built;
    - main up to the images job (`-j images`): `make registry-login`, `make images` and `make push`
      for ghcr.io/<owner>/<repo, lowercase>, tagged with the commit, with the previous commit's
      and production's images as layer cache, through a recording `docker` stand-in on PATH.
    """
    project = git_work_tree(pristine_bake({}), tmp_path, commit=True)
    commit = run("git rev-parse HEAD", cwd=project).stdout.strip()
    docker_log = tmp_path / "docker.log"
    images = ["-j", "images", "-s", f"GITHUB_TOKEN={FAKE_TOKEN}", "--actor", "Jane-Doe"]
    images += ["--env", f"ACT_STAND_IN_DOCKER_LOG={docker_log}"]
    env = host_env()
    env["PATH"] = f"{STAND_INS / 'bin'}{os.pathsep}{env['PATH']}"  # the recording docker
    results = run_at_once(
        project,
        {
            "feature": act(tmp_path / "feature", "refs/heads/feature/act"),
            "main-red": act(tmp_path / "main-red", "refs/heads/main", "--env", "ML_MIN_F1=0.999"),
            "main-images": act(tmp_path / "main-images", "refs/heads/main", *images),
        },
        env,
    )
    with capsys.disabled():
        print(f"\nact runs (concurrent), seconds: { {k: round(r[2]) for k, r in results.items()} }")

    code, output, _ = results["feature"]
    assert code == 0, show(output, 120)
    assert job_results(output) == dict.fromkeys(GITHUB_JOBS, "succeeded")
    assert "pip-audit stand-in" in output and "smoke: passed" in output
    assert re.search(r"download-artifact stand-in: model: \d+ files", output)
    stored = tmp_path / "feature" / "artifacts" / "model"
    assert (stored / "model" / "metrics.json").is_file() and (stored / "mlflow.db").is_file()
    assert "gate: passed" in output and "### Gate: passed" in output
    assert all(f"### pytest ({owner}) (JUnit)" in output for owner in OWNERS)
    assert "setup-uv stand-in: wanted 0.13.9, found" in output
    for job in ["review", "images", "staging", "production"]:
        assert f"[CI/{job}" not in output, f"{job} ran on a feature branch"

    code, output, _ = results["main-red"]
    assert code != 0
    assert job_results(output) == {**dict.fromkeys(GITHUB_JOBS[:-1], "succeeded"), "gate": "failed"}
    assert "gate: FAILED: F1" in output and "### Gate: FAILED" in output

    code, output, _ = results["main-images"]
    assert code == 0, show(output, 120)
    assert job_results(output) == dict.fromkeys([*GITHUB_JOBS, "images"], "succeeded")
    assert FAKE_TOKEN not in output + docker_log.read_text()
    assert "trivy stand-in" in output  # make scan, after the push
    registry = "ghcr.io/jane-doe/my-repo"
    calls = docker_log.read_text().splitlines()
    assert calls[0] == "docker login --username Jane-Doe --password-stdin ghcr.io", calls
    builds = [c for c in calls if c.startswith("docker build ")]
    for image, build in zip(["api", "ui", "mlflow"], builds, strict=True):
        assert f"--target {image} -t {registry}/{image}:{commit} ." in build
        for cached in ["api", "ui", "mlflow"]:
            for tag in [PREVIOUS_COMMIT, "production"]:
                assert f"--cache-from {registry}/{cached}:{tag}" in build
    pushes = [c for c in calls if c.startswith("docker push ")]
    assert pushes == [
        f"docker push --quiet {registry}/{i}:{commit}" for i in ("api", "ui", "mlflow")
    ]


# --- delivery: push and promote against a real engine and a registry on loopback ------------


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
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: warn\n"
    )
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
        for attempt in range(150):  # 30 s
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
                break
            except OSError:
                assert attempt < 149 and registry.poll() is None, "docker-registry did not start"
                time.sleep(0.2)
        yield engine, DOCKER_CLI, f"127.0.0.1:{port}"
    finally:
        engine.stop()
        registry.terminate()
        registry.wait(30)


def digest(registry: str, repository: str, tag: str) -> str:
    """The manifest digest the registry serves for repository:tag."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


def component_image(engine, tmp_path: Path, name: str) -> str:
    """A tiny image of its own for `name`: one file, /component, saying which it is."""
    folder = tmp_path / f"{name}-image"
    folder.mkdir()
    (folder / "component").write_text(f"{name}\n")
    archive = tmp_path / f"{name}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder / "component", arcname="component")
    engine.docker("import", str(archive), f"delivery-stand-in-{name}:1")
    return f"delivery-stand-in-{name}:1"


@pytest.mark.docker
def test_push_then_promote_moves_the_tested_images_and_the_mlflow_alias(
    engine_and_registry, bake, tmp_path, capsys
):
    from mlflow import MlflowClient

    engine, docker_cli, registry = engine_and_registry
    project = bake()
    make(project, "train")
    # Stand-ins for the three images `make images` builds (the docker tier builds the real ones):
    # three tiny images, each with its own content, so a promote that tagged one name's image
    # under another name would fail the digest check below.
    prefix, sha = f"{registry}/team/app", "0123456789abcdef0123456789abcdef01234567"
    names = ("api", "ui", "mlflow")
    for name in names:
        engine.docker("tag", component_image(engine, tmp_path, name), f"{prefix}/{name}:{sha}")
    variables = [f"DOCKER={docker_cli}", f"REGISTRY={prefix}", f"IMAGE_TAG={sha}"]
    tracking_uri = f"sqlite:///{project / 'mlflow.db'}"
    env = {**engine.env, "MLFLOW_TRACKING_URI": tracking_uri}

    started = time.monotonic()
    make(project, "push", *variables, env=env)
    pushed = {name: digest(registry, f"team/app/{name}", sha) for name in names}
    assert len(set(pushed.values())) == 3, pushed  # three different images
    # promote pulls what CI tested: nothing of it is left on this engine.
    for name in names:
        engine.docker("rmi", f"{prefix}/{name}:{sha}", f"delivery-stand-in-{name}:1")
    make(project, "promote", *variables, env=env)
    seconds = time.monotonic() - started

    for name in names:
        assert digest(registry, f"team/app/{name}", "production") == pushed[name], name
        # and what the production tag serves is that component's own image
        image = f"{prefix}/{name}:production"
        container = engine.docker("create", image, "none").stdout.strip()
        try:
            copied = engine.docker("cp", f"{container}:/component", "-").stdout
        finally:
            engine.docker("rm", container)
        assert f"{name}\n" in copied, (name, copied[-200:])
    # The alias, read back from the MLflow registry itself: the version this pipeline trained.
    contract = json.loads((project / "model" / "contract.json").read_text())
    champion = MlflowClient(tracking_uri).get_model_version_by_alias(
        contract["model_name"], "champion"
    )
    assert str(champion.version) == contract["model_version"] == "1"
    with capsys.disabled():
        print(f"\ndelivery: push + promote (3 distinct images, MLflow alias) in {seconds:.1f} s")
