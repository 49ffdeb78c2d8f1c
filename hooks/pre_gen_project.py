"""Refuse bad answers before cookiecutter writes a single file."""

import json
import keyword
import math
import re
import sys
import unicodedata

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

CHOICES = {
    "python_version": ("3.11", "3.12", "3.13"),
    "dataset": ("breast_cancer", "wine", "csv"),
    "model": ("logistic_regression", "random_forest", "gradient_boosting"),
    "serving_runtime": ("onnx", "sklearn"),
    "license": ("MIT", "BSD-3-Clause", "Apache-2.0", "Proprietary"),
    "production_approval": ("manual", "automatic"),
}
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


def check_slug(slug):
    if not slug.strip("_"):  # cookiecutter.json's default when the name gives no slug
        return (
            f"project_name {ANSWERS['project_name']!r} has no letter or digit to make "
            "project_slug from: give project_slug, e.g. 'my_ml_service'"
        )
    if len(slug) > MAX_SLUG:
        return (
            f"project_slug {slug[:24]!r}... is {len(slug)} characters long (it names a folder, "
            f"a package and images): at most {MAX_SLUG}; give a shorter project_slug"
        )
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


def check_margin():
    """champion_margin may be 0 (the candidate must match the champion), unlike the others."""
    raw = ANSWERS["champion_margin"]
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return f"champion_margin {raw!r} is not a number"
    if not 0 <= value < 1:  # NaN fails both comparisons
        return f"champion_margin {raw!r} must be in [0, 1), e.g. 0.01"
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


# Free-text answers land in comments, strings and headers of Python, TOML, YAML and Makefiles:
# any character may appear there except line breaks and other control characters (a line break
# in a comment ends it; TOML forbids control characters in strings).
FREE_TEXT = ("project_name", "description", "author_name", "author_email")
MAX_FREE_TEXT = 500
MAX_SLUG = 64
EMAIL = re.compile(r"^[^@\s\"<>(),;:\\\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def check_free_text():
    for name in FREE_TEXT:
        text = str(ANSWERS[name])
        bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")]
        if bad:
            return (
                f"{name} holds a line break or control character ({ascii(bad[0])}): "
                "answer on one line of printable text"
            )
        if len(text) > MAX_FREE_TEXT:
            return f"{name} is {len(text)} characters long: at most {MAX_FREE_TEXT}"
        if not text.strip():
            return f"{name} is empty"
    return None


def check_email():
    email = str(ANSWERS["author_email"])
    if not EMAIL.match(email):
        return f"author_email {email!r} is not an email address like jane.doe@example.com"
    return None


def errors():
    yield check_slug(ANSWERS["project_slug"])
    yield check_free_text()
    yield check_email()
    yield check_number("min_f1", 0, 1, "in (0, 1], e.g. 0.9")
    yield check_number("max_latency_ms", 0, math.inf, "a number of milliseconds above 0, e.g. 200")
    yield check_margin()
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
