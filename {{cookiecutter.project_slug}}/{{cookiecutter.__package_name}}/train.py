"""Train the model, track it in MLflow and write the serving model to model/ (developer 1)."""

import argparse
import json
import time
import urllib.request
from pathlib import Path
from typing import get_args

import joblib
import mlflow
import numpy as np
import onnx
import sklearn
from mlflow.models import infer_signature
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .data import Data, load_data
from .settings import (
    CONTRACT_FILE,
    METRICS_FILE,
    ONNX_FILE,
    RUNTIME,
    SKLEARN_FILE,
    Dataset,
    Model,
    Settings,
    get_settings,
)


def build_model(model: str, seed: int) -> Pipeline:
    """A scikit-learn Pipeline; every one here converts to ONNX with matching probabilities."""
    if model == "logistic_regression":
        steps = [("scale", StandardScaler()), ("classifier", LogisticRegression(max_iter=1000))]
    elif model == "random_forest":
        # Trees need no scaling, and without a float64 scaler in front they see exactly the
        # float32 numbers ONNX Runtime feeds them, so both runtimes agree to ~1e-7.
        steps = [("classifier", RandomForestClassifier(n_estimators=100, random_state=seed))]
    else:
        raise ValueError(f"unknown model {model!r}; choose one of {get_args(Model)}")
    return Pipeline(steps)


def evaluate(pipeline: Pipeline, data: Data) -> dict:
    """Held-out metrics: binary F1 for two classes, macro F1 for more."""
    predicted = pipeline.predict(data.X_test)
    average = "binary" if len(data.classes) == 2 else "macro"
    return {
        "f1": float(f1_score(data.y_test, predicted, average=average)),
        "accuracy": float(accuracy_score(data.y_test, predicted)),
        "precision": float(precision_score(data.y_test, predicted, average=average)),
        "recall": float(recall_score(data.y_test, predicted, average=average)),
        "f1_average": average,
        "n_test": int(len(data.y_test)),
    }


def export_onnx(pipeline: Pipeline, n_features: int, path: Path) -> None:
    """Convert the fitted pipeline to ONNX (float32 input, plain probability tensor)."""
    from skl2onnx import to_onnx

    sample = np.zeros((1, n_features), dtype=np.float32)
    try:
        onx = to_onnx(pipeline, sample, options={"zipmap": False}, target_opset=17)
    except RuntimeError as exc:  # skl2onnx's MissingShapeCalculator and converter errors
        culprits = [f"{name} ({type(step).__name__})" for name, step in pipeline.steps]
        named = [c for c in culprits if c.split(" (")[1][:-1] in str(exc)] or culprits
        raise SystemExit(
            f"train: cannot export step {', '.join(named)} to ONNX: skl2onnx has no converter "
            f"for it ({str(exc).splitlines()[0]})\n"
            "train: use a step skl2onnx can convert, or serve scikit-learn itself: generate the "
            "project with serving_runtime=sklearn (its API image then installs scikit-learn)"
        ) from exc
    path.write_bytes(onx.SerializeToString())


def contract(data: Data, settings: Settings, version: str, run_id: str) -> dict:
    """What the API and the UI need to know about the model, and nothing else."""
    features = [
        {
            "name": name,
            "default": round(float(np.median(column)), 4),
            "min": float(column.min()),
            "max": float(column.max()),
        }
        for name, column in zip(data.features, data.X_train.T)
    ]
    return {
        "model_name": settings.registered_model_name,
        "model_version": version,
        "run_id": run_id,
        "runtime": RUNTIME,
        "dataset": settings.dataset,
        "model": settings.model,
        "features": features,
        "classes": data.classes,
    }


