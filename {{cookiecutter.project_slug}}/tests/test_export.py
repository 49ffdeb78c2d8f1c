"""ONNX export: every offered model converts faithfully; one that cannot says what to do."""

import dataclasses
import re

import numpy as np
import onnx
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from {{ cookiecutter.__package_name }}.data import as_columns, load_data
from {{ cookiecutter.__package_name }}.serving import OnnxModel
from {{ cookiecutter.__package_name }}.settings import get_settings
from {{ cookiecutter.__package_name }}.train import MODELS, build_model, export_onnx


class Clip(BaseEstimator, TransformerMixin):
    """A home-made step: skl2onnx has no converter for it."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.clip(X, 0, None)


@pytest.fixture(scope="module")
def data():
    return load_data(get_settings())


@pytest.mark.parametrize("model", list(MODELS))
def test_every_offered_model_exports_with_the_same_probabilities(tmp_path, data, model):
    pipeline = build_model(model, 42, data.numbers, list(data.categories))
    pipeline.fit(data.X_train, data.y_train)
    export_onnx(pipeline, data, tmp_path / "model.onnx")
    served = OnnxModel(tmp_path / "model.onnx").predict_proba(as_columns(data.X_test))
    trained = pipeline.predict_proba(data.X_test)
    assert (served.argmax(axis=1) == trained.argmax(axis=1)).all()
    assert np.abs(served - trained).max() <= 1e-5


def test_the_onnx_model_has_one_input_per_column_named_as_in_the_table(tmp_path, data):
    pipeline = build_model("random_forest", 42, data.numbers, list(data.categories))
    export_onnx(pipeline.fit(data.X_train, data.y_train), data, tmp_path / "model.onnx")
    inputs = onnx.load(tmp_path / "model.onnx").graph.input
    assert [i.name for i in inputs] == data.features
    text = onnx.TensorProto.STRING
    assert [i.type.tensor_type.elem_type == text for i in inputs] == [
        name in data.categories for name in data.features
    ]


def test_a_step_without_a_converter_stops_training_naming_it_and_the_sklearn_runtime(
    tmp_path, data
):
    numbers = dataclasses.replace(
        data, X_train=data.X_train[data.numbers].fillna(0), features=data.numbers, categories={}
    )
    steps = [("clip", Clip()), ("classifier", LogisticRegression(max_iter=1000))]
    pipeline = Pipeline(steps).fit(numbers.X_train, numbers.y_train)
    with pytest.raises(SystemExit) as stopped:
        export_onnx(pipeline, numbers, tmp_path / "model.onnx")
    message = str(stopped.value)
    assert re.search(r"cannot export step clip \(Clip\) to ONNX", message)
    assert "serving_runtime=sklearn" in message
    assert not (tmp_path / "model.onnx").exists()
