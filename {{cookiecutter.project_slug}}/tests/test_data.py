"""Your own table: the data gate's one-line verdicts, its report, odd column names end to end."""

import csv
import json
from pathlib import Path

{%- if cookiecutter.serving_runtime == "onnx" %}
import onnx
{%- endif %}
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

import {{ cookiecutter.__package_name }}
from {{ cookiecutter.__package_name }} import api, schema, train
from {{ cookiecutter.__package_name }}.pipeline import report, validate
from {{ cookiecutter.__package_name }}.settings import get_settings
{%- if cookiecutter.serving_runtime == "onnx" %}
from {{ cookiecutter.__package_name }}.settings import ONNX_FILE
{%- endif %}

# A small table whose column names have spaces and punctuation; the target is in the middle.
LENGTH, COLOUR, TARGET = "length (cm)", "colour/shade?", "kind of thing!"
HEADER = [LENGTH, TARGET, COLOUR]


def good_rows(n: int = 40) -> list[list]:
    """Class 'big' is long, 'small' is short; colours carry a little signal and some gaps."""
    return [
        [
            f"{(20 if i % 2 else 10) + (i % 5) * 0.5:g}",
            "big" if i % 2 else "small",
            "" if i % 10 == 3 else ("red" if i % 3 else "blue"),
        ]
        for i in range(n)
    ]


