"""Champion/challenger: the candidate against the registry's champion, on the candidate's split."""

import json
import shutil

from {{ cookiecutter.__package_name }}.pipeline import champion
from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, METRICS_FILE, get_settings


def verdict() -> dict:
    return json.loads(open("reports/challenge.json").read())


def test_without_a_champion_says_so_and_judges_on_the_threshold_alone(
    model_env, registry, monkeypatch, capsys
):
    version = model_env.contract["model_version"]
    assert champion.main() == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("challenge: passed: no champion yet for")
    assert f"candidate version {version} is judged on the absolute threshold alone" in line

    monkeypatch.setenv("ML_MIN_F1", "1")
    get_settings.cache_clear()
    assert champion.main() == 1
    assert "challenge: FAILED: no champion yet" in capsys.readouterr().out


def test_an_equal_candidate_passes_scored_on_the_same_rows_as_the_champion(
    model_env, older_champion, capsys
):
    f1 = model_env.metrics["f1"]
    assert champion.main() == 0
    line = capsys.readouterr().out.strip()
    assert line == (
        f"challenge: passed: candidate version {model_env.contract['model_version']} F1 "
        f"{f1:.4f}, champion version {older_champion} F1 {f1:.4f} on the same "
        f"{model_env.metrics['n_test']} held-out rows (margin 0.01)"
    )
    # The champion was loaded from the registry and scored on the candidate's held-out split.
    assert verdict()["champion_f1"] == f1 and verdict()["passed"] is True


def test_a_worse_candidate_fails_naming_both_versions_and_figures(
    model_env, older_champion, monkeypatch, tmp_path, capsys
):
    worse = tmp_path / "worse-model"
    shutil.copytree(model_env.model_dir, worse)
    metrics = {**model_env.metrics, "f1": model_env.metrics["f1"] - 0.05}
    (worse / METRICS_FILE).write_text(json.dumps(metrics))
    monkeypatch.setenv("ML_MODEL_DIR", str(worse))
    get_settings.cache_clear()
    assert champion.main() == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith("challenge: FAILED: candidate version ")
    assert f"F1 {metrics['f1']:.4f}, champion version {older_champion} F1" in line
    assert "worse by 0.0500, more than the margin 0.01 (ML_CHAMPION_MARGIN)" in line

    monkeypatch.setenv("ML_CHAMPION_MARGIN", "0.06")  # a wider margin lets it through
    get_settings.cache_clear()
    assert champion.main() == 0


def test_the_champion_itself_passes_without_scoring(model_env, registry, capsys):
    name, version = model_env.contract["model_name"], model_env.contract["model_version"]
    registry.set_registered_model_alias(name, "champion", version)
    assert champion.main() == 0
    assert f"candidate version {version} is the champion already" in capsys.readouterr().out


def test_a_champion_that_cannot_be_scored_fails_the_gate(model_env, registry, capsys):
    name = model_env.contract["model_name"]
    broken = registry.create_model_version(name, "/nowhere/model", None).version
    registry.set_registered_model_alias(name, "champion", broken)
    assert champion.main() == 1
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"challenge: FAILED: cannot score champion version {broken}")


def test_without_a_trained_model_says_how_to_make_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ML_MODEL_DIR", str(tmp_path / "never-trained"))
    get_settings.cache_clear()
    assert champion.main() == 1
    line = capsys.readouterr().out
    assert str((tmp_path / "never-trained" / CONTRACT_FILE).resolve()) in line
    assert "make train" in line
