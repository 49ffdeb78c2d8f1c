"""The serving model: model/ loaded once, one predict_proba for every runtime (API owner)."""

import json
import re
from pathlib import Path

import numpy as np

from .settings import CONTRACT_FILE, ONNX_FILE, SKLEARN_FILE


class ModelError(RuntimeError):
    """model/ cannot be served: the message says which file and what to do."""


class ModelNotFoundError(ModelError):
    """model/ has not been written by `make train`."""


class OnnxModel:
    """ONNX Runtime: no scikit-learn at serving time, microseconds per row."""

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One row takes microseconds: thread hand-offs would cost more than they save.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        # One input per feature, in the contract's order: numbers as float32, categories as text.
        self.inputs = [
            (i.name, object if i.type == "tensor(string)" else np.float32)
            for i in self.session.get_inputs()
        ]
        self.outputs = [self.session.get_outputs()[1].name]  # [label, probabilities]
        self.features = [i.name for i in self.session.get_inputs()]

    def predict_proba(self, columns: list[list]) -> np.ndarray:
        """Probabilities for rows given as one list of values per feature (contract order)."""
        with np.errstate(over="ignore"):  # over 3.4e38 is inf in float32: the API refuses it
            feed = {
                name: np.array(values, dtype=dtype).reshape(-1, 1)
                for (name, dtype), values in zip(self.inputs, columns)
            }
        return self.session.run(self.outputs, feed)[0]


class SklearnModel:
    """The trained scikit-learn pipeline itself."""

    def __init__(self, path: Path):
        import joblib
        import sklearn

        # The API rejects NaN and infinity before the model sees them.
        sklearn.set_config(assume_finite=True)
        self.pipeline = joblib.load(path)
        self.features = list(self.pipeline.feature_names_in_)

    def predict_proba(self, columns: list[list]) -> np.ndarray:
        """Probabilities for rows given as one list of values per feature (contract order)."""
        import pandas as pd  # the pipeline picks its columns by name

        with np.errstate(over="ignore", invalid="ignore"):  # the API refuses rows that overflow
            return self.pipeline.predict_proba(pd.DataFrame(dict(zip(self.features, columns))))


RUNTIMES = {"onnx": (ONNX_FILE, OnnxModel), "sklearn": (SKLEARN_FILE, SklearnModel)}
RETRAIN = "run `make train` again to rewrite model/"


def read_contract(path: Path) -> tuple[dict, list[str]]:
    contract = json.loads(path.read_text())
    return contract, [feature["name"] for feature in contract["features"]]


def same_names(names: list[str]) -> list[str]:
    """Names as skl2onnx may spell ONNX inputs ('bill length (mm)' -> 'bill_length__mm_')."""
    return [re.sub(r"\W", "_", name) for name in names]


def read(path: Path, reader):
    """reader(path), or a ModelError naming the file: a damaged file fails in many ways."""
    try:
        return reader(path)
    except Exception as exc:  # pickle, protobuf and JSON errors have no common base
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ModelError(
            f"cannot load {path.resolve()} ({type(exc).__name__}: {reason}): the file is "
            f"damaged or from another version; {RETRAIN}"
        ) from exc


def load(model_dir: Path, runtime: str):
    """Return (contract, model) from model_dir, or say which file is wrong and how to fix it."""
    filename, runtime_class = RUNTIMES[runtime]
    for path in (model_dir / CONTRACT_FILE, model_dir / filename):
        if not path.is_file():
            raise ModelNotFoundError(
                f"No model file at {path.resolve()} (runtime {runtime!r}): run `make train` first, "
                "or point ML_MODEL_DIR at the folder it wrote."
            )
    contract, expected = read(model_dir / CONTRACT_FILE, read_contract)
    model = read(model_dir / filename, runtime_class)
    served, listed = same_names(model.features), same_names(expected)
    if served != listed:
        raise ModelError(
            f"{filename} was trained on other features than {CONTRACT_FILE} lists "
            f"(only in the model: {sorted(set(served) - set(listed)) or 'none'}; "
            f"only in the contract: {sorted(set(listed) - set(served)) or 'none'}; "
            f"else the order differs): the files come from different trainings; {RETRAIN}"
        )
    return contract, model
