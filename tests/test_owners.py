"""The three owners: CODEOWNERS for GitHub and GitLab from the answers, the same files as the
per-owner test targets, and the API's and UI's checks passing with train.py broken."""

import ast
import fnmatch
import time
import xml.etree.ElementTree as ET

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import PROJECT_VENV, TEMPLATE, broken_copy, make, run

OWNERS = {
    "train_owner": "@ada @ml-team/trainers",
    "api_owner": "api.owner@example.com",
    "ui_owner": "@grace.h",
}
EVERYONE = " ".join(OWNERS.values()).split()
PKG = "my_ml_service"
# file -> the answer whose owners review it (None: the three together, the shared contract)
EXPECTED = {
    f"{PKG}/train.py": "train_owner",
    f"{PKG}/pipeline/gate.py": None,  # the gates are CI: shared
    "requirements/train.txt": "train_owner",
    "tests/test_train.py": "train_owner",
    "tests/test_train_new_feature.py": "train_owner",
    f"{PKG}/api.py": "api_owner",
    f"{PKG}/serving.py": "api_owner",
    f"{PKG}/pipeline/smoke.py": None,
    "requirements/api.txt": "api_owner",
    "tests/test_api.py": "api_owner",
    "tests/test_api_latency.py": "api_owner",
    f"{PKG}/ui.py": "ui_owner",
    "requirements/ui.txt": "ui_owner",
    "tests/test_ui.py": "ui_owner",
    "tests/test_ui_page.py": "ui_owner",
    f"{PKG}/settings.py": None,
    f"{PKG}/schema.py": None,
    f"{PKG}/data.py": None,
    "Makefile": None,
    "tests/conftest.py": None,
    "requirements/dev.lock": None,
    ".gitlab-ci.yml": None,
    ".github/workflows/ci.yml": None,
}


def owners_of(answer) -> list[str]:
    return EVERYONE if answer is None else OWNERS[answer].split()


def matches(pattern: str, path: str) -> bool:
    """CODEOWNERS patterns as both providers read the ones we write (gitignore-like)."""
    if pattern == "*":
        return True
    anchored = pattern.lstrip("/")
    if anchored.endswith("/"):
        return path.startswith(anchored)
    return fnmatch.fnmatchcase(path, anchored)


def github_owners(text: str, path: str) -> list[str]:
    """GitHub: the last matching line wins."""
    found = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *owners = line.split()
            if matches(pattern, path):
                found = owners
    return found


def gitlab_sections(text: str, path: str) -> dict[str, list[str]]:
    """GitLab: every section whose entries match the path, with its default owners."""
    sections, name, defaults = {}, None, []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            name, _, rest = line[1:].partition("]")
            defaults = rest.split()
            continue
        pattern, *owners = line.split()
        if matches(pattern, path):
            sections[name] = owners or defaults
    return sections


@pytest.fixture(scope="module")
def project(bake_session):
    return bake_session(**OWNERS)


def test_github_codeowners_name_each_owner_for_their_files_and_all_three_for_the_contract(project):
    text = (project / ".github" / "CODEOWNERS").read_text()
    assert "{{" not in text
    for path, answer in EXPECTED.items():
        assert github_owners(text, path) == owners_of(answer), path


def test_gitlab_codeowners_have_one_section_per_owner_and_one_for_the_contract(project):
    text = (project / ".gitlab" / "CODEOWNERS").read_text()
    assert "{{" not in text
    section_of = {None: "Shared contract", "train_owner": "Training", "api_owner": "API"}
    section_of["ui_owner"] = "UI"
    for path, answer in EXPECTED.items():
        assert gitlab_sections(text, path) == {section_of[answer]: owners_of(answer)}, path


def conftest_owners(project) -> dict:
    """OWNERS of the generated tests/conftest.py: owner -> test file name prefixes."""
    tree = ast.parse((project / "tests" / "conftest.py").read_text())
    [value] = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "OWNERS"
    ]
    return ast.literal_eval(value)


