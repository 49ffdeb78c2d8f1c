"""Train the model, track it in MLflow and write the serving model to model/ (training owner)."""

import argparse
import json
import shutil
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, NamedTuple, get_args

import joblib
import mlflow
import onnx
import sklearn
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .data import MISSING, Data, DataError, describe, load_data
from .settings import (
    CONTRACT_FILE,
    METRICS_FILE,
    ONNX_FILE,
    RUNTIME,
    SKLEARN_FILE,
    Dataset,
    Settings,
    get_settings,
)


class Choice(NamedTuple):
    build: Callable[[int], ClassifierMixin]  # seed -> an unfitted classifier
    scale: bool = False  # standardise the numbers first (linear models need it, trees do not)


# The model choices (ML_MODEL): adding one is one entry. Every one here converts to ONNX with the
# same probabilities; one that does not stops `make train` with the way out.
MODELS = {
    "logistic_regression": Choice(lambda seed: LogisticRegression(max_iter=1000), scale=True),
    "random_forest": Choice(
        lambda seed: RandomForestClassifier(n_estimators=100, random_state=seed)
    ),
    "gradient_boosting": Choice(lambda seed: GradientBoostingClassifier(random_state=seed)),
}


def build_model(model: str, seed: int, numbers: list[str], categories: list[str]) -> Pipeline:
    """Preprocessing that follows the columns, then the chosen classifier, in one Pipeline."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    choice = MODELS[model]
    # Trees see the float32 numbers ONNX Runtime feeds them without a float64 scaler in front,
    # so both runtimes agree to ~1e-7.
    number_steps = [("impute", SimpleImputer(strategy="median"))]
    if choice.scale:
        number_steps.append(("scale", StandardScaler()))
    category_steps = [
        ("impute", SimpleImputer(missing_values=MISSING, strategy="most_frequent")),
        ("one_hot", OneHotEncoder(handle_unknown="ignore")),
    ]
    parts = [("numbers", Pipeline(number_steps), numbers)] if numbers else []
    if categories:
        parts.append(("categories", Pipeline(category_steps), categories))
    prepare = ColumnTransformer(parts)
    return Pipeline([("prepare", prepare), ("classifier", choice.build(seed))])


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


def export_onnx(pipeline: Pipeline, data: Data, path: Path) -> None:
    """Convert the fitted pipeline to ONNX: one input per column, named as in the table."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [
        (
            name,
            StringTensorType([None, 1]) if name in data.categories else FloatTensorType([None, 1]),
        )
        for name in data.features
    ]
    try:
        onx = to_onnx(pipeline, initial_types=inputs, options={"zipmap": False}, target_opset=17)
    except RuntimeError as exc:  # skl2onnx's MissingShapeCalculator and converter errors
        culprits = [f"{name} ({type(step).__name__})" for name, step in pipeline.steps]
        named = [c for c in culprits if c.split(" (")[1][:-1] in str(exc)] or culprits
        raise SystemExit(
            f"train: cannot export step {', '.join(named)} to ONNX: skl2onnx has no converter "
            f"for it ({str(exc).splitlines()[0]})\n"
            "train: use a step skl2onnx can convert, or serve scikit-learn itself: generate the "
            "project with serving_runtime=sklearn (its API image then installs scikit-learn)"
        ) from exc
    rename_inputs(onx.graph, data.features)
    path.write_bytes(onx.SerializeToString())


