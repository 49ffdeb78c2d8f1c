"""Static tier of the three CI files: every checker is clean on real bakes and catches one broken copy
(schemas, actionlint + shellcheck, zizmor incl. pedantic, gitlab-ci-local's own config reader, the
CircleCI parser); GitHub's pins, permissions and timeouts; no shell block over three lines.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ci_spec import EVERY, LOCAL_ACTIONS, PATHS, READERS, REVIEW, load
from conftest import NODE_BIN, broken_copy, make, require_tool, run, skip_or_fail

pytestmark = pytest.mark.baked

GITHUB, GITLAB, CIRCLECI = PATHS.values()
BAKES = {  # Python versions cycled; odd names must still give valid YAML and scripts
    "default": {},
    "py3.13-wine-forest-sklearn": dict(
        python_version="3.13", dataset="wine", model="random_forest", serving_runtime="sklearn"
    ),
    "py3.12-quoted-name": {"project_name": 'Ann\'s "Fraud" \\ Model', "python_version": "3.12"},
}
# The action pins of ../shared/CI_REFERENCE.md (checked there against the tags).
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "astral-sh/setup-uv": ("20cfd1bf945f4377ade1205e4dbc17946fc9a30d", "v10.0.1"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "mikepenz/action-junit-report": ("d9f48fc87bc235f7e214acf696ca5abc0a986f16", "v6.4.2"),
    # Not in CI_REFERENCE.md: the SHA public workflows pin as actions/cache v4.3.0.
    "actions/cache": ("0057852bfaa89a56745cba8c7296529d2fc39830", "v4.3.0"),
}


@pytest.fixture(params=list(BAKES))
def project(request, bake_session) -> Path:
    return bake_session(**BAKES[request.param])


def tool(project: Path, *command: str) -> subprocess.CompletedProcess:
    return run([require_tool(command[0]), *command[1:]], cwd=project, check=False, timeout=300)


def schema(name: str, path: str, *extra: str):
    return lambda project: tool(project, "check-jsonschema", "--builtin-schema", name, *extra, path)


def zizmor(*persona: str):
    command = ["zizmor", "--offline", "--no-progress", "--color", "never", *persona, ".github"]
    return lambda project: tool(project, *command)


def gitlab_ci_local(project: Path) -> subprocess.CompletedProcess:
    """gitlab-ci-local's own reading of the file (extends, needs, stages, rules), in a git copy."""
    work = Path(
        shutil.copytree(project, project.parent / f"{project.name}-git", dirs_exist_ok=True)
    )
    run("git init -q -b main && git add -A", cwd=work)
    env = {"PATH": f"{NODE_BIN}{os.pathsep}{os.environ['PATH']}"}  # node 22
    return run([require_tool("gitlab-ci-local"), "--list"], cwd=work, env=env, check=False)


# The parser (an alpha) rejects a bare reusable-command step: normalise `- cmd` to `- cmd: {}`.
PARSE_JS = """const config = JSON.parse(require("fs").readFileSync(0, "utf8"));
for (const job of Object.values(config.jobs || {}))
  job.steps = (job.steps || []).map(s => typeof s === "string" && (config.commands || {})[s] ? {[s]: {}} : s);
try { require("@circleci/circleci-config-parser").parseConfig(config); }
catch (error) { console.error(String(error.message || error).slice(0, 500)); process.exit(1); }"""


def circleci_parser(project: Path) -> subprocess.CompletedProcess:
    if not (NODE_BIN.parent / "@circleci" / "circleci-config-parser").is_dir():
        skip_or_fail("@circleci/circleci-config-parser is not installed (`make tools` installs it)")
    config = json.dumps(load(project, "circleci"))
    command = [require_tool("node"), "-e", PARSE_JS]
    env = {"NODE_PATH": str(NODE_BIN.parent)}
    return subprocess.run(command, input=config, capture_output=True, text=True, env=env)