def test_every_test_file_has_the_same_owner_in_codeowners_and_in_its_make_target(project):
    """`make test-OWNER` runs the files CODEOWNERS gives that owner (on both providers)."""
    prefixes = conftest_owners(project)
    assert set(prefixes) == {"train", "api", "ui"}
    github = (project / ".github" / "CODEOWNERS").read_text()
    gitlab = (project / ".gitlab" / "CODEOWNERS").read_text()
    for test_file in sorted((project / "tests").glob("test_*.py")):
        path = f"tests/{test_file.name}"
        owner = next((o for o, names in prefixes.items() if test_file.name.startswith(names)), None)
        answer = f"{owner}_owner" if owner else None
        assert github_owners(github, path) == owners_of(answer), path
        assert list(gitlab_sections(gitlab, path).values()) == [owners_of(answer)], path


@pytest.mark.parametrize(
    "answer", ["alice", "@alice bob", "@", "@-x", "@team/", "mail@nowhere", ""]
)
def test_an_owner_that_codeowners_cannot_read_is_refused_before_any_file_is_written(
    tmp_path, capfd, answer
):
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE), no_input=True, extra_context={"api_owner": answer}, output_dir=tmp_path
        )
    assert list(tmp_path.iterdir()) == []
    assert "ERROR: api_owner " in capfd.readouterr().err


def test_pull_and_merge_request_templates_carry_each_owners_checklist(project):
    for template in (
        project / ".github" / "pull_request_template.md",
        project / ".gitlab" / "merge_request_templates" / "Default.md",
    ):
        text = template.read_text()
        for target in ("make test-train", "make test-api", "make test-ui", "make test"):
            assert f"- [ ] `{target}` passes" in text, (template, target)


def collected(project, owner: str) -> set[str]:
    """The test files `pytest --owner OWNER` (what make test-OWNER runs) collects."""
    python = str(PROJECT_VENV / "bin" / "python")
    result = run([python, "-m", "pytest", "--owner", owner, "--collect-only", "-q"], project)
    return {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}


@pytest.mark.baked
def test_each_owner_target_collects_its_own_tests_and_the_shared_ones(project):
    prefixes = conftest_owners(project)
    everything = {f"tests/{p.name}" for p in (project / "tests").glob("test_*.py")}

    def owned_by(owner):
        return {
            path for path in everything if path.removeprefix("tests/").startswith(prefixes[owner])
        }

    shared = everything - set().union(*(owned_by(owner) for owner in prefixes))
    assert {"tests/test_report.py", "tests/test_review.py"} <= shared
    assert {"tests/test_train.py", "tests/test_gate.py", "tests/test_data.py"} <= owned_by("train")
    assert {"tests/test_api.py", "tests/test_smoke.py"} <= owned_by("api")
    assert {"tests/test_ui.py"} <= owned_by("ui")
    for owner in prefixes:
        assert collected(project, owner) == owned_by(owner) | shared, owner


@pytest.mark.baked
@pytest.mark.slow
def test_the_api_and_ui_checks_pass_with_train_py_broken_and_the_training_check_fails(
    project, tmp_path
):
    broken = broken_copy(
        project, tmp_path, f"{PKG}/train.py", "import argparse\n", "import argparse\n(broken\n"
    )
    figures = {}
    for owner in ("api", "ui"):
        started = time.monotonic()
        result = make(broken, f"test-{owner}")
        figures[owner] = time.monotonic() - started
        assert " passed" in result.stdout and " failed" not in result.stdout
        [suite] = ET.parse(broken / "reports" / "junit.xml").getroot().iter("testsuite")
        assert suite.get("name") == owner
    result = make(broken, "test-train", check=False)
    assert result.returncode != 0
    assert "ERROR tests/test_train.py" in result.stdout
    print(
        f"with train.py broken: make test-api {figures['api']:.1f} s, test-ui {figures['ui']:.1f} s"
    )