def check_tracking_server(uri: str) -> None:
    """Fail fast, in one line, when MLFLOW_TRACKING_URI names a server that does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5)
    except OSError as exc:
        raise SystemExit(
            f"train: the MLflow tracking server at {uri} does not answer ({exc}); "
            "start it, or unset MLFLOW_TRACKING_URI to use the local sqlite:///mlflow.db store."
        ) from exc


def log_to_mlflow(pipeline: Pipeline, data: Data, metrics: dict, settings: Settings):
    """Log params, metrics, the confusion matrix and the model; register a model version."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.experiment_name)
    example = data.X_test[:2]
    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "dataset": settings.dataset,
                "model": settings.model,
                "seed": settings.seed,
                "test_size": settings.test_size,
                "runtime": RUNTIME,
            }
        )
        mlflow.log_params({f"classifier.{k}": v for k, v in pipeline[-1].get_params().items()})
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)})
        display = ConfusionMatrixDisplay.from_estimator(
            pipeline, data.X_test, data.y_test, display_labels=data.classes
        )
        mlflow.log_figure(display.figure_, "confusion_matrix.png")
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(example, pipeline.predict_proba(data.X_test[:2])),
            input_example=example,
            # Listed, not inferred: inference re-imports the model and costs seconds.
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            # MLflow saves with skops (safe loading); trees need their node type named as trusted.
            skops_trusted_types=["sklearn.tree._tree.Tree"],
            registered_model_name=settings.registered_model_name,
        )
        onnx_path = settings.model_dir / ONNX_FILE
        if onnx_path.exists():
            mlflow.onnx.log_model(
                onnx.load(onnx_path),
                name="onnx_model",
                pip_requirements=[f"onnx=={onnx.__version__}", "onnxruntime"],
            )
    return str(info.registered_model_version), run.info.run_id


def train(settings: Settings) -> dict:
    """The whole training step; returns the metrics it wrote to model/metrics.json."""
    started = time.perf_counter()
    check_tracking_server(settings.mlflow_tracking_uri)  # before anything in model/ changes
    print(f"train: dataset={settings.dataset} model={settings.model} runtime={RUNTIME}")
    data = load_data(settings.dataset, settings.test_size, settings.seed)
    pipeline = build_model(settings.model, settings.seed).fit(data.X_train, data.y_train)
    metrics = evaluate(pipeline, data)
    print(
        f"train: held-out F1 ({metrics['f1_average']}) = {metrics['f1']:.4f}, "
        f"accuracy = {metrics['accuracy']:.4f} on {metrics['n_test']} rows"
    )

    model_dir = settings.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / ONNX_FILE).unlink(missing_ok=True)
    joblib.dump(pipeline, model_dir / SKLEARN_FILE)
    if RUNTIME == "onnx":
        export_onnx(pipeline, len(data.features), model_dir / ONNX_FILE)

    version, run_id = log_to_mlflow(pipeline, data, metrics, settings)
    print(
        f"train: MLflow run {run_id} in {settings.mlflow_tracking_uri}; "
        f"registered {settings.registered_model_name!r} version {version}"
    )
    (model_dir / CONTRACT_FILE).write_text(
        json.dumps(contract(data, settings, version, run_id), indent=2)
    )
    metrics.update(
        model_version=version,
        seconds=round(time.perf_counter() - started, 2),
        runtime=RUNTIME,
        **settings.model_dump(include={"dataset", "model", "seed", "test_size"}),
    )
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    print(f"train: wrote {model_dir}/ ({', '.join(sorted(p.name for p in model_dir.iterdir()))})")
    return metrics


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Every default comes from an ML_* environment variable (see settings.py); "
        "MLFLOW_TRACKING_URI selects the MLflow store.",
    )
    parser.add_argument("--dataset", choices=get_args(Dataset), default=settings.dataset)
    parser.add_argument("--model", choices=get_args(Model), default=settings.model)
    parser.add_argument("--model-dir", type=Path, default=settings.model_dir)
    args = parser.parse_args(argv)
    train(settings.model_copy(update=vars(args)))


if __name__ == "__main__":
    main()
