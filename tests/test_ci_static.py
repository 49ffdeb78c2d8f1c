"""Static tier for the GitLab CI and CircleCI configs: their schemas, the CircleCI parser, and our
own reference checks (what the schemas miss) — each checker shown to catch one broken copy.

The GitHub workflow has its own static tests (actionlint, zizmor, schemas) next to its runner.
"""

import copy
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ci_configs import (
    CIRCLECI,
    CIRCLECI_ENTRY_KEYS,
    GITLAB,
    GITLAB_JOB_KEYS,
    circleci_entries,
    circleci_run_text,
    circleci_steps,
    gitlab_job_names,
    gitlab_resolve,
    make_targets,
    script_text,
)
from conftest import IN_CI, PROJECT_VENV, make, require_tool

pytestmark = pytest.mark.baked

NODE_BIN = PROJECT_VENV / "node" / "node_modules" / ".bin"
PYTHON_VERSIONS = ["3.11", "3.12", "3.13"]


@pytest.fixture(scope="module", autouse=True)
def tools_on_path():
    """The venv's checkers and node 22 first on PATH, also when pytest is started directly."""
    with pytest.MonkeyPatch.context() as patch:
        path = os.pathsep.join([str(PROJECT_VENV / "bin"), str(NODE_BIN), os.environ["PATH"]])
        patch.setenv("PATH", path)
        patch.setenv("NODE_PATH", str(NODE_BIN.parent))
        yield


@pytest.fixture(params=PYTHON_VERSIONS, ids=lambda v: f"py{v}")
def project(request, bake_session) -> Path:
    return bake_session(python_version=request.param)


@pytest.fixture
def default_project(bake_session) -> Path:
    return bake_session()


def read(project: Path, path: str) -> dict:
    return yaml.safe_load((project / path).read_text())


def write(tmp_path: Path, path: str, data: dict) -> Path:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


# --- checkers -------------------------------------------------------------------------------


