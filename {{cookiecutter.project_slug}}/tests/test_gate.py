"""The quality gate: F1 above ML_MIN_F1, and the served model agreeing with the trained one."""

import json
from pathlib import Path

import joblib
import numpy as np
{%- if cookiecutter.serving_runtime == "onnx" %}
import onnx
{%- endif %}

from {{ cookiecutter.__package_name }} import api, serving
from {{ cookiecutter.__package_name }}.pipeline import gate
from {{ cookiecutter.__package_name }}.settings import METRICS_FILE, SKLEARN_FILE, get_settings
{%- if cookiecutter.serving_runtime == "onnx" %}
from {{ cookiecutter.__package_name }}.settings import ONNX_FILE
{%- endif %}


def run_gate(capsys) -> tuple[int, list[str]]:
    """The gate's exit code and the lines it printed."""
    code = gate.main()
    return code, capsys.readouterr().out.splitlines()


class Drifting:
    """A served model whose probabilities are off by `shift`."""

    def __init__(self, model, shift: float):
        self.model, self.shift = model, shift

    def predict_proba(self, X):
        return self.model.predict_proba(X) + self.shift


def test_passes_when_f1_is_above_the_threshold(model_env, capsys):
    code, lines = run_gate(capsys)
    assert code == 0, lines
    [line] = lines
    assert line.startswith("gate: passed")
    assert f"{model_env.metrics['f1']:.4f}" in line
    verdict = json.loads(Path("reports/gate.json").read_text())
    assert verdict["passed"] and verdict["failures"] == []
    assert verdict["parity_max_diff"] <= get_settings().max_parity_diff


def test_fails_in_one_line_when_f1_is_not_above_ml_min_f1(model_env, monkeypatch, capsys):
    f1 = model_env.metrics["f1"]
    threshold = max(0.999, f1)  # a perfect held-out score fails only at 1.0
    monkeypatch.setenv("ML_MIN_F1", str(threshold))
    get_settings.cache_clear()
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert "FAILED" in line
    assert f"{f1:.4f}" in line and str(threshold) in line
    assert json.loads(Path("reports/gate.json").read_text())["passed"] is False


def test_an_f1_equal_to_the_threshold_is_not_enough():
    assert gate.check_f1(0.9, 0.9) is not None
    assert gate.check_f1(0.9001, 0.9) is None


def test_fails_when_the_metrics_file_is_missing(monkeypatch, tmp_path, capsys):
    model_dir = tmp_path / "never-trained"
    monkeypatch.setenv("ML_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert str((model_dir / METRICS_FILE).resolve()) in line
    assert "make train" in line


def test_parity_check_refuses_drifted_probabilities_and_changed_labels(trained):
    data = trained.held_out()
    probabilities = joblib.load(trained.model_dir / SKLEARN_FILE).predict_proba(data.X_test)
    limit = get_settings().max_parity_diff

    assert gate.check_parity(0.0, True, limit) is None
    drifted = probabilities + 10 * limit
    diff = float(np.abs(drifted - probabilities).max())
    assert "disagrees" in gate.check_parity(diff, True, limit)
    flipped = probabilities[:, ::-1]
    same_labels = bool((flipped.argmax(axis=1) == probabilities.argmax(axis=1)).all())
    assert "labels agree: False" in gate.check_parity(0.0, same_labels, limit)


def test_fails_when_the_served_model_drifts_from_the_trained_one(model_env, monkeypatch, capsys):
    load = serving.load

    def drifting_load(model_dir, runtime):
        contract, model = load(model_dir, runtime)
        return contract, Drifting(model, shift=1e-3)

    monkeypatch.setattr(serving, "load", drifting_load)
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert "FAILED" in line and "disagrees" in line and "1.00e-03" in line


def test_recomputes_f1_and_fails_when_metrics_json_was_edited(trained, model_copy, capsys):
    model_dir = model_copy
    metrics = json.loads((model_dir / METRICS_FILE).read_text())
    edited = 1.0 if metrics["f1"] < 1 else 0.99
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics | {"f1": edited}))
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert line == (
        f"gate: FAILED: metrics.json reports F1 {edited:.4f} but the saved model scores "
        f"{trained.metrics['f1']:.4f} on the held-out split: the file was edited or comes from "
        "another training"
    )


def test_fails_when_the_api_swaps_two_features(model_env, monkeypatch, capsys):
    to_columns = api.to_columns
    first, second = (model_env.features.index(name) for name in model_env.numbers[:2])

    def swapped(rows, state):
        columns = to_columns(rows, state)
        columns[first], columns[second] = columns[second], columns[first]
        return columns

    monkeypatch.setattr(api, "to_columns", swapped)
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert line.startswith("gate: FAILED: the API disagrees with the trained model"), line


def test_fails_in_one_line_when_the_saved_model_is_damaged(model_copy, capsys):
    model_dir = model_copy
    (model_dir / SKLEARN_FILE).write_bytes(b"not a pickle")
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert line.startswith(f"gate: FAILED: cannot load {(model_dir / SKLEARN_FILE).resolve()} (")
    assert "make train" in line
{%- if cookiecutter.serving_runtime == "onnx" %}


def add_to_probabilities(path: Path, amount: float) -> None:
    """Rewrite an ONNX model so that every probability it outputs is `amount` higher."""
    model = onnx.load(path)
    graph = model.graph
    probabilities = graph.output[1].name
    producer = next(node for node in graph.node if probabilities in node.output)
    raw = f"{probabilities}_before_drift"
    producer.output[list(producer.output).index(probabilities)] = raw
    graph.initializer.append(
        onnx.numpy_helper.from_array(np.array([amount], dtype=np.float32), "drift")
    )
    graph.node.append(onnx.helper.make_node("Add", [raw, "drift"], [probabilities]))
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_fails_when_model_onnx_was_altered_after_training(model_copy, capsys):
    model_dir = model_copy
    add_to_probabilities(model_dir / ONNX_FILE, 1e-3)
    code, lines = run_gate(capsys)
    assert code == 1
    [line] = lines
    assert "FAILED" in line and "disagrees" in line and "1.00e-03" in line
{%- endif %}
