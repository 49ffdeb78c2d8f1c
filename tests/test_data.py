"""Your own data: a csv bake validates, trains and gates every model; bad data and DVC, for real."""

import importlib.util
import json
import shutil

import pytest

from conftest import IN_CI, PROJECT_VENV, make, run

pytestmark = pytest.mark.baked

MODELS = ["logistic_regression", "random_forest", "gradient_boosting"]


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
@pytest.mark.parametrize("model", MODELS)
def test_csv_bake_validates_trains_and_gates_every_model(bake_session, model, runtime):
    project = bake_session(dataset="csv", model=model, serving_runtime=runtime)
    assert (project / "data" / "penguins.csv").is_file()
    validated = make(project, "validate")
    assert "validate: passed: data/penguins.csv: 344 rows, 8 columns" in validated.stdout
    report = json.loads((project / "reports" / "data.json").read_text())
    assert report["classes"] == {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68}
    make(project, "train")
    gate = make(project, "gate")
    assert "gate: passed" in gate.stdout
    verdict = json.loads((project / "reports" / "gate.json").read_text())
    assert verdict["parity_max_diff"] <= 1e-5
    contract = json.loads((project / "model" / "contract.json").read_text())
    kinds = {feature["name"]: feature["kind"] for feature in contract["features"]}
    assert kinds["island"] == kinds["sex"] == "category" and kinds["body_mass_g"] == "number"
    figures = f"F1 {verdict['f1']:.4f}, parity {verdict['parity_max_diff']:.1e}"
    print(f"csv x {model} ({runtime}): {figures}")


def test_bundled_bakes_have_no_data_folder_and_pass_the_data_gate(bake_session):
    project = bake_session(dataset="wine")
    assert not (project / "data").exists()
    assert "validate: passed: wine (scikit-learn): 178 rows" in make(project, "validate").stdout


def test_the_data_gate_fails_on_a_category_the_schema_does_not_allow(bake, tmp_path):
    project = bake(dataset="csv")
    table = project / "data" / "penguins.csv"
    table.write_text(table.read_text() + "Adelie,Atlantis,39.1,18.7,181,3750,male,2007\n")
    result = make(project, "validate", check=False)
    assert result.returncode != 0
    [line] = [line for line in result.stdout.splitlines() if line.startswith("validate: FAILED")]
    assert line == (
        "validate: FAILED: column 'island': must be one of 'Biscoe', 'Dream', 'Torgersen': "
        "1 rows, e.g. 'Atlantis'"
    )
    assert not (project / "model").exists()
    report = run(["make", "--no-print-directory", "report", "REPORT=data"], cwd=project).stdout
    assert "### Data: FAILED" in report and "Atlantis" in report
    trained = make(project, "train", check=False)
    assert trained.returncode != 0 and "train: data: column 'island'" in trained.stderr
    assert not (project / "model").exists()


def require_dvc() -> list[str]:
    if importlib.util.find_spec("dvc") is None:
        message = "dvc is not installed (requirements/data.txt of a generated project)"
        if IN_CI:
            pytest.fail(f"{message}; in CI no test may skip")
        pytest.skip(message)
    return [str(PROJECT_VENV / "bin" / "python"), "-m", "dvc"]


def test_make_data_pulls_the_table_from_a_dvc_remote_before_training(bake, tmp_path):
    dvc = require_dvc()
    project = bake(dataset="csv")
    remote = tmp_path / "dvc-remote"
    env = {"DVC_NO_ANALYTICS": "1"}
    for command in (
        ["git", "init", "-q"],
        [*dvc, "init", "-q"],
        [*dvc, "remote", "add", "-d", "local", str(remote)],
        [*dvc, "add", "-q", "data/penguins.csv"],
        [*dvc, "push", "-q"],
    ):
        run(command, cwd=project, env=env)
    assert (project / "data" / "penguins.csv.dvc").is_file()
    assert any(path.is_file() for path in remote.rglob("*"))
    (project / "data" / "penguins.csv").unlink()
    shutil.rmtree(project / ".dvc" / "cache")  # only the remote holds the table now

    trained = make(project, "train")
    assert "data: dvc pull (./data/penguins.csv.dvc)" in trained.stdout
    assert (project / "data" / "penguins.csv").is_file()
    assert (project / "model" / "contract.json").is_file()


def test_make_data_does_nothing_without_a_dvc_file(bake_session):
    assert make(bake_session(dataset="csv"), "data").stdout == ""