def rename_inputs(graph, names: list[str]) -> None:
    """skl2onnx turns 'bill length (mm)' into 'bill_length__mm_': give inputs their names back."""
    taken = {out for node in graph.node for out in node.output} | {
        i.name for i in graph.initializer
    }
    if taken & set(names):  # a column named like an inner tensor: keep skl2onnx's names
        return
    renamed = {graph_input.name: name for graph_input, name in zip(graph.input, names)}
    for graph_input in graph.input:
        graph_input.name = renamed[graph_input.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = renamed.get(name, name)


def contract(data: Data, settings: Settings, version: str, run_id: str, pipeline) -> dict:
    """What the API and the UI need to know about the model, and nothing else."""
    features = [describe(name, data.X_train[name], data.categories) for name in data.features]
    row = {feature["name"]: feature["default"] for feature in features}
    [code] = pipeline.predict(data.X_train.head(1).assign(**row))
    return {
        "model_name": settings.registered_model_name,
        "model_version": version,
        "run_id": run_id,
        "runtime": RUNTIME,
        "dataset": settings.dataset,
        "model": settings.model,
        "features": features,
        "classes": data.classes,
        # The row of defaults and the label the trained model gives it: the smoke gate checks
        # that the served model answers the same.
        "example": {"row": row, "label": data.classes[code]},
    }


def check_tracking_server(uri: str) -> None:
    """Fail fast, in one line, when MLFLOW_TRACKING_URI names a server that does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5)
    except OSError as exc:
        raise SystemExit(
            f"train: the MLflow tracking server at {uri} is not reachable or not healthy ({exc}); "
            "start it, or unset MLFLOW_TRACKING_URI to use the local sqlite:///mlflow.db store."
        ) from exc


def log_to_mlflow(pipeline: Pipeline, data: Data, metrics: dict, settings: Settings, folder: Path):
    """Log params, metrics, the confusion matrix and the models in `folder`; register a version."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_experiment(settings.experiment_name)
    csv = settings.dataset == "csv"
    example = data.X_test.dropna().head(2)  # MLflow's example must be valid JSON: no NaN
    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "dataset": settings.dataset,
                "model": settings.model,
                "seed": settings.seed,
                "test_size": settings.test_size,
                "runtime": RUNTIME,
                **({"data_path": settings.data_path, "target": settings.target} if csv else {}),
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
            signature=infer_signature(example, pipeline.predict_proba(example)),
            input_example=example,
            # Listed, not inferred: inference re-imports the model and costs seconds.
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            # MLflow saves with skops (safe loading): the types it does not trust by default, named
            # (trees' node arrays; the one-hot encoder's output dtype).
            skops_trusted_types=["sklearn.tree._tree.Tree", "numpy.dtype"],
            registered_model_name=settings.registered_model_name,
        )
        onnx_path = folder / ONNX_FILE
        if onnx_path.exists():
            mlflow.onnx.log_model(
                onnx.load(onnx_path),
                name="onnx_model",
                pip_requirements=[f"onnx=={onnx.__version__}", "onnxruntime"],
            )
    return str(info.registered_model_version), run.info.run_id


@contextmanager
def replacing(folder: Path):
    """A new folder beside `folder` that replaces it when the block succeeds, else is removed:
    a failure (disk full, MLflow down) leaves the previous model/ whole."""
    new, old = (folder.with_name(f".{folder.name}.{part}") for part in ("new", "old"))
    shutil.rmtree(new, ignore_errors=True)  # left by a run that was killed
    new.mkdir(parents=True)
    try:
        yield new
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        new.rename(folder)  # same file system: one atomic step
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(new, ignore_errors=True)


def train(settings: Settings) -> dict:
    """The whole training step; returns the metrics it wrote to model/metrics.json."""
    started = time.perf_counter()
    check_tracking_server(settings.mlflow_tracking_uri)  # before anything in model/ changes
    print(f"train: dataset={settings.dataset} model={settings.model} runtime={RUNTIME}")
    try:
        data = load_data(settings)  # before anything in model/ changes, too
    except DataError as error:
        raise SystemExit("\n".join(f"train: data: {line}" for line in error.lines)) from None
    pipeline = build_model(settings.model, settings.seed, data.numbers, list(data.categories))
    pipeline.fit(data.X_train, data.y_train)
    metrics = evaluate(pipeline, data)
    print(
        f"train: held-out F1 ({metrics['f1_average']}) = {metrics['f1']:.4f}, "
        f"accuracy = {metrics['accuracy']:.4f} on {metrics['n_test']} rows"
    )

    model_dir = settings.model_dir
    kept = f"{model_dir}/ is left as it was"
    try:
        with replacing(model_dir) as folder:
            joblib.dump(pipeline, folder / SKLEARN_FILE)
            if RUNTIME == "onnx":
                export_onnx(pipeline, data, folder / ONNX_FILE)
            version, run_id = log_to_mlflow(pipeline, data, metrics, settings, folder)
            print(
                f"train: MLflow run {run_id} in {settings.mlflow_tracking_uri}; "
                f"registered {settings.registered_model_name!r} version {version}"
            )
            (folder / CONTRACT_FILE).write_text(
                json.dumps(contract(data, settings, version, run_id, pipeline), indent=2)
            )
            metrics.update(
                model_version=version,
                seconds=round(time.perf_counter() - started, 2),
                runtime=RUNTIME,
                **settings.model_dump(
                    include={"dataset", "data_path", "target", "model", "seed", "test_size"},
                    mode="json",
                ),
            )
            (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    except MlflowException as exc:
        reason = str(exc).strip().splitlines()[0][:300]
        raise SystemExit(
            f"train: MLflow at {settings.mlflow_tracking_uri} failed: {reason}; {kept}"
        ) from None
    except OSError as exc:  # disk full, read-only, no permission
        raise SystemExit(
            f"train: cannot write {exc.filename or model_dir}: {exc.strerror or exc}; {kept}"
        ) from None
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
    parser.add_argument("--model", choices=list(MODELS), default=settings.model)
    parser.add_argument("--model-dir", type=Path, default=settings.model_dir)
    args = parser.parse_args(argv)
    train(settings.model_copy(update=vars(args)))


if __name__ == "__main__":
    main()