def jsonschema(path: Path, schema: str) -> subprocess.CompletedProcess:
    extra = ["--data-transform", "gitlab-ci"] if schema == "vendor.gitlab-ci" else []
    tool = require_tool("check-jsonschema")
    cmd = [tool, "--builtin-schema", schema, *extra, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


# The parser (an alpha) rejects a bare reusable-command step: normalise `- cmd` to `- cmd: {}`.
PARSE_JS = """
const parser = require("@circleci/circleci-config-parser");
try {
  const config = parser.parseConfig(JSON.parse(require("fs").readFileSync(0, "utf8")));
  console.log(JSON.stringify({jobs: config.jobs.map(j => j.name),
    workflows: config.workflows.map(w => [w.name, w.jobs.map(j => j.name)])}));
} catch (error) {
  console.error(String(error.message || error).slice(0, 500));
  process.exit(1);
}
"""


def circleci_parser(config: dict) -> subprocess.CompletedProcess:
    node = require_tool("node")
    if not (NODE_BIN.parent / "@circleci" / "circleci-config-parser").is_dir():
        message = "@circleci/circleci-config-parser is not installed (`make tools` installs it)"
        pytest.fail(f"{message}; in CI no test may skip") if IN_CI else pytest.skip(message)
    config = copy.deepcopy(config)
    commands = config.get("commands") or {}
    for job in (config.get("jobs") or {}).values():
        job["steps"] = [
            {step: {}} if isinstance(step, str) and step in commands else step
            for step in job.get("steps", [])
        ]
    return subprocess.run(
        [node, "-e", PARSE_JS], input=json.dumps(config), capture_output=True, text=True
    )


def gitlab_problems(config: dict) -> list:
    """What the GitLab schema does not check: references, stage order, rules-only, timeouts."""
    found = []
    names = gitlab_job_names(config)
    stages = config.get("stages") or ["build", "test", "deploy"]
    for name in names:
        raw = config[name]
        for key in raw:
            if key not in GITLAB_JOB_KEYS:
                found.append(f"{name}: unknown key {key!r}")
        parents = raw.get("extends") or []
        missing = [
            p for p in ([parents] if isinstance(parents, str) else parents) if p not in config
        ]
        if missing:
            found.append(f"{name}: extends unknown {missing}")
            continue
        job = gitlab_resolve(config, name)
        if {"only", "except"} & set(job) and "rules" in job:
            found.append(f"{name}: rules mixed with only/except")
        if {"only", "except"} & set(job):
            found.append(f"{name}: only/except are deprecated, use rules")
        if not re.fullmatch(
            r"\d+\s*(minutes?|m|hours?|h)(\s+\d+\s*(minutes?|m))?", str(job.get("timeout", ""))
        ):
            found.append(f"{name}: no timeout")
        if job.get("when") == "manual":
            found.append(f"{name}: job-level `when: manual` does not block; put it in rules")
        stage = job.get("stage", "test")
        if stage not in stages:
            found.append(f"{name}: stage {stage!r} is not in stages")
            continue
        for need in job.get("needs") or []:
            need = need["job"] if isinstance(need, dict) else need
            if need not in names:
                found.append(f"{name}: needs unknown job {need!r}")
                continue
            try:
                need_stage = gitlab_resolve(config, need).get("stage", "test")
            except KeyError:  # that job's unknown `extends` is reported on its own
                continue
            if need_stage in stages and stages.index(need_stage) > stages.index(stage):
                found.append(f"{name}: needs {need!r} of a later stage")
    return found


def circleci_problems(config: dict) -> list:
    """What the CircleCI schema and parser miss: requires targets, unknown entry keys, timeouts."""
    found = []
    jobs = config.get("jobs") or {}
    for workflow in (k for k in config["workflows"] if k != "version"):
        entries = circleci_entries(config, workflow)
        listed = {settings.get("name") or name for name, settings in entries}
        for name, settings in entries:
            parameters = set((jobs.get(name) or {}).get("parameters") or {})
            for key in settings:
                if key not in CIRCLECI_ENTRY_KEYS | parameters:
                    found.append(f"{workflow}/{name}: unknown key {key!r}")
            if "type" in settings and settings["type"] != "approval":
                found.append(f"{workflow}/{name}: type {settings['type']!r} is not 'approval'")
            if settings.get("type") != "approval" and name not in jobs:
                found.append(f"{workflow}/{name}: no job {name!r} is defined")
            for required in settings.get("requires") or []:
                if required not in listed:
                    found.append(f"{workflow}/{name}: requires {required!r}, not in the workflow")
    for name, job in jobs.items():
        for step in circleci_steps(config, job.get("steps", [])):
            run = step.get("run") if isinstance(step, dict) else None
            command = run if isinstance(run, str) else (run or {}).get("command", "")
            if make_targets(command) and not (isinstance(run, dict) and "no_output_timeout" in run):
                found.append(f"{name}: `{command}` has no no_output_timeout")
    return found


# --- GitLab ---------------------------------------------------------------------------------


def test_gitlab_config_passes_the_gitlab_ci_schema(project):
    result = jsonschema(project / GITLAB, "vendor.gitlab-ci")
    assert result.returncode == 0, result.stdout + result.stderr


def test_gitlab_schema_catches_a_misspelled_job_key(default_project, tmp_path):
    broken = read(default_project, GITLAB)
    broken["lint"]["scirpt"] = broken["lint"].pop("script")
    result = jsonschema(write(tmp_path, GITLAB, broken), "vendor.gitlab-ci")
    assert result.returncode != 0 and "scirpt" in result.stdout


def test_gitlab_config_passes_our_reference_checks(project):
    assert gitlab_problems(read(project, GITLAB)) == []


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda c: c["gate"]["needs"][0].update(job="trian"), "needs unknown job 'trian'"),
        (lambda c: c["test"].update(needs=["gate"]), "needs 'gate' of a later stage"),
        (lambda c: c["images"].update(only=["main"]), "rules mixed with only/except"),
        (lambda c: c["train"].pop("timeout"), "train: no timeout"),
        (lambda c: c["production"].update(when="manual"), "job-level `when: manual`"),
        (lambda c: c["images"].update(extends=[".dockr"]), "extends unknown ['.dockr']"),
    ],
    ids=[
        "unknown-need",
        "need-of-later-stage",
        "only-with-rules",
        "no-timeout",
        "job-manual",
        "unknown-extends",
    ],
)
def test_gitlab_reference_checks_catch_a_broken_copy(default_project, breakage, expected):
    broken = read(default_project, GITLAB)
    breakage(broken)
    assert any(expected in problem for problem in gitlab_problems(broken)), gitlab_problems(broken)


