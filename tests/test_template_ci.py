"""The template's own pipelines (.github/workflows/template.yml, .gitlab-ci.yml at the root).

They pass the same static checkers as the generated files (JSON schemas, actionlint with
shellcheck, zizmor offline), each shown to catch a broken copy; their tiers are the pytest markers
of pyproject.toml and cover every test exactly once (GitLab: all but the docker tier, which needs a
Docker daemon its shared runners lack); they never reach a generated project; and act runs the
GitHub workflow's fast tier on this host, green.
"""

import itertools
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT_VENV, TEMPLATE, require_tool, run
from test_update import scratch_template

WORKFLOW = Path(".github/workflows/template.yml")
GITLAB = Path(".gitlab-ci.yml")
STAND_INS = Path(__file__).parent / "act_stand_ins"
SETUP_PYTHON = "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"
MARKERS = [
    line.split(":")[0]
    for line in tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"
    ]["markers"]
]


def tool(name: str) -> str:
    candidate = PROJECT_VENV / "bin" / name
    return str(candidate) if candidate.is_file() else require_tool(name)


def github_tiers() -> dict:
    job = yaml.safe_load((TEMPLATE / WORKFLOW).read_text())["jobs"]["suite"]
    return {entry["tier"]: entry["markers"] for entry in job["strategy"]["matrix"]["include"]}


def gitlab_tiers() -> dict:
    config = yaml.safe_load((TEMPLATE / GITLAB).read_text())
    return {name: job["variables"]["MARKERS"] for name, job in config.items()
            if isinstance(job, dict) and job.get("extends") == ".tier"}  # fmt: skip


def selects(expression: str, marks: set) -> bool:
    """pytest's -m: the expression with each marker name true when the test has that mark."""
    names = {name: name in marks for name in MARKERS}
    return eval(expression, {"__builtins__": {}}, names)  # our own two files, plain booleans


def checkers(root: Path) -> dict:
    schema = [tool("check-jsonschema"), "--builtin-schema"]
    return {
        "github schema": [*schema, "vendor.github-workflows", str(WORKFLOW)],
        "timeouts": [*schema, "custom.github-workflows-require-timeout", str(WORKFLOW)],
        "gitlab schema": [*schema, "vendor.gitlab-ci", "--data-transform", "gitlab-ci", str(GITLAB)],
        "actionlint": [tool("actionlint"), "-oneline", str(WORKFLOW)],
        "zizmor": [tool("zizmor"), "--offline", "--no-progress", "--color", "never",
                   str(WORKFLOW.parent)],
    }  # fmt: skip


def copy_of_the_ci_files(tmp_path: Path, name: str = "", old: str = "", new: str = "") -> Path:
    root = tmp_path / "ci"
    for path in (WORKFLOW, GITLAB):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        text = (TEMPLATE / path).read_text()
        if str(path) == name:
            assert old in text, f"{old!r} is not in {path}: update the broken case"
            text = text.replace(old, new, 1)
        (root / path).write_text(text)
    return root


def test_the_template_ci_files_pass_every_static_checker():
    require_tool("shellcheck")  # actionlint checks the run: scripts with it
    for name, command in checkers(TEMPLATE).items():
        result = run(command, cwd=TEMPLATE, check=False, timeout=300)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    "checker, name, old, new",
    [
        ("timeouts", str(WORKFLOW), "    timeout-minutes: 60\n", ""),
        ("zizmor", str(WORKFLOW), "@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "@v7"),
        ("zizmor", str(WORKFLOW), "        with:\n          persist-credentials: false\n", ""),
        ("actionlint", str(WORKFLOW), "${{ matrix.tier }} tier", "${{ matrix.tiers }} tier"),
        ("actionlint", str(WORKFLOW), "-m '$MARKERS'\"", "-m '$MARKERS'\" && cd $HOME/x"),
        ("github schema", str(WORKFLOW), "runs-on: ubuntu-24.04", "runs-on: [[]]"),
        ("gitlab schema", str(GITLAB), "  timeout: 60m", "  timeout: []"),
    ],
    ids=["no-timeout", "tag-pinned", "credentials-kept", "undefined-matrix-key",
         "shellcheck-unquoted", "bad-runs-on", "bad-gitlab-timeout"],  # fmt: skip
)
def test_each_checker_catches_a_broken_copy(tmp_path, checker, name, old, new):
    root = copy_of_the_ci_files(tmp_path, name, old, new)
    result = run(checkers(root)[checker], cwd=root, check=False, timeout=300)
    assert result.returncode != 0, result.stdout + result.stderr