def write_csv(path: Path, rows: list[list], header: list[str] = HEADER, delimiter=",") -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def own_table(monkeypatch, tmp_path):
    """Settings and schema.py for the small table; returns where to write it."""
    path = tmp_path / "table.csv"
    monkeypatch.setattr(schema, "MIN_ROWS", 10)
    monkeypatch.setattr(
        schema,
        "COLUMNS",
        {
            LENGTH: schema.number(0, 100, max_missing=0.1),
            TARGET: schema.category("small", "big"),
            COLOUR: schema.category("red", "blue", max_missing=0.2),
        },
    )
    monkeypatch.setenv("ML_DATASET", "csv")
    monkeypatch.setenv("ML_DATA_PATH", str(path))
    monkeypatch.setenv("ML_TARGET", TARGET)
    monkeypatch.setenv("ML_MODEL_DIR", str(tmp_path / "model"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    return path


def run_validate(capsys) -> tuple[int, list[str]]:
    code = validate.main()
    return code, capsys.readouterr().out.splitlines()


def bad_rows_of(case: str, path: Path) -> None:
    """Write the table at `path` with one kind of defect."""
    rows = good_rows()
    if case == "empty file":
        path.write_text("")
    elif case == "target missing":
        write_csv(path, [[r[0], r[2]] for r in rows], [LENGTH, COLOUR])
    elif case == "single class":
        write_csv(path, [[r[0], "big", r[2]] for r in rows])
    elif case == "number full of text":
        write_csv(path, [["long", r[1], r[2]] for r in rows])
    elif case == "duplicate columns":
        write_csv(path, [r + [r[2]] for r in rows], HEADER + [COLOUR])
    elif case == "wrong delimiter":
        write_csv(path, rows, delimiter=";")
    elif case == "too few rows":
        write_csv(path, rows[:4])
    elif case == "category not allowed":
        write_csv(path, rows[:-1] + [[rows[-1][0], rows[-1][1], "green"]])
    elif case == "number out of range":
        write_csv(path, rows[:-1] + [["1000", rows[-1][1], "red"]])
    elif case == "too many missing":
        write_csv(path, [[r[0], r[1], ""] for r in rows])
    elif case == "undeclared column":
        write_csv(path, [r + ["x"] for r in rows], HEADER + ["notes"])
    elif case != "file missing":
        raise ValueError(case)


BAD_DATA = {
    "file missing": "no file at ",
    "empty file": "table.csv (ML_DATA_PATH) is empty: no header, no rows",
    "target missing": f"target column {TARGET!r} (ML_TARGET) is not in the table",
    "single class": f"target {TARGET!r} has a single class ('big'): a classifier needs two",
    "number full of text": f"column {LENGTH!r}: must be a number: 40 rows, e.g. 'long'",
    "duplicate columns": f"duplicate column names: {COLOUR!r}",
    "wrong delimiter": "has one column, 'length (cm);kind of thing!;colour/shade?': it looks ';'-",
    "too few rows": "4 rows: at least MIN_ROWS=10 (schema.py)",
    "category not allowed": f"column {COLOUR!r}: must be one of 'red', 'blue': 1 rows, e.g. 'gr",
    "number out of range": f"column {LENGTH!r}: must be in [0, 100]: 1 rows, e.g. '1000.0'",
    "too many missing": f"column {COLOUR!r}: at most 20% missing",
    "undeclared column": "column 'notes': not declared in schema.py",
}


@pytest.mark.parametrize("case", BAD_DATA, ids=[c.replace(" ", "-") for c in BAD_DATA])
def test_bad_data_fails_the_gate_in_one_line_and_writes_no_model(own_table, capsys, case):
    bad_rows_of(case, own_table)
    code, lines = run_validate(capsys)
    assert code == 1
    failed = [line for line in lines if line.startswith("validate: FAILED: ")]
    assert len(failed) == 1, lines
    assert BAD_DATA[case] in failed[0]
    verdict = json.loads(Path("reports/data.json").read_text())
    assert verdict["passed"] is False and len(verdict["failures"]) == 1
    with pytest.raises(SystemExit, match="train: data: "):  # train refuses it the same way
        train.main([])
    assert not get_settings().model_dir.exists()


def test_every_violation_gets_its_own_line(own_table, capsys):
    rows = good_rows()
    rows[0][2], rows[1][0], rows[2][0] = "green", "-5", "500"
    write_csv(own_table, rows)
    code, lines = run_validate(capsys)
    assert code == 1
    failed = [line for line in lines if line.startswith("validate: FAILED: ")]
    assert len(failed) == 2
    assert "'green'" in failed[0] or "'green'" in failed[1]
    assert any("2 rows, e.g. '-5.0', '500.0'" in line for line in failed)


def test_a_good_table_passes_and_its_report_shows_rows_missing_and_balance(own_table, capsys):
    write_csv(own_table, good_rows())
    code, lines = run_validate(capsys)
    assert code == 0, lines
    assert lines[-1].startswith("validate: passed:") and "40 rows, 3 columns" in lines[-1]
    assert report.main(["data"]) == 0
    markdown = capsys.readouterr().out.splitlines()
    assert markdown[0] == "### Data: passed"
    assert f"| {COLOUR} | str | 10.0% |" in markdown
    assert "| big | 20 | 50.0% |" in markdown


def test_reads_parquet_too(own_table, monkeypatch, capsys):
    parquet = own_table.with_suffix(".parquet")
    pd.read_csv(write_csv(own_table, good_rows())).to_parquet(parquet)
    monkeypatch.setenv("ML_DATA_PATH", str(parquet))
    get_settings.cache_clear()
    code, lines = run_validate(capsys)
    assert code == 0, lines


def test_the_projects_own_table_passes_the_gate(capsys):
    code, lines = run_validate(capsys)
    assert code == 0, lines


def test_odd_column_names_work_from_the_table_to_the_ui(own_table, monkeypatch, tmp_path):
    write_csv(own_table, good_rows(60))
    monkeypatch.chdir(tmp_path)  # MLflow keeps its artifacts next to the working directory
    train.main([])
    model_dir = get_settings().model_dir
    contract = json.loads((model_dir / "contract.json").read_text())
    assert [f["name"] for f in contract["features"]] == [LENGTH, COLOUR]
    assert contract["classes"] == ["small", "big"]
{%- if cookiecutter.serving_runtime == "onnx" %}
    inputs = onnx.load(model_dir / ONNX_FILE).graph.input
    assert [i.name for i in inputs] == [LENGTH, COLOUR]
{%- endif %}
    with TestClient(api.app) as client:
        row = {LENGTH: 24.0, COLOUR: "red"}
        answer = client.post("/predict", json={"rows": [row]}).json()
        assert answer["predictions"][0]["label"] == "big"
        refused = client.post("/predict", json={"rows": [row | {COLOUR: "green"}]})
        assert refused.status_code == 422 and COLOUR in refused.text
        properties = client.get("/openapi.json").json()["components"]["schemas"]["Row"]
        assert list(properties["properties"]) == [LENGTH, COLOUR]
        with monkeypatch.context() as patched:
            patched.setattr("httpx.get", lambda url, timeout=None: client.get(url))
            ui = Path({{ cookiecutter.__package_name }}.__file__).parent / "ui.py"
            app = AppTest.from_file(str(ui), default_timeout=30).run()
    assert not app.exception
    assert [field.label for field in app.number_input] == [LENGTH]
    assert [field.label for field in app.selectbox] == [COLOUR]