# --- CircleCI -------------------------------------------------------------------------------


def test_circleci_config_passes_the_circleci_schema(project):
    result = jsonschema(project / CIRCLECI, "vendor.circle-ci")
    assert result.returncode == 0, result.stdout + result.stderr


def test_circleci_schema_catches_a_store_test_results_without_path(default_project, tmp_path):
    broken = read(default_project, CIRCLECI)
    steps = broken["jobs"]["test"]["steps"]
    index = next(
        i for i, s in enumerate(steps) if isinstance(s, dict) and "store_test_results" in s
    )
    steps[index] = {"store_test_results": {"paht": "reports"}}
    result = jsonschema(write(tmp_path, CIRCLECI, broken), "vendor.circle-ci")
    assert result.returncode != 0 and "'path' is a required property" in result.stdout


def test_circleci_parser_resolves_every_job_executor_and_workflow(project):
    config = read(project, CIRCLECI)
    result = circleci_parser(config)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert sorted(parsed["jobs"]) == sorted(config["jobs"])
    assert parsed["workflows"][0][1] == [name for name, _ in circleci_entries(config)]


def test_circleci_parser_catches_an_undefined_executor(default_project):
    broken = read(default_project, CIRCLECI)
    broken["jobs"]["gate"]["executor"] = "pyhton"
    result = circleci_parser(broken)
    assert result.returncode != 0 and "pyhton" in result.stderr, result.stderr


def test_circleci_config_passes_our_reference_checks(project):
    assert circleci_problems(read(project, CIRCLECI)) == []


def _entry(config, name):
    return next(
        e[name]
        for e in config["workflows"]["pipeline"]["jobs"]
        if isinstance(e, dict) and name in e
    )


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda c: _entry(c, "gate").update(requires=["trian"]), "requires 'trian'"),
        (lambda c: _entry(c, "staging").update(requirez=["images"]), "unknown key 'requirez'"),
        (lambda c: _entry(c, "approve-production").update(type="aproval"), "is not 'approval'"),
        (
            lambda c: c["jobs"]["train"]["steps"][2]["run"].pop("no_output_timeout"),
            "no no_output_timeout",
        ),
    ],
    ids=["unknown-requires", "unknown-entry-key", "approval-typo", "no-timeout"],
)
def test_circleci_reference_checks_catch_a_broken_copy(default_project, breakage, expected):
    broken = read(default_project, CIRCLECI)
    breakage(broken)
    problems = circleci_problems(broken)
    assert any(expected in problem for problem in problems), problems


def test_circleci_schema_and_parser_miss_what_our_checks_catch(default_project, tmp_path):
    """Why the reference checks exist: an unknown `requires:` target passes schema and parser."""
    broken = read(default_project, CIRCLECI)
    _entry(broken, "gate").update(requires=["trian"])
    assert jsonschema(write(tmp_path, CIRCLECI, broken), "vendor.circle-ci").returncode == 0
    assert circleci_parser(broken).returncode == 0
    assert circleci_problems(broken)


# --- both -----------------------------------------------------------------------------------


def shell_scripts(provider: str, config: dict) -> list:
    """(where, shell, text) of every script: a GitLab job's lines run in one shell (sh in the
    Alpine docker jobs, so check as POSIX sh); each CircleCI `run` is its own bash script."""
    if provider == "gitlab":
        out = []
        for name in gitlab_job_names(config):
            job = gitlab_resolve(config, name)
            keys = ("before_script", "script", "after_script")
            out.append((name, "sh", "\n".join(script_text(job.get(k)) for k in keys)))
        return out
    return [
        (name, "bash", circleci_run_text(step))
        for name, job in config["jobs"].items()
        for step in circleci_steps(config, job.get("steps", []))
        if circleci_run_text(step)
    ]


def shellcheck(provider: str, config: dict) -> list:
    tool = require_tool("shellcheck")
    found = []
    for where, shell, text in shell_scripts(provider, config):
        cmd = [tool, "--shell", shell, "--format", "gcc", "-"]
        result = subprocess.run(cmd, input=text, capture_output=True, text=True)
        if result.returncode:
            found.append(f"{where}: {result.stdout.strip()}")
    return found


