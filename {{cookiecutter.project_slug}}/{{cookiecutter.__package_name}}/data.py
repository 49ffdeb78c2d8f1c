"""The data: a table checked against its schema and split the same way for training and the gate."""

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split

from . import schema
from .settings import Settings

BUNDLED = {"breast_cancer": load_breast_cancer, "wine": load_wine}
BUNDLED_TARGET = "target"
# Missing categories reach the model as this string: ONNX imputes strings, not NaN in strings.
MISSING = "__missing__"
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
SHOWN = 3  # offending values quoted per violation


class DataError(Exception):
    """The table cannot be trained on: one line per problem, and the table if it could be read."""

    def __init__(self, lines: list[str], frame: pd.DataFrame | None = None):
        super().__init__("\n".join(lines))
        self.lines, self.frame = lines, frame


@dataclass
class Table:
    """A checked table: features ready for the model, the target as class codes."""

    frame: pd.DataFrame  # the table as read (for reports)
    X: pd.DataFrame
    y: np.ndarray
    numbers: list[str]
    categories: dict[str, list[str]]  # name -> allowed values, from the schema
    classes: list[str]

    @property
    def features(self) -> list[str]:
        return list(self.X.columns)


@dataclass
class Data:
    """A table split into train and held-out parts, stratified, with a fixed seed."""

    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    features: list[str]
    numbers: list[str]
    categories: dict[str, list[str]]
    classes: list[str]