def shell_blocks(project: Path) -> list:
    """(where, shell, text) of every shell block: GitHub `run:` steps (workflow and local actions),
    each GitLab script line (sh: the Alpine docker jobs), each CircleCI `run` (bash)."""
    blocks = []
    for path in [project / GITHUB, *project.glob(".github/actions/*/action.yml")]:
        data = yaml.safe_load(path.read_text())
        steps = [s for job in (data.get("jobs") or {}).values() for s in job.get("steps", [])]
        steps += (data.get("runs") or {}).get("steps", [])
        blocks += [(path.name, "bash", s["run"]) for s in steps if "run" in s]
    for name, job in (load(project, "gitlab") if (project / GITLAB).exists() else {}).items():
        for key in ("before_script", "script", "after_script"):
            lines = (job.get(key) or []) if isinstance(job, dict) else []
            blocks += [(f"{name}/{key}", "sh", line) for line in lines if isinstance(line, str)]
    config = load(project, "circleci") if (project / CIRCLECI).exists() else {}
    for name, job in [*(config.get("jobs") or {}).items(), *(config.get("commands") or {}).items()]:
        for step in job.get("steps", []):
            run_ = step.get("run") if isinstance(step, dict) else None
            text = run_ if isinstance(run_, str) else (run_ or {}).get("command")
            # CircleCI replaces `<< parameters.x >>` before the shell reads the script.
            text = re.sub(r"<<\s*[\w.]+\s*>>", "PARAMETER", text or "")
            blocks += [(name, "bash", text)] if text else []
    return blocks


def shellcheck(project: Path) -> subprocess.CompletedProcess:
    """shellcheck on every GitLab and CircleCI block (actionlint runs it on GitHub's)."""
    found = []
    for where, shell, text in shell_blocks(project):
        if where.endswith(".yml"):
            continue
        command = [require_tool("shellcheck"), "--shell", shell, "--format", "gcc", "-"]
        result = subprocess.run(command, input=text, capture_output=True, text=True)
        found += [f"{where}: {result.stdout.strip()}"] if result.returncode else []
    return subprocess.CompletedProcess("shellcheck", int(bool(found)), "\n".join(found), "")


CHECKERS = {
    "github-schema": schema("vendor.github-workflows", GITHUB),
    "github-timeouts": schema("custom.github-workflows-require-timeout", GITHUB),
    "gitlab-schema": schema("vendor.gitlab-ci", GITLAB, "--data-transform", "gitlab-ci"),
    "circleci-schema": schema("vendor.circle-ci", CIRCLECI),
    "actionlint": lambda p: tool(
        p, "actionlint", "-oneline", "-shellcheck", require_tool("shellcheck"), GITHUB
    ),
    "zizmor": zizmor(),
    "zizmor-pedantic": zizmor("--persona", "pedantic"),
    "gitlab-ci-local": gitlab_ci_local,
    "circleci-parser": circleci_parser,
    "shellcheck": shellcheck,
}
# fmt: off
BROKEN = [
    # checker           file      the text ...                  ... becomes                  and the checker says
    ("github-schema",   GITHUB,   "contents: read",             "contents: reed",            "Schema validation errors"),
    ("github-timeouts", GITHUB,   "    timeout-minutes: 10\n",  "",                          "Schema validation errors"),
    ("gitlab-schema",   GITLAB,   "  script: [make pre-commit]", "  scirpt: [make pre-commit]",     "scirpt"),
    ("circleci-schema", CIRCLECI, "path: reports/junit.xml",    "paht: reports/junit.xml",   "'path' is a required property"),
    ("actionlint",      GITHUB,   '> "$RUNNER_TEMP/key"',       "> $RUNNER_TEMP/key",        "SC2086"),
    ("zizmor",          GITHUB,   "run: make pre-commit",             'run: echo "${{ github.event.head_commit.message }}"', "template-injection"),
    ("zizmor-pedantic", GITHUB,   "checks: write } # the JUnit report action publishes a check run", "checks: write }", "undocumented-permissions"),
    ("gitlab-ci-local", GITLAB,   "needs: [test]",              "needs: [tset]",             "needs: [tset] for validate could not be found"),
    ("gitlab-ci-local", GITLAB,   "needs: [lint]",              "needs: [gate]",             "needs: [gate] for test: [train] is in a future stage"),
    ("gitlab-ci-local", GITLAB,   "extends: .docker",           "extends: .dockr",           ".dockr is unspecified"),
    ("circleci-parser", CIRCLECI, "executor: python",           "executor: pyhton",          "pyhton"),
    ("shellcheck",      GITLAB,   "script: [make pre-commit]",  "script: [cd $CI_PROJECT_DIR && make pre-commit]", "SC2086"),
    ("shellcheck",      CIRCLECI, "- run: make gate",           "- run: cd $HOME/project && make gate", "SC2086"),
]
# fmt: on


