"""Quality gate: F1 recomputed from the saved model, and the API serving what was trained."""

import asyncio
import json
import sys
from pathlib import Path

import httpx
import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .. import api, serving
from ..data import MISSING, Data, load_data
from ..settings import METRICS_FILE, RUNTIME, SKLEARN_FILE, Settings, get_settings

# metrics.json and the recomputed F1 differ by rounding at most: more means it was edited.
F1_TOLERANCE = 1e-9


def check_f1(f1: float, threshold: float) -> str | None:
    """None when F1 passes, else the one-line reason."""
    if f1 > threshold:
        return None
    return f"F1 {f1:.4f} is not above the threshold {threshold} (ML_MIN_F1)"


def check_reported_f1(reported: float, recomputed: float) -> str | None:
    if abs(reported - recomputed) <= F1_TOLERANCE:
        return None
    return (
        f"{METRICS_FILE} reports F1 {reported:.4f} but the saved model scores {recomputed:.4f} "
        "on the held-out split: the file was edited or comes from another training"
    )


def servable(X: pd.DataFrame) -> pd.DataFrame:
    """The rows the API takes: it refuses missing values, which only training can impute."""
    return X[X.notna().all(axis=1) & (X != MISSING).all(axis=1)]


async def served_answers(X: pd.DataFrame, classes: list[str], batch: int):
    """Probabilities (columns in `classes` order) and labels from POST /predict, in process."""
    probabilities, labels = [], []
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with api.app.router.lifespan_context(api.app):  # loads the model, as at startup
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            for start in range(0, len(X), batch):
                rows = X.iloc[start : start + batch].to_dict(orient="records")
                response = await client.post("/predict", json={"rows": rows})
                if response.status_code != 200:
                    raise serving.ModelError(
                        f"the API answered {response.status_code} to held-out rows: "
                        f"{response.text[:300]}"
                    )
                for prediction in response.json()["predictions"]:
                    probabilities.append([prediction["probabilities"][c] for c in classes])
                    labels.append(prediction["label"])
    return np.array(probabilities), labels


def parity(pipeline, data: Data, settings: Settings) -> tuple[float, bool, int]:
    """Largest probability difference and label agreement, API vs trained pipeline; rows sent."""
    X = servable(data.X_test)
    trained = pipeline.predict_proba(X)
    served, labels = asyncio.run(served_answers(X, data.classes, settings.max_batch))
    same_labels = labels == [data.classes[i] for i in trained.argmax(axis=1)]
    return float(np.abs(trained - served).max()), same_labels, len(X)


def check_parity(diff: float, same_labels: bool, limit: float) -> str | None:
    if same_labels and diff <= limit:
        return None
    return (
        f"the API disagrees with the trained model on the held-out set "
        f"(max probability difference {diff:.2e}, limit {limit:.0e}, labels agree: {same_labels})"
    )


def main() -> int:
    settings = get_settings()
    metrics_path = settings.model_dir / METRICS_FILE
    if not metrics_path.is_file():
        print(f"gate: no metrics at {metrics_path.resolve()}: run `make train` first.")
        return 1
    metrics = json.loads(metrics_path.read_text())
    # Check the model that was trained, whatever the environment says now.
    trained_with = {"dataset", "data_path", "target", "seed", "test_size"}
    settings = settings.model_copy(update={k: v for k, v in metrics.items() if k in trained_with})
    data = load_data(settings)
    try:
        serving.load(settings.model_dir, RUNTIME)  # names a damaged model/ before the API logs it
        pipeline = serving.read(settings.model_dir / SKLEARN_FILE, joblib.load)
        predicted = pipeline.predict(data.X_test)
        f1 = float(f1_score(data.y_test, predicted, average=metrics["f1_average"]))
        diff, same_labels, rows = parity(pipeline, data, settings)
    except serving.ModelError as error:
        print(f"gate: FAILED: {error}")
        return 1
    failures = [
        problem
        for problem in (
            check_reported_f1(metrics["f1"], f1),
            check_f1(f1, settings.min_f1),
            check_parity(diff, same_labels, settings.max_parity_diff),
        )
        if problem
    ]
    verdict = {
        "f1": f1,
        "f1_average": metrics["f1_average"],
        "min_f1": settings.min_f1,
        "parity_max_diff": diff,
        "parity_rows": rows,
        "runtime": RUNTIME,
        "passed": not failures,
        "failures": failures,
    }
    Path("reports").mkdir(exist_ok=True)
    Path("reports/gate.json").write_text(json.dumps(verdict, indent=2))
    for problem in failures:
        print(f"gate: FAILED: {problem}")
    if failures:
        return 1
    print(
        f"gate: passed: F1 ({metrics['f1_average']}) {f1:.4f} > {settings.min_f1}, recomputed; "
        f"the {RUNTIME} API answers as the trained model on {rows} held-out rows "
        f"(max diff {diff:.1e})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