def read_table(path: Path) -> pd.DataFrame:
    """The file at `path` (CSV or Parquet), or a DataError saying in one line what is wrong."""
    path = Path(path)
    where = f"{path} (ML_DATA_PATH)"
    if not path.is_file():
        tracked = Path(f"{path}.dvc").is_file()
        hint = "it is tracked by DVC: run `make data`" if tracked else "point ML_DATA_PATH at it"
        raise DataError([f"no file at {path.resolve()}: {hint}"])
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError([f"{where}: read .csv or .parquet files, not {path.suffix or 'no suffix'}"])
    if path.stat().st_size == 0:
        raise DataError([f"{where} is empty: no header, no rows"])
    if reader is pd.read_csv:
        with path.open(newline="", encoding="utf-8-sig") as file:
            header = next(csv.reader(file), [])
        doubled = sorted({name for name in header if header.count(name) > 1})
        if doubled:
            raise DataError([f"{where}: duplicate column names: {', '.join(map(repr, doubled))}"])
        if len(header) == 1:
            sep = next((s for s in ";\t|" if s in header[0]), None)
            found = f"it looks {sep!r}-separated; " if sep else ""
            raise DataError(
                [f"{where} has one column, {header[0]!r}: {found}write it comma-separated"]
            )
    try:
        frame = reader(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError([f"{where} cannot be read: {str(exc).splitlines()[0]}"]) from exc
    if frame.columns.duplicated().any():
        raise DataError([f"{where}: duplicate column names"])
    return frame


def violations(error: pa.errors.SchemaErrors, columns: dict[str, pa.Column]) -> list[str]:
    """pandera's failure cases as one line per column and rule, with a few offending values."""
    lines = []
    cases = error.failure_cases
    # Text in a number column fails the coercion; its type and range checks only repeat that.
    unreadable = set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"])
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        check = str(check)
        values = list(dict.fromkeys(group["failure_case"].astype(str)))
        if column in unreadable and not check.startswith("coerce_dtype"):
            continue
        if check == "column_in_schema":
            lines += [
                f"column {v!r}: not declared in schema.py (declare it or drop it)" for v in values
            ]
        elif check == "column_in_dataframe":
            lines += [f"column {v!r}: declared in schema.py but not in the table" for v in values]
        elif check.startswith("at most"):
            lines.append(f"column {column!r}: {check} (the share missing is above it)")
        elif check.startswith("dtype("):
            lines.append(f"column {column!r}: must be text, found {', '.join(values)}")
        else:
            shown = ", ".join(map(repr, values[:SHOWN])) + (", ..." if len(values) > SHOWN else "")
            rule = rule_text(check, columns.get(column))
            lines.append(f"column {column!r}: {rule}: {len(group)} rows, e.g. {shown}")
    return lines


def rule_text(check: str, column: pa.Column | None) -> str:
    """A declared check in words, e.g. "must be one of 'red', 'blue'"."""
    name = check.split("(")[0]
    stats = next((c.statistics for c in (column.checks if column else []) if c.name == name), {})
    if name == "coerce_dtype":
        return "must be a number"
    if name == "isin":
        return f"must be one of {', '.join(map(repr, stats['allowed_values']))}"
    if name == "in_range":
        return f"must be in [{stats['min_value']:g}, {stats['max_value']:g}]"
    return check


def check_table(frame: pd.DataFrame, columns: dict[str, pa.Column], target: str) -> Table:
    """The table against its schema and the target's needs; one DataError lists every problem."""
    if target not in frame.columns:
        raise DataError(
            [f"target column {target!r} (ML_TARGET) is not in the table: {list(frame.columns)}"],
            frame,
        )
    if len(frame) < schema.MIN_ROWS:
        raise DataError(
            [f"{len(frame)} rows: at least MIN_ROWS={schema.MIN_ROWS} (schema.py)"], frame
        )
    if not columns:
        raise DataError(["schema.py declares no columns: declare the table's columns"], frame)
    frame = frame.copy()
    for name in categories_of(columns):  # an empty column reads as numbers: these are text
        if name in frame.columns:
            frame[name] = frame[name].astype("str")
    try:
        checked = pa.DataFrameSchema(columns, strict=True).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        raise DataError(violations(error, columns), frame) from None
    labels = checked[target]
    problems = []
    if labels.isna().any():
        problems.append(f"target {target!r}: {int(labels.isna().sum())} rows have no class")
    counts = labels.value_counts()
    if len(counts) < 2:
        problems.append(
            f"target {target!r} has a single class ({', '.join(map(repr, counts.index))}): "
            "a classifier needs two or more"
        )
    problems += [
        f"target {target!r}: class {name!r} has {count} row: at least 2 per class to split"
        for name, count in counts.items()
        if count < 2
    ]
    if problems:
        raise DataError(problems, frame)
    return prepare(checked, columns, target)


def categories_of(columns: dict[str, pa.Column]) -> dict[str, list[str]]:
    """Declared categorical columns and their allowed values (the schema's isin checks)."""
    return {
        name: list(check.statistics["allowed_values"])
        for name, column in columns.items()
        for check in column.checks
        if check.name == "isin"
    }


def prepare(checked: pd.DataFrame, columns: dict[str, pa.Column], target: str) -> Table:
    """Features as the model takes them (floats, strings), the target as codes in schema order."""
    X = checked.drop(columns=[target])
    categories = {name: values for name, values in categories_of(columns).items() if name != target}
    for name in categories:
        X[name] = X[name].astype(object).where(X[name].notna(), MISSING).astype(str)
    numbers = [name for name in X.columns if name not in categories]
    X[numbers] = X[numbers].astype("float64")
    present = set(checked[target])
    declared = categories_of(columns).get(target) or sorted(present)
    classes = [str(c) for c in declared if c in present]
    y = checked[target].map({name: code for code, name in enumerate(classes)}).to_numpy(int)
    return Table(checked, X, y, numbers, categories, classes)


def load_table(settings: Settings) -> Table:
    """The configured table, checked: ML_DATA_PATH for "csv", else a table bundled with sklearn."""
    if settings.dataset == "csv":
        return check_table(read_table(settings.data_path), schema.COLUMNS, settings.target)
    bunch = BUNDLED[settings.dataset](as_frame=True)
    classes = [str(name) for name in bunch.target_names]
    frame = bunch.frame.assign(**{BUNDLED_TARGET: [classes[code] for code in bunch.target]})
    columns = schema.bundled(list(bunch.feature_names), BUNDLED_TARGET, classes)
    return check_table(frame, columns, BUNDLED_TARGET)


def split(table: Table, test_size: float, seed: int) -> Data:
    X_train, X_test, y_train, y_test = train_test_split(
        table.X, table.y, test_size=test_size, stratify=table.y, random_state=seed
    )
    return Data(
        X_train,
        X_test,
        y_train,
        y_test,
        features=table.features,
        numbers=table.numbers,
        categories=table.categories,
        classes=table.classes,
    )


def describe(name: str, column: pd.Series, categories: dict[str, list[str]]) -> dict:
    """One feature as model/contract.json describes it: a number with its range, or a category
    with its values (the default: the median, or the most frequent value)."""
    if name in categories:
        seen = column[column != MISSING]
        values = categories[name]
        default = seen.mode().iloc[0] if len(seen) else values[0]
        return {"name": name, "kind": "category", "values": values, "default": str(default)}
    return {
        "name": name,
        "kind": "number",
        "default": round(float(column.median()), 4),
        "min": float(column.min()),
        "max": float(column.max()),
    }


def load_data(settings: Settings) -> Data:
    """The configured table, checked and split, stratified, with the settings' seed."""
    return split(load_table(settings), settings.test_size, settings.seed)


def as_columns(X: pd.DataFrame) -> list[list]:
    """Rows as the serving model takes them: one list of values per feature, in table order."""
    return [X[name].tolist() for name in X.columns]
