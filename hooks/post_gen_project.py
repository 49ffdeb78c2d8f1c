"""Remove what the answers did not ask for: one table, one small function."""

import json
import shutil
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# option -> paths that exist only when the option is on
OPTIONAL_PATHS = {
    "use_github_actions": [".github"],
    "use_gitlab_ci": [".gitlab-ci.yml", ".gitlab"],
    "use_circleci": [".circleci"],
}
# (option, answer) -> paths that exist only with that answer
PATHS_FOR_ANSWER = {
    ("dataset", "csv"): ["data"],  # the example table of "your own data"
}


def remove(path):
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# Keys of cookiecutter's context that describe this one run, not the answers (cruft leaves them out).
RUN_ONLY_KEYS = ("_output_dir", "_repo_dir", "_checkout")


def record_origin():
    """Write .cruft.json (answers + template commit) unless cruft renders: it writes its own."""
    if "_commit" in ANSWERS:  # cruft create/update: it records the state itself
        return
    import os
    import subprocess

    repo = Path(ANSWERS["_repo_dir"])
    if not repo.is_absolute():  # relative to cookiecutter's cwd, which is the repo during hooks
        repo = Path(f"/proc/{os.getppid()}/cwd").resolve()
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    commit = found.stdout.strip() if found.returncode == 0 else None
    template = ANSWERS["_template"]
    if Path(template).exists() or not any(c in template for c in ":@"):
        template = str(repo)  # a local path: absolute, so `cruft update` finds it from anywhere
    else:
        try:
            from cookiecutter.config import BUILTIN_ABBREVIATIONS
            from cookiecutter.repository import expand_abbreviations

            template = expand_abbreviations(template, BUILTIN_ABBREVIATIONS)
        except ImportError:
            pass
    answers = {k: v for k, v in ANSWERS.items() if k not in RUN_ONLY_KEYS}
    answers.update(_template=template, _commit=commit)
    state = {
        "template": template,
        "commit": commit,
        "checkout": None,
        "context": {"cookiecutter": answers},
        "directory": None,
    }
    Path(".cruft.json").write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")


def main():
    for option, paths in OPTIONAL_PATHS.items():
        if not ANSWERS[option]:
            for path in paths:
                remove(path)
    for (option, answer), paths in PATHS_FOR_ANSWER.items():
        if ANSWERS[option] != answer:
            for path in paths:
                remove(path)
    if ANSWERS["license"] == "Proprietary":
        remove("LICENSE")
    record_origin()


if __name__ == "__main__":
    main()
