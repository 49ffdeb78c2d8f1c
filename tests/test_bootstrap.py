"""The fork road: `make bootstrap` turns a clone of the template into the project itself.

A scratch copy of this work tree is committed (the "upstream" template), cloned (the "fork") and
bootstrapped with answers from a file. The result has the project at its root and nothing of the
template; its own lint, tests, training and gate pass; its CI files, where each provider looks,
pass the static checkers; .cruft.json names the upstream and the commit, so `make update` takes a
later upstream commit. A dirty work tree and a second bootstrap are refused with one line.
"""

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT_VENV, make, require_tool, run
from test_update import GIT, SLUG, commit, cruft, scratch_template

pytestmark = pytest.mark.baked

ANSWERS = {"project_name": "Fraud Watch", "dataset": "wine", "license": "BSD-3-Clause"}
TEMPLATE_ONLY = [SLUG, "cookiecutter.json", "hooks", "scripts", "docs", "CHANGELOG.md", ".ci",
                 "requirements.txt", "tests/act_stand_ins", "tests/test_bake.py"]  # fmt: skip
PROJECT_CI = [".github/workflows/ci.yml", ".gitlab-ci.yml", ".circleci/config.yml"]


def bootstrap(fork: Path, *args: str) -> subprocess.CompletedProcess:
    """`make bootstrap` at the fork's root, with the template's prebuilt virtualenv."""
    command = ["make", "--no-print-directory", "bootstrap", f"VENV={PROJECT_VENV}", *args]
    return run(command, cwd=fork, check=False, timeout=300)


def tool(name: str) -> str:
    candidate = PROJECT_VENV / "bin" / name
    return str(candidate) if candidate.is_file() else require_tool(name)


@pytest.fixture(scope="module")
def bootstrapped(tmp_path_factory):
    """(upstream template, bootstrapped fork, the bootstrap's result, the dirty refusal)."""
    tmp = tmp_path_factory.mktemp("bootstrap")
    upstream = scratch_template(tmp / "upstream")
    fork = tmp / "fraud-watch"
    run(["git", "clone", "-q", str(upstream), str(fork)], cwd=tmp)
    run(["git", "remote", "add", "upstream", str(upstream)], cwd=fork)
    answers = tmp / "answers.yml"
    answers.write_text(yaml.safe_dump({"default_context": ANSWERS}))

    (fork / "notes.txt").write_text("not committed\n")
    dirty = bootstrap(fork, f"ANSWERS={answers}")
    (fork / "notes.txt").unlink()
    result = bootstrap(fork, f"ANSWERS={answers}")
    assert result.returncode == 0, result.stdout + result.stderr
    return upstream, fork, result, dirty


def test_a_dirty_work_tree_is_refused_with_one_line(bootstrapped):
    _, _, _, dirty = bootstrapped
    assert dirty.returncode != 0
    assert dirty.stderr.splitlines()[0] == (
        "bootstrap: refused: the work tree has 1 uncommitted change(s) (notes.txt, ...): "
        "commit them first"
    )


def test_the_project_replaces_the_template_at_the_root(bootstrapped):
    upstream, fork, result, _ = bootstrapped
    assert "bootstrap: rendered 'Fraud Watch'" in result.stdout
    for path in TEMPLATE_ONLY:
        assert not (fork / path).exists(), f"template-only {path} is left"
    for path in [
        "Makefile",
        "README.md",
        "Dockerfile",
        "fraud_watch/train.py",
        "tests/test_api.py",
    ]:
        assert (fork / path).is_file(), path
    # The CI files are the project's, where each provider looks; the template's own are gone.
    for path in PROJECT_CI:
        assert (fork / path).is_file(), path
    assert sorted(p.name for p in (fork / ".github" / "workflows").iterdir()) == [
        "ci.yml",
        "rollback.yml",
    ]
    assert (fork / ".gitlab-ci.yml").read_text().startswith("# Fraud Watch: GitLab CI.")
    assert "BSD 3-Clause" in (fork / "LICENSE").read_text()
    head = run(["git", "rev-parse", "HEAD"], cwd=fork).stdout.strip()
    state = json.loads((fork / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (str(upstream), head)
    context = state["context"]["cookiecutter"]
    assert {k: context[k] for k in ANSWERS} == ANSWERS and context["project_slug"] == "fraud_watch"


def test_a_second_bootstrap_is_refused_with_one_line(bootstrapped):
    _, fork, _, _ = bootstrapped
    run(["git", "add", "-A"], cwd=fork)
    if run(["git", "status", "--porcelain"], cwd=fork).stdout.strip():
        run([*GIT, "commit", "-q", "-m", "Bootstrap from ml-ci-template"], cwd=fork)
    again = bootstrap(fork)
    assert again.returncode != 0
    assert again.stdout.splitlines()[0] == (
        "bootstrap: refused: already bootstrapped (.cruft.json records the template); "
        "`make update` takes newer template commits"
    )


def test_the_bootstrapped_project_passes_lint_test_train_and_gate(bootstrapped):
    _, fork, _, _ = bootstrapped
    for target in ["lint", "test", "train", "gate"]:
        make(fork, target, timeout=900)
    metrics = json.loads((fork / "model" / "metrics.json").read_text())
    assert metrics  # the gate read what train wrote


def test_the_bootstrapped_ci_files_pass_the_static_checkers(bootstrapped):
    _, fork, _, _ = bootstrapped
    checks = {
        "github schema": [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                          PROJECT_CI[0]],
        "gitlab schema": [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci",
                          "--data-transform", "gitlab-ci", PROJECT_CI[1]],
        "circleci schema": [tool("check-jsonschema"), "--builtin-schema", "vendor.circle-ci",
                            PROJECT_CI[2]],
        "actionlint": [tool("actionlint"), "-oneline", PROJECT_CI[0]],
        "zizmor": [tool("zizmor"), "--offline", "--no-progress", "--color", "never",
                   ".github/workflows/"],
    }  # fmt: skip
    for name, command in checks.items():
        result = run(command, cwd=fork, check=False, timeout=300)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_make_update_takes_a_later_upstream_commit(bootstrapped):
    upstream, fork, _, _ = bootstrapped
    cruft()
    test_a_second_bootstrap_is_refused_with_one_line(bootstrapped)  # committed, whatever the order
    (upstream / SLUG / "TEMPLATE_NEWS.md").write_text("# From upstream\n")
    later = commit(upstream, "a later template commit")
    result = make(fork, "update", f"CRUFT={cruft()}", check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (fork / "TEMPLATE_NEWS.md").read_text() == "# From upstream\n"
    assert json.loads((fork / ".cruft.json").read_text())["commit"] == later
