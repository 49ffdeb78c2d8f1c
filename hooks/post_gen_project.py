"""Remove what the answers did not ask for: one table, one small function."""

import json
import shutil
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

# option -> paths that exist only when the option is on
OPTIONAL_PATHS = {
    "use_github_actions": [".github"],
    "use_gitlab_ci": [".gitlab-ci.yml"],
    "use_circleci": [".circleci"],
}


def remove(path):
    path = Path(path)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def main():
    for option, paths in OPTIONAL_PATHS.items():
        if not ANSWERS[option]:
            for path in paths:
                remove(path)
    if ANSWERS["license"] == "Proprietary":
        remove("LICENSE")


if __name__ == "__main__":
    main()
