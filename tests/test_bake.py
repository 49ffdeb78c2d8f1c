"""Fast tier: every supported answer set bakes, and every bad answer is refused before any file is written."""

import ast
import itertools
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from conftest import TEMPLATE

CHOICES = json.loads((TEMPLATE / "cookiecutter.json").read_text())
LEFTOVER = re.compile(r"{{\s*cookiecutter\.|{%-?\s")

# Options that change generated code are combined in full; the rest cycle alongside them.
COMBINED = ["dataset", "model", "serving_runtime"]
CYCLED = ["python_version", "license"]
PROVIDERS = ["use_github_actions", "use_gitlab_ci", "use_circleci"]


def combinations():
    full = list(itertools.product(*(CHOICES[name] for name in COMBINED)))
    for i, values in enumerate(full):
        answers = dict(zip(COMBINED, values))
        for name in CYCLED:
            answers[name] = CHOICES[name][i % len(CHOICES[name])]
        # each provider is switched off in some combination
        answers.update({p: i % len(PROVIDERS) != k for k, p in enumerate(PROVIDERS)})
        yield pytest.param(
            answers, id="-".join(str(v) for v in answers.values() if v not in (True, False))
        )


def text_files(project: Path):
    for path in project.rglob("*"):
        if path.is_file() and path.suffix not in {".png", ".onnx", ".joblib", ".db"}:
            yield path


def test_default_bake_has_the_three_owner_files_and_the_pipeline(bake):
    project = bake()
    assert project.name == "my_ml_service"
    package = project / "my_ml_service"
    for name in [
        "settings.py",
        "train.py",
        "api.py",
        "ui.py",
        "pipeline/gate.py",
        "pipeline/smoke.py",
    ]:
        assert (package / name).is_file(), name
    for name in ["Makefile", "pyproject.toml", ".flake8", ".pre-commit-config.yaml", "README.md"]:
        assert (project / name).is_file(), name
    for name in ["train.txt", "api.txt", "ui.txt", "dev.txt"]:
        assert (project / "requirements" / name).is_file(), name
    for path in [".github/workflows/ci.yml", ".gitlab-ci.yml", ".circleci/config.yml", "LICENSE"]:
        assert (project / path).is_file(), path


@pytest.mark.parametrize("answers", list(combinations()))
def test_every_combination_bakes_clean(bake, answers):
    project = bake(**answers)
    for path in text_files(project):
        text = path.read_text()
        assert not LEFTOVER.search(text), f"unrendered Jinja in {path}"
        if path.suffix == ".py":
            ast.parse(text, filename=str(path))
        elif path.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(text))  # Kubernetes files hold several documents
        elif path.suffix == ".toml":
            tomllib.loads(text)
    for option, path in [
        ("use_github_actions", ".github"),
        ("use_gitlab_ci", ".gitlab-ci.yml"),
        ("use_circleci", ".circleci"),
    ]:
        assert (project / path).exists() == answers[option], path


@pytest.mark.parametrize(
    "runtime, present, absent",
    [("onnx", "onnxruntime", "scikit-learn"), ("sklearn", "scikit-learn", "onnxruntime")],
)
def test_api_requirements_hold_only_the_chosen_runtime(bake, runtime, present, absent):
    api = (bake(serving_runtime=runtime) / "requirements" / "api.txt").read_text()
    assert present in api and absent not in api


def test_proprietary_license_leaves_no_license_file(bake):
    assert not (bake(license="Proprietary") / "LICENSE").exists()


def test_no_provider_leaves_no_ci_files(bake):
    project = bake(use_github_actions=False, use_gitlab_ci=False, use_circleci=False)
    assert not any((project / p).exists() for p in [".github", ".gitlab-ci.yml", ".circleci"])


NASTY_NAMES = [
    'Détection d\'anomalies "v2"',
    "Back\\slash's model",
    "Ünïcødé ML — série 3",
]


