"""Refuse bad answers before cookiecutter writes a single file."""

import json
import keyword
import math
import re
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "dataset": ("breast_cancer", "wine", "csv"),
    "model": ("logistic_regression", "random_forest", "gradient_boosting"),
    "serving_runtime": ("onnx", "sklearn"),
    "license": ("MIT", "BSD-3-Clause", "Apache-2.0", "Proprietary"),
}
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


def check_slug(slug):
    if not SLUG.match(slug):
        return (
            f"project_slug {slug!r} must start with a lowercase letter and hold only "
            "lowercase letters, digits and underscores (it names a Python package "
            "and Docker images), e.g. 'my_ml_service'"
        )
    if keyword.iskeyword(slug) or slug in sys.stdlib_module_names:
        return (
            f"project_slug {slug!r} is a Python keyword or standard-library module; "
            f"pick another, e.g. '{slug}_project'"
        )
    return None


def check_number(name, low, high, bounds):
    raw = ANSWERS[name]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return f"{name} {raw!r} is not a number"
    if not math.isfinite(value) or value <= low or value > high:
        return f"{name} {raw!r} must be {bounds}"
    return None


def check_choices():
    for name, allowed in CHOICES.items():
        if str(ANSWERS[name]) not in allowed:
            return f"{name} {ANSWERS[name]!r} is not one of: {', '.join(allowed)}"
    return None


# A CODEOWNERS owner on both GitHub and GitLab: @user, @org/team (GitLab: @group/subgroup) or an
# email; one answer may name several, separated by spaces.
HANDLE = r"@[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*"
OWNER = re.compile(rf"^({HANDLE}|[^@\s]+@[^@\s]+\.[^@\s]+)$")
OWNER_ANSWERS = ("train_owner", "api_owner", "ui_owner")


def check_owners():
    for name in OWNER_ANSWERS:
        owners = str(ANSWERS.get(name, "")).split()
        bad = [owner for owner in owners if not OWNER.match(owner)] if owners else [""]
        if bad:
            return (
                f"{name} {bad[0]!r} is not a CODEOWNERS owner: give @user, @org/team or an email, "
                "e.g. '@alice' (several separated by spaces)"
            )
    return None


def errors():
    yield check_slug(ANSWERS["project_slug"])
    yield check_number("min_f1", 0, 1, "in (0, 1], e.g. 0.9")
    yield check_number("max_latency_ms", 0, math.inf, "a number of milliseconds above 0, e.g. 200")
    yield check_choices()
    yield check_owners()


def main():
    problems = [problem for problem in errors() if problem]
    for problem in problems:
        print(f"ERROR: {problem}.", file=sys.stderr)
    if problems:
        print("Nothing was generated; answer again.", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