@pytest.mark.parametrize("checker", CHECKERS)
def test_the_checker_finds_nothing(project, checker):
    result = CHECKERS[checker](project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "checker, path, old, new, expected", BROKEN, ids=[f"{b[0]}:{b[3][:24]}" for b in BROKEN]
)
def test_the_checker_catches_a_broken_copy(
    bake_session, tmp_path, checker, path, old, new, expected
):
    result = CHECKERS[checker](broken_copy(bake_session(), tmp_path, path, old, new))
    assert result.returncode != 0 and expected in result.stdout + result.stderr, result.stdout


def test_no_shell_block_is_longer_than_three_lines_or_traces_its_commands(project):
    blocks = [(where, text) for where, _, text in shell_blocks(project)]
    assert [b for b in blocks if b[1].strip().count("\n") > 2 or "set -x" in b[1]] == []


def test_every_gitlab_job_has_a_timeout(project):
    config = load(project, "gitlab")
    for name, job in config.items():
        if isinstance(job, dict) and ("script" in job or "extends" in job) and name[0] != ".":
            assert re.fullmatch(r"\d+ (minutes|hours?)", job.get("timeout", "")), name


def github_steps(project: Path) -> list:
    """(job, step) of the workflow and of its local actions (job `./.github/actions/X`)."""
    workflow = load(project, "github")
    steps = [(name, s) for name, job in workflow["jobs"].items() for s in job["steps"]]
    for name, action in workflow[LOCAL_ACTIONS].items():
        steps += [(name, s) for s in action["runs"]["steps"]]
    return steps


def test_github_pins_every_action_by_sha_and_keeps_secrets_and_expressions_out_of_scripts(
    project,
):
    text = "\n".join(p.read_text() for p in project.glob(".github/**/*.yml"))
    for job, step in github_steps(project):
        action, _, sha = step.get("uses", "").partition("@")
        if action and not action.startswith("./"):
            version = re.search(rf"@{sha}\b.*# (v[\d.]+)$", text, re.M)
            assert (sha, version and version[1]) == PINS[action], (job, action)
        script = step.get("run", "")
        assert "${{" not in script, job  # values reach scripts through env only
        assert "secrets." not in script and "set -x" not in script, job
        if action == "actions/checkout":
            assert step["with"]["persist-credentials"] is False, job


def test_github_bounds_every_job_and_grants_write_only_where_needed(project):
    workflow = load(project, "github")
    assert all(0 < job["timeout-minutes"] <= 30 for job in workflow["jobs"].values())
    assert workflow["permissions"] == {"contents": "read"}
    grants = {job: s["permissions"] for job, s in workflow["jobs"].items() if "permissions" in s}
    assert grants == {
        "test": {"contents": "read", "checks": "write"},
        "images": {"contents": "read", "packages": "write"},
        "staging": {"contents": "read", "packages": "read"},
        "production": {"contents": "read", "packages": "write"},
        "review": {"contents": "read", "pull-requests": "write"},  # its one comment
    }
    # Pull requests run as `pull_request`: a fork's gets a read-only token, whatever the job asks
    # (`pull_request_target` would hand a fork's code a write token).
    assert workflow[True] == ["push", "pull_request", "workflow_dispatch"]


def test_github_default_branch_runs_never_wait_on_each_other_only_deploys_queue(project):
    workflow = load(project, "github")
    own_run = "github.ref_name == github.event.repository.default_branch && github.run_id"
    assert workflow["concurrency"] == {
        "group": f"${{{{ github.workflow }}}}-${{{{ {own_run} || github.ref }}}}",
        "cancel-in-progress": True,
    }
    queues = {job: s.get("concurrency") for job, s in workflow["jobs"].items()}
    assert {job: q for job, q in queues.items() if q} == {
        job: {"group": job, "cancel-in-progress": False} for job in ("staging", "production")
    }


