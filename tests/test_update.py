"""The update path: a project baked at an older template commit takes newer ones with `make update`.

A scratch copy of this work tree becomes a git repository (commit A); a project is baked from it with
plain cookiecutter (the post-gen hook writes .cruft.json), committed and edited. The template then
gets two commits: B (a new file and a line added to .gitignore; tagged v0.2.0, the CHANGELOG's tag
scheme) and C (flake8's line length changed). `make update TEMPLATE_REF=v0.2.0` brings B in
cleanly, keeping the project's edit; then the project changes the very line C changes, and `make update` (the
template's default branch) fails naming the conflict, with both sides kept in the file. All local:
cruft clones the scratch repository by its path.
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import IN_CI, PROJECT_VENV, TEMPLATE, run

pytestmark = pytest.mark.baked

SLUG = "{{cookiecutter.project_slug}}"
GIT = ["git", "-c", "user.name=Template Test", "-c", "user.email=t@example.com"]
NEWS = "TEMPLATE_NEWS.md"
IGNORED_BY_B = "# added by template commit B\n*.from-template\n"


def cruft() -> str:
    path = PROJECT_VENV / "bin" / "cruft"
    if not path.is_file():
        message = "cruft is not installed (`make install` installs cruft==2.16.0)"
        pytest.fail(f"{message}; in CI no test may skip") if IN_CI else pytest.skip(message)
    return str(path)


def work_tree_files(root: Path) -> list:
    """The template's files as they are on disk: tracked and new, ignored ones left out."""
    listed = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=False)
    if (
        listed.returncode != 0
    ):  # not a git checkout (an unpacked archive): everything but build output
        skip = {".git", ".venv", "build", "__pycache__", ".pytest_cache"}
        return [p.relative_to(root) for p in root.rglob("*") if p.is_file()
                and not skip & set(p.relative_to(root).parts)]  # fmt: skip
    return [Path(name) for name in listed.stdout.split("\0") if name and (root / name).is_file()]


def scratch_template(folder: Path) -> Path:
    """A git repository holding a copy of this work tree, committed once (commit A)."""
    for name in work_tree_files(TEMPLATE):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, folder / name)
    commit(folder, "A: the template as it is", init=True)
    return folder


def commit(repo: Path, message: str, init: bool = False) -> str:
    if init:
        run(["git", "init", "-q", "-b", "main"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run([*GIT, "commit", "-q", "-m", message], cwd=repo)
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def edit(path: Path, old: str, new: str):
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}: update the test's edit"
    path.write_text(text.replace(old, new, 1))


def update(project: Path, *variables: str) -> subprocess.CompletedProcess:
    return run(
        ["make", "--no-print-directory", "update", f"CRUFT={cruft()}", *variables],
        cwd=project,
        check=False,
        timeout=300,
    )


def recorded_commit(project: Path) -> str:
    return json.loads((project / ".cruft.json").read_text())["commit"]


def test_update_brings_template_changes_keeps_project_edits_and_reports_a_conflict(tmp_path):
    cruft()
    template = scratch_template(tmp_path / "template")
    commit_a = run(["git", "rev-parse", "HEAD"], cwd=template).stdout.strip()
    # The project, baked from A by plain cookiecutter (not cruft): the hook records A.
    run(
        [str(PROJECT_VENV / "bin" / "cookiecutter"), "--no-input", str(template),
         "--output-dir", str(tmp_path / "out")],
        cwd=tmp_path,
    )  # fmt: skip
    project = tmp_path / "out" / "my_ml_service"
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (str(template), commit_a)
    assert state["context"]["cookiecutter"]["project_slug"] == "my_ml_service"

    # Then the template moves on. B: a new file and a new ignore line; tagged as a release.
    (template / SLUG / NEWS).write_text("# What changed in the template\n")
    with open(template / SLUG / ".gitignore", "a") as ignore:
        ignore.write(IGNORED_BY_B)
    commit_b = commit(template, "B: a new file, a new ignore line")
    run(["git", "tag", "v0.2.0"], cwd=template)
    # C: the line length, which the project will also change.
    edit(template / SLUG / ".flake8", "max-line-length = 100", "max-line-length = 110")
    commit_c = commit(template, "C: line length 110")

    commit(project, "baked from the template", init=True)
    with open(project / "README.md", "a") as readme:
        readme.write("\n## Our own notes\nKept by every update.\n")
    commit(project, "our edit")

    # A dirty work tree is refused, and nothing is changed.
    (project / "README.md").write_text((project / "README.md").read_text() + "uncommitted\n")
    refused = update(project, "TEMPLATE_REF=v0.2.0")
    assert refused.returncode != 0 and "unclean git project" in refused.stdout + refused.stderr
    assert recorded_commit(project) == commit_a and not (project / NEWS).exists()
    run(["git", "checkout", "--", "README.md"], cwd=project)

    # Up to the tag v0.2.0 (B): the template's changes arrive, the project's edit stays.
    clean = update(project, "TEMPLATE_REF=v0.2.0")
    output = clean.stdout + clean.stderr
    assert clean.returncode == 0, output
    assert (project / NEWS).read_text() == "# What changed in the template\n"
    assert (project / ".gitignore").read_text().endswith(IGNORED_BY_B)
    assert "Kept by every update." in (project / "README.md").read_text()
    assert recorded_commit(project) == commit_b
    assert f"+++ b/{NEWS}" in output and "+*.from-template" in output  # the diff is shown
    assert "update: applied the template's changes" in output
    commit(project, "template v0.2.0")

    # The project changes the line that C changes: the update to the default branch reports it.
    edit(project / ".flake8", "max-line-length = 100", "max-line-length = 120")
    commit(project, "our line length")
    conflicted = update(project)
    output = conflicted.stdout + conflicted.stderr
    assert conflicted.returncode != 0, output
    assert "update: CONFLICT, resolve and commit: .flake8" in output
    flake8 = (project / ".flake8").read_text()
    for kept in ["<<<<<<<", "max-line-length = 120", "max-line-length = 110", ">>>>>>>"]:
        assert kept in flake8, flake8  # neither side is lost
    assert "Kept by every update." in (project / "README.md").read_text()
    assert (project / NEWS).is_file()
    assert recorded_commit(project) == commit_c
