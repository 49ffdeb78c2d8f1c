"""Promotion: the MLflow alias moves to the model version the pipeline trained and tested."""

from mlflow import MlflowClient

from {{ cookiecutter.__package_name }}.pipeline import promote
from {{ cookiecutter.__package_name }}.settings import CONTRACT_FILE, get_settings


def test_points_the_alias_at_the_trained_version(model_env, capsys):
    assert promote.main(["--alias", "candidate"]) == 0
    name, version = model_env.contract["model_name"], model_env.contract["model_version"]
    client = MlflowClient(tracking_uri=model_env.tracking_uri)
    assert str(client.get_model_version_by_alias(name, "candidate").version) == version
    assert "new alias" in capsys.readouterr().out

    assert promote.main(["--alias", "candidate"]) == 0
    assert f"was version {version}" in capsys.readouterr().out


def test_fails_without_a_trained_model_and_says_how_to_make_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ML_MODEL_DIR", str(tmp_path / "never-trained"))
    get_settings.cache_clear()
    assert promote.main([]) == 1
    line = capsys.readouterr().out
    assert str((tmp_path / "never-trained" / CONTRACT_FILE).resolve()) in line
    assert "make train" in line