def test_least_privilege_pins_and_timeouts():
    workflow = yaml.safe_load((TEMPLATE / WORKFLOW).read_text())
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        assert "permissions" not in job and job["timeout-minutes"] <= 60
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_the_tiers_are_the_markers_and_cover_every_test_exactly_once():
    github, gitlab = github_tiers(), gitlab_tiers()
    assert set(MARKERS) == {"baked", "slow", "ci_run", "docker"}
    assert list(github) == ["fast", "baked", "slow", "ci-tools", "docker"]
    assert gitlab == {tier: github[tier] for tier in ["fast", "baked", "slow", "ci-tools"]}
    for size in range(len(MARKERS) + 1):
        for marks in map(set, itertools.combinations(MARKERS, size)):
            chosen = [tier for tier, expr in github.items() if selects(expr, marks)]
            assert len(chosen) == 1, (marks, chosen)
            on_gitlab = [tier for tier, expr in gitlab.items() if selects(expr, marks)]
            assert on_gitlab == ([] if "docker" in marks else chosen), (marks, on_gitlab)
    # Each job runs `make test` with its markers: the Makefile is the one entry point.
    steps = yaml.safe_load((TEMPLATE / WORKFLOW).read_text())["jobs"]["suite"]["steps"]
    assert [s["run"] for s in steps if "run" in s] == [
        "make test PYTEST_ARGS=\"-n 2 --dist loadgroup -m '$MARKERS'\""
    ]
    gitlab_script = yaml.safe_load((TEMPLATE / GITLAB).read_text())[".tier"]["script"]
    assert gitlab_script == ["make test PYTEST_ARGS=\"-n 2 --dist loadgroup -m '$MARKERS'\""]


def test_the_template_ci_files_never_reach_a_generated_project(tmp_path):
    from cookiecutter.main import cookiecutter

    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path)))
    assert sorted(p.name for p in (project / ".github" / "workflows").iterdir()) == [
        "ci.yml",
        "rollback.yml",
    ]
    assert (project / GITLAB).read_text() != (TEMPLATE / GITLAB).read_text()
    assert "MARKERS" not in (project / GITLAB).read_text()
    assert not list(project.rglob("template.yml"))


@pytest.mark.ci_run
@pytest.mark.timeout(2400)
def test_act_runs_the_fast_tier_of_the_template_workflow_green(tmp_path):
    """act runs .github/workflows/template.yml's fast tier on this host, in a committed copy.

    Only actions/setup-python is replaced (tests/act_stand_ins/setup-python: it checks that the
    python on PATH, the template's venv, is 3.11, as nothing can be downloaded offline); checkout is
    skipped by act itself. Everything else is the job itself: `make test` builds a fresh .venv
    from PyPI (uv's and pip's caches of this machine reused), runs `make tools`, then pytest with
    the fast tier's markers, CI=true.
    """
    act = tool("act")
    copy = scratch_template(tmp_path / "template")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(PROJECT_VENV / "bin"), os.environ["PATH"]]),
        "XDG_CACHE_HOME": str(tmp_path / "act-cache"),  # act's work-tree copy goes here
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(cache / "uv")),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(cache / "pip")),
    }
    env.pop("VENV", None)
    command = [
        act, "push", "-W", str(WORKFLOW), "-j", "suite", "--matrix", "tier:fast",
        "-P", "ubuntu-24.04=-self-hosted", "--no-cache-server",
        f"--local-repository={SETUP_PYTHON}={STAND_INS / 'setup-python'}",
        "--env", f"UV_CACHE_DIR={env['UV_CACHE_DIR']}", "--env", f"PIP_CACHE_DIR={env['PIP_CACHE_DIR']}",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=copy, env=env, capture_output=True, text=True, timeout=2300
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # pytest's colours
    (tmp_path / "act.log").write_text(output)  # the whole run, for when an assertion fails
    assert result.returncode == 0, output[-8000:]
    assert re.search(r"🏁\s+Job succeeded", output), output[-3000:]
    assert "setup-python stand-in: wanted 3.11, found 3.11" in output
    summary = re.search(r"=+ (\d+) passed(?:, (\d+) \w+)*.* in [\d.]+s", output)
    assert summary, output[-3000:]
    assert not re.search(r"\d+ (failed|skipped|error)", summary.group(0)), summary.group(0)
    shutil.rmtree(tmp_path / "act-cache", ignore_errors=True)
