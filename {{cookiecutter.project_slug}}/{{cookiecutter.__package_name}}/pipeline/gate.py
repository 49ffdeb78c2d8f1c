"""Quality gate: held-out F1 above ML_MIN_F1, and the served model agreeing with the trained one."""

import json
import sys
from pathlib import Path

import joblib
import numpy as np

from .. import serving
from ..data import as_columns, load_data
from ..settings import METRICS_FILE, RUNTIME, SKLEARN_FILE, Settings, get_settings


def check_f1(metrics: dict, threshold: float) -> str | None:
    """None when F1 passes, else the one-line reason."""
    if metrics["f1"] > threshold:
        return None
    return f"F1 {metrics['f1']:.4f} is not above the threshold {threshold} (ML_MIN_F1)"


def parity(settings: Settings) -> tuple[float, bool]:
    """Largest probability difference and label agreement, served vs trained, on held-out rows."""
    data = load_data(settings)
    trained = joblib.load(settings.model_dir / SKLEARN_FILE).predict_proba(data.X_test)
    _, model = serving.load(settings.model_dir, RUNTIME)
    served = model.predict_proba(as_columns(data.X_test))
    same_labels = bool((trained.argmax(axis=1) == served.argmax(axis=1)).all())
    return float(np.abs(trained - served).max()), same_labels


def check_parity(diff: float, same_labels: bool, limit: float) -> str | None:
    if same_labels and diff <= limit:
        return None
    return (
        f"the served model disagrees with the trained one on the held-out set "
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
    diff, same_labels = parity(settings)
    failures = [
        problem
        for problem in (
            check_f1(metrics, settings.min_f1),
            check_parity(diff, same_labels, settings.max_parity_diff),
        )
        if problem
    ]
    verdict = {
        "f1": metrics["f1"],
        "f1_average": metrics["f1_average"],
        "min_f1": settings.min_f1,
        "parity_max_diff": diff,
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
        f"gate: passed: F1 ({metrics['f1_average']}) {metrics['f1']:.4f} > {settings.min_f1}; "
        f"{RUNTIME} model matches the trained one (max diff {diff:.1e})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
