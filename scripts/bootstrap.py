"""The fork road: turn a fork (or clone) of this template into the project itself, in place.

    make bootstrap [ANSWERS=answers.yml] [ARGS="project_name='Fraud Model' dataset=wine"]

Renders {{cookiecutter.project_slug}}/ with the answers (a YAML or JSON file, flat or under
`default_context:` as in a cookiecutter config, then key=value arguments; the project name defaults to
the repository's name), removes every file the template tracks at the root (its tests, hooks,
Makefile, README, its own CI files, ...) and moves the rendered project to the root, so its
.github/workflows/, .gitlab-ci.yml and .circleci/ sit where each provider looks. .cruft.json records
the answers, the template's URL (the `upstream` remote, else --template-url, else TEMPLATE_URL) and
the commit it was rendered from, so `make update` in the project takes newer template commits.
Nothing is committed: review with `git status`, then commit. Refuses, with one line saying why, on a
dirty work tree and when the repository is already bootstrapped.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = "{{cookiecutter.project_slug}}"
TEMPLATE_URL = "https://github.com/org/ml-ci-template"  # where this template is published


def refuse(reason: str):
    print(f"bootstrap: refused: {reason}", file=sys.stderr)
    sys.exit(1)


def git(*args: str) -> str:
    found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return found.stdout.strip() if found.returncode == 0 else ""


def check_can_bootstrap():
    if not git("rev-parse", "--is-inside-work-tree"):
        refuse(f"{ROOT} is not a git work tree (clone or fork the template, then bootstrap)")
    if (ROOT / ".cruft.json").exists() or not (ROOT / TEMPLATE_DIR).is_dir():
        refuse(
            "already bootstrapped (.cruft.json records the template); `make update` takes newer commits"
        )
    dirty = git("status", "--porcelain").splitlines()
    if dirty:
        refuse(
            f"the work tree has {len(dirty)} uncommitted change(s) ({dirty[0][3:]}, ...): commit them first"
        )


def repository_name() -> str:
    url = git("remote", "get-url", "origin")
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1] if url else ROOT.name
    return re.sub(r"\.git$", "", name)


def read_answers(path: str | None, pairs: list) -> dict:
    answers = {}
    if path:
        text = Path(path).read_text()
        try:
            answers = json.loads(text)
        except json.JSONDecodeError:
            import yaml  # cookiecutter's own dependency

            answers = yaml.safe_load(text) or {}
        answers = answers.get("default_context", answers)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            refuse(f"{pair!r} is not key=value")
        answers[key] = value
    questions = json.loads((ROOT / "cookiecutter.json").read_text())
    for key, value in list(answers.items()):
        if key not in questions or key.startswith("_"):
            refuse(f"{key!r} is not a question of cookiecutter.json")
        if isinstance(questions[key], bool) and isinstance(value, str):
            answers[key] = value.strip().lower() in {"1", "true", "yes", "y", "on"}
    if "project_name" not in answers:
        words = re.split(r"[-_.\s]+", repository_name())
        answers["project_name"] = " ".join(w if w.isupper() else w.capitalize() for w in words if w)
    return answers


def template_url(given: str | None) -> str:
    return (
        given
        or git("remote", "get-url", "upstream")
        or os.environ.get("TEMPLATE_URL")
        or TEMPLATE_URL
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", help="YAML or JSON file of answers")
    parser.add_argument("--template-url", help="the template to record for `make update`")
    parser.add_argument("pairs", nargs="*", metavar="key=value", help="answers (override the file)")
    args = parser.parse_args(argv)
    check_can_bootstrap()
    answers = read_answers(args.answers, args.pairs)
    try:
        from cookiecutter.exceptions import CookiecutterException
        from cookiecutter.main import cookiecutter
    except ImportError:
        refuse(
            "cookiecutter is not installed: `make install`, or `pip install cookiecutter==2.7.1`"
        )

    commit = git("rev-parse", "HEAD")
    url = template_url(args.template_url)
    tracked = {Path(p).parts[0] for p in git("ls-files", "-z").split("\0") if p}
    with tempfile.TemporaryDirectory(prefix="bootstrap-") as out:
        try:
            project = Path(
                cookiecutter(str(ROOT), no_input=True, extra_context=answers, output_dir=out)
            )
        except CookiecutterException as error:  # the pre-gen hook has said what is wrong
            refuse(f"the answers were not accepted: {error}")
        clashes = sorted(p.name for p in project.iterdir() if p.name not in tracked
                         and (ROOT / p.name).exists())  # fmt: skip
        if clashes:
            refuse(
                f"{', '.join(clashes)} exist(s) at the root and would be overwritten: move them away"
            )
        for name in sorted(tracked):
            path = ROOT / name
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink(True)
        for entry in sorted(project.iterdir()):
            shutil.move(str(entry), ROOT / entry.name)

    state_file = ROOT / ".cruft.json"
    state = json.loads(state_file.read_text())
    state.update(template=url, commit=commit)
    state["context"]["cookiecutter"].update(_template=url, _commit=commit)
    state_file.write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")
    ci = [p for p in (".github/workflows/ci.yml", ".gitlab-ci.yml", ".circleci/config.yml")
          if (ROOT / p).exists()]  # fmt: skip
    print(
        f"bootstrap: rendered {answers['project_name']!r} from {url} at {commit[:12]}; removed the "
        f"template's {len(tracked)} root entries; CI: {', '.join(ci) or 'none chosen'}.\n"
        "bootstrap: next: `git add -A && git commit -m 'Bootstrap from ml-ci-template'`, then "
        "`make pipeline`; `make update` takes newer template commits."
    )


if __name__ == "__main__":
    main()