def test_github_reports_and_uploads_after_a_failure_and_a_rerun_overwrites_them(project):
    steps = github_steps(project)
    for job, step in steps:
        if "make report" in step.get("run", "") or "upload-artifact@" in step.get("uses", ""):
            if "if" in step or "make report" in step.get("run", ""):
                assert step["if"] == "${{ !cancelled() }}", job  # not always(): cancel stops it
            if "if" in step and "uses" in step:
                assert step["with"]["overwrite"] is True, job  # no 409 on a re-run
    assert [s["if"] for _, s in steps if "always()" in s.get("if", "")] == [
        "${{ always() && env.STAGING_SSH == '' }}"  # only the ephemeral staging's teardown
    ]


def test_gitlab_dind_pulls_through_a_mirror_and_merge_request_widgets_only_where_they_show(project):
    jobs = {name: job for name, job in load(project, "gitlab").items() if isinstance(job, dict)}
    services = [service for job in jobs.values() for service in job.get("services", [])]
    assert services and all(
        "--registry-mirror=https://mirror.gcr.io" in s["command"] for s in services
    )
    # `expose_as` shows in merge requests only: never on a job that runs on the default branch only.
    runs = READERS["gitlab"](load(project, "gitlab"))
    exposed = [name for name, job in jobs.items() if "expose_as" in str(job.get("artifacts"))]
    assert exposed and [name for name in exposed if runs[name][2] not in (EVERY, REVIEW)] == []


def test_every_ci_file_uses_the_answered_python_version(project):
    version = re.search(r'requires-python = ">=([\d.]+)"', (project / "pyproject.toml").read_text())
    setup = load(project, "github")[LOCAL_ACTIONS]["./.github/actions/setup"]["runs"]["steps"]
    assert setup[0]["with"]["python-version"] == version[1]
    assert load(project, "gitlab")["default"]["image"] == f"python:{version[1]}"
    circleci = load(project, "circleci")["executors"]["python"]["docker"][0]["image"]
    assert circleci == f"cimg/python:{version[1]}"


# --- the delivery targets the deploy jobs call, with a `docker` that records its arguments -------

STUB_DOCKER = """#!/bin/sh
echo "$@" >> "$STUB_LOG"
case "$*" in *"$STUB_FAIL"*) [ -n "$STUB_FAIL" ] && exit 1;; esac
exit 0
"""
IMAGES = ("api", "ui", "mlflow")
REGISTRY = ["REGISTRY=reg.example/team/app", "IMAGE_TAG=abc1234"]
R = "reg.example/team/app"
# fmt: off
DELIVERY = {
    "push": ("push", REGISTRY, "", 0, [f"push --quiet {R}/{i}:abc1234" for i in IMAGES]),
    "push-stops-at-a-failure": ("push", REGISTRY, "/ui:", 2, [f"push --quiet {R}/{i}:abc1234" for i in IMAGES[:2]]),
    "promote-images": ("promote-images", REGISTRY, "", 0, [
        line for i in IMAGES for line in (f"pull --quiet {R}/{i}:abc1234", f"tag {R}/{i}:abc1234 {R}/{i}:production",
                                          f"push --quiet {R}/{i}:production")]),
    "push-without-registry": ("push", ["REGISTRY="], "", 2, []),
    "promote-without-registry": ("promote-images", ["REGISTRY="], "", 2, []),
}
# fmt: on


@pytest.mark.parametrize("case", DELIVERY)
def test_delivery_targets_push_and_retag_what_was_tested_or_stop(bake_session, tmp_path, case):
    target, variables, fail, code, expected = DELIVERY[case]
    stub, log = tmp_path / "docker", tmp_path / "docker.log"
    stub.write_text(STUB_DOCKER)
    stub.chmod(0o755)
    env = {"STUB_LOG": str(log), "STUB_FAIL": fail}
    result = make(bake_session(), target, f"DOCKER={stub}", *variables, check=False, env=env)
    assert result.returncode == code, result.stdout + result.stderr
    assert (log.read_text().splitlines() if log.exists() else []) == expected
    if "REGISTRY=" in variables:
        assert "names no registry: set REGISTRY" in result.stdout
