"""Data gate: the table against schema.py, one line per violation; a report of it in reports/."""

import json
import sys
from pathlib import Path

import pandas as pd

from ..data import BUNDLED_TARGET, DataError, load_table
from ..settings import get_settings

REPORT = Path("reports/data.json")


def describe(frame: pd.DataFrame | None, target: str) -> dict:
    """Rows, columns, share of missing values per column and class balance of the target."""
    if frame is None:
        return {"rows": None, "columns": []}
    labels = frame[target] if target in frame.columns else pd.Series([], dtype=object)
    return {
        "rows": len(frame),
        "columns": [
            {"name": str(name), "dtype": str(frame[name].dtype), "missing": float(share)}
            for name, share in frame.isna().mean().items()
        ],
        "target": target,
        "classes": {str(k): int(v) for k, v in labels.value_counts(dropna=False).items()},
    }


def main() -> int:
    settings = get_settings()
    source = (
        settings.data_path if settings.dataset == "csv" else f"{settings.dataset} (scikit-learn)"
    )
    target = settings.target if settings.dataset == "csv" else BUNDLED_TARGET
    try:
        table = load_table(settings)
        frame, failures = table.frame, []
    except DataError as error:
        frame, failures = error.frame, error.lines
    report = {"source": str(source), **describe(frame, target), "passed": not failures}
    report["failures"] = failures
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2))
    for line in failures:
        print(f"validate: FAILED: {line}")
    if failures:
        print(f"validate: {len(failures)} problem(s) in {source}; the schema is in schema.py")
        return 1
    balance = ", ".join(f"{name} {count}" for name, count in report["classes"].items())
    print(
        f"validate: passed: {source}: {report['rows']} rows, {len(report['columns'])} columns "
        f"match schema.py; classes: {balance}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