@pytest.mark.parametrize("provider, path", [("gitlab", GITLAB), ("circleci", CIRCLECI)])
def test_every_script_passes_shellcheck(default_project, provider, path):
    assert shellcheck(provider, read(default_project, path)) == []


def test_shellcheck_catches_an_unquoted_variable(default_project):
    broken = read(default_project, GITLAB)
    broken["staging"]["script"].insert(0, "cp $STAGING_SSH_KNOWN_HOSTS ~/.ssh/known_hosts")
    assert any("SC2086" in problem for problem in shellcheck("gitlab", broken))
    broken = read(default_project, CIRCLECI)
    broken["jobs"]["gate"]["steps"].insert(0, {"run": "cd $HOME/project && make gate"})
    assert any("SC2086" in problem for problem in shellcheck("circleci", broken))


@pytest.mark.parametrize("path", [GITLAB, CIRCLECI])
def test_config_quotes_no_secret_and_leaves_no_template_tag(default_project, path):
    text = (default_project / path).read_text()
    assert not re.search(r"{{\s*cookiecutter\.|{%-?\s", text)
    # Registry passwords reach docker only on stdin, never on a command line or in a log.
    for line in text.splitlines():
        if "PASSWORD" in line:
            assert "--password-stdin" in line and 'echo "$' in line, line
    assert "set -x" not in text


@pytest.mark.parametrize(
    "option, path",
    [("use_gitlab_ci", GITLAB), ("use_circleci", ".circleci")],
    ids=["gitlab", "circleci"],
)
def test_a_provider_answered_no_leaves_no_config(bake_session, option, path):
    assert not (bake_session(**{option: False}) / path).exists()


# --- the delivery targets the deploy jobs call ----------------------------------------------

STUB_DOCKER = """#!/bin/sh
echo "$@" >> "$STUB_LOG"
case "$*" in *"$STUB_FAIL"*) [ -n "$STUB_FAIL" ] && exit 1;; esac
exit 0
"""


@pytest.fixture
def docker_stub(tmp_path):
    """A `docker` that records its arguments (and fails on STUB_FAIL): no engine, no registry."""
    stub = tmp_path / "docker"
    stub.write_text(STUB_DOCKER)
    stub.chmod(0o755)
    log = tmp_path / "docker.log"

    def call(project, target, fail="", **variables):
        args = [f"{k}={v}" for k, v in {"DOCKER": stub, **variables}.items()]
        env = {"STUB_LOG": str(log), "STUB_FAIL": fail}
        result = make(project, target, *args, check=False, env=env)
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return result, calls

    return call


def test_push_pushes_the_three_images_with_the_commit_tag(default_project, docker_stub):
    result, calls = docker_stub(
        default_project, "push", REGISTRY="reg.example/team/app", IMAGE_TAG="abc1234"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == [
        f"push --quiet reg.example/team/app/{name}:abc1234" for name in ("api", "ui", "mlflow")
    ]


def test_promote_images_retags_the_tested_images_as_production(default_project, docker_stub):
    result, calls = docker_stub(
        default_project, "promote-images", REGISTRY="reg.example/team/app", IMAGE_TAG="abc1234"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    image = "reg.example/team/app/api"
    assert calls[:3] == [
        f"pull --quiet {image}:abc1234",
        f"tag {image}:abc1234 {image}:production",
        f"push --quiet {image}:production",
    ]
    assert len(calls) == 9


def test_push_stops_at_the_first_failure_and_fails(default_project, docker_stub):
    result, calls = docker_stub(
        default_project, "push", fail="/ui:", REGISTRY="reg.example/team/app", IMAGE_TAG="abc1234"
    )
    assert result.returncode != 0
    assert calls[-1] == "push --quiet reg.example/team/app/ui:abc1234"  # mlflow never pushed


@pytest.mark.parametrize("target", ["push", "promote-images"])
def test_push_and_promote_refuse_image_names_without_a_registry(
    default_project, docker_stub, target
):
    result, calls = docker_stub(default_project, target, REGISTRY="")
    assert result.returncode != 0 and calls == []
    assert "names no registry: set REGISTRY" in result.stdout
