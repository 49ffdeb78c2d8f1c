"""ONNX export: every offered model converts faithfully; one that cannot says what to do."""

import re

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from {{ cookiecutter.__package_name }}.serving import OnnxModel
from {{ cookiecutter.__package_name }}.train import build_model, export_onnx, load_data


class Clip(BaseEstimator, TransformerMixin):
    """A home-made step: skl2onnx has no converter for it."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.clip(X, 0, None)


@pytest.mark.parametrize("model", ["logistic_regression", "random_forest"])
@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_every_offered_model_exports_with_the_same_probabilities(tmp_path, dataset, model):
    data = load_data(dataset, test_size=0.2, seed=42)
    pipeline = build_model(model, seed=42).fit(data.X_train, data.y_train)
    export_onnx(pipeline, len(data.features), tmp_path / "model.onnx")
    served = OnnxModel(tmp_path / "model.onnx").predict_proba(data.X_test)
    trained = pipeline.predict_proba(data.X_test)
    assert (served.argmax(axis=1) == trained.argmax(axis=1)).all()
    assert np.abs(served - trained).max() <= 1e-5


def test_a_step_without_a_converter_stops_training_naming_it_and_the_sklearn_runtime(tmp_path):
    data = load_data("wine", test_size=0.2, seed=42)
    steps = [("scale", StandardScaler()), ("clip", Clip()), ("classifier", LogisticRegression())]
    pipeline = Pipeline(steps).fit(data.X_train, data.y_train)
    with pytest.raises(SystemExit) as stopped:
        export_onnx(pipeline, len(data.features), tmp_path / "model.onnx")
    message = str(stopped.value)
    assert re.search(r"cannot export step clip \(Clip\) to ONNX", message)
    assert "serving_runtime=sklearn" in message
    assert not (tmp_path / "model.onnx").exists()