@pytest.mark.parametrize("name", NASTY_NAMES, ids=["quotes", "backslash", "non-ascii"])
def test_names_with_quotes_backslashes_and_accents_bake_into_valid_files(bake, name):
    project = bake(project_name=name, author_name=name, description=name)
    settings = (project / project.name / "settings.py").read_text()
    namespace = {}
    exec(compile(settings, "settings.py", "exec"), namespace)
    assert namespace["PROJECT_NAME"] == name
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == name
    assert pyproject["project"]["authors"][0]["name"] == name
    for path in text_files(project):
        if path.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(path.read_text()))


BAD_ANSWERS = {
    "slug-with-dash": {"project_slug": "my-service"},
    "slug-uppercase": {"project_slug": "MyService"},
    "slug-leading-digit": {"project_slug": "1service"},
    "slug-keyword": {"project_slug": "class"},
    "slug-stdlib": {"project_slug": "json"},
    "name-only-digits": {"project_name": "2024"},
    "f1-zero": {"min_f1": "0"},
    "f1-above-one": {"min_f1": "1.5"},
    "f1-not-a-number": {"min_f1": "high"},
    "latency-zero": {"max_latency_ms": "0"},
    "latency-negative": {"max_latency_ms": "-5"},
    "latency-infinite": {"max_latency_ms": "inf"},
}


@pytest.mark.parametrize("answers", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_bad_answer_is_refused_before_any_file_is_written(tmp_path, answers, capfd):
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    errors = capfd.readouterr().err.splitlines()
    asked = "project_slug" if "project_name" in answers else next(iter(answers))
    assert (
        [line for line in errors if line.startswith("ERROR:")]
        == [line for line in errors if line.startswith(f"ERROR: {asked} ")]
        != []
    ), errors


UNKNOWN_CHOICES = {
    "dataset": "mnist",
    "model": "svm",
    "serving_runtime": "torch",
    "python_version": "2.7",
    "license": "GPL",
}


@pytest.mark.parametrize("name, value", UNKNOWN_CHOICES.items())
def test_unknown_choice_is_refused_before_any_file_is_written(tmp_path, name, value):
    with pytest.raises(ValueError, match=f"{value} provided for choice variable {name}"):
        cookiecutter(
            str(TEMPLATE), no_input=True, extra_context={name: value}, output_dir=str(tmp_path)
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, value", UNKNOWN_CHOICES.items())
def test_pre_gen_hook_refuses_an_unknown_choice_from_a_replay_file(tmp_path, capfd, name, value):
    """A replay file skips cookiecutter's own choice check; the hook still refuses."""
    defaults = {k: v[0] if isinstance(v, list) and v else v for k, v in CHOICES.items()}
    defaults.update(project_slug="my_ml_service", __package_name="my_ml_service")
    defaults["__image_name"] = "my-ml-service"
    defaults[name] = value
    replay_file = tmp_path / "replay.json"
    replay_file.write_text(json.dumps({"cookiecutter": defaults}))
    out = tmp_path / "out"
    with pytest.raises(FailedHookException):
        cookiecutter(str(TEMPLATE), replay=str(replay_file), output_dir=str(out))
    assert not out.exists() or list(out.iterdir()) == []
    assert f"ERROR: {name} '{value}' is not one of" in capfd.readouterr().err


def pins(text: str) -> dict:
    """{package: version} of the `name==version` lines of a requirements or lock file."""
    return {
        line.split("==")[0].split("[")[0].lower(): line.split("==")[1].split()[0]
        for line in text.splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_the_lock_pins_every_requirement_at_its_version(bake, runtime):
    """`make install` installs requirements/dev.lock only: a pin added to a requirements file but
    not locked (`make lock`) would never be installed."""
    requirements = bake(serving_runtime=runtime) / "requirements"
    locked = pins((requirements / "dev.lock").read_text())
    for name in ["train.txt", "api.txt", "ui.txt", "dev.txt"]:
        for package, version in pins((requirements / name).read_text()).items():
            assert locked.get(package) == version, f"{name}: {package}=={version}; run `make lock`"
