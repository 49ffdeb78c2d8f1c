"""Training: held-out F1, the files in model/, and the run tracked in a temporary MLflow store."""

import re
import socket

import joblib
import pytest
from mlflow import MlflowClient
from sklearn.metrics import f1_score

from {{ cookiecutter.__package_name }} import train
from {{ cookiecutter.__package_name }}.settings import (
    CONTRACT_FILE,
    METRICS_FILE,
    SKLEARN_FILE,
    get_settings,
)


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_computes_binary_f1_for_two_classes_and_macro_f1_for_more(trained):
    expected = "binary" if len(trained.contract["classes"]) == 2 else "macro"
    assert trained.metrics["f1_average"] == expected
    assert f"F1 ({expected})" in trained.output


def test_f1_is_the_held_out_f1_of_the_saved_model(trained):
    data = trained.held_out()
    predicted = joblib.load(trained.model_dir / SKLEARN_FILE).predict(data.X_test)
    f1 = f1_score(data.y_test, predicted, average=trained.metrics["f1_average"])
    assert trained.metrics["f1"] == pytest.approx(f1)
    assert trained.metrics["n_test"] == len(data.y_test)
    for name in ("f1", "accuracy", "precision", "recall"):
        assert 0 <= trained.metrics[name] <= 1


def test_writes_metrics_and_the_request_contract(trained):
    assert (trained.model_dir / METRICS_FILE).is_file()
    assert (trained.model_dir / CONTRACT_FILE).is_file()
    contract = trained.contract
    data = trained.held_out()
    assert trained.features == data.features
    assert contract["classes"] == data.classes
    for feature in contract["features"]:
        if feature["kind"] == "number":
            assert feature["min"] <= feature["default"] <= feature["max"]
        else:
            assert feature["values"] == data.categories[feature["name"]]
            assert feature["default"] in feature["values"]
    assert contract["model_version"] == trained.metrics["model_version"]


def test_logs_metrics_params_and_confusion_matrix_to_mlflow(trained):
    client = MlflowClient(tracking_uri=trained.tracking_uri)
    run = client.get_run(trained.contract["run_id"])
    assert run.data.metrics["f1"] == pytest.approx(trained.metrics["f1"])
    assert run.data.params["dataset"] == trained.contract["dataset"]
    assert run.data.params["model"] == trained.contract["model"]
    assert any(name.startswith("classifier.") for name in run.data.params)
    artifacts = [artifact.path for artifact in client.list_artifacts(run.info.run_id)]
    assert "confusion_matrix.png" in artifacts


def test_registers_a_model_version_from_the_run(trained):
    client = MlflowClient(tracking_uri=trained.tracking_uri)
    name, version = trained.contract["model_name"], trained.contract["model_version"]
    registered = client.get_model_version(name, version)
    assert registered.run_id == trained.contract["run_id"]


def test_stops_before_training_when_the_tracking_server_is_unreachable(monkeypatch, tmp_path):
    uri = f"http://127.0.0.1:{closed_port()}"
    model_dir = tmp_path / "model"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("ML_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    with pytest.raises(SystemExit, match=re.escape(uri)):
        train.main([])
    # A half-written model/ (new model files, old contract) would be served by the API.
    assert not model_dir.exists(), "train wrote model/ before checking the tracking server"


def test_help_describes_the_options_and_the_environment(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--dataset" in text and "--model" in text
    assert "MLFLOW_TRACKING_URI" in text


def test_refuses_an_unknown_model_naming_the_choices():
    with pytest.raises(ValueError, match="logistic_regression, random_forest, gradient_boosting"):
        train.build_model("naive_bayes", 0, ["x"], [])


def test_stops_on_bad_data_before_writing_model(monkeypatch, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    monkeypatch.setenv("ML_DATASET", "csv")
    monkeypatch.setenv("ML_DATA_PATH", str(tmp_path / "empty.csv"))
    monkeypatch.setenv("ML_MODEL_DIR", str(tmp_path / "model"))
    get_settings.cache_clear()
    with pytest.raises(SystemExit, match="train: data: .*empty.csv .* is empty"):
        train.main([])
    assert not (tmp_path / "model").exists()
